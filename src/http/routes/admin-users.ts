import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { authenticateServiceClient, type AuthenticatedServiceClient, type ServiceScope } from '../../auth/service-clients/service-clients.js';
import { deleteUser, disableUser, enableUser, revokeUserSessions, searchUsers, showUser } from '../../auth/users/user-admin.js';
import type { Deps } from '../../deps.js';
import { errorResponses } from '../schemas.js';

/**
 * The admin API: what `latchkey users …` and `latchkey sessions revoke` do, over HTTP, for service
 * clients (HTTP Basic, client id and secret). Each route calls the same domain function as the command
 * line (src/auth/users/user-admin.ts), so sessions end on every instance and the audit log names the client
 * (`actor: "service:<name>"`).
 */

const tags = ['admin'];
const security = [{ serviceClient: [] }];
const READ: readonly ServiceScope[] = ['users:read', 'admin'];
const WRITE: readonly ServiceScope[] = ['admin'];
export const ADMIN_PAGE_DEFAULT = 50;
export const ADMIN_PAGE_MAX = 200;

const nullableTime = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const adminUserFields = {
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.String(),
  role: Type.String({ description: '`user` or `admin`' }),
  created_at: Type.String({ format: 'date-time' }),
  disabled_at: nullableTime,
  email_verified_at: nullableTime,
  password_changed_at: nullableTime,
  legacy_id: Type.Union([Type.String(), Type.Null()], { description: 'the id the user had in the system it was imported from' }),
};
// Responses are serialized from these schemas: a field not listed here (a password hash) never leaves.
const AdminUser = Type.Object(adminUserFields);
const IdParam = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36, description: 'the user id' }) });
const SessionsEnded = { user: AdminUser, sessions_ended: Type.Integer({ minimum: 0 }) };
const changed = Type.Boolean({ description: 'false when the account already was in that state (nothing was done)' });

const SearchQuery = Type.Object({
  email: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 254,
      // Some visible character, no control character.
      pattern: '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001F\\u007F]*$',
      description: 'only users whose email contains this (case-insensitive substring; `ada` finds ada@example.com and nada@example.org)',
    }),
  ),
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9][0-9]?|1[0-9][0-9]|200)$',
      description: `users per page, 1 to ${ADMIN_PAGE_MAX} (default ${ADMIN_PAGE_DEFAULT})`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next_cursor` of the previous page' }),
  ),
});

export function adminUserRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const clients = new WeakMap<FastifyRequest, AuthenticatedServiceClient>();
    // Before anything else of the request is looked at: without a good credential, a bad id is a 401 too.
    const requireClient = (scopes: readonly ServiceScope[]) => async (request: FastifyRequest) => {
      clients.set(request, await authenticateServiceClient(deps, request.headers.authorization, scopes));
    };
    const actorOf = (request: FastifyRequest) => `service:${clients.get(request)!.name}`;
    const reads = { onRequest: requireClient(READ) };
    // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
    const writes = { onRequest: requireClient(WRITE), config: { ignoresBody: true } };

    app.get(
      '/api/admin/users',
      {
        ...reads,
        schema: {
          tags,
          security,
          summary: 'Search users, a page at a time (scope users:read or admin)',
          description:
            'Users in the order they were created. Pass `next_cursor` as `cursor` for the next page; it is null on the last one. ' +
            'Pages stay consistent while users are added or deleted: no user is shown twice, and new users appear at the end.',
          querystring: SearchQuery,
          response: {
            200: Type.Object({ users: Type.Array(AdminUser), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
            ...errorResponses(400, 401, 403, 503),
          },
        },
      },
      async (request) => {
        const { email, limit, cursor } = request.query;
        return searchUsers(deps, { email, cursor, limit: limit === undefined ? ADMIN_PAGE_DEFAULT : Number(limit) });
      },
    );

    app.get(
      '/api/admin/users/:id',
      {
        ...reads,
        schema: {
          tags,
          security,
          summary: 'One user, with their live sessions (scope users:read or admin)',
          params: IdParam,
          response: {
            200: Type.Object({ ...adminUserFields, active_sessions: Type.Integer({ minimum: 0 }) }),
            ...errorResponses(400, 401, 403, 404, 503),
          },
        },
      },
      async (request) => showUser(deps, request.params.id),
    );

    app.delete(
      '/api/admin/users/:id',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Delete a user: their sessions end on every instance, then the account and its tokens are deleted (scope admin)',
          params: IdParam,
          response: { 200: Type.Object(SessionsEnded), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => deleteUser(deps, request.params.id, actorOf(request)),
    );

    app.post(
      '/api/admin/users/:id/disable',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Disable a user: no sign-in, refresh or password reset; every session and access token ends now (scope admin)',
          params: IdParam,
          response: { 200: Type.Object({ ...SessionsEnded, changed }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => disableUser(deps, request.params.id, actorOf(request)),
    );

    app.post(
      '/api/admin/users/:id/enable',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Let a disabled user sign in again; the sessions disabling ended stay ended (scope admin)',
          params: IdParam,
          response: { 200: Type.Object({ user: AdminUser, changed }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => enableUser(deps, request.params.id, actorOf(request)),
    );

    app.post(
      '/api/admin/users/:id/sessions/revoke',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Sign a user out everywhere: every session and access token ends now, on every instance (scope admin)',
          params: IdParam,
          response: { 200: Type.Object(SessionsEnded), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => revokeUserSessions(deps, request.params.id, actorOf(request)),
    );
  };
}
