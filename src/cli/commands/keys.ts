import { Command } from 'commander';
import type { KeyInfo } from '../../auth/keys/key-admin.js';
import type { CliContext } from '../context.js';
import { printJson, printLine, printTable } from '../output.js';

function printKeys(keys: KeyInfo[]) {
  printTable(keys, [
    ['KID', (k) => k.kid],
    ['ALG', (k) => k.alg],
    ['STATE', (k) => k.state],
    ['CREATED', (k) => k.created_at],
    ['ACTIVATES', (k) => k.activates_at],
    ['RETIRED', (k) => k.retired_at],
  ]);
}

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description('the signing keys of access tokens');
  keys
    .command('list')
    .description('list the stored signing keys: current signs now, next signs from its activation, previous and retired only verify')
    .option('--json', 'print the keys as JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await ctx.run('keys.list', {});
      if (opts.json) printJson(list);
      else printKeys(list);
    });
  keys
    .command('rotate')
    .description('publish a new signing key now; it signs once verifiers have fetched it (the JWKS max-age), the current one keeps verifying')
    .option('--json', 'print the new key as JSON')
    .action(async (opts: { json?: boolean }) => {
      const key = await ctx.run('keys.rotate', {});
      if (opts.json) printJson(key);
      else printLine(`Published key ${key.kid} (${key.alg}); it signs from ${key.activates_at}`);
    });
  return keys;
}
