import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

const DOCS_LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="150" height="32" viewBox="0 0 150 32">
<text x="0" y="24" font-family="system-ui, sans-serif" font-size="24" font-weight="700" fill="#ffffff">Latchkey</text></svg>`;

type OpenApiDocument = { paths?: Record<string, Record<string, { requestBody?: { required?: boolean }; [key: string]: unknown }>> };

/** A route whose schema says `x-body-optional` (it reads its input from a header or the body) is documented so. */
function markOptionalBodies(doc: OpenApiDocument) {
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (!operation['x-body-optional']) continue;
      delete operation['x-body-optional'];
      if (operation.requestBody) operation.requestBody.required = false;
    }
  }
  return doc;
}


/** The OpenAPI 3.1 document of every route registered after this, and its browsable page at /docs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export async function registerOpenApi(app: FastifyInstance<any, any, any, any, any>) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Latchkey',
        version: '0.1.0',
        description: 'Self-hosted JWT authentication server. Errors share one body: `{error, message, details?}`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'an access token' },
          refreshToken: { type: 'http', scheme: 'bearer', description: 'a refresh token (opaque), as `Authorization: Bearer <refresh_token>`' },
          serviceClient: { type: 'http', scheme: 'basic', description: 'a service client\'s id and secret (`latchkey services create`), as HTTP Basic' },
        },
      },
      tags: [
        { name: 'auth', description: 'sign-up, sign-in, tokens' },
        { name: 'account', description: "a user's own account (`/api/me`), with its access token: profile, password, address, sessions, security events, data export, deletion" },
        { name: 'mfa', description: "a user's second factors, with its access token: an authenticator app (TOTP) and its recovery codes" },
        { name: 'password', description: 'forgotten password' },
        { name: 'verification', description: 'proving an email address: verification links and codes, email changes' },
        { name: 'services', description: 'for other services: the revocation feed' },
        { name: 'admin', description: 'for service clients: manage users (HTTP Basic, scopes users:read and admin)' },
        { name: 'oauth', description: 'OpenID Connect and OAuth 2: discovery, the token endpoint, userinfo, revocation, introspection (the authorization and logout pages are HTML)' },
        { name: 'meta', description: 'health, keys, documents' },
        { name: 'pages', description: 'HTML pages' },
        { name: 'compat', description: 'route names used by older clients, same behaviour as the canonical route' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}` },
    transformObject: (documentObject) =>
      'openapiObject' in documentObject ? markOptionalBodies(documentObject.openapiObject as OpenApiDocument) : documentObject.swaggerObject,
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    logo: { type: 'image/svg+xml', content: Buffer.from(DOCS_LOGO), href: '/docs', target: '_self' },
    theme: { title: 'Latchkey API' },
  });
}
