import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { oneOf } from '../../../../contracts/fields.js';
import { EVENT_TYPES } from '../../../../core/events.js';
import type { Deps } from '../../../../deps.js';
import { AppError, type ErrorDetail } from '../../../../errors.js';
import { addWebhookEndpoint, checkWebhookUrl, CONTROL_CHARACTERS } from '../../../../webhooks/endpoints.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { tags } from './webhook-schemas.js';

// Fields not listed here are dropped (removeAdditional): a caller cannot choose the secret.
const AddBody = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2000, description: 'an absolute http:// or https:// URL, without credentials or #fragment' }),
  events: Type.Optional(Type.Array(oneOf(EVENT_TYPES), { maxItems: 20, description: `the event types to post, among ${EVENT_TYPES.join(', ')}` })),
  backchannel_logout: Type.Optional(Type.Boolean({ description: 'post session.revoked as OIDC back-channel logout tokens (with `audience`)' })),
  audience: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '\\S', description: 'the `aud` of the logout tokens: a client id (with `backchannel_logout`)' })),
});
type AddBody = Static<typeof AddBody>;

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

/** Every problem of a registration the schema cannot see, at once. */
function registrationProblems({ url, events = [], backchannel_logout: backchannel = false, audience }: AddBody): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const urlProblem = checkWebhookUrl(url);
  if (urlProblem) problems.push({ field: 'url', message: urlProblem });
  if (audience !== undefined && CONTROL_CHARACTERS.test(audience)) problems.push({ field: 'audience', message: 'must not contain control characters' });
  if (backchannel && audience === undefined) problems.push({ field: 'audience', message: 'is required with backchannel_logout' });
  if (!backchannel && audience !== undefined) problems.push({ field: 'audience', message: 'goes with backchannel_logout: true' });
  if (!backchannel && events.length === 0) problems.push({ field: 'events', message: 'must name at least one event type' });
  if (backchannel && events.some((e) => e !== 'session.revoked')) problems.push({ field: 'events', message: 'a back-channel logout endpoint receives session.revoked only' });
  return problems;
}

export function addWebhookRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/admin/webhooks', { schema, config: forServiceClients('admin') }, async (request, reply) => {
      const problems = registrationProblems(request.body);
      if (problems.length > 0) {
        throw new AppError('invalid_request', `Invalid request: ${problems.map((d) => `${d.field} ${d.message}`).join('; ')}.`, problems);
      }
      const { url, events = [], backchannel_logout: backchannel = false, audience } = request.body;
      const created = await addWebhookEndpoint(deps, { url, events, ...(backchannel ? { backchannelAudience: audience!.trim() } : {}) }, serviceActor(request));
      return reply.code(201).send({ id: created.id, secret: created.secret });
    });
  };
}
