// The sign-in flood: password guesses at three times the server's hashing capacity, from many addresses
// none of which is over its own limit, while healthy clients refresh and read the dashboard. Measured:
// the healthy clients' latency, and what the flood is answered (401 when checked, 503 server_busy past
// the hashing queue, nothing else).
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { load, startProcess, type LoadResult } from './lib.js';

export interface FloodResult {
  floodRate: number;
  flood: LoadResult & { statuses: Record<string, number> };
  refresh: LoadResult;
  dashboard: LoadResult;
  /** Flood answers other than 401 and 503 server_busy (a 5xx of another kind, a 200...). */
  unexpected: number;
}

const HEALTHY_SESSIONS = 20;

export async function floodRun(serverEnv: Record<string, string>, opts: { hashingCapacity: number; duration: number }): Promise<FloodResult> {
  // The flood comes through a trusted proxy, each guess from one of 2,000 addresses: at three times
  // capacity (~200/s), each address sends a few a minute, under its own sign-in limit (30 a minute).
  const server = await startProcess(['dist/main.js'], { ...serverEnv, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_SIGNIN: '30/1m', LOCKOUT_THRESHOLD: '5' }, '/readyz');
  try {
    const sessions: { access_token: string; refresh_token: string }[] = [];
    for (let i = 0; i < HEALTHY_SESSIONS; i++) {
      const res = await fetch(`${server.url}/api/signin`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.200.0.${i + 1}` },
        body: JSON.stringify({ email: benchEmail(i), password: BENCH_PASSWORD }),
      });
      if (res.status !== 200) throw new Error(`flood set-up: sign-in answered ${res.status}`);
      sessions.push((await res.json()) as { access_token: string; refresh_token: string });
    }
    const refreshPool = sessions.map((s) => s.refresh_token);
    const accessTokens = sessions.map((s) => s.access_token);

    const floodRate = Math.max(1, Math.round(3 * opts.hashingCapacity));
    const statuses: Record<string, number> = {};
    let unexpected = 0;
    let n = 0;
    const flood = load('sign-in flood', {
      url: server.url,
      connections: 64,
      overallRate: floodRate,
      duration: opts.duration,
      requests: [
        {
          setupRequest: (req) => {
            n += 1;
            return {
              ...req,
              method: 'POST',
              path: '/api/signin',
              headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.${100 + ((n >> 16) & 7)}.${(n % 2000) >> 8}.${n % 256}` },
              body: JSON.stringify({ email: `nobody.${n}@flood.test`, password: `guess ${n}` }),
            };
          },
          onResponse: (status, body) => {
            const code = status === 503 ? `503 ${(JSON.parse(body) as { error: string }).error}` : String(status);
            statuses[code] = (statuses[code] ?? 0) + 1;
            if (status !== 401 && code !== '503 server_busy') unexpected += 1;
          },
        },
      ],
    });
    let lost = 0;
    const refresh = load('refresh during the flood', {
      url: server.url,
      connections: 4,
      duration: opts.duration,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            method: 'POST',
            path: '/api/refresh',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.201.0.1' },
            body: JSON.stringify({ refresh_token: refreshPool.shift() ?? 'exhausted' }),
          }),
          onResponse: (status, body) => {
            if (status === 200) refreshPool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
            else lost += 1;
          },
        },
      ],
    });
    let k = 0;
    const dashboard = load('dashboard during the flood', {
      url: server.url,
      connections: 4,
      duration: opts.duration,
      requests: [{ method: 'GET', path: '/api/dashboard', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${accessTokens[k++ % accessTokens.length]}` } }) }],
    });
    const [f, r, d] = await Promise.all([flood, refresh, dashboard]);
    return { floodRate, flood: { ...f, statuses }, refresh: { ...r, non2xx: r.non2xx + lost }, dashboard: d, unexpected };
  } finally {
    await server.stop();
  }
}
