import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WebhookEndpointView } from '../../../../contracts/webhooks.js';
import type { Deps } from '../../../../deps.js';
import { listWebhookEndpoints, removeWebhookEndpoint } from '../../../../webhooks/endpoints.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { IdParam, tags } from './webhook-schemas.js';

/**
 * The admin API for webhooks: what `latchkey webhooks …` does, over HTTP, for service clients with the
 * `admin` scope. Each route calls the same domain function as the command line (src/webhooks/endpoints.ts);
 * the audit log names the client (`actor: "service:<name>"`).
 */
export function webhookEndpointRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/admin/webhooks',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'List the webhook endpoints, never their secrets (scope admin)',
          response: { 200: Type.Object({ webhooks: Type.Array(WebhookEndpointView) }), ...errorResponses(401, 403, 503) },
        },
      },
      async () => ({ webhooks: await listWebhookEndpoints(deps) }),
    );

    app.delete(
      '/api/admin/webhooks/:id',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Remove a webhook endpoint; its pending deliveries are dropped (scope admin)',
          params: IdParam,
          response: { 200: Type.Object({ webhook: WebhookEndpointView }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => ({ webhook: await removeWebhookEndpoint(deps, request.params.id, serviceActor(request)) }),
    );
  };
}
