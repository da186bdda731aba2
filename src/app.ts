import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Deps } from './deps.js';
import { decorateClientNetwork } from './http/client.js';
import { capConnectionsPerAddress } from './http/connection-cap.js';
import { answerClientError, answerExpectation } from './http/client-errors.js';
import { frameworkErrors, installErrorHandlers } from './http/error-handler.js';
import { resetPages } from './http/pages/reset-page.js';
import { hostedPages } from './http/pages/hosted.js';
import { emailPages } from './http/pages/email-pages.js';
import { installContentTypes } from './http/content-types.js';
import { installServiceClientAuth } from './http/hooks/service-client.js';
import { registerOpenApi } from './http/openapi.js';
import { countFrameworkErrors, countRequests } from './http/request-metrics.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { ROUTES } from './http/routes/index.js';
import { ErrorBody, PublicUserSchema } from './http/schemas.js';

export type App = ReturnType<typeof createFastify>;

export interface RouteInfo {
  method: string;
  url: string;
  hidden: boolean;
  /** The statuses its schema declares it can answer (`schema.response`). */
  statuses: number[];
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
    // about a fifth of the throughput (bench/results/README.md, The latest runs). Security events go to the audit log either way.
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

/** Keeps `routeList`, the list of every route registered, for the OpenAPI test and the declared statuses' test. */
function listRoutes(app: App) {
  app.decorate('routeList', [] as RouteInfo[]);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
    const statuses = Object.keys(schema?.response ?? {}).map(Number);
    for (const method of methods) if (method !== 'HEAD') app.routeList.push({ method, url: route.url, hidden: Boolean(schema?.hide), statuses });
  });
}

function limitConnections(app: App, deps: Deps) {
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
  let lastCapWarning = 0;
  capConnectionsPerAddress(app.server, {
    max: deps.config.connections.maxPerAddress,
    ipv6Prefix: deps.config.ipv6Prefix,
    trustProxy: deps.config.trustProxy,
    onRefused(network) {
      if (Date.now() - lastCapWarning < 60_000) return;
      lastCapWarning = Date.now();
      deps.logger.warn({ network, maxPerAddress: deps.config.connections.maxPerAddress }, 'connections refused: MAX_CONNECTIONS_PER_ADDRESS are open from one client');
    },
  });
}

function installAnswerHooks(app: App, deps: Deps) {
  // A callback, not an async function: on every answer, a promise and a turn of the microtask queue less.
  app.addHook('onSend', (_request, reply, payload, done) => {
    // Answers of an auth server are personal: no cache keeps them unless a route says otherwise.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-request-id', reply.request.id);
    done(null, payload);
  });
  if (deps.metricsRegistry) countRequests(app, deps.metricsRegistry);
  if (deps.config.logRequests) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.info({ req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      done();
    });
  }
}

/** Builds the HTTP application on the given dependencies; the caller decides whether to listen. */
export async function buildApp(deps: Deps): Promise<App> {
  const app = createFastify(deps);
  listRoutes(app);
  app.decorateRequest('auth', null);
  decorateClientNetwork(app, deps.config);
  // Before any route: it sees each route as it is added, to put its check first and document its security.
  installServiceClientAuth(app, deps);
  limitConnections(app, deps);
  installContentTypes(app, deps.config.bodyLimit);
  installAnswerHooks(app, deps);
  installErrorHandlers(app);
  installSecurityHeaders(app);
  if (deps.config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...deps.config.corsOrigins],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['content-type', 'authorization'],
      maxAge: 600,
    });
  }
  app.addSchema(ErrorBody);
  app.addSchema(PublicUserSchema);
  await registerOpenApi(app);
  for (const routes of ROUTES) await app.register(routes(deps));
  await app.register(resetPages(deps));
  await app.register(emailPages(deps));
  await app.register(hostedPages(deps));
  return app;
}
