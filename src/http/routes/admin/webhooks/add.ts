import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { oneOf } from '../../../../contracts/fields.js';
import { EVENT_TYPES } from '../../../../core/events.js';
import type { Deps } from '../../../../deps.js';
import { AppError } from '../../../../errors.js';
import { addWebhookEndpoint, WEBHOOK_AUDIENCE_MAX, WEBHOOK_URL_MAX, webhookRegistrationProblems } from '../../../../webhooks/endpoints.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { tags } from './webhook-schemas.js';

// Fields not listed here are dropped (removeAdditional): a caller cannot choose the secret.
const AddBody = Type.Object({
  url: Type.String({ minLength: 1, maxLength: WEBHOOK_URL_MAX, description: 'an absolute http:// or https:// URL, without credentials or #fragment' }),
  events: Type.Optional(Type.Array(oneOf(EVENT_TYPES), { maxItems: 20, description: `the event types to post, among ${EVENT_TYPES.join(', ')}` })),
  backchannel_logout: Type.Optional(Type.Boolean({ description: 'post session.revoked as OIDC back-channel logout tokens (with `audience`)' })),
  audience: Type.Optional(Type.String({ minLength: 1, maxLength: WEBHOOK_AUDIENCE_MAX, pattern: '\\S', description: 'the `aud` of the logout tokens: a client id (with `backchannel_logout`)' })),
});

const schema = {
  tags,
  summary: 'Register a webhook endpoint; its signing secret is in this answer only (scope admin)',
  description:
    'Give `events`, or `backchannel_logout: true` with `audience` (a client id) for an endpoint that receives session.revoked ' +
    'as OIDC back-channel logout tokens. The secret (`whsec_…`) signs every delivery (Standard Webhooks); it is stored sealed and never shown again.',
  body: AddBody,
  response: {
    201: Type.Object({ id: Type.String(), secret: Type.String({ description: 'shown this once' }) }),
    ...errorResponses(400, 401, 403, 415, 503),
  },
};

export function addWebhookRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/admin/webhooks', { schema, config: forServiceClients('admin') }, async (request, reply) => {
      const { url, events = [], backchannel_logout: backchannel = false, audience } = request.body;
      // The same checks as the console's form (src/http/pages/admin/webhooks-pages.ts).
      const problems = webhookRegistrationProblems({ url, events, backchannelLogout: backchannel, audience });
      if (problems.length > 0) {
        throw new AppError('invalid_request', `Invalid request: ${problems.map((d) => `${d.field} ${d.message}`).join('; ')}.`, problems);
      }
      const created = await addWebhookEndpoint(deps, { url, events, ...(backchannel ? { backchannelAudience: audience!.trim() } : {}) }, serviceActor(request));
      return reply.code(201).send({ id: created.id, secret: created.secret });
    });
  };
}
