import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { OAUTH_CLAIMS, OAUTH_SCOPES } from '../../../auth/oauth/scopes.js';
import type { Deps } from '../../../deps.js';

const tags = ['oauth'];

/** The provider's metadata (OpenID Connect Discovery 1.0, RFC 8414): one document, under both names. */
export function discoveryDocument(deps: Deps): { issuer: string } & Record<string, unknown> {
  const base = deps.config.publicUrl.replace(/\/+$/, '');
  return {
    issuer: deps.config.jwt.issuer,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    userinfo_endpoint: `${base}/oauth/userinfo`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    revocation_endpoint: `${base}/oauth/revoke`,
    introspection_endpoint: `${base}/oauth/introspect`,
    end_session_endpoint: `${base}/oauth/logout`,
    scopes_supported: [...OAUTH_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [deps.config.jwt.algorithm],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    code_challenge_methods_supported: ['S256'],
    prompt_values_supported: ['none', 'login', 'consent'],
    acr_values_supported: ['aal1', 'aal2'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'sid', 'azp', ...OAUTH_CLAIMS],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    require_request_uri_registration: true,
    authorization_response_iss_parameter_supported: true,
    frontchannel_logout_supported: false,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
  };
}

export function discoveryRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const document = discoveryDocument(deps);
    const schema = (summary: string) => ({ tags, summary, response: { 200: Type.Object({ issuer: Type.String() }, { additionalProperties: true }) } });
    const answer = async (_request: unknown, reply: { header(name: string, value: string): unknown }) => {
      reply.header('cache-control', 'public, max-age=300');
      return document;
    };
    app.get('/.well-known/openid-configuration', { schema: schema('OpenID Connect Discovery: the provider\'s endpoints and what it supports') }, answer);
    app.get('/.well-known/oauth-authorization-server', { schema: schema('OAuth 2 Authorization Server Metadata (RFC 8414): the same document') }, answer);
  };
}
