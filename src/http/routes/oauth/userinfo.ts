import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userInfo } from '../../../auth/oauth/userinfo.js';
import type { Deps } from '../../../deps.js';
import { authenticate, bearerToken } from '../../authenticate.js';
import { errorResponses } from '../../schemas.js';

const UserInfo = Type.Object(
  {
    sub: Type.String(),
    name: Type.Optional(Type.String()),
    email: Type.Optional(Type.String()),
    email_verified: Type.Optional(Type.Boolean()),
    updated_at: Type.Optional(Type.Integer()),
  },
  { description: 'The claims the access token\'s scopes allow: `profile` (name, updated_at), `email` (email, email_verified)' },
);

/** OpenID Connect's userinfo endpoint, by GET or POST, with the access token as a bearer token. */
export function userinfoRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const schema = {
      tags: ['oauth'],
      summary: 'The signed-in user\'s claims, as the access token\'s scopes allow (OpenID Connect userinfo)',
      security: [{ bearerAuth: [] }] as { [label: string]: string[] }[],
      response: { 200: UserInfo, ...errorResponses(400, 401, 503) },
    };
    const handler = async (request: Parameters<ReturnType<typeof authenticate>>[0]) => userInfo(deps.db, request.auth!, bearerToken(request)!);
    app.get('/oauth/userinfo', { schema, preHandler: authenticate(deps) }, handler);
    app.post('/oauth/userinfo', { schema, preHandler: authenticate(deps), config: { ignoresBody: true } }, handler);
  };
}
