import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { oneOf } from '../../../../contracts/fields.js';
import { DELIVERIES_PAGE_DEFAULT, DELIVERIES_PAGE_MAX, DELIVERY_STATUSES, DeliveryView } from '../../../../contracts/webhooks.js';
import type { Deps } from '../../../../deps.js';
import { AppError } from '../../../../errors.js';
import { listWebhookDeliveries, replayWebhookDeliveries, webhookEndpointExists } from '../../../../webhooks/endpoints.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { IdParam, tags } from './webhook-schemas.js';

const DeliveriesQuery = Type.Object({
  status: Type.Optional(oneOf(DELIVERY_STATUSES)),
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: `deliveries to show, newest first, 1 to ${DELIVERIES_PAGE_MAX} (default ${DELIVERIES_PAGE_DEFAULT})`,
    }),
  ),
  before: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,14}$', maxLength: 15, description: 'only deliveries older than this one (its id): the next page after the last id of the previous one' })),
});
const DeliveryIdParam = Type.Object({ deliveryId: Type.String({ pattern: '^[1-9][0-9]{0,14}$', maxLength: 15, description: 'the delivery id' }) });

/** An endpoint's deliveries, and sending a dead one again (scope admin). */
export function deliveryRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/admin/webhooks/:id/deliveries',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: "An endpoint's recent deliveries, newest first (scope admin)",
          params: IdParam,
          querystring: DeliveriesQuery,
          response: { 200: Type.Object({ deliveries: Type.Array(DeliveryView) }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (!(await webhookEndpointExists(deps, id))) throw new AppError('webhook_not_found');
        const { status, limit, before } = request.query;
        const page = { endpoint: id, status, before: before === undefined ? undefined : Number(before), limit: limit === undefined ? DELIVERIES_PAGE_DEFAULT : Number(limit) };
        return { deliveries: await listWebhookDeliveries(deps, page) };
      },
    );

    app.post(
      '/api/admin/webhooks/deliveries/:deliveryId/replay',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Send a dead delivery again: it is pending once more, retried for WEBHOOK_RETRY_FOR from now (scope admin)',
          params: DeliveryIdParam,
          response: { 200: Type.Object({ replayed: Type.Integer({ minimum: 1 }) }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => replayWebhookDeliveries(deps, { id: Number(request.params.deliveryId) }, serviceActor(request)),
    );
  };
}
