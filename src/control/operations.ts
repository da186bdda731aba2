import type { Static, TObject } from 'typebox';
import { listSigningKeys, revokeSigningKey, rotateSigningKeys } from '../auth/keys/key-admin.js';
import {
  createUserByOperator,
  deleteUser,
  disableUser,
  enableUser,
  listUserSessions,
  listUsers,
  revokeOneSession,
  revokeUserSessions,
  showUser,
} from '../auth/users/user-admin.js';
import { createServiceClient, listServiceClients, removeServiceClient, rotateServiceClientSecret } from '../auth/service-clients/service-clients.js';
import { createOAuthClient, listOAuthClients, removeOAuthClient, rotateOAuthClientSecret } from '../auth/oauth/clients.js';
import { setUserRole } from '../auth/users/roles.js';
import { addUpstreamProvider, listUpstreamProviders, removeUpstreamProvider } from '../auth/upstream/providers.js';
import { importUserBatch } from '../auth/import/user-import.js';
import { sendVerificationByOperator, verifyEmailByOperator } from '../auth/verification/operator.js';
import { resetMfaByOperator } from '../auth/mfa/operator.js';
import { USERS_PAGE_DEFAULT, type SessionRevoked, type SessionsEnded } from '../contracts/users.js';
import { DELIVERIES_PAGE_DEFAULT } from '../contracts/webhooks.js';
import { migrationStatus } from '../db/migrations.js';
import type { Deps } from '../deps.js';
import { addWebhookEndpoint, listWebhookDeliveries, listWebhookEndpoints, removeWebhookEndpoint, replayWebhookDeliveries } from '../webhooks/endpoints.js';
import { checkArguments, type ArgumentsSpec } from './arguments.js';
import * as A from './operation-arguments.js';
import { ControlError } from './protocol.js';

/**
 * Every operation the command line performs on the database, by name. The command line runs them in
 * its own process (PostgreSQL, or an embedded data folder no server holds) or asks the server that
 * owns the data folder to run them (src/control/server.ts): the same validation and the same domain
 * function either way. To add one, add an entry: its arguments' schema (checked on the side that
 * runs it, whoever sent them) and a function of the dependencies and those arguments. Results must be
 * plain JSON (dates as ISO strings): they may cross the socket.
 */

/** What an operation may use: a server's dependencies, or those the command line opens. */
export type OperationDeps = Pick<Deps, 'db' | 'database' | 'clock' | 'config' | 'passwords' | 'breachCheck' | 'revocations' | 'keys' | 'serviceClientEvents' | 'webhookSealer' | 'upstreamKeys' | 'oauthClients'>;
/** What the database-only operations use: the command line then opens the database and nothing else. */
export type DatabaseDeps = Pick<Deps, 'db' | 'database'>;

export interface OperationContext {
  /** Who asked, for the audit log (`cli`). */
  actor: string;
}

interface Operation<S extends TObject, R, D> {
  /** `database`: needs only the database (migrations); `deps`: the keys and the rest too. */
  needs: D extends OperationDeps ? 'deps' : 'database';
  args: ArgumentsSpec<S>;
  run(deps: D, args: Static<S>, ctx: OperationContext): Promise<R>;
}

const withDeps = <S extends TObject, R>(args: ArgumentsSpec<S>, run: Operation<S, R, OperationDeps>['run']): Operation<S, R, OperationDeps> => ({ needs: 'deps', args, run });
const withDatabase = <S extends TObject, R>(args: ArgumentsSpec<S>, run: Operation<S, R, DatabaseDeps>['run']): Operation<S, R, DatabaseDeps> => ({
  needs: 'database',
  args,
  run,
});

export const OPERATIONS = {
  'users.create': withDeps(A.CREATE_USER, (deps, args, ctx) => createUserByOperator(deps, args, ctx.actor)),
  'users.list': withDeps(A.LIST_USERS, (deps, args) => listUsers(deps, { ...args, limit: args.limit ?? USERS_PAGE_DEFAULT })),
  'users.show': withDeps(A.USER, (deps, args) => showUser(deps, args.user)),
  'users.disable': withDeps(A.USER, (deps, args, ctx) => disableUser(deps, args.user, ctx.actor)),
  'users.enable': withDeps(A.USER, (deps, args, ctx) => enableUser(deps, args.user, ctx.actor)),
  'users.grant-admin': withDeps(A.USER, (deps, args, ctx) => setUserRole(deps, args.user, 'admin', ctx.actor)),
  'users.revoke-admin': withDeps(A.USER, (deps, args, ctx) => setUserRole(deps, args.user, 'user', ctx.actor)),
  'users.delete': withDeps(A.USER, (deps, args, ctx) => deleteUser(deps, args.user, ctx.actor)),
  'users.verifyEmail': withDeps(A.USER, (deps, args, ctx) => verifyEmailByOperator(deps, args.user, ctx.actor)),
  'users.sendVerification': withDeps(A.USER, (deps, args, ctx) => sendVerificationByOperator(deps, args.user, ctx.actor)),
  'users.mfaReset': withDeps(A.USER, (deps, args, ctx) => resetMfaByOperator(deps, args.user, ctx.actor)),
  'users.importBatch': withDeps(A.IMPORT_BATCH, (deps, args) => importUserBatch(deps.db, args.rows, { dryRun: args.dryRun ?? false, verified: args.verified ?? false, now: deps.clock.now() })),
  'sessions.list': withDeps(A.USER, (deps, args) => listUserSessions(deps, args.user)),
  // One session by its id, or every session of a user (the arguments' check makes it exactly one).
  'sessions.revoke': withDeps(A.REVOKE_SESSIONS, (deps, args, ctx): Promise<SessionRevoked | SessionsEnded> =>
    args.session !== undefined ? revokeOneSession(deps, args.session, ctx.actor) : revokeUserSessions(deps, args.user!, ctx.actor),
  ),
  'keys.list': withDeps(A.NO_ARGUMENTS, (deps) => listSigningKeys(deps)),
  'keys.rotate': withDeps(A.NO_ARGUMENTS, (deps, _args, ctx) => rotateSigningKeys(deps, ctx.actor)),
  'keys.revoke': withDeps(A.KEY, (deps, args, ctx) => revokeSigningKey(deps, args.kid, ctx.actor)),
  'services.create': withDeps(A.CREATE_SERVICE, (deps, args, ctx) => createServiceClient(deps, args, ctx.actor)),
  'services.list': withDatabase(A.NO_ARGUMENTS, (deps) => listServiceClients(deps)),
  'services.rotate': withDeps(A.SERVICE, (deps, args, ctx) => rotateServiceClientSecret(deps, args.service, ctx.actor)),
  'services.remove': withDeps(A.SERVICE, (deps, args, ctx) => removeServiceClient(deps, args.service, ctx.actor)),
  'providers.add': withDeps(A.ADD_PROVIDER, (deps, args, ctx) => addUpstreamProvider(deps, args, ctx.actor)),
  'providers.list': withDeps(A.NO_ARGUMENTS, (deps) => listUpstreamProviders(deps)),
  'providers.remove': withDeps(A.PROVIDER, (deps, args, ctx) => removeUpstreamProvider(deps, args.provider, ctx.actor)),
  'clients.create': withDeps(A.CREATE_OAUTH_CLIENT, (deps, args, ctx) => createOAuthClient(deps, args, ctx.actor)),
  'clients.list': withDatabase(A.NO_ARGUMENTS, (deps) => listOAuthClients(deps)),
  'clients.rotate': withDeps(A.OAUTH_CLIENT, (deps, args, ctx) => rotateOAuthClientSecret(deps, args.client, ctx.actor)),
  'clients.remove': withDeps(A.OAUTH_CLIENT, (deps, args, ctx) => removeOAuthClient(deps, args.client, ctx.actor)),
  'webhooks.add': withDeps(A.ADD_WEBHOOK, (deps, args, ctx) => addWebhookEndpoint(deps, { ...args, events: args.events ?? [] }, ctx.actor)),
  'webhooks.list': withDeps(A.NO_ARGUMENTS, (deps) => listWebhookEndpoints(deps)),
  'webhooks.remove': withDeps(A.WEBHOOK, (deps, args, ctx) => removeWebhookEndpoint(deps, args.id, ctx.actor)),
  'webhooks.deliveries': withDeps(A.LIST_DELIVERIES, (deps, args) => listWebhookDeliveries(deps, { ...args, limit: args.limit ?? DELIVERIES_PAGE_DEFAULT })),
  'webhooks.replay': withDeps(A.REPLAY, (deps, args, ctx) => replayWebhookDeliveries(deps, args, ctx.actor)),
  'db.migrate': withDatabase(A.NO_ARGUMENTS, async (deps) => {
    await deps.database.migrate();
    return migrationStatus(deps.db);
  }),
  'db.migrationStatus': withDatabase(A.NO_ARGUMENTS, (deps) => migrationStatus(deps.db)),
};

export type OperationName = keyof typeof OPERATIONS;
export type OperationArgs<N extends OperationName> = Static<(typeof OPERATIONS)[N]['args']['schema']>;
export type OperationResult<N extends OperationName> = Awaited<ReturnType<(typeof OPERATIONS)[N]['run']>>;

export function isOperationName(name: unknown): name is OperationName {
  return typeof name === 'string' && Object.hasOwn(OPERATIONS, name);
}

/** The operation and its checked arguments; a ControlError (`unknown_operation`, `invalid_arguments`) otherwise. */
export function parseOperation(name: unknown, args: unknown): { name: OperationName; needs: 'deps' | 'database'; args: unknown } {
  if (!isOperationName(name)) throw new ControlError('unknown_operation', `unknown operation: ${String(name).slice(0, 100)}`);
  return { name, needs: OPERATIONS[name].needs, args: checkArguments(OPERATIONS[name].args as ArgumentsSpec<TObject>, args) };
}

/** Checks the arguments, then runs the operation. */
export async function runOperation(deps: OperationDeps | DatabaseDeps, name: unknown, rawArgs: unknown, ctx: OperationContext): Promise<unknown> {
  const op = parseOperation(name, rawArgs);
  if (op.needs === 'deps' && !('keys' in deps)) throw new Error(`${op.name} needs more than the database`);
  // The schema of `op.name` has checked `op.args`: the pair matches, which TypeScript cannot follow here.
  const run = OPERATIONS[op.name].run as (deps: OperationDeps | DatabaseDeps, args: unknown, ctx: OperationContext) => Promise<unknown>;
  return run(deps, op.args, ctx);
}
