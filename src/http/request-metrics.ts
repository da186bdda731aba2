import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UNMATCHED_ROUTE } from '../core/metrics.js';
import type { MetricsRegistry } from '../metrics/registry.js';

/** Times every answer by method, route pattern and status (latchkey_http_request_duration_seconds). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function countRequests(app: FastifyInstance<any, any, any, any, any>, metrics: Pick<MetricsRegistry, 'observeRequest'>) {
  app.addHook('onResponse', (request, reply, done) => {
    // An open stream's whole life (hours) would swamp the route's latency; its refusals are timed as any answer.
    if (request.routeOptions.config.streams && reply.statusCode === 200) return done();
    // The pattern (`/api/reset-password/:token`), never the URL: the labels stay few, and no token or address in a path becomes one.
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

type FrameworkErrorHandler = (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown;

/** Fastify answers a malformed URL or an overlong path parameter through `frameworkErrors`, without hooks: those are timed here. */
export function countFrameworkErrors(handler: FrameworkErrorHandler, metrics: Pick<MetricsRegistry, 'observeRequest'>): FrameworkErrorHandler {
  return (err, request, reply) => {
    const started = performance.now();
    reply.raw.once('finish', () => metrics.observeRequest(request.method, UNMATCHED_ROUTE, reply.raw.statusCode, (performance.now() - started) / 1000));
    return handler(err, request, reply);
  };
}
