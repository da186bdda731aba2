import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** Where a scrape's text comes from: one process's registry, or the supervisor gathering its workers'. */
export interface ScrapeSource {
  readonly contentType: string;
  collect(): Promise<string>;
}

export interface MetricsListener {
  /** Its base URL, such as http://127.0.0.1:9464. */
  readonly url: string;
  close(): Promise<void>;
}

export interface MetricsListenerOptions {
  host: string;
  port: number;
  /** Required as `Authorization: Bearer <token>` when set. */
  token: string | undefined;
  source: ScrapeSource;
  logger: Pick<Logger, 'info' | 'warn'>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * GET /metrics on a port of its own (METRICS_HOST:METRICS_PORT), apart from the API: the API's connection
 * limits, throttling and request metrics never see a scrape, and the port can stay on a private network.
 */
export async function startMetricsListener(opts: MetricsListenerOptions): Promise<MetricsListener> {
  const expected = opts.token === undefined ? undefined : sha256(opts.token);

  const answer = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(`${text}\n`);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return answer(res, 404, 'Not found: metrics are at /metrics.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'Method not allowed.', { allow: 'GET, HEAD' });
    if (expected && !presents(req.headers.authorization, expected))
      return answer(res, 401, 'A bearer token is required (METRICS_TOKEN).', { 'www-authenticate': 'Bearer realm="metrics"' });
    try {
      const text = await opts.source.collect();
      res.writeHead(200, { 'content-type': opts.source.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'metrics scrape failed');
      answer(res, 500, 'The metrics could not be gathered; try again.');
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  // A scrape is a small GET: whoever is slower than this, or opens many connections, is not Prometheus.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.maxConnections = 32;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(new Error(`metrics listener on ${opts.host}:${opts.port} (METRICS_HOST, METRICS_PORT): ${err.message}`));
    server.once('error', failed);
    server.listen(opts.port, opts.host, () => {
      server.off('error', failed);
      server.on('error', (err) => opts.logger.warn({ err: err.message }, 'metrics listener error'));
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  // Where to point Prometheus, as the API's listener says where it listens.
  opts.logger.info({ address: opts.host, port }, `Metrics listening at ${url}/metrics`);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether the header carries the token. Digests of equal length, compared in constant time: timing tells neither its characters nor its length. */
function presents(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match !== null && timingSafeEqual(sha256(match[1]!), expected);
}
