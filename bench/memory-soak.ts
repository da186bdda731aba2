import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Resident memory now and at its peak (VmRSS, VmHWM), in MB, of processes taken together: the peak is the
 * sum of each one's own, an upper bound of their peak together.
 */
export function rssOf(...pids: number[]): { rss: number; hwm: number } {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    rss += kb('VmRSS');
    hwm += kb('VmHWM');
  }
  return { rss: Math.round(rss / 1024), hwm: Math.round(hwm / 1024) };
}

export interface SoakResult {
  seconds: number;
  clients: number;
  /** RSS when the server answered /readyz, before any load (MB). */
  readyRssMb: number;
  /** VmHWM at the end: the highest RSS each process ever had, summed (MB). */
  peakRssMb: number;
  /** Mean RSS over the first and the last window (a minute, or a quarter of shorter runs), MB. */
  firstWindowMb: number;
  lastWindowMb: number;
  windowSeconds: number;
  /** Least-squares slope of RSS after the first window, MB per minute. */
  slopeMbPerMin: number;
  /** Completed requests by kind, and those that did not get the expected status. */
  requests: Record<string, number>;
  unexpected: number;
  samples: number[];
}

const PASSWORD = 'soak passphrase 41c9';

/**
 * A mixed load, as users of an auth server make it: each client signs up a new account, signs in, reads
 * its dashboard, refreshes, reads it again, asks for a reset link and logs out, then starts over. The RSS
 * of `pids` together is sampled every second meanwhile.
 */
export async function memorySoak(url: string, pids: number[], seconds: number, clients: number): Promise<SoakResult> {
  const readyRssMb = rssOf(...pids).rss;
  const requests: Record<string, number> = {};
  let unexpected = 0;
  const deadline = Date.now() + seconds * 1000;
  const run = randomBytes(3).toString('hex');
  let users = 0;

  const call = async (kind: string, path: string, init: { body?: object; token?: string; method?: string }, expected: number) => {
    const res = await fetch(`${url}${path}`, {
      method: init.method ?? 'POST',
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      body: init.body ? JSON.stringify(init.body) : undefined,
    });
    const text = await res.text();
    requests[kind] = (requests[kind] ?? 0) + 1;
    if (res.status !== expected) {
      unexpected += 1;
      return undefined;
    }
    return JSON.parse(text) as Record<string, string>;
  };

  const journey = async () => {
    const email = `soak.${run}.${users++}@bench.test`;
    if (!(await call('signup', '/api/signup', { body: { name: 'Soak User', email, password: PASSWORD } }, 201))) return;
    const tokens = await call('signin', '/api/signin', { body: { email, password: PASSWORD } }, 200);
    if (!tokens) return;
    for (let i = 0; i < 5; i++) await call('dashboard', '/api/dashboard', { method: 'GET', token: tokens.access_token }, 200);
    const next = await call('refresh', '/api/refresh', { token: tokens.refresh_token }, 200);
    if (!next) return;
    for (let i = 0; i < 2; i++) await call('dashboard', '/api/dashboard', { method: 'GET', token: next.access_token }, 200);
    await call('forgot-password', '/api/forgot-password', { body: { email } }, 200);
    await call('logout', '/api/logout', { token: next.access_token }, 200);
  };

  const samples: number[] = [];
  const sampler = setInterval(() => {
    samples.push(rssOf(...pids).rss);
    if (samples.length % 30 === 0) {
      const done = Object.values(requests).reduce((a, b) => a + b, 0);
      process.stderr.write(`  memory soak: ${samples.length}s, ${done} requests, RSS ${samples.at(-1)} MB\n`);
    }
  }, 1000);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline) await journey().catch(() => (unexpected += 1));
    }),
  );
  clearInterval(sampler);

  const windowSeconds = Math.max(1, Math.min(60, Math.floor(samples.length / 4)));
  const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  return {
    seconds,
    clients,
    readyRssMb,
    peakRssMb: rssOf(...pids).hwm,
    firstWindowMb: mean(samples.slice(0, windowSeconds)),
    lastWindowMb: mean(samples.slice(-windowSeconds)),
    windowSeconds,
    slopeMbPerMin: Math.round(slope(samples.slice(windowSeconds)) * 60 * 10) / 10,
    requests,
    unexpected,
    samples,
  };
}

/** Least-squares slope of evenly spaced samples, per sample. */
function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}
