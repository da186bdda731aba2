import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addOperationCommand } from '../operation-command.js';
import { printLine, printTable } from '../output.js';

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description('the signing keys of access tokens');
  addOperationCommand(keys, ctx, {
    name: 'list',
    description: 'list the stored signing keys: current signs now, next signs from its activation, previous and retired only verify',
    json: 'print the keys as JSON',
    op: 'keys.list',
    args: () => ({}),
    print: (list) =>
      printTable(list, [
        ['KID', (k) => k.kid],
        ['ALG', (k) => k.alg],
        ['STATE', (k) => k.state],
        ['CREATED', (k) => k.created_at],
        ['ACTIVATES', (k) => k.activates_at],
        ['RETIRED', (k) => k.retired_at],
      ]),
  });
  addOperationCommand(keys, ctx, {
    name: 'rotate',
    description: 'publish a new signing key now; it signs once verifiers have fetched it (the JWKS max-age), the current one keeps verifying',
    json: 'print the new key as JSON',
    op: 'keys.rotate',
    args: () => ({}),
    print: (key) => printLine(`Published key ${key.kid} (${key.alg}); it signs from ${key.activates_at}`),
  });
  return keys;
}
