// The sign-in flood: password guesses at three times the server's hashing capacity, from many addresses
// none of which is over its own limit, while healthy clients refresh and read the dashboard. Measured:
// the healthy clients' latency, and what the flood is answered (401 when checked, 503 server_busy past
// the hashing queue, nothing else).
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { load, startServer, type LoadResult } from './lib.js';

export interface FloodResult {
  floodRate: number;
  flood: LoadResult & { statuses: Record<string, number> };
  refresh: LoadResult;
  dashboard: LoadResult;
  /** Flood answers other than 401 and 503 server_busy (a 5xx of another kind, a 200...). */
  unexpected: number;
}

const HEALTHY_SESSIONS = 20;

/** Sign-ins at `rate` a second through the trusted proxy, the n-th from `request(n)`'s address with its body. */
function signinFlood(
  url: string,
  opts: {
    name: string;
    connections: number;
    rate: number;
    duration: number;
    request: (n: number) => { from: string; body: string };
    onResponse: (status: number, body: string) => void;
  },
) {
  let n = 0;
  return load(opts.name, {
    url,
    connections: opts.connections,
    overallRate: opts.rate,
    duration: opts.duration,
    requests: [
      {
        setupRequest: (req) => {
          n += 1;
          const { from, body } = opts.request(n);
          return { ...req, method: 'POST', path: '/api/signin', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body };
        },
        onResponse: opts.onResponse,
      },
    ],
  });
}

export async function floodRun(serverEnv: Record<string, string>, opts: { hashingCapacity: number; duration: number }): Promise<FloodResult> {
  // The flood comes through a trusted proxy, each guess from one of 2,000 addresses: at three times
  // capacity (~200/s), each address sends a few a minute, under its own sign-in limit (30 a minute).
  const server = await startServer({ ...serverEnv, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_SIGNIN: '30/1m', LOCKOUT_THRESHOLD: '5' });
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
    const flood = signinFlood(server.url, {
      name: 'sign-in flood',
      connections: 64,
      rate: floodRate,
      duration: opts.duration,
      request: (n) => ({
        from: `10.${100 + ((n >> 16) & 7)}.${(n % 2000) >> 8}.${n % 256}`,
        body: JSON.stringify({ email: `nobody.${n}@flood.test`, password: `guess ${n}` }),
      }),
      onResponse: (status, body) => {
        const code = status === 503 ? `503 ${(JSON.parse(body) as { error: string }).error}` : String(status);
        statuses[code] = (statuses[code] ?? 0) + 1;
        if (status !== 401 && code !== '503 server_busy') unexpected += 1;
      },
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

export interface EmptyFloodResult {
  floodRate: number;
  flood: LoadResult & { statuses: Record<string, number> };
  /** The owner's sign-ins during the flood, by status, and their latencies. */
  owner: { attempts: number; statuses: Record<string, number>; p50: number; max: number };
}

// The owner signs in twice a second, each time from another address of their own network, so that the
// per-address limit (30 a minute) never refuses them.
const OWNER_EVERY_MS = 500;

/**
 * Empty sign-in bodies (`{}`) at `rate` a second from one IPv6 /48, each from a /64 of its own (so no
 * per-address limit refuses them), with the global budget and the per-network shares at their defaults,
 * while the owner signs in with the right password from another network. Every empty body must get 400
 * and every owner's sign-in 200: requests refused before a password check spend no global budget.
 */
export async function emptyFloodRun(serverEnv: Record<string, string>, opts: { rate: number; duration: number }): Promise<EmptyFloodResult> {
  const server = await startServer({ ...serverEnv, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_SIGNIN: '30/1m', RATE_LIMIT_SIGNIN_NETWORK: '30/1s', RATE_LIMIT_SIGNIN_GLOBAL: '300/1s' });
  try {
    const statuses: Record<string, number> = {};
    const flood = signinFlood(server.url, {
      name: 'empty sign-in flood, one /48',
      connections: 32,
      rate: opts.rate,
      duration: opts.duration,
      request: (n) => ({ from: `2001:db8:4801:${(n & 0xffff).toString(16)}::1`, body: '{}' }),
      onResponse: (status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
      },
    });
    const owner = ownerSignins(server.url, opts.duration);
    const [f, o] = await Promise.all([flood, owner]);
    return { floodRate: opts.rate, flood: { ...f, statuses }, owner: o };
  } finally {
    await server.stop();
  }
}

async function ownerSignins(url: string, seconds: number): Promise<EmptyFloodResult['owner']> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  // A second for the flood to start first.
  await new Promise((r) => setTimeout(r, 1000));
  const end = Date.now() + (seconds - 1) * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const started = performance.now();
    const res = await fetch(`${url}/api/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${(i % 250) + 1}` },
      body: JSON.stringify({ email: benchEmail(0), password: BENCH_PASSWORD }),
    });
    const body = await res.text();
    latencies.push(performance.now() - started);
    const code = res.status === 200 ? '200' : `${res.status} ${errorOf(body)}`;
    statuses[code] = (statuses[code] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, Math.max(0, OWNER_EVERY_MS - (performance.now() - started))));
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { attempts: latencies.length, statuses, p50: at(0.5), max: at(1) };
}

function errorOf(body: string): string {
  try {
    return (JSON.parse(body) as { error?: string }).error ?? '';
  } catch {
    return '';
  }
}
