import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { authenticateServiceClient, type AuthenticatedServiceClient, type ServiceScope } from '../../auth/service-clients/service-clients.js';
import type { Deps } from '../../deps.js';
import { AppError, type ErrorDetail } from '../../errors.js';
import { addWebhookEndpoint, checkWebhookUrl, CONTROL_CHARACTERS, listWebhookDeliveries, listWebhookEndpoints, removeWebhookEndpoint, replayWebhookDeliveries, webhookEndpointExists } from '../../webhooks/endpoints.js';
import { EVENT_TYPES } from '../../core/events.js';
import { errorResponses } from '../schemas.js';

/**
 * The admin API for webhooks: what `latchkey webhooks …` does, over HTTP, for service clients with the
 * `admin` scope. Each route calls the same domain function as the command line (src/webhooks/endpoints.ts);
 * the audit log names the client (`actor: "service:<name>"`).
 */

const tags = ['admin'];
const security = [{ serviceClient: [] }];
const ADMIN: readonly ServiceScope[] = ['admin'];
export const DELIVERIES_PAGE_DEFAULT = 100;
export const DELIVERIES_PAGE_MAX = 1000;

const nullableTime = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
// Responses are serialized from these schemas: the sealed secret is not listed, so it never leaves.
const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  backchannel_logout_audience: Type.Union([Type.String(), Type.Null()], { description: 'the `aud` of the logout tokens of a back-channel logout endpoint' }),
  created_at: Type.String({ format: 'date-time' }),
  disabled_at: nullableTime,
});
const Delivery = Type.Object({
  id: Type.Integer(),
  endpoint_id: Type.String(),
  event_id: Type.Integer(),
  event_type: Type.String(),
  status: Type.String({ description: '`pending`, `delivered` or `dead`' }),
  attempts: Type.Integer({ minimum: 0 }),
  last_status: Type.Union([Type.Integer(), Type.Null()], { description: 'the HTTP status of the last attempt' }),
  last_error: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  next_attempt_at: Type.String({ format: 'date-time' }),
  delivered_at: nullableTime,
});

const EndpointId = Type.String({ minLength: 4, maxLength: 100, pattern: '^wh_[A-Za-z0-9_-]+$', description: 'the endpoint id (`wh_…`)' });
const IdParam = Type.Object({ id: EndpointId });
const DeliveryIdParam = Type.Object({ deliveryId: Type.String({ pattern: '^[1-9][0-9]{0,14}$', maxLength: 15, description: 'the delivery id' }) });

// Fields not listed here are dropped (removeAdditional): a caller cannot choose the secret.
const AddBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2000, description: 'an absolute http:// or https:// URL, without credentials or #fragment' }),
    events: Type.Optional(
      Type.Array(Type.Union(EVENT_TYPES.map((e) => Type.Literal(e))), { maxItems: 20, description: `the event types to post, among ${EVENT_TYPES.join(', ')}` }),
    ),
    backchannel_logout: Type.Optional(Type.Boolean({ description: 'post session.revoked as OIDC back-channel logout tokens (with `audience`)' })),
    audience: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '\\S', description: 'the `aud` of the logout tokens: a client id (with `backchannel_logout`)' })),
  },
);

const DeliveriesQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')])),
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: `deliveries to show, newest first, 1 to ${DELIVERIES_PAGE_MAX} (default ${DELIVERIES_PAGE_DEFAULT})`,
    }),
  ),
});

function invalid(details: ErrorDetail[]): AppError {
  return new AppError('invalid_request', `Invalid request: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}.`, details);
}

export function adminWebhookRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const clients = new WeakMap<FastifyRequest, AuthenticatedServiceClient>();
    // Before anything else of the request is looked at: without a good credential, a bad id is a 401 too.
    const requireAdmin = async (request: FastifyRequest) => {
      clients.set(request, await authenticateServiceClient(deps, request.headers.authorization, ADMIN));
    };
    const actorOf = (request: FastifyRequest) => `service:${clients.get(request)!.name}`;
    const reads = { onRequest: requireAdmin };
    // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
    const writes = { onRequest: requireAdmin, config: { ignoresBody: true } };

    app.get(
      '/api/admin/webhooks',
      {
        ...reads,
        schema: {
          tags,
          security,
          summary: 'List the webhook endpoints, never their secrets (scope admin)',
          response: { 200: Type.Object({ webhooks: Type.Array(Endpoint) }), ...errorResponses(401, 403, 503) },
        },
      },
      async () => ({ webhooks: await listWebhookEndpoints(deps) }),
    );

    app.post(
      '/api/admin/webhooks',
      {
        onRequest: requireAdmin,
        schema: {
          tags,
          security,
          summary: 'Register a webhook endpoint; its signing secret is in this answer only (scope admin)',
          description:
            'Give `events`, or `backchannel_logout: true` with `audience` (a client id) for an endpoint that receives session.revoked ' +
            'as OIDC back-channel logout tokens. The secret (`whsec_…`) signs every delivery (Standard Webhooks); it is stored sealed and never shown again.',
          body: AddBody,
          response: {
            201: Type.Object({ id: Type.String(), secret: Type.String({ description: 'shown this once' }) }),
            ...errorResponses(400, 401, 403, 415, 503),
          },
        },
      },
      async (request, reply) => {
        const { url, events = [], backchannel_logout: backchannel = false, audience } = request.body;
        const problems: ErrorDetail[] = [];
        const urlProblem = checkWebhookUrl(url);
        if (urlProblem) problems.push({ field: 'url', message: urlProblem });
        if (audience !== undefined && CONTROL_CHARACTERS.test(audience)) problems.push({ field: 'audience', message: 'must not contain control characters' });
        if (backchannel && audience === undefined) problems.push({ field: 'audience', message: 'is required with backchannel_logout' });
        if (!backchannel && audience !== undefined) problems.push({ field: 'audience', message: 'goes with backchannel_logout: true' });
        if (!backchannel && events.length === 0) problems.push({ field: 'events', message: 'must name at least one event type' });
        if (backchannel && events.some((e) => e !== 'session.revoked')) problems.push({ field: 'events', message: 'a back-channel logout endpoint receives session.revoked only' });
        if (problems.length > 0) throw invalid(problems);
        const created = await addWebhookEndpoint(deps, { url, events, ...(backchannel ? { backchannelAudience: audience!.trim() } : {}) }, actorOf(request));
        return reply.code(201).send({ id: created.id, secret: created.secret });
      },
    );

    app.delete(
      '/api/admin/webhooks/:id',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Remove a webhook endpoint; its pending deliveries are dropped (scope admin)',
          params: IdParam,
          response: { 200: Type.Object({ webhook: Endpoint }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => ({ webhook: await removeWebhookEndpoint(deps, request.params.id, actorOf(request)) }),
    );

    app.get(
      '/api/admin/webhooks/:id/deliveries',
      {
        ...reads,
        schema: {
          tags,
          security,
          summary: "An endpoint's recent deliveries, newest first (scope admin)",
          params: IdParam,
          querystring: DeliveriesQuery,
          response: { 200: Type.Object({ deliveries: Type.Array(Delivery) }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (!(await webhookEndpointExists(deps, id))) throw new AppError('webhook_not_found');
        const { status, limit } = request.query;
        return { deliveries: await listWebhookDeliveries(deps, { endpoint: id, status, limit: limit === undefined ? DELIVERIES_PAGE_DEFAULT : Number(limit) }) };
      },
    );

    app.post(
      '/api/admin/webhooks/deliveries/:deliveryId/replay',
      {
        ...writes,
        schema: {
          tags,
          security,
          summary: 'Send a dead delivery again: it is pending once more, retried for WEBHOOK_RETRY_FOR from now (scope admin)',
          params: DeliveryIdParam,
          response: { 200: Type.Object({ replayed: Type.Integer({ minimum: 1 }) }), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => replayWebhookDeliveries(deps, { id: Number(request.params.deliveryId) }, actorOf(request)),
    );
  };
}
