import { createServer, type Server } from 'node:http';

export interface Delivery {
  id: string;
  body: string;
}

/**
 * A real HTTP webhook receiver. It answers each request after `delayMs` with the status `answer` picks,
 * counts every request per webhook-id, and remembers the largest number of requests for one id it ever
 * had in flight at once. `stop()` closes its port (connection refused); `start()` listens on it again.
 */
export async function startWebhookReceiver(opts: { delayMs?: number; answer?: (id: string) => number } = {}) {
  const delayMs = opts.delayMs ?? 0;
  /** Successful deliveries, in the order they were answered. */
  const received: Delivery[] = [];
  const requests = new Map<string, number>();
  const inFlight = new Map<string, number>();
  let maxInFlightPerId = 0;
  let inFlightTotal = 0;
  let maxInFlightTotal = 0;
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const id = String(req.headers['webhook-id']);
          requests.set(id, (requests.get(id) ?? 0) + 1);
          inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
          maxInFlightPerId = Math.max(maxInFlightPerId, inFlight.get(id)!);
          inFlightTotal += 1;
          maxInFlightTotal = Math.max(maxInFlightTotal, inFlightTotal);
          setTimeout(() => {
            inFlight.set(id, inFlight.get(id)! - 1);
            inFlightTotal -= 1;
            const status = opts.answer?.(id) ?? 204;
            if (status < 300) received.push({ id, body });
            res.writeHead(status).end();
          }, delayMs);
        });
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  await listen();

  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
      s.closeAllConnections();
    });

  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    requests,
    maxInFlightPerId: () => maxInFlightPerId,
    /** The most requests it had in flight at once, whatever their ids. */
    maxInFlightTotal: () => maxInFlightTotal,
    /** Listens again on the same port. */
    start: listen,
    stop,
  };
}

export async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
