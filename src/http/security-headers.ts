import type { FastifyInstance, FastifyRequest } from 'fastify';
import helmet from 'helmet';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers an HTML page: it gets the browser's full set of security headers. */
    html?: boolean;
  }
}

/**
 * What OWASP's REST Security Cheat Sheet asks of API answers (Cache-Control: no-store is set for every
 * answer in app.ts). Each further header is bytes on every answer that no JSON client reads.
 */
const API_HEADERS = {
  'content-security-policy': "frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

const isPage = (request: FastifyRequest) => request.routeOptions.config.html === true || request.url.startsWith('/docs');

/**
 * Security headers: the API set on JSON answers, helmet's full set on HTML pages (whose own CSP may be
 * stricter still). Helmet's middleware is built once, here, not per request.
 * Pages carry no `upgrade-insecure-requests`: over plain HTTP (PUBLIC_URL http, any host name) it makes the
 * browser fetch the page's own CSS and JS over https and /docs stays blank. Over https, HSTS (sent on every
 * answer) is what keeps browsers on https.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installSecurityHeaders(app: FastifyInstance<any, any, any, any, any>) {
  const forPages = helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: { 'frame-ancestors': ["'none'"], 'form-action': ["'self'"], 'upgrade-insecure-requests': null },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!isPage(request)) {
      reply.headers(API_HEADERS);
      done();
      return;
    }
    forPages(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
}
