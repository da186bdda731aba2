import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listServiceClients, removeServiceClient } from '../../../../auth/service-clients/service-clients.js';
import { ServiceClientView } from '../../../../contracts/service-clients.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { NameParam, tags } from './service-schemas.js';

/**
 * The admin API for service clients: what `latchkey services list` and `remove` do, over HTTP, for service
 * clients with the `admin` scope, through the same domain functions (src/auth/service-clients/); the audit log
 * names the calling client (`actor: "service:<name>"`). Creating one and rotating a secret are ./secrets.ts.
 */
export function serviceClientRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/admin/services',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'List the service clients, by name, never their secrets (scope admin)',
          response: { 200: Type.Object({ services: Type.Array(ServiceClientView) }), ...errorResponses(401, 403, 503) },
        },
      },
      async () => ({ services: await listServiceClients(deps) }),
    );

    app.delete(
      '/api/admin/services/:name',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Remove a service client: its secret stops working now and the streams it opened close, on every instance (scope admin)',
          params: NameParam,
          response: { 200: Type.Object({ service: ServiceClientView }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => ({ service: await removeServiceClient(deps, request.params.name, serviceActor(request)) }),
    );
  };
}
