import { Command } from 'commander';
import type { EventType } from '../../core/events.js';
import { EVENT_TYPES } from '../../core/events.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { printJson, printLine, printNote, printTable } from '../output.js';

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function webhooksCommand(ctx: CliContext): Command {
  const webhooks = new Command('webhooks').description('the endpoints user and session events are posted to (see Webhooks)');

  webhooks
    .command('add')
    .description('register an endpoint; its signing secret is printed once and stored sealed')
    .argument('<url>', 'an http:// or https:// URL')
    .option('--events <types>', `comma-separated, among ${EVENT_TYPES.join(', ')}`, list)
    .option('--backchannel-logout', 'post session.revoked as OIDC back-channel logout tokens')
    .option('--audience <client id>', 'the aud of the logout tokens (with --backchannel-logout)')
    .option('--json', 'print {"id", "secret"} as JSON')
    .action(async (url: string, opts: { events?: string[]; backchannelLogout?: boolean; audience?: string; json?: boolean }) => {
      if (opts.backchannelLogout && !opts.audience) throw usageError('--backchannel-logout needs --audience <client id>');
      if (opts.audience && !opts.backchannelLogout) throw usageError('--audience goes with --backchannel-logout');
      if (!opts.backchannelLogout && !opts.events?.length) throw usageError(`name the events: --events ${EVENT_TYPES.join(',')}`);
      const unknown = (opts.events ?? []).filter((e) => !(EVENT_TYPES as readonly string[]).includes(e));
      if (unknown.length > 0) throw usageError(`unknown event type ${unknown.join(', ')}: the types are ${EVENT_TYPES.join(', ')}`);
      const created = await ctx.run('webhooks.add', {
        url,
        events: (opts.events ?? []) as EventType[],
        ...(opts.backchannelLogout ? { backchannelAudience: opts.audience } : {}),
      });
      if (opts.json) return printLine(`{"id": ${JSON.stringify(created.id)}, "secret": ${JSON.stringify(created.secret)}}`);
      printLine(`Added webhook ${created.id} → ${created.url} (${created.events.join(', ')})`);
      printLine(`secret: ${created.secret}`);
      printNote('The secret is shown only this once: keep it now.');
    });

  webhooks
    .command('list')
    .description('list the endpoints, never their secrets')
    .option('--json', 'print the endpoints as JSON')
    .action(async (opts: { json?: boolean }) => {
      const endpoints = await ctx.run('webhooks.list', {});
      if (opts.json) return printJson(endpoints);
      printTable(endpoints, [
        ['ID', (e) => e.id],
        ['URL', (e) => e.url],
        ['EVENTS', (e) => e.events.join(',')],
        ['LOGOUT_AUDIENCE', (e) => e.backchannel_logout_audience],
        ['CREATED', (e) => e.created_at],
      ]);
    });

  webhooks
    .command('remove')
    .description('remove an endpoint; its pending deliveries are dropped')
    .argument('<id>', 'the endpoint id (wh_…)')
    .option('--json', 'print the removed endpoint as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const removed = await ctx.run('webhooks.remove', { id });
      if (opts.json) printJson(removed);
      else printLine(`Removed webhook ${removed.id} (${removed.url})`);
    });

  webhooks
    .command('deliveries')
    .description('list recent deliveries, newest first')
    .option('--status <status>', 'pending, delivered or dead')
    .option('--json', 'print the deliveries as JSON')
    .action(async (opts: { status?: string; json?: boolean }) => {
      if (opts.status && !['pending', 'delivered', 'dead'].includes(opts.status)) throw usageError('--status is pending, delivered or dead');
      const rows = await ctx.run('webhooks.deliveries', opts.status ? { status: opts.status as 'dead' } : {});
      if (opts.json) return printJson(rows);
      printTable(rows, [
        ['ID', (d) => String(d.id)],
        ['ENDPOINT', (d) => d.endpoint_id],
        ['EVENT', (d) => `${d.event_type} #${d.event_id}`],
        ['STATUS', (d) => d.status],
        ['ATTEMPTS', (d) => String(d.attempts)],
        ['LAST_ERROR', (d) => d.last_error],
      ]);
    });

  webhooks
    .command('replay')
    .description('send a dead delivery again (or every dead one, with --dead)')
    .argument('[delivery id]', 'the id of a dead delivery')
    .option('--dead', 'every dead delivery')
    .option('--json', 'print {"replayed": n} as JSON')
    .action(async (id: string | undefined, opts: { dead?: boolean; json?: boolean }) => {
      if ((id === undefined) === !opts.dead) throw usageError('give a delivery id or --dead');
      if (id !== undefined && !/^[1-9]\d{0,15}$/.test(id)) throw usageError(`${id} is not a delivery id`);
      const result = await ctx.run('webhooks.replay', id === undefined ? { dead: true } : { id: Number(id) });
      if (opts.json) printJson(result);
      else printLine(`Replayed ${result.replayed} deliver${result.replayed === 1 ? 'y' : 'ies'}`);
    });

  return webhooks;
}
