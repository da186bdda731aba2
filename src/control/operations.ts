import { z } from 'zod';
import { listSigningKeys, rotateSigningKeys } from '../auth/keys/key-admin.js';
import {
  createUserByOperator,
  deleteUser,
  disableUser,
  enableUser,
  listUsers,
  revokeUserSessions,
  showUser,
} from '../auth/users/user-admin.js';
import {
  createServiceClient,
  listServiceClients,
  removeServiceClient,
  rotateServiceClientSecret,
  SERVICE_NAME_PATTERN,
  SERVICE_SCOPES,
} from '../auth/service-clients/service-clients.js';
import { PASSWORD_MAX_LENGTH } from '../config.js';
import { migrationStatus } from '../db/migrations.js';
import { IMPORT_BATCH_MAX, importUserBatch } from '../auth/import/user-import.js';
import type { Deps } from '../deps.js';
import { addWebhookEndpoint, checkWebhookUrl, CONTROL_CHARACTERS, listWebhookDeliveries, listWebhookEndpoints, removeWebhookEndpoint, replayWebhookDeliveries } from '../webhooks/endpoints.js';
import { EVENT_TYPES } from '../core/events.js';
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
export type OperationDeps = Pick<Deps, 'db' | 'database' | 'clock' | 'config' | 'passwords' | 'breachCheck' | 'revocations' | 'keys' | 'serviceClientEvents' | 'webhookSealer'>;
/** What the database-only operations use: the command line then opens the database and nothing else. */
export type DatabaseDeps = Pick<Deps, 'db' | 'database'>;

export interface OperationContext {
  /** Who asked, for the audit log (`cli`). */
  actor: string;
}

interface Operation<S extends z.ZodType, R, D> {
  /** `database`: needs only the database (migrations); `deps`: the keys and the rest too. */
  needs: D extends OperationDeps ? 'deps' : 'database';
  args: S;
  run(deps: D, args: z.output<S>, ctx: OperationContext): Promise<R>;
}

const withDeps = <S extends z.ZodType, R>(args: S, run: Operation<S, R, OperationDeps>['run']): Operation<S, R, OperationDeps> => ({ needs: 'deps', args, run });
const withDatabase = <S extends z.ZodType, R>(args: S, run: Operation<S, R, DatabaseDeps>['run']): Operation<S, R, DatabaseDeps> => ({
  needs: 'database',
  args,
  run,
});

// The same bounds as the HTTP schemas (src/http/schemas.ts).
const Email = z.string().trim().max(254).pipe(z.email({ message: 'must be an email address' }));
const Name = z
  .string()
  .min(1)
  .max(100)
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  .regex(/^(?=[\s\S]*\S)[^\u0000-\u001F\u007F]*$/, { message: 'must have a visible character and no control character' });
const UserRef = z.string().trim().min(1, { message: 'must be an email or a user id' }).max(254);
const None = z.object({}).strict();
const ServiceName = z.string().regex(SERVICE_NAME_PATTERN, {
  message: 'must be 1 to 64 letters, digits, ".", "_" or "-", from a letter or digit, and not start with "lkc_"',
});
const ServiceRef = z.string().trim().min(1, { message: 'must be a service name or client id' }).max(100);

export const OPERATIONS = {
  'users.create': withDeps(
    z.object({ email: Email, name: Name, password: z.string().min(1).max(PASSWORD_MAX_LENGTH * 4), admin: z.boolean().optional() }).strict(),
    (deps, args, ctx) => createUserByOperator(deps, args, ctx.actor),
  ),
  'users.list': withDeps(
    z
      .object({
        limit: z.number().int().min(1).max(1000).default(50),
        offset: z.number().int().min(0).optional(),
        after: z.uuid({ message: 'must be a user id' }).optional(),
      })
      .strict()
      .refine((a) => a.offset === undefined || a.after === undefined, { message: 'give offset or after, not both' }),
    (deps, args) => listUsers(deps, args),
  ),
  'users.show': withDeps(z.object({ user: UserRef }).strict(), (deps, args) => showUser(deps, args.user)),
  'users.disable': withDeps(z.object({ user: UserRef }).strict(), (deps, args, ctx) => disableUser(deps, args.user, ctx.actor)),
  'users.enable': withDeps(z.object({ user: UserRef }).strict(), (deps, args, ctx) => enableUser(deps, args.user, ctx.actor)),
  'users.delete': withDeps(z.object({ user: UserRef }).strict(), (deps, args, ctx) => deleteUser(deps, args.user, ctx.actor)),
  // Rows as a source read them: importUserBatch checks each one again, whoever sent it.
  'users.importBatch': withDeps(
    z
      .object({
        rows: z
          .array(
            z
              .object({
                row: z.number().int().min(0),
                id: z.unknown().optional(),
                name: z.unknown().optional(),
                email: z.unknown().optional(),
                password_hash: z.unknown().optional(),
                created_at: z.unknown().optional(),
                active: z.unknown().optional(),
                unreadable: z.string().max(1000).optional(),
              })
              .strict(),
          )
          .max(IMPORT_BATCH_MAX),
        dryRun: z.boolean().default(false),
      })
      .strict(),
    (deps, args) => importUserBatch(deps.db, args.rows, { dryRun: args.dryRun, now: deps.clock.now() }),
  ),
  'sessions.revoke': withDeps(z.object({ user: UserRef }).strict(), (deps, args, ctx) => revokeUserSessions(deps, args.user, ctx.actor)),
  'keys.list': withDeps(None, (deps) => listSigningKeys(deps)),
  'keys.rotate': withDeps(None, (deps, _args, ctx) => rotateSigningKeys(deps, ctx.actor)),
  'services.create': withDeps(
    z.object({ name: ServiceName, scopes: z.array(z.enum(SERVICE_SCOPES, { message: `must be among ${SERVICE_SCOPES.join(', ')}` })).min(1).max(10) }).strict(),
    (deps, args, ctx) => createServiceClient(deps, args, ctx.actor),
  ),
  'services.list': withDatabase(None, (deps) => listServiceClients(deps)),
  'services.rotate': withDeps(z.object({ service: ServiceRef }).strict(), (deps, args, ctx) => rotateServiceClientSecret(deps, args.service, ctx.actor)),
  'services.remove': withDeps(z.object({ service: ServiceRef }).strict(), (deps, args, ctx) => removeServiceClient(deps, args.service, ctx.actor)),
  'webhooks.add': withDeps(
    z
      .object({
        url: z.string().max(2000).superRefine((url, ctx) => {
          const problem = checkWebhookUrl(url);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        events: z.array(z.enum(EVENT_TYPES, { message: `must be among ${EVENT_TYPES.join(', ')}` })).max(20).default([]),
        backchannelAudience: z.string().trim().min(1).max(200).refine((a) => !CONTROL_CHARACTERS.test(a), 'must not contain control characters').optional(),
      })
      .strict()
      .refine((a) => a.backchannelAudience !== undefined || a.events.length > 0, { message: 'events: name at least one event type' })
      .refine((a) => a.backchannelAudience === undefined || a.events.every((e) => e === 'session.revoked'), {
        message: 'events: a back-channel logout endpoint receives session.revoked only',
      }),
    (deps, args, ctx) => addWebhookEndpoint(deps, args, ctx.actor),
  ),
  'webhooks.list': withDeps(None, (deps) => listWebhookEndpoints(deps)),
  'webhooks.remove': withDeps(z.object({ id: z.string().trim().min(1).max(100) }).strict(), (deps, args, ctx) => removeWebhookEndpoint(deps, args.id, ctx.actor)),
  'webhooks.deliveries': withDeps(
    z.object({ status: z.enum(['pending', 'delivered', 'dead']).optional(), endpoint: z.string().max(100).optional(), limit: z.number().int().min(1).max(1000).default(100) }).strict(),
    (deps, args) => listWebhookDeliveries(deps, args),
  ),
  'webhooks.replay': withDeps(
    z
      .object({ id: z.number().int().min(1).optional(), dead: z.boolean().optional() })
      .strict()
      .refine((a) => (a.id === undefined) !== (a.dead !== true), { message: 'give a delivery id or dead, not both' }),
    (deps, args, ctx) => replayWebhookDeliveries(deps, args, ctx.actor),
  ),
  'db.migrate': withDatabase(None, async (deps) => {
    await deps.database.migrate();
    return migrationStatus(deps.db);
  }),
  'db.migrationStatus': withDatabase(None, (deps) => migrationStatus(deps.db)),
};

export type OperationName = keyof typeof OPERATIONS;
export type OperationArgs<N extends OperationName> = z.input<(typeof OPERATIONS)[N]['args']>;
export type OperationResult<N extends OperationName> = Awaited<ReturnType<(typeof OPERATIONS)[N]['run']>>;

export function isOperationName(name: unknown): name is OperationName {
  return typeof name === 'string' && Object.hasOwn(OPERATIONS, name);
}

/** The operation and its checked arguments; a ControlError (`unknown_operation`, `invalid_arguments`) otherwise. */
export function parseOperation(name: unknown, args: unknown): { name: OperationName; needs: 'deps' | 'database'; args: unknown } {
  if (!isOperationName(name)) throw new ControlError('unknown_operation', `unknown operation: ${String(name).slice(0, 100)}`);
  const parsed = OPERATIONS[name].args.safeParse(args ?? {});
  if (!parsed.success) throw new ControlError('invalid_arguments', describeIssues(parsed.error));
  return { name, needs: OPERATIONS[name].needs, args: parsed.data };
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.join('.');
      // Unrecognized keys name themselves; the value of a field (a password) is never repeated.
      return field ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Checks the arguments, then runs the operation. */
export async function runOperation(deps: OperationDeps | DatabaseDeps, name: unknown, rawArgs: unknown, ctx: OperationContext): Promise<unknown> {
  const op = parseOperation(name, rawArgs);
  if (op.needs === 'deps' && !('keys' in deps)) throw new Error(`${op.name} needs more than the database`);
  // The schema of `op.name` has checked `op.args`: the pair matches, which TypeScript cannot follow here.
  const run = OPERATIONS[op.name].run as (deps: OperationDeps | DatabaseDeps, args: unknown, ctx: OperationContext) => Promise<unknown>;
  return run(deps, op.args, ctx);
}
