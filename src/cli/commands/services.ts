import { Command } from 'commander';
import { SERVICE_SCOPES, type ServiceClientCredentials, type ServiceScope } from '../../auth/service-clients/service-clients.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { commaList } from '../options.js';
import { printLine, printNote, printTable } from '../output.js';

/** The one JSON line of a new secret, exactly `{"client_id": "…", "client_secret": "…"}`: what a deploy script reads. */
function printCredentials(credentials: ServiceClientCredentials) {
  printLine(`{"client_id": ${JSON.stringify(credentials.client_id)}, "client_secret": ${JSON.stringify(credentials.client_secret)}}`);
}

const SERVICE_ARGUMENT: [string, string] = ['<service>', 'name or client id'];
const CREDENTIALS_JSON = 'print {"client_id", "client_secret"} as JSON';

export function servicesCommand(ctx: CliContext): Command {
  const services = new Command('services').description('the service clients other services call Latchkey with (the revocation feed)');
  addOperationCommand(services, ctx, {
    name: 'create',
    description: 'register a service; its client secret is printed once and never stored in clear',
    argument: ['<name>', 'a name for the service: letters, digits, ".", "_" or "-"'],
    json: CREDENTIALS_JSON,
    options: (command) => command.requiredOption('--scopes <scopes>', `comma-separated, among ${SERVICE_SCOPES.join(', ')}`, commaList),
    op: 'services.create',
    args: (name, opts: { scopes: string[] }) => ({ name: name!, scopes: opts.scopes as ServiceScope[] }),
    printJson: printCredentials,
    print: (created) => {
      printLine(`Created service ${created.name} (${created.scopes.join(', ')})`);
      printLine(`client_id:     ${created.client_id}`);
      printLine(`client_secret: ${created.client_secret}`);
      printNote('The secret is shown only this once: keep it now (`latchkey services rotate` makes a new one).');
    },
  });
  addOperationCommand(services, ctx, {
    name: 'list',
    description: 'list the service clients, never their secrets',
    json: 'print the clients as JSON',
    op: 'services.list',
    args: () => ({}),
    print: (list) =>
      printTable(list, [
        ['NAME', (c) => c.name],
        ['CLIENT_ID', (c) => c.client_id],
        ['SCOPES', (c) => c.scopes.join(',')],
        ['CREATED', (c) => c.created_at],
        ['ROTATED', (c) => c.secret_rotated_at],
      ]),
  });
  addOperationCommand(services, ctx, {
    name: 'rotate',
    description: 'give a service a new secret, printed once; the old one stops working now and its streams close',
    argument: SERVICE_ARGUMENT,
    json: CREDENTIALS_JSON,
    op: 'services.rotate',
    args: (service) => ({ service: service! }),
    printJson: printCredentials,
    print: (rotated) => {
      printLine(`New secret for ${rotated.name} (${rotated.client_id}); the old one no longer works`);
      printLine(`client_secret: ${rotated.client_secret}`);
      printNote('The secret is shown only this once: keep it now.');
    },
  });
  addOperationCommand(services, ctx, {
    name: 'remove',
    description: 'remove a service: its secret stops working now and its streams close',
    argument: SERVICE_ARGUMENT,
    json: 'print the removed client as JSON',
    options: (command) => command.option('--yes', 'yes, remove it'),
    op: 'services.remove',
    args: (service, opts: { yes?: boolean }) => {
      if (!opts.yes) throw usageError(`removing ${service} cuts that service off at once: add --yes`);
      return { service: service! };
    },
    print: (removed) => printLine(`Removed service ${removed.name} (${removed.client_id})`),
  });
  return services;
}
