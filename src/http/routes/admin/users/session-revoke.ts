import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { revokeUserSession } from '../../../../auth/users/user-admin.js';
import { SessionRevoked } from '../../../../contracts/users.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { IdParam, tags } from './user-schemas.js';

const Params = Type.Object({ ...IdParam.properties, sid: Type.String({ format: 'uuid', maxLength: 36, description: 'the session id' }) });

/** One session of a user ended by an operator, as `latchkey sessions revoke` does, but only a session of that user. */
export function revokeUserSessionRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/admin/users/:id/sessions/:sid/revoke',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'End one session of a user: its refresh token stops working and its access tokens are refused now, on every instance (scope admin)',
          description: '`session_not_found` (404) unless the session is live and the user\'s.',
          params: Params,
          response: { 200: SessionRevoked, ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => revokeUserSession(deps, request.params.id, request.params.sid, serviceActor(request)),
    );
  };
}
