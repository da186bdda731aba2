import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { JWKS_MAX_AGE_SECONDS } from '../../../auth/keys/keys.js';
import type { Deps } from '../../../deps.js';

const tags = ['meta'];
const AnyObject = Type.Object({}, { additionalProperties: true });

/** The public keys that verify access tokens, and this API's OpenAPI document. */
export function documentRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          tags,
          summary: 'Public keys that verify access tokens (empty with HS256, whose secret is never published)',
          response: { 200: Type.Object({ keys: Type.Array(AnyObject) }) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
        return deps.keys.jwks();
      },
    );

    app.get(
      '/openapi.json',
      { schema: { tags, summary: 'This OpenAPI 3.1 document', response: { 200: AnyObject } } },
      async () => app.swagger(),
    );
  };
}
