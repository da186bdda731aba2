import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ACTIVITY_PAGE_DEFAULT, ACTIVITY_PAGE_MAX, listActivity } from '../../../auth/account/activity.js';
import { ActivityPage } from '../../../contracts/activity.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { bearerAuth, errorResponses } from '../../schemas.js';

const ActivityQuery = Type.Object({
  limit: Type.Optional(
    Type.String({ pattern: '^(?:[1-9][0-9]?|100)$', description: `events per page, 1 to ${ACTIVITY_PAGE_MAX} (default ${ACTIVITY_PAGE_DEFAULT})` }),
  ),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next_cursor` of the previous page' })),
});

const schema = {
  tags: ['account'],
  summary: "Your account's security events, newest first: sign-ins (failed ones too), logouts, sessions ended, password and email changes…",
  description: 'Pass `next_cursor` as `cursor` for the next, older page; it is null on the last one.',
  security: bearerAuth,
  querystring: ActivityQuery,
  response: { 200: ActivityPage, ...errorResponses(400, 401, 503) },
};

export function meActivityRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/me/activity', { schema, preHandler: authenticate(deps) }, async (request) => {
      const { limit, cursor } = request.query;
      return listActivity(deps, requireAuth(request).userId, { cursor, limit: limit === undefined ? ACTIVITY_PAGE_DEFAULT : Number(limit) });
    });
  };
}
