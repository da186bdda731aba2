import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createServiceClient, rotateServiceClientSecret, SERVICE_NAME_PATTERN, SERVICE_SCOPES } from '../../../../auth/service-clients/service-clients.js';
import { oneOf } from '../../../../contracts/fields.js';
import { ServiceClientWithSecret } from '../../../../contracts/service-clients.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { NameParam, tags } from './service-schemas.js';

// Fields not listed here are dropped (removeAdditional): a caller cannot choose the client id or the secret.
const CreateBody = Type.Object({
  name: Type.String({ pattern: SERVICE_NAME_PATTERN.source, description: 'letters, digits, `.`, `_` and `-`, from a letter or digit, at most 64; not `lkc_…`' }),
  scopes: Type.Array(oneOf(SERVICE_SCOPES), { minItems: 1, maxItems: 10, description: `among ${SERVICE_SCOPES.join(', ')}` }),
});

const SECRET_NOTE = 'The secret (`lks_…`) is in this answer only: only its SHA-256 is stored. The answer is sent with `Cache-Control: no-store`.';

/** The two answers that carry a client's secret: creating a client, and rotating its secret (scope admin). */
export function serviceSecretRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/admin/services',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'Register a service client; its secret is in this answer only (scope admin)',
          description: SECRET_NOTE,
          body: CreateBody,
          response: { 201: ServiceClientWithSecret, ...errorResponses(400, 401, 403, 409, 415, 503) },
        },
      },
      async (request, reply) => {
        const created = await createServiceClient(deps, request.body, serviceActor(request));
        return reply.code(201).header('cache-control', 'no-store').send(created);
      },
    );

    app.post(
      '/api/admin/services/:name/rotate',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Give a service client a new secret, in this answer only; the old one stops working now and its streams close (scope admin)',
          description: SECRET_NOTE,
          params: NameParam,
          response: { 200: ServiceClientWithSecret, ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request, reply) => {
        const rotated = await rotateServiceClientSecret(deps, request.params.name, serviceActor(request));
        return reply.header('cache-control', 'no-store').send(rotated);
      },
    );
  };
}
