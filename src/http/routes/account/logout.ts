import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { endSession } from '../../../auth/sessions/sessions.js';
import type { Deps } from '../../../deps.js';
import { withAliases } from '../../aliases.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: 'End this session: its refresh token and all its access tokens stop working at once',
  security: bearerAuth,
  response: { 200: MessageBody, ...errorResponses(400, 401, 503) },
};

export function logoutRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);
    for (const [url, aliasSchema] of withAliases('/api/logout', schema)) {
      app.post(url, { schema: aliasSchema, config: { ignoresBody: true }, preHandler: requireToken }, async (request) => {
        await endSession(deps, requireAuth(request), clientOf(request));
        return { message: 'Logout successful. Tokens revoked.' };
      });
    }
  };
}
