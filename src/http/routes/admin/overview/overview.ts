import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { readOverview } from '../../../../auth/overview/overview.js';
import { Overview } from '../../../../contracts/overview.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';

const schema = {
  tags: ['admin'],
  summary: 'The figures of the console\'s overview: users, sign-ins and failures per day over 30 days, open sessions, webhook backlog, signing key age (scope admin)',
  response: { 200: Overview, ...errorResponses(401, 403, 503) },
};

/** What the console's overview (`/admin`) shows, as JSON: the same domain function. */
export function overviewRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/admin/overview', { schema, config: forServiceClients('admin') }, async () => readOverview(deps));
  };
}
