import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { showUser } from '../../../../auth/users/user-admin.js';
import { AdminUserWithSessions } from '../../../../contracts/users.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { IdParam, tags } from './user-schemas.js';

const schema = {
  tags,
  summary: 'One user, with their live sessions (scope users:read or admin)',
  params: IdParam,
  response: { 200: AdminUserWithSessions, ...errorResponses(400, 401, 403, 404, 503) },
};

export function showUserRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/admin/users/:id', { schema, config: forServiceClients('users:read', 'admin') }, async (request) => showUser(deps, request.params.id));
  };
}
