import { Command } from 'commander';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../../contracts/webhooks.js';
import { EVENT_TYPES, type EventType } from '../../core/events.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { commaList } from '../options.js';
import { printLine, printNote, printTable } from '../output.js';

type AddOptions = {
  events?: string[];
  backchannelLogout?: boolean;
  audience?: string;
};

/** The arguments of webhooks.add; the usage errors of the options, before anything opens. */
function addArguments(url: string, opts: AddOptions) {
  if (opts.backchannelLogout && !opts.audience) throw usageError('--backchannel-logout needs --audience <client id>');
  if (opts.audience && !opts.backchannelLogout) throw usageError('--audience goes with --backchannel-logout');
  if (!opts.backchannelLogout && !opts.events?.length) throw usageError(`name the events: --events ${EVENT_TYPES.join(',')}`);
  const unknown = (opts.events ?? []).filter((e) => !(EVENT_TYPES as readonly string[]).includes(e));
  if (unknown.length > 0) throw usageError(`unknown event type ${unknown.join(', ')}: the types are ${EVENT_TYPES.join(', ')}`);
  return { url, events: (opts.events ?? []) as EventType[], ...(opts.backchannelLogout ? { backchannelAudience: opts.audience } : {}) };
}

function addAdd(webhooks: Command, ctx: CliContext) {
  addOperationCommand(webhooks, ctx, {
    name: 'add',
    description: 'register an endpoint; its signing secret is printed once and stored sealed',
    argument: ['<url>', 'an http:// or https:// URL'],
    json: 'print {"id", "secret"} as JSON',
    options: (command) =>
      command
        .option('--events <types>', `comma-separated, among ${EVENT_TYPES.join(', ')}`, commaList)
        .option('--backchannel-logout', 'post session.revoked as OIDC back-channel logout tokens')
        .option('--audience <client id>', 'the aud of the logout tokens (with --backchannel-logout)'),
    op: 'webhooks.add',
    args: (url, opts: AddOptions) => addArguments(url!, opts),
    printJson: (created) => printLine(`{"id": ${JSON.stringify(created.id)}, "secret": ${JSON.stringify(created.secret)}}`),
    print: (created) => {
      printLine(`Added webhook ${created.id} → ${created.url} (${created.events.join(', ')})`);
      printLine(`secret: ${created.secret}`);
      printNote('The secret is shown only this once: keep it now.');
    },
  });
}

function addEndpointCommands(webhooks: Command, ctx: CliContext) {
  addOperationCommand(webhooks, ctx, {
    name: 'list',
    description: 'list the endpoints, never their secrets',
    json: 'print the endpoints as JSON',
    op: 'webhooks.list',
    args: () => ({}),
    print: (endpoints) =>
      printTable(endpoints, [
        ['ID', (e) => e.id],
        ['URL', (e) => e.url],
        ['EVENTS', (e) => e.events.join(',')],
        ['LOGOUT_AUDIENCE', (e) => e.backchannel_logout_audience],
        ['CREATED', (e) => e.created_at],
      ]),
  });
  addOperationCommand(webhooks, ctx, {
    name: 'remove',
    description: 'remove an endpoint; its pending deliveries are dropped',
    argument: ['<id>', 'the endpoint id (wh_…)'],
    json: 'print the removed endpoint as JSON',
    op: 'webhooks.remove',
    args: (id) => ({ id: id! }),
    print: (removed) => printLine(`Removed webhook ${removed.id} (${removed.url})`),
  });
}

function addDeliveryCommands(webhooks: Command, ctx: CliContext) {
  addOperationCommand(webhooks, ctx, {
    name: 'deliveries',
    description: 'list recent deliveries, newest first',
    json: 'print the deliveries as JSON',
    options: (command) => command.option('--status <status>', 'pending, delivered or dead'),
    op: 'webhooks.deliveries',
    args: (_argument, opts: { status?: string }) => {
      if (opts.status && !(DELIVERY_STATUSES as readonly string[]).includes(opts.status)) throw usageError('--status is pending, delivered or dead');
      return opts.status ? { status: opts.status as DeliveryStatus } : {};
    },
    print: (rows) =>
      printTable(rows, [
        ['ID', (d) => String(d.id)],
        ['ENDPOINT', (d) => d.endpoint_id],
        ['EVENT', (d) => `${d.event_type} #${d.event_id}`],
        ['STATUS', (d) => d.status],
        ['ATTEMPTS', (d) => String(d.attempts)],
        ['LAST_ERROR', (d) => d.last_error],
      ]),
  });
  addOperationCommand(webhooks, ctx, {
    name: 'replay',
    description: 'send a dead delivery again (or every dead one, with --dead)',
    argument: ['[delivery id]', 'the id of a dead delivery'],
    json: 'print {"replayed": n} as JSON',
    options: (command) => command.option('--dead', 'every dead delivery'),
    op: 'webhooks.replay',
    args: (id, opts: { dead?: boolean }) => {
      if ((id === undefined) === !opts.dead) throw usageError('give a delivery id or --dead');
      if (id !== undefined && !/^[1-9]\d{0,15}$/.test(id)) throw usageError(`${id} is not a delivery id`);
      return id === undefined ? { dead: true } : { id: Number(id) };
    },
    print: (result) => printLine(`Replayed ${result.replayed} deliver${result.replayed === 1 ? 'y' : 'ies'}`),
  });
}

export function webhooksCommand(ctx: CliContext): Command {
  const webhooks = new Command('webhooks').description('the endpoints user and session events are posted to (see Webhooks)');
  addAdd(webhooks, ctx);
  addEndpointCommands(webhooks, ctx);
  addDeliveryCommands(webhooks, ctx);
  return webhooks;
}
