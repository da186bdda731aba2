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

type Headers = Record<string, string>;

/**
 * The headers helmet's middleware sets, as it sets them: it is run once, here, on a response that only records, so
 * that every page gets exactly helmet's set with Fastify's own headers, rather than a dozen middleware calls per
 * answer, each setting its header on the raw response for Node to merge with Fastify's when the status line is
 * written (bench/results/README.md, Hosted pages). Its options hold no function (no per-request nonce), so the set is
 * the same for every answer; a middleware that did not answer at once would be one that might not, and is refused.
 */
function headersOf(middleware: (req: unknown, res: unknown, next: (err?: unknown) => void) => void): Readonly<Headers> {
  const headers: Headers = {};
  let called = false;
  const recorder = {
    setHeader: (name: string, value: string | number) => void (headers[name.toLowerCase()] = String(value)),
    // helmet removes X-Powered-By, which Fastify never sets.
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  middleware({}, recorder, (err) => {
    if (err) throw err;
    called = true;
  });
  if (!called) throw new Error('security headers: the middleware did not answer at once');
  return Object.freeze(headers);
}

/**
 * Security headers: the API set on JSON answers, helmet's full set on HTML pages (whose own CSP may be
 * stricter still). Helmet's headers are computed once, here, not per request.
 * Pages carry no `upgrade-insecure-requests`: over plain HTTP (PUBLIC_URL http, any host name) it makes the
 * browser fetch the page's own CSS and JS over https and /docs stays blank. Over https, HSTS (sent on every
 * answer) is what keeps browsers on https.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installSecurityHeaders(app: FastifyInstance<any, any, any, any, any>) {
  const forPages = headersOf(
    helmet({
      contentSecurityPolicy: {
        useDefaults: true,
        directives: { 'frame-ancestors': ["'none'"], 'form-action': ["'self'"], 'upgrade-insecure-requests': null },
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
    }) as Parameters<typeof headersOf>[0],
  );
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isPage(request) ? forPages : API_HEADERS);
    done();
  });
}
