import { Command } from 'commander';
import { SERVICE_SCOPES, type ServiceClientCredentials, type ServiceScope } from '../../auth/service-clients/service-clients.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { printJson, printLine, printNote, printTable } from '../output.js';

/** The one JSON line of a new secret, exactly `{"client_id": "…", "client_secret": "…"}`: what a deploy script reads. */
function printCredentials(credentials: ServiceClientCredentials) {
  printLine(`{"client_id": ${JSON.stringify(credentials.client_id)}, "client_secret": ${JSON.stringify(credentials.client_secret)}}`);
}

function scopeList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function servicesCommand(ctx: CliContext): Command {
  const services = new Command('services').description('the service clients other services call Latchkey with (the revocation feed)');

  services
    .command('create')
    .description('register a service; its client secret is printed once and never stored in clear')
    .argument('<name>', 'a name for the service: letters, digits, ".", "_" or "-"')
    .requiredOption('--scopes <scopes>', `comma-separated, among ${SERVICE_SCOPES.join(', ')}`, scopeList)
    .option('--json', 'print {"client_id", "client_secret"} as JSON')
    .action(async (name: string, opts: { scopes: string[]; json?: boolean }) => {
      const created = await ctx.run('services.create', { name, scopes: opts.scopes as ServiceScope[] });
      if (opts.json) return printCredentials(created);
      printLine(`Created service ${created.name} (${created.scopes.join(', ')})`);
      printLine(`client_id:     ${created.client_id}`);
      printLine(`client_secret: ${created.client_secret}`);
      printNote('The secret is shown only this once: keep it now (`latchkey services rotate` makes a new one).');
    });

  services
    .command('list')
    .description('list the service clients, never their secrets')
    .option('--json', 'print the clients as JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await ctx.run('services.list', {});
      if (opts.json) return printJson(list);
      printTable(list, [
        ['NAME', (c) => c.name],
        ['CLIENT_ID', (c) => c.client_id],
        ['SCOPES', (c) => c.scopes.join(',')],
        ['CREATED', (c) => c.created_at],
        ['ROTATED', (c) => c.secret_rotated_at],
      ]);
    });

  services
    .command('rotate')
    .description('give a service a new secret, printed once; the old one stops working now and its streams close')
    .argument('<service>', 'name or client id')
    .option('--json', 'print {"client_id", "client_secret"} as JSON')
    .action(async (service: string, opts: { json?: boolean }) => {
      const rotated = await ctx.run('services.rotate', { service });
      if (opts.json) return printCredentials(rotated);
      printLine(`New secret for ${rotated.name} (${rotated.client_id}); the old one no longer works`);
      printLine(`client_secret: ${rotated.client_secret}`);
      printNote('The secret is shown only this once: keep it now.');
    });

  services
    .command('remove')
    .description('remove a service: its secret stops working now and its streams close')
    .argument('<service>', 'name or client id')
    .option('--yes', 'yes, remove it')
    .option('--json', 'print the removed client as JSON')
    .action(async (service: string, opts: { yes?: boolean; json?: boolean }) => {
      if (!opts.yes) throw usageError(`removing ${service} cuts that service off at once: add --yes`);
      const removed = await ctx.run('services.remove', { service });
      if (opts.json) printJson(removed);
      else printLine(`Removed service ${removed.name} (${removed.client_id})`);
    });

  return services;
}
