import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { searchUsers } from '../../../../auth/users/user-admin.js';
import { AdminUser, USERS_PAGE_DEFAULT } from '../../../../contracts/users.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { ADMIN_PAGE_MAX, tags } from './user-schemas.js';

// Some visible character, no control character.
const SEARCHED = '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001F\\u007F]*$';

const SearchQuery = Type.Object({
  email: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 254,
      pattern: SEARCHED,
      description: 'only users whose email contains this (case-insensitive substring; `ada` finds ada@example.com and nada@example.org)',
    }),
  ),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 254,
      pattern: SEARCHED,
      description: 'only users whose email or name contains this (case-insensitive substring; `love` finds Ada Lovelace and lovelace@example.com)',
    }),
  ),
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9][0-9]?|1[0-9][0-9]|200)$',
      description: `users per page, 1 to ${ADMIN_PAGE_MAX} (default ${USERS_PAGE_DEFAULT})`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next_cursor` of the previous page' }),
  ),
});

const schema = {
  tags,
  summary: 'Search users, a page at a time (scope users:read or admin)',
  description:
    'Users in the order they were created. Pass `next_cursor` as `cursor` for the next page; it is null on the last one. ' +
    'Pages stay consistent while users are added or deleted: no user is shown twice, and new users appear at the end.',
  querystring: SearchQuery,
  response: {
    200: Type.Object({ users: Type.Array(AdminUser), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
    ...errorResponses(400, 401, 403, 503),
  },
};

export function searchUsersRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/admin/users', { schema, config: forServiceClients('users:read', 'admin') }, async (request) => {
      const { email, q, limit, cursor } = request.query;
      return searchUsers(deps, { email, text: q, cursor, limit: limit === undefined ? USERS_PAGE_DEFAULT : Number(limit) });
    });
  };
}
