import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Rewrites a URL (postgres://, redis://, smtp://) to go through the proxy. */
  via(url: string): string;
  /** Cuts every connection and refuses new ones, as a server that went down. */
  stop(): Promise<void>;
  /** What clients sent to the service, one buffer per connection (only when started with `record`). */
  sentUpstream(): Buffer[];
  /** Accepts connections again on the same port, as a server that came back. */
  start(): Promise<void>;
  /**
   * Stops forwarding, both ways, on every open connection whose client has sent `text` (in its first 64 KB),
   * without closing it: a connection cut quietly (a dropped NAT entry), which neither end hears of. Returns
   * how many it silenced; new connections are forwarded as before.
   */
  silence(text: string): number;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of a real service, so a test can take that service away and bring it back. */
export async function startTcpProxy(targetHost: string, targetPort: number, opts: { record?: boolean } = {}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const recorded: Buffer[][] = [];
  // Each open connection: its two sockets and the start of what its client sent.
  const pairs = new Set<{ client: Socket; upstream: Socket; sent: string }>();
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        const pair = { client, upstream, sent: '' };
        pairs.add(pair);
        client.on('close', () => pairs.delete(pair));
        client.on('data', (chunk: Buffer) => {
          if (pair.sent.length < 65_536) pair.sent += chunk.toString('latin1');
        });
        if (opts.record) {
          const chunks: Buffer[] = [];
          recorded.push(chunks);
          client.on('data', (chunk: Buffer) => chunks.push(chunk));
        }
        client.pipe(upstream).pipe(client);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });

  const stop = async () => {
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stop,
    sentUpstream: () => recorded.map((chunks) => Buffer.concat(chunks)),
    silence(text) {
      let n = 0;
      for (const pair of pairs) {
        if (!pair.sent.includes(text)) continue;
        pair.client.unpipe(pair.upstream);
        pair.upstream.unpipe(pair.client);
        pair.client.pause();
        pair.upstream.pause();
        n += 1;
      }
      return n;
    },
    start: listen,
    close: stop,
  };
}
