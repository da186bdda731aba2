import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listOAuthClients, removeOAuthClient } from '../../../../auth/oauth/clients.js';
import { OAuthClientView } from '../../../../contracts/oauth-clients.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { ClientParam, tags } from './client-schemas.js';

/**
 * The admin API for OAuth clients: what `latchkey clients list` and `remove` do, over HTTP, for service clients with
 * the `admin` scope, through the same domain functions (src/auth/oauth/clients.ts); the audit log names the calling
 * service (`actor: "service:<name>"`). Registering one and rotating a secret are ./secrets.ts.
 */
export function oauthClientRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/admin/clients',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'List the OAuth clients, by name, never their secrets (scope admin)',
          response: { 200: Type.Object({ clients: Type.Array(OAuthClientView) }), ...errorResponses(401, 403, 503) },
        },
      },
      async () => ({ clients: await listOAuthClients(deps) }),
    );

    app.delete(
      '/api/admin/clients/:ref',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Remove an OAuth client: its secret stops working and every session it holds ends, on every instance, now (scope admin)',
          params: ClientParam,
          response: { 200: Type.Object({ client: OAuthClientView }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => ({ client: await removeOAuthClient(deps, request.params.ref, serviceActor(request)) }),
    );
  };
}
