import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Deps } from './deps.js';
import { decorateClientNetwork } from './http/client.js';
import { answerClientError, answerExpectation } from './http/client-errors.js';
import { frameworkErrors, installErrorHandlers } from './http/error-handler.js';
import { resetPages } from './http/pages/reset-page.js';
import { countFrameworkErrors, countRequests } from './http/request-metrics.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { accountRoutes } from './http/routes/account.js';
import { adminUserRoutes } from './http/routes/admin-users.js';
import { adminWebhookRoutes } from './http/routes/admin-webhooks.js';
import { metaRoutes } from './http/routes/meta.js';
import { passwordResetRoutes } from './http/routes/password-reset.js';
import { revocationFeedRoutes } from './http/routes/revocation-feed.js';
import { ErrorBody, PublicUserSchema } from './http/schemas.js';

export type App = ReturnType<typeof createFastify>;

export interface RouteInfo {
  method: string;
  url: string;
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, in order; the OpenAPI test checks them against the document. */
    routeList: RouteInfo[];
  }
  interface FastifyContextConfig {
    /** The route takes no body: whatever is sent is read and ignored, whatever its Content-Type. */
    ignoresBody?: boolean;
    /** A 200 of this route is a stream that stays open (Server-Sent Events): it is not a request to time. */
    streams?: boolean;
  }
}

// Node compares each request in progress with its bounds only this often (30 s by default): a 10 s bound would cut after 30 s.
const CONNECTIONS_CHECK_MS = 1_000;

function createFastify(deps: Deps) {
  const limits = deps.config.connections;
  return Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.bodyLimit,
    genReqId: () => randomUUID(),
    // At most one log line per request (below), and only with LOG_REQUESTS: on a fast route it costs
    // about a fifth of the throughput (README, Performance). Security events go to the audit log either way.
    logController: new LogController({ disableRequestLogging: true }),
    // Off by default: otherwise a client could choose its own address, and its throttling key, with X-Forwarded-For.
    trustProxy: deps.config.trustProxy as boolean | string[],
    // Numbers stay numbers and strings stay strings: `{"password": 12345678}` is a 400, not a coercion.
    // Every problem of a body is listed at once; the body limit (BODY_LIMIT) bounds what that costs.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: 'all', allErrors: true } },
    // Path parameters (reset tokens) get room to fail their own schema with a 400 before the router's 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    frameworkErrors: deps.metricsRegistry ? countFrameworkErrors(frameworkErrors, deps.metricsRegistry) : frameworkErrors,
    // A request must arrive whole, headers within HEADERS_TIMEOUT and all within REQUEST_TIMEOUT of its first byte
    // (a connection that sends nothing included), however slowly it trickles: Fastify's default requestTimeout (0)
    // left a body sent a byte at a time holding its connection forever. Only receiving is bounded, not the handler.
    // Node answers through clientErrorHandler: 408 request_timeout.
    requestTimeout: limits.requestTimeout * 1000,
    http: { headersTimeout: limits.headersTimeout * 1000, connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
    keepAliveTimeout: limits.keepAliveTimeout * 1000,
    clientErrorHandler: answerClientError(deps.logger as FastifyBaseLogger),
  }).withTypeProvider<TypeBoxTypeProvider>();
}

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

/** Builds the HTTP application on the given dependencies; the caller decides whether to listen. */
export async function buildApp(deps: Deps): Promise<App> {
  const app = createFastify(deps);

  app.decorate('routeList', [] as RouteInfo[]);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const hidden = Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
    for (const method of methods) if (method !== 'HEAD') app.routeList.push({ method, url: route.url, hidden });
  });
  app.decorateRequest('auth', null);
  decorateClientNetwork(app, deps.config.ipv6Prefix);
  app.server.on('checkExpectation', answerExpectation);
  // Connections over the cap are closed by Node as soon as they are accepted, before a byte is read.
  app.server.maxConnections = deps.config.connections.max;
  let lastDropWarning = 0;
  app.server.on('drop', () => {
    // At most a line a minute: whoever fills the connections must not fill the log too.
    if (Date.now() - lastDropWarning < 60_000) return;
    lastDropWarning = Date.now();
    deps.logger.warn({ maxConnections: deps.config.connections.max }, 'connections refused: MAX_CONNECTIONS are open');
  });

  // JSON only. Bodyless routes (logout, refresh) accept and ignore whatever a client sends, as the seeds' clients send `{}` as text,
  // and an empty body labelled JSON, as clients that set that header on every request send.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: deps.config.bodyLimit }, (request, body, done) => {
    if (body === '' && request.routeOptions.config.ignoresBody) return done(null, undefined);
    return parseJson(request, body as string, done);
  });
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (request, payload, done) => {
    if (!request.routeOptions.config.ignoresBody) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }));
      return;
    }
    payload.on('data', () => {});
    payload.on('end', () => done(null, undefined));
    payload.on('error', done);
  });

  app.addHook('onSend', async (_request, reply) => {
    // Answers of an auth server are personal: no cache keeps them unless a route says otherwise.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-request-id', reply.request.id);
  });
  if (deps.metricsRegistry) countRequests(app, deps.metricsRegistry);
  if (deps.config.logRequests) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.info({ req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      done();
    });
  }

  installErrorHandlers(app);

  installSecurityHeaders(app);
  if (deps.config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...deps.config.corsOrigins],
      methods: ['GET', 'POST'],
      allowedHeaders: ['content-type', 'authorization'],
      maxAge: 600,
    });
  }

  app.addSchema(ErrorBody);
  app.addSchema(PublicUserSchema);
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
        { name: 'password', description: 'forgotten password' },
        { name: 'services', description: 'for other services: the revocation feed' },
        { name: 'admin', description: 'for service clients: manage users (HTTP Basic, scopes users:read and admin)' },
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

  await app.register(metaRoutes(deps));
  await app.register(accountRoutes(deps));
  await app.register(passwordResetRoutes(deps));
  await app.register(revocationFeedRoutes(deps));
  await app.register(adminUserRoutes(deps));
  await app.register(adminWebhookRoutes(deps));
  await app.register(resetPages(deps));
  return app;
}
