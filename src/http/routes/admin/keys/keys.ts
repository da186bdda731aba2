import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listSigningKeys, revokeSigningKey, rotateSigningKeys } from '../../../../auth/keys/key-admin.js';
import { KeyRevoked, KID_MAX_LENGTH, SigningKeyView } from '../../../../contracts/keys.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';

const tags = ['admin'];
const KidParam = Type.Object({
  kid: Type.String({ minLength: 1, maxLength: KID_MAX_LENGTH, pattern: '^[A-Za-z0-9_-]+$', description: "the key's id, as the list shows it" }),
});

/**
 * The admin API for signing keys: what `latchkey keys …` does, over HTTP, for service clients with the `admin`
 * scope, through the same domain functions (src/auth/keys/key-admin.ts); the audit log names the client
 * (`actor: "service:<name>"`). The POST routes read no body: whatever is sent is ignored.
 */
export function signingKeyRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/admin/keys',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'List the stored signing keys, oldest activation first; never a private half (scope admin)',
          response: { 200: Type.Object({ keys: Type.Array(SigningKeyView) }), ...errorResponses(401, 403, 503) },
        },
      },
      async () => ({ keys: await listSigningKeys(deps) }),
    );

    app.post(
      '/api/admin/keys/rotate',
      {
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Publish a new signing key now; it signs once verifiers have fetched it (the JWKS max-age), the current one keeps verifying (scope admin)',
          description: 'With `JWT_ALGORITHM=HS256` there is no stored key to rotate: `400 invalid_request`.',
          response: { 200: SigningKeyView, ...errorResponses(400, 401, 403, 503) },
        },
      },
      async (request) => rotateSigningKeys(deps, serviceActor(request)),
    );

    app.post(
      '/api/admin/keys/:kid/revoke',
      {
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: 'Revoke a signing key now: it leaves the JWKS and every token it signed is refused, on every instance (scope admin)',
          description:
            'For a key that leaked. When it was the key signing now, a new key signs at once (`new_key`). Sessions are not ended: ' +
            'refresh tokens are not signed by the key, and the next refresh gets a token of the signing key. Services on the ' +
            'revocation feed are told (`key.revoked`). Revoking a revoked key changes nothing: `already_revoked: true`.',
          params: KidParam,
          response: { 200: KeyRevoked, ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request) => revokeSigningKey(deps, request.params.kid, serviceActor(request)),
    );
  };
}
