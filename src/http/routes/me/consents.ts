import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listConsents, revokeConsent } from '../../../auth/oauth/consents.js';
import { ConsentView } from '../../../contracts/oauth-clients.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses } from '../../schemas.js';

const tags = ['account'];

const listSchema = {
  tags,
  summary: 'The applications you allowed on the consent page, by name: what each may read, and since when',
  security: bearerAuth,
  response: { 200: Type.Object({ consents: Type.Array(ConsentView) }), ...errorResponses(401, 503) },
};

// Any text: a client id you have not allowed, malformed ones included, is 404 consent_not_found.
const ClientParam = Type.Object({ client_id: Type.String({ description: 'the client id of an application you allowed (`GET /api/me/consents`)' }) });

const removeSchema = {
  tags,
  summary: "Remove an application's access: your consent goes, and every session of yours it holds ends, on every instance at once",
  description:
    'Its refresh tokens and access tokens for you stop working at once; its next sign-in asks for your consent again. Any id that is not an application you allowed gets `404 consent_not_found`.',
  security: bearerAuth,
  params: ClientParam,
  response: {
    200: Type.Object({ message: Type.String(), client_id: Type.String(), name: Type.String(), sessions_ended: Type.Integer({ description: 'how many of your sessions it held ended' }) }),
    ...errorResponses(400, 401, 404, 503),
  },
};

/** The caller's consents to OAuth clients: the list, and removing one. */
export function meConsentRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);
    app.get('/api/me/consents', { schema: listSchema, preHandler: requireToken }, async (request) => ({
      consents: await listConsents(deps, requireAuth(request).userId),
    }));
    app.delete('/api/me/consents/:client_id', { schema: removeSchema, config: { ignoresBody: true }, preHandler: requireToken }, async (request) => {
      const removed = await revokeConsent(deps, requireAuth(request).userId, request.params.client_id, clientOf(request));
      return { message: 'Access removed. The application\'s sessions ended.', ...removed };
    });
  };
}
