import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Deps } from '../../../deps.js';
import { sendError } from '../../error-handler.js';
import { errorResponses } from '../../schemas.js';

const tags = ['meta'];

/** Liveness and readiness, for orchestrators and load balancers. */
export function healthRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/healthz',
      { schema: { tags, summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          tags,
          summary: 'Readiness: the database answers',
          response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errorResponses(503) },
        },
      },
      async (request, reply) => {
        try {
          await deps.database.ping();
          return { status: 'ready' as const };
        } catch (err) {
          request.log.warn({ err: (err as Error).message }, 'readiness check failed');
          return sendError(reply, 'database_unavailable');
        }
      },
    );
  };
}
