import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

/**
 * Helmet's security headers on every answer. The middleware is built once, here, not per request.
 * HTML pages replace this CSP with a stricter one of their own.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installSecurityHeaders(app: FastifyInstance<any, any, any, any, any>) {
  const apply = helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: { 'frame-ancestors': ["'none'"], 'form-action': ["'self'"] },
    },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    apply(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
}
