import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessTokenPolicy } from '../../../auth/sessions/access-tokens.js';
import { Type } from 'typebox';
import { authenticateClient, type AuthenticatedClient } from '../../../auth/oauth/client-auth.js';
import { oauthError } from '../../../auth/oauth/errors.js';
import { MAX_CODE_LENGTH } from '../../../auth/oauth/codes.js';
import { clientCredentialsToken, exchangeCode, refreshForClient } from '../../../auth/oauth/grants.js';
import { introspectToken, revokeClientToken } from '../../../auth/oauth/introspection.js';
import { authenticateServiceClient, namesServiceClient, SERVICE_SCOPES } from '../../../auth/service-clients/service-clients.js';
import type { Deps } from '../../../deps.js';
import { clientOf, limitByAddress } from '../../client.js';
import { errorResponses } from '../../schemas.js';

const tags = ['oauth'];
const FORM = ['application/x-www-form-urlencoded'];
const field = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

/** What every client-authenticated OAuth endpoint's form may carry to prove the client. */
const ClientFields = {
  client_id: field(128),
  client_secret: field(128),
  client_assertion_type: field(128),
  client_assertion: field(8192),
};

const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  id_token: Type.Optional(Type.String()),
  scope: Type.String(),
});

/**
 * The OAuth endpoints that clients call directly (not through a browser): the token endpoint, userinfo, revocation
 * and introspection. Their bodies are forms, as OAuth has them; their answers JSON, never cached.
 */
export function oauthTokenRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    await app.register(formbody, { bodyLimit: deps.config.bodyLimit });
    const base = deps.config.publicUrl.replace(/\/+$/, '');
    const ctx: Context = {
      deps,
      // What a client's signed assertion may name as its audience: the endpoint, or the issuer.
      audiences: (path) => [`${base}${path}`, deps.config.jwt.issuer],
      policy: { issuer: deps.config.jwt.issuer, audience: deps.config.jwt.audience, maxLifetime: deps.config.ttl.accessToken },
    };
    tokenRoute(app, ctx);
    revocationRoutes(app, ctx);
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server and logger
type RouteApp = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

interface Context {
  deps: Deps;
  audiences: (path: string) => string[];
  policy: AccessTokenPolicy;
}

const proofOf = (request: FastifyRequest, body: Record<string, string | undefined>) => ({ ...body, authorization: request.headers.authorization });

function tokenRoute(app: RouteApp, { deps, audiences }: Context) {
    app.post(
      '/oauth/token',
      {
        schema: {
          tags,
          summary: 'The token endpoint: an authorization code (with its PKCE verifier), a refresh token, or a service client\'s credentials for tokens',
          description:
            'A form post (RFC 6749). `grant_type=authorization_code` with `code`, `redirect_uri` and `code_verifier`: the code works once, and a second use revokes what the first gave. ' +
            '`grant_type=refresh_token`: rotated as `/api/refresh` rotates, for the client that holds it alone. `grant_type=client_credentials`: a service client (HTTP Basic) gets an access token naming it. ' +
            'Clients authenticate with `client_secret_basic`, `client_secret_post`, `private_key_jwt`, or name themselves (`none`) when public.',
          consumes: FORM,
          body: Type.Object({
            grant_type: field(64),
            code: field(MAX_CODE_LENGTH),
            redirect_uri: field(2048),
            code_verifier: field(256),
            refresh_token: field(512),
            scope: field(512),
            ...ClientFields,
          }),
          response: { 200: TokenAnswer, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
        onRequest: limitByAddress(deps, 'refresh'),
      },
      async (request) => {
        const body = request.body;
        if (body.grant_type === 'client_credentials') {
          if (!namesServiceClient(request.headers.authorization)) {
            throw oauthError('unauthorized_client', 'client_credentials is for service clients (HTTP Basic with a service client\'s id and secret).');
          }
          const service = await authenticateServiceClient(deps, request.headers.authorization, SERVICE_SCOPES);
          return clientCredentialsToken(deps, service, body.scope);
        }
        const client = await authenticateClient(deps, proofOf(request, body), audiences('/oauth/token'));
        if (body.grant_type === 'authorization_code') return exchangeCode(deps, client.row, body, clientOf(request));
        if (body.grant_type === 'refresh_token') return refreshForClient(deps, client.row, body.refresh_token, clientOf(request));
        throw oauthError('unsupported_grant_type', 'grant_type must be authorization_code, refresh_token or client_credentials.');
      },
    );
}

function revocationRoutes(app: RouteApp, { deps, audiences, policy }: Context) {
    app.post(
      '/oauth/revoke',
      {
        schema: {
          tags,
          summary: 'Revoke a token (RFC 7009): an access or refresh token a client holds ends its whole session',
          consumes: FORM,
          body: Type.Object({ token: field(4096), token_type_hint: field(64), ...ClientFields }),
          response: { 200: Type.Object({}), ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
        onRequest: limitByAddress(deps, 'refresh'),
      },
      async (request) => {
        const client: AuthenticatedClient = await authenticateClient(deps, proofOf(request, request.body), audiences('/oauth/revoke'));
        await revokeClientToken(deps, policy, client.row.clientId, request.body.token ?? '');
        return {};
      },
    );

    app.post(
      '/oauth/introspect',
      {
        schema: {
          tags,
          summary: 'Introspect a token (RFC 7662): for service clients (any token) and confidential OAuth clients (their own)',
          description: 'A revoked session answers `active: false` at once, on every instance: the session is read from the database.',
          consumes: FORM,
          body: Type.Object({ token: field(4096), token_type_hint: field(64), ...ClientFields }),
          response: { 200: Type.Object({ active: Type.Boolean() }, { additionalProperties: true }), ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        let asker: string | undefined;
        if (namesServiceClient(request.headers.authorization)) {
          await authenticateServiceClient(deps, request.headers.authorization, SERVICE_SCOPES);
        } else {
          const client = await authenticateClient(deps, proofOf(request, request.body), audiences('/oauth/introspect'));
          if (client.method === 'none') throw oauthError('invalid_client', 'A public client cannot introspect tokens.');
          asker = client.row.clientId;
        }
        return introspectToken(deps, policy, { clientId: asker }, request.body.token ?? '', request.body.token_type_hint);
      },
    );
}
