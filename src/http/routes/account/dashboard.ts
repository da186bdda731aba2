import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { getSessionUser } from '../../../auth/users/users.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { withAliases } from '../../aliases.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { bearerAuth, errorResponses, UserRef } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: 'A protected route: who the access token belongs to',
  security: bearerAuth,
  response: { 200: Type.Object({ message: Type.String(), user: UserRef }), ...errorResponses(401, 503) },
};

export function dashboardRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);
    for (const [url, aliasSchema] of withAliases('/api/dashboard', schema)) {
      app.get(url, { schema: aliasSchema, preHandler: requireToken }, async (request) => {
        const user = await getSessionUser(deps, requireAuth(request));
        if (!user) throw new AppError('invalid_token');
        return { message: `Welcome ${user.name}!`, user };
      });
    }
  };
}
