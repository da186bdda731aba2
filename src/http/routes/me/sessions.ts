import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { endOwnSession, listOwnSessions } from '../../../auth/sessions/own-sessions.js';
import { OwnSessions } from '../../../contracts/sessions.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody } from '../../schemas.js';

const tags = ['account'];

const listSchema = {
  tags,
  summary: "Your live sessions, newest first: where and when each was opened and last used; this one marked `current`",
  security: bearerAuth,
  response: { 200: OwnSessions, ...errorResponses(401, 503) },
};

// Any text: an id that is not one of the caller's live sessions, malformed ones included, is 404 session_not_found.
const SessionParam = Type.Object({ id: Type.String({ description: 'the id of one of your sessions (`GET /api/me/sessions`)' }) });

const endSchema = {
  tags,
  summary: 'End one of your sessions (this one too) on every instance at once, as its logout would',
  description: 'Its refresh token and all its access tokens stop working at once. Any id that is not one of your live sessions gets `404 session_not_found`.',
  security: bearerAuth,
  params: SessionParam,
  response: { 200: MessageBody, ...errorResponses(400, 401, 404, 503) },
};

/** The caller's own sessions: the list, and ending one. */
export function meSessionRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);
    app.get('/api/me/sessions', { schema: listSchema, preHandler: requireToken }, async (request) => ({
      sessions: await listOwnSessions(deps, requireAuth(request)),
    }));
    app.delete('/api/me/sessions/:id', { schema: endSchema, config: { ignoresBody: true }, preHandler: requireToken }, async (request) => {
      await endOwnSession(deps, requireAuth(request), request.params.id, clientOf(request));
      return { message: 'Session ended. Its tokens are revoked.' };
    });
  };
}
