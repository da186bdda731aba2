// What a user's own account costs beside the fastest route: GET /api/me and GET /api/me/sessions against the
// dashboard on one server, alternated ROUNDS times (targets: each at least 0.8 of the dashboard); and sign-in
// with the new-sign-in email check on (NOTIFY_NEW_SIGN_IN, the default) against off, on two servers in turn
// (target: at least 0.95). Its sign-ins come from one address and one User-Agent: after each user's first,
// every one is from a known device and network, the common case, so the check runs and sends nothing.
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { signInMany } from './metrics-overhead.js';
import { load, medianRatio, startServer, type LoadResult, type ReportPart } from './lib.js';

const SIGNIN_USERS = 50;
const WARM_UP_SECONDS = 2;
// A password sign-in costs an argon2id hash: a round of the usual length holds only ~150 of them, too few to tell
// 5 % apart. Sign-in rounds last this many times longer.
const SIGNIN_DURATION_FACTOR = 3;

const median = (xs: LoadResult[]) => [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)]!;
const ratio = (as: LoadResult[], bs: LoadResult[]) => medianRatio(as.map((r) => r.rps), bs.map((r) => r.rps));
const rounds = (xs: LoadResult[]) => xs.map((r) => Math.round(r.rps)).join(', ');

export async function accountRun(
  serverEnv: Record<string, string>,
  opts: { rounds: number; duration: number; connections: number },
  failures: string[],
): Promise<ReportPart> {
  const reads = await readsRun(serverEnv, opts);
  const signins = await signinRun(serverEnv, opts);
  for (const r of [...Object.values(reads).flat(), ...Object.values(signins).flat()]) {
    if (r.non2xx > 0 || r.errors > 0) failures.push(`account: ${r.non2xx} non-2xx, ${r.errors} errors`);
  }
  const [dashboard, me, sessions] = [median(reads.dashboard), median(reads.me), median(reads.sessions)];
  const [off, on] = [median(signins.off), median(signins.on)];
  const meRatio = ratio(reads.me, reads.dashboard);
  const sessionsRatio = ratio(reads.sessions, reads.dashboard);
  const notifyRatio = ratio(signins.on, signins.off);
  return {
    name: 'account',
    targets: [
      ['GET /api/me / dashboard', meRatio, '>= 0.8', meRatio >= 0.8],
      ['GET /api/me/sessions / dashboard', sessionsRatio, '>= 0.8', sessionsRatio >= 0.8],
      ['sign-in, NOTIFY_NEW_SIGN_IN on / off', notifyRatio, '>= 0.95', notifyRatio >= 0.95],
    ],
    lines: [
      `One's own account, ${opts.connections} connections, ${opts.rounds} alternated rounds (reads ${opts.duration} s a round, sign-ins ${opts.duration * SIGNIN_DURATION_FACTOR} s); each ratio is the median of the rounds' own ratios, each rate the median round:`,
      `dashboard ${Math.round(dashboard.rps)} req/s (rounds ${rounds(reads.dashboard)}), GET /api/me ${Math.round(me.rps)} (${rounds(reads.me)}), ` +
        `GET /api/me/sessions ${Math.round(sessions.rps)} (${rounds(reads.sessions)}); ` +
        `sign-in with the new-sign-in check off ${Math.round(off.rps)} req/s (${rounds(signins.off)}), on ${Math.round(on.rps)} (${rounds(signins.on)}).`,
    ],
    figures: { dashboard, me, sessions, signinNotifyOff: off, signinNotifyOn: on, meRatio, sessionsRatio, notifyRatio },
  };
}

/** The dashboard, /api/me and /api/me/sessions in turn on one server, with the same access tokens. */
async function readsRun(serverEnv: Record<string, string>, opts: { rounds: number; duration: number; connections: number }) {
  const server = await startServer(serverEnv);
  try {
    const tokens = await signInMany(server.url);
    let n = 0;
    const get = (name: string, path: string, duration: number) =>
      load(name, {
        url: server.url,
        connections: opts.connections,
        duration,
        requests: [{ method: 'GET', path, setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[n++ % tokens.length]}` } }) }],
      });
    const out = { dashboard: [] as LoadResult[], me: [] as LoadResult[], sessions: [] as LoadResult[] };
    await get('warm-up', '/api/me/sessions', WARM_UP_SECONDS);
    for (let i = 0; i < opts.rounds; i++) {
      out.dashboard.push(await get('dashboard', '/api/dashboard', opts.duration));
      out.me.push(await get('GET /api/me', '/api/me', opts.duration));
      out.sessions.push(await get('GET /api/me/sessions', '/api/me/sessions', opts.duration));
    }
    return out;
  } finally {
    await server.stop();
  }
}

/** Password sign-ins of SIGNIN_USERS users, on a server with NOTIFY_NEW_SIGN_IN off and one with it on, in alternating order. */
async function signinRun(serverEnv: Record<string, string>, opts: { rounds: number; duration: number; connections: number }) {
  let n = 0;
  const signin = async (notify: boolean) => {
    const server = await startServer({ ...serverEnv, NOTIFY_NEW_SIGN_IN: String(notify) });
    try {
      const run = (name: string, duration: number) =>
        load(name, {
          url: server.url,
          connections: opts.connections,
          duration,
          requests: [
            {
              method: 'POST',
              path: '/api/signin',
              headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' },
              setupRequest: (req) => ({ ...req, body: JSON.stringify({ email: benchEmail(n++ % SIGNIN_USERS), password: BENCH_PASSWORD }) }),
            },
          ],
        });
      await run('warm-up', WARM_UP_SECONDS);
      return await run(`sign-in, NOTIFY_NEW_SIGN_IN=${notify}`, opts.duration * SIGNIN_DURATION_FACTOR);
    } finally {
      await server.stop();
    }
  };
  const out = { off: [] as LoadResult[], on: [] as LoadResult[] };
  // Each round adds sessions and audit rows that the next rounds read: the order alternates (off then on, then on
  // then off), so that neither side always meets the larger tables.
  for (let i = 0; i < opts.rounds; i++) {
    for (const notify of i % 2 === 0 ? [false, true] : [true, false]) (notify ? out.on : out.off).push(await signin(notify));
  }
  return out;
}
