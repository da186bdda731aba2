import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { JWKS_MAX_AGE_SECONDS } from '../../auth/keys/keys.js';
import type { Deps } from '../../deps.js';
import { sendError } from '../error-handler.js';
import { errorResponses, MessageBody } from '../schemas.js';

const tags = ['meta'];

export function metaRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/',
      {
        schema: {
          tags,
          summary: 'Service banner',
          response: { 200: Type.Object({ message: Type.String(), status: Type.Literal('online') }) },
        },
      },
      async () => ({ message: 'Welcome to Latchkey, the JWT Auth API', status: 'online' as const }),
    );

    app.get(
      '/api/public',
      { schema: { tags, summary: 'A public endpoint: no token needed', response: { 200: MessageBody } } },
      async () => ({ message: 'This is a public endpoint' }),
    );

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

    const Jwk = Type.Object({}, { additionalProperties: true });
    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          tags,
          summary: 'Public keys that verify access tokens (empty with HS256, whose secret is never published)',
          response: { 200: Type.Object({ keys: Type.Array(Jwk) }) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
        return deps.keys.jwks();
      },
    );

    app.get(
      '/openapi.json',
      { schema: { tags, summary: 'This OpenAPI 3.1 document', response: { 200: Type.Object({}, { additionalProperties: true }) } } },
      async () => app.swagger(),
    );
  };
}
