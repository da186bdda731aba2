// What Prometheus metrics cost the fastest route: the dashboard on a server with metrics off, then on the same
// database with METRICS_PORT set and scraped every 5 s, alternated ROUNDS times. One server at a time, so the two
// never compete for the cores, and it works on the embedded engine too (its database belongs to one process).
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { freePort, load, startServer, type LoadResult } from './lib.js';

export interface MetricsOverhead {
  off: LoadResult;
  on: LoadResult;
  rounds: { off: number[]; on: number[] };
  /** Median req/s with metrics on over the median with them off. */
  ratio: number;
  scrapes: number;
  failedScrapes: number;
}

const SESSIONS = 50;
const SCRAPE_EVERY_MS = 5_000;
const WARM_UP_SECONDS = 2;

export async function metricsOverhead(
  serverEnv: Record<string, string>,
  opts: { rounds: number; duration: number; connections: number },
): Promise<MetricsOverhead> {
  let accessTokens: string[] = [];
  let n = 0;
  const dashboard = (name: string, url: string, duration: number) =>
    load(name, {
      url,
      connections: opts.connections,
      duration,
      requests: [{ method: 'GET', path: '/api/dashboard', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${accessTokens[n++ % accessTokens.length]}` } }) }],
    });
  let scrapes = 0;
  let failedScrapes = 0;

  async function measure(metricsOn: boolean): Promise<LoadResult> {
    const metricsPort = metricsOn ? await freePort() : undefined;
    const env = metricsPort ? { ...serverEnv, METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' } : serverEnv;
    const server = await startServer(env);
    let scraper: NodeJS.Timeout | undefined;
    try {
      // Signed in once, on the first server: the tokens stay valid on the next ones (same database, same keys).
      if (accessTokens.length === 0) accessTokens = await signInMany(server.url);
      await dashboard('warm-up', server.url, WARM_UP_SECONDS);
      if (metricsPort) {
        scraper = setInterval(() => {
          scrapes += 1;
          fetch(`http://127.0.0.1:${metricsPort}/metrics`)
            .then(async (res) => {
              await res.text();
              if (res.status !== 200) failedScrapes += 1;
            })
            .catch(() => (failedScrapes += 1));
        }, SCRAPE_EVERY_MS);
      }
      return await dashboard(metricsOn ? 'dashboard, metrics on' : 'dashboard, metrics off', server.url, opts.duration);
    } finally {
      clearInterval(scraper);
      await server.stop();
    }
  }

  const offs: LoadResult[] = [];
  const ons: LoadResult[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    offs.push(await measure(false));
    ons.push(await measure(true));
  }
  const median = (xs: LoadResult[]) => [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)]!;
  const off = median(offs);
  const on = median(ons);
  return {
    off,
    on,
    rounds: { off: offs.map((r) => r.rps), on: ons.map((r) => r.rps) },
    ratio: Math.round((on.rps / off.rps) * 100) / 100,
    scrapes,
    failedScrapes,
  };
}

/** Access tokens of SESSIONS seeded users, a few sign-ins at a time (each is a password check). */
export async function signInMany(url: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < SESSIONS; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, SESSIONS - i) }, async (_, j) => {
        const res = await fetch(`${url}/api/signin`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: benchEmail(i + j), password: BENCH_PASSWORD }),
        });
        if (res.status !== 200) throw new Error(`metrics run set-up: sign-in answered ${res.status}`);
        return ((await res.json()) as { access_token: string }).access_token;
      }),
    );
    tokens.push(...batch);
  }
  return tokens;
}
