import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { OAuthClientCredentials, OAuthClientInfo } from '../../auth/oauth/clients.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { printLine, printNote, printTable } from '../output.js';

/** The one JSON line of a new client or secret, exactly `{"client_id": "…", "client_secret": "…"}` (null: none): what a deploy script reads. */
function printCredentials(credentials: OAuthClientCredentials) {
  printLine(`{"client_id": ${JSON.stringify(credentials.client_id)}, "client_secret": ${JSON.stringify(credentials.client_secret)}}`);
}

const CLIENT_ARGUMENT: [string, string] = ['<client>', 'name or client id'];
const CREDENTIALS_JSON = 'print {"client_id", "client_secret"} as JSON';
// A JWK Set is a few public keys: anything much larger is not one.
const JWKS_MAX_BYTES = 64 * 1024;

const repeated = (value: string, previous: string[] = []) => [...previous, value];

type CreateOptions = {
  redirectUri?: string[];
  postLogoutRedirectUri?: string[];
  backchannelLogoutUri?: string;
  public?: boolean;
  firstParty?: boolean;
  jwks?: string;
};

/** The JWK Set in a file, parsed; a usage error when it cannot be read or is not JSON. */
async function jwksFrom(path: string): Promise<{ keys: Record<string, unknown>[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw usageError(`--jwks: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (Buffer.byteLength(text) > JWKS_MAX_BYTES) throw usageError(`--jwks: ${path} is larger than a JWK Set (${JWKS_MAX_BYTES / 1024} KiB)`);
  try {
    return JSON.parse(text) as { keys: Record<string, unknown>[] };
  } catch {
    throw usageError(`--jwks: ${path} is not JSON: it must hold a JWK Set, {"keys": [...]}`);
  }
}

/** The arguments of clients.create; the usage errors of the options, before anything opens. */
async function createArguments(name: string, opts: CreateOptions) {
  if (!opts.redirectUri?.length) throw usageError('give at least one --redirect-uri <url>, where the client receives its codes');
  if (opts.public && opts.jwks) throw usageError('--public and --jwks go apart: a public client has no keys');
  return {
    name,
    redirectUris: opts.redirectUri,
    ...(opts.postLogoutRedirectUri?.length ? { postLogoutRedirectUris: opts.postLogoutRedirectUri } : {}),
    ...(opts.backchannelLogoutUri !== undefined ? { backchannelLogoutUri: opts.backchannelLogoutUri } : {}),
    ...(opts.public ? { public: true } : {}),
    ...(opts.firstParty ? { firstParty: true } : {}),
    ...(opts.jwks !== undefined ? { jwks: await jwksFrom(opts.jwks) } : {}),
  };
}

const kindOf = (c: OAuthClientInfo) => (c.type === 'public' ? 'public, PKCE alone' : c.token_endpoint_auth_methods.includes('private_key_jwt') ? 'confidential, private_key_jwt' : 'confidential');

function addCreate(clients: Command, ctx: CliContext) {
  addOperationCommand(clients, ctx, {
    name: 'create',
    description: 'register an application that signs its users in through Latchkey; its client secret (if any) is printed once and never stored in clear',
    argument: ['<name>', 'the name users see on the consent page: letters, digits, ".", "_" or "-"'],
    json: CREDENTIALS_JSON,
    options: (command) =>
      command
        .option('--redirect-uri <url>', 'where it receives its codes, compared exactly (repeat for more): https, http on localhost, or com.example.app:/…', repeated)
        .option('--post-logout-redirect-uri <url>', 'where RP-initiated logout may send the browser back to (repeat for more)', repeated)
        .option('--backchannel-logout-uri <url>', 'where its logout tokens are posted')
        .option('--public', 'a public client (an SPA, a mobile app): no secret, PKCE alone')
        .option('--first-party', 'an application of your own: its users are never asked for their consent')
        .option('--jwks <file>', 'a JWK Set of its public keys: it authenticates with private_key_jwt, and gets no secret'),
    op: 'clients.create',
    args: (name, opts: CreateOptions) => createArguments(name!, opts),
    printJson: printCredentials,
    print: (created) => {
      printLine(`Created OAuth client ${created.name} (${kindOf(created)}${created.first_party ? ', first party' : ''})`);
      printLine(`client_id:     ${created.client_id}`);
      if (created.client_secret) {
        printLine(`client_secret: ${created.client_secret}`);
        printNote('The secret is shown only this once: keep it now (`latchkey clients rotate` makes a new one).');
      }
    },
  });
}

export function clientsCommand(ctx: CliContext): Command {
  const clients = new Command('clients').description('the OAuth clients: applications that sign their users in through Latchkey (OpenID Connect)');
  addCreate(clients, ctx);
  addOperationCommand(clients, ctx, {
    name: 'list',
    description: 'list the OAuth clients, never their secrets',
    json: 'print the clients as JSON',
    op: 'clients.list',
    args: () => ({}),
    print: (list) =>
      printTable(list, [
        ['NAME', (c) => c.name],
        ['CLIENT_ID', (c) => c.client_id],
        ['TYPE', (c) => c.type],
        ['FIRST_PARTY', (c) => (c.first_party ? 'yes' : 'no')],
        ['AUTH', (c) => c.token_endpoint_auth_methods.join(',')],
        ['REDIRECT_URIS', (c) => c.redirect_uris.join(',')],
        ['CREATED', (c) => c.created_at],
        ['ROTATED', (c) => c.secret_rotated_at],
      ]),
  });
  addOperationCommand(clients, ctx, {
    name: 'rotate',
    description: 'give a confidential client a new secret, printed once; the old one stops working now (its sessions go on)',
    argument: CLIENT_ARGUMENT,
    json: CREDENTIALS_JSON,
    op: 'clients.rotate',
    args: (client) => ({ client: client! }),
    printJson: printCredentials,
    print: (rotated) => {
      printLine(`New secret for ${rotated.name} (${rotated.client_id}); the old one no longer works`);
      printLine(`client_secret: ${rotated.client_secret}`);
      printNote('The secret is shown only this once: keep it now.');
    },
  });
  addOperationCommand(clients, ctx, {
    name: 'remove',
    description: "remove a client: its secret stops working and every session it holds ends, now",
    argument: CLIENT_ARGUMENT,
    json: 'print the removed client as JSON',
    options: (command) => command.option('--yes', 'yes, remove it'),
    op: 'clients.remove',
    args: (client, opts: { yes?: boolean }) => {
      if (!opts.yes) throw usageError(`removing ${client} signs its users out of it and cuts it off at once: add --yes`);
      return { client: client! };
    },
    print: (removed) => printLine(`Removed OAuth client ${removed.name} (${removed.client_id})`),
  });
  return clients;
}
