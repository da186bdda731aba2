import { Command } from 'commander';
import { UPSTREAM_TYPES, type UpstreamType } from '../../contracts/upstream.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { commaList } from '../options.js';
import { printLine, printNote, printTable } from '../output.js';
import { readSecret } from '../password-input.js';
import { checkArgs } from '../runner.js';

type AddOptions = { type: string; issuer?: string; clientId: string; scopes?: string[]; json?: boolean };

function addAdd(providers: Command, ctx: CliContext) {
  addOperationCommand(providers, ctx, {
    name: 'add',
    description: 'add a provider users may sign in with; its client secret is read from standard input (or asked for), never an argument',
    argument: ['<name>', 'a name for it, in its URLs (/api/signin/<name>): lower-case letters, digits, "_" or "-"'],
    json: 'print the provider as JSON',
    options: (command) =>
      command
        .option('--type <type>', `${UPSTREAM_TYPES.join(' or ')}`, 'oidc')
        .option('--issuer <url>', 'the OpenID Connect issuer (discovery at <url>/.well-known/openid-configuration); for github, its address (default https://github.com)')
        .requiredOption('--client-id <id>', "Latchkey's client id at the provider")
        .option('--scopes <scopes>', 'comma-separated scopes to ask for (default: openid,email,profile; github: read:user,user:email)', commaList),
    op: 'providers.add',
    args: async (name, opts: AddOptions) => {
      if (!(UPSTREAM_TYPES as readonly string[]).includes(opts.type)) throw usageError(`--type must be ${UPSTREAM_TYPES.join(' or ')}`);
      const args = { name: name!, type: opts.type as UpstreamType, clientId: opts.clientId, ...(opts.issuer === undefined ? {} : { issuer: opts.issuer }), ...(opts.scopes ? { scopes: opts.scopes } : {}) };
      // The rest is checked before the secret is asked for.
      checkArgs('providers.add', { ...args, clientSecret: 'unchecked' });
      return { ...args, clientSecret: await readSecret('client secret', 'printf %s "$CLIENT_SECRET" | latchkey providers add ...') };
    },
    print: (added) => {
      printLine(`Added provider ${added.name} (${added.type}, ${added.issuer})`);
      printLine(`redirect_uri: ${added.redirect_uri}`);
      printNote('Register this redirect URI with the provider. The sign-in page shows the provider within seconds, on every instance.');
    },
  });
}

export function providersCommand(ctx: CliContext): Command {
  const providers = new Command('providers').description('the providers users may sign in with besides a password: OpenID Connect issuers, GitHub');
  addAdd(providers, ctx);
  addOperationCommand(providers, ctx, {
    name: 'list',
    description: 'list the providers, never their client secrets',
    json: 'print the providers as JSON',
    op: 'providers.list',
    args: () => ({}),
    print: (list) =>
      printTable(list, [
        ['NAME', (p) => p.name],
        ['TYPE', (p) => p.type],
        ['ISSUER', (p) => p.issuer],
        ['CLIENT_ID', (p) => p.client_id],
        ['REDIRECT_URI', (p) => p.redirect_uri],
      ]),
  });
  addOperationCommand(providers, ctx, {
    name: 'remove',
    description: "remove a provider: its button goes, and every user's link to it is deleted",
    argument: ['<name>', 'the provider'],
    json: 'print the removed provider as JSON',
    options: (command) => command.option('--yes', 'yes, remove it'),
    op: 'providers.remove',
    args: (name, opts: { yes?: boolean }) => {
      if (!opts.yes) throw usageError(`removing ${name} unlinks every account linked through it: add --yes`);
      return { provider: name! };
    },
    print: (removed) => printLine(`Removed provider ${removed.name}; ${removed.identities_unlinked} linked identities deleted`),
  });
  return providers;
}
