import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createOAuthClient, OAUTH_CLIENT_NAME_PATTERN, rotateOAuthClientSecret } from '../../../../auth/oauth/clients.js';
import { OAuthClientWithSecret } from '../../../../contracts/oauth-clients.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { ClientParam, tags } from './client-schemas.js';

const Uri = Type.String({ minLength: 1, maxLength: 2000 });
const URI_RULE = 'https, http on localhost, 127.0.0.1 or [::1], or a private-use scheme (`com.example.app:/cb`); absolute, without a fragment';

// Fields not listed here are dropped (removeAdditional): a caller cannot choose the client id or the secret.
const CreateBody = Type.Object({
  name: Type.String({ pattern: OAUTH_CLIENT_NAME_PATTERN.source, description: 'the name users see on the consent page: letters, digits, `.`, `_` and `-`, from a letter or digit, at most 64; not `lko_…`' }),
  redirect_uris: Type.Array(Uri, { minItems: 1, maxItems: 20, description: `where the client receives its codes, compared exactly: ${URI_RULE}` }),
  post_logout_redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20, description: `where RP-initiated logout may send the browser back to: ${URI_RULE}` })),
  backchannel_logout_uri: Type.Optional(Type.Union([Uri, Type.Null()], { description: 'where its logout tokens are posted: https (or http on a loopback address)' })),
  public: Type.Optional(Type.Boolean({ description: 'a public client (an SPA, a mobile app): no secret, PKCE alone' })),
  first_party: Type.Optional(Type.Boolean({ description: 'an application of the same organisation: its users are never asked for their consent' })),
  jwks: Type.Optional(
    // Each key as sent (a record: removeAdditional keeps its members), checked by the domain: public keys only.
    Type.Union([Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 10 }) }), Type.Null()], {
      description: 'its public keys, as a JWK Set: it authenticates with `private_key_jwt` and gets no secret',
    }),
  ),
});

const SECRET_NOTE =
  'The secret (`lkos_…`) is in this answer only: only its SHA-256 is stored. A public client, and one with keys (`jwks`), gets none (`null`). The answer is sent with `Cache-Control: no-store`.';

/** The two answers that carry a client's secret: registering a client, and rotating its secret (scope admin). */
export function oauthClientSecretRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/admin/clients',
      {
        config: forServiceClients('admin'),
        schema: {
          tags,
          summary: 'Register an OAuth client; its secret, if it has one, is in this answer only (scope admin)',
          description: `${SECRET_NOTE} A redirect URI that is not ${URI_RULE} is \`400 invalid_request\`, with each one at fault in \`details\`.`,
          body: CreateBody,
          response: { 201: OAuthClientWithSecret, ...errorResponses(400, 401, 403, 409, 415, 503) },
        },
      },
      async (request, reply) => {
        const b = request.body;
        const input = {
          name: b.name,
          redirectUris: b.redirect_uris,
          postLogoutRedirectUris: b.post_logout_redirect_uris ?? [],
          backchannelLogoutUri: b.backchannel_logout_uri ?? null,
          public: b.public ?? false,
          firstParty: b.first_party ?? false,
          jwks: b.jwks ?? null,
        };
        const created = await createOAuthClient(deps, input, serviceActor(request));
        return reply.code(201).header('cache-control', 'no-store').send(created);
      },
    );

    app.post(
      '/api/admin/clients/:ref/rotate',
      {
        // No body is read: whatever is sent (`{}`, nothing, any Content-Type) is ignored.
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: {
          tags,
          summary: "Give a confidential OAuth client a new secret, in this answer only; the old one stops working now, its sessions go on (scope admin)",
          description: `${SECRET_NOTE} A client without a secret (public, or with keys) has none to rotate: \`400 invalid_request\`.`,
          params: ClientParam,
          response: { 200: OAuthClientWithSecret, ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      async (request, reply) => {
        const rotated = await rotateOAuthClientSecret(deps, request.params.ref, serviceActor(request));
        return reply.header('cache-control', 'no-store').send(rotated);
      },
    );
  };
}
