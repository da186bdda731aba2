import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addOperationCommand } from '../operation-command.js';
import { usageError } from '../errors.js';
import { printLine, printNote, printTable } from '../output.js';

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description('the signing keys of access tokens');
  addOperationCommand(keys, ctx, {
    name: 'list',
    description: 'list the stored signing keys: current signs now, next signs from its activation, previous and retired only verify, revoked verifies nothing',
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
        ['REVOKED', (k) => k.revoked_at],
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
  addOperationCommand(keys, ctx, {
    name: 'revoke',
    description: 'revoke a signing key now (it leaked): it leaves the JWKS and every token it signed is refused; if it was signing, a new key signs at once',
    argument: ['<kid>', 'the key id, as `keys list` shows it'],
    json: 'print what was done as JSON',
    options: (command) => command.option('--yes', 'yes, revoke it'),
    op: 'keys.revoke',
    // As every destructive command: confirmed on its command line.
    args: (kid, opts: { yes?: boolean }) => {
      if (!opts.yes) throw usageError(`revoking ${kid} makes every access token it signed invalid at once: add --yes`);
      return { kid: kid! };
    },
    print: (r) => {
      if (r.already_revoked) return printLine(`Key ${r.kid} was already revoked (at ${r.revoked_at}); nothing changed`);
      printLine(`Revoked key ${r.kid}: it left the JWKS, and every access token it signed is refused`);
      if (r.new_key) printLine(`It was signing: new key ${r.new_key.kid} (${r.new_key.alg}) signs from now on`);
      printNote('Sessions are not ended: refresh tokens are not signed by the key, and the next refresh gets a token of the signing key.');
    },
  });
  return keys;
}
