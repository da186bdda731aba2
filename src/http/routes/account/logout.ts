import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LOGOUT_SCOPES, logout, type LogoutScope } from '../../../auth/sessions/own-sessions.js';
import { oneOf } from '../../../contracts/fields.js';
import type { Deps } from '../../../deps.js';
import { withAliases } from '../../aliases.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody } from '../../schemas.js';

const LogoutQuery = Type.Object({
  scope: Type.Optional(
    oneOf(LOGOUT_SCOPES, {
      description: '`local` (the default): this session; `others`: every other session of yours, this one stays; `global`: every session of yours, this one included',
    }),
  ),
});

const schema = {
  tags: ['auth'],
  summary: 'End this session (or, by `scope`, your other sessions, or all of them): their refresh tokens and access tokens stop working at once',
  security: bearerAuth,
  querystring: LogoutQuery,
  response: { 200: MessageBody, ...errorResponses(400, 401, 503) },
};

const answer = (scope: LogoutScope, ended: number) => {
  if (scope === 'others') return `Logout successful. Your other sessions are signed out (${ended} ended); this one stays.`;
  if (scope === 'global') return `Logout successful. Every session is signed out (${ended} ended).`;
  return 'Logout successful. Tokens revoked.';
};

export function logoutRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);
    for (const [url, aliasSchema] of withAliases('/api/logout', schema)) {
      app.post(url, { schema: aliasSchema, config: { ignoresBody: true }, preHandler: requireToken }, async (request) => {
        const scope = request.query.scope ?? 'local';
        const ended = await logout(deps, requireAuth(request), scope, clientOf(request));
        return { message: answer(scope, ended) };
      });
    }
  };
}
