// npm run bench [-- --duration=10 --connections=16 --large=1000000 --memory-soak=600 --only=memory|metrics|flood|jwt|verify|revocation|webhooks|account|mfa|passkey|pages|oauth]
// Starts Latchkey as a real server process on PostgreSQL (DATABASE_URL, in a fresh database it creates
// and drops) or on the embedded engine, drives it from this process with autocannon, measures the
// baselines in the same run, and writes bench/results/latest.{json,md}.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import argon2 from 'argon2';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { emptyFloodRun, floodRun } from './flood.js';
import { argon2Rate, build, descendantsOf, load, peakRssMb, refreshMany, ROOT, startProcess, startServer, type LoadResult, type ReportPart, type Server, type Target } from './lib.js';
import { memorySoak, rssOf, type SoakResult } from './memory-soak.js';
import { metricsOverhead } from './metrics-overhead.js';
import { accountRun } from './account.js';
import { mfaRun } from './mfa.js';
import { pagesRun } from './pages.js';
import { oauthRun, seedOAuthClient } from './oauth.js';
import { revocationReach } from './revocation-reach.js';
import { jwtLibrariesRun } from './jwt-libraries.js';
import { sdkVerifyRun } from './sdk-verify.js';
import { webhookDelivery } from './webhook-delivery.js';
import {
  BENCH_PASSWORD,
  benchEmail,
  benchRefreshToken,
  REVOKE_RESET_TOKEN,
  revokeRefreshToken,
  seedResetToken,
  seedSessionsOfOneUser,
  seedUsers,
} from './seed.js';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const DURATION = Number(args.duration ?? 10);
const CONNECTIONS = Number(args.connections ?? 16);
const LARGE = Number(args.large ?? 1_000_000);
const SMALL = 1_000;
// Each scenario alternates with its baseline this many times; the report gives the median round of each,
// so that drift of the machine (other processes, PostgreSQL's own work) weighs on both sides alike.
const ROUNDS = Number(args.rounds ?? 3);
// Seconds of mixed load while the embedded server's memory is sampled (0 skips it); --only=memory runs it alone.
const MEMORY_SOAK = args['memory-soak'] === undefined ? undefined : Number(args['memory-soak']);
const SOAK_CLIENTS = Number(args['soak-clients'] ?? 8);
const ONLY_MEMORY = args.only === 'memory';
// --only=metrics: the dashboard with Prometheus metrics off and on, alone.
const ONLY_METRICS = args.only === 'metrics';
// --only=flood: the raw argon2id verify rate, then the sign-in flood with healthy clients beside it, then the
// empty sign-in flood from one IPv6 /48 with the owner signing in beside it, alone.
const ONLY_FLOOD = args.only === 'flood';
// --only=jwt: fast-jwt against jose for the tokens Latchkey signs and verifies (bench/jwt-libraries.ts), alone.
const ONLY_JWT = args.only === 'jwt';
// --only=verify, revocation or webhooks: what services that trust Latchkey see (bench/sdk-verify.ts,
// bench/revocation-reach.ts, bench/webhook-delivery.ts), each alone; a whole run has them all.
const SERVICE_PARTS = ['verify', 'revocation', 'webhooks'];
// --only=account: GET /api/me and /api/me/sessions against the dashboard, and sign-in with NOTIFY_NEW_SIGN_IN on and off (bench/account.ts), alone.
const ONLY_ACCOUNT = args.only === 'account';
// --only=mfa: sign-in with an authenticator app's code against the password alone, and sign-in with a passkey (bench/mfa.ts), alone.
const ONLY_MFA = args.only === 'mfa';
// --only=passkey: sign-in with a passkey alone, without the authenticator apps' part (bench/mfa.ts).
const ONLY_PASSKEY = args.only === 'passkey';
// --only=pages: the hosted pages against bare Fastify and the API's sign-in (bench/pages.ts), alone.
const ONLY_PAGES = args.only === 'pages';
const ONLY_OAUTH = args.only === 'oauth';
const WHOLE = args.only === undefined;
const servicePart = (name: string) => WHOLE || args.only === name;
if (args.only !== undefined && !['memory', 'metrics', 'flood', 'jwt', 'account', 'mfa', 'passkey', 'pages', 'oauth', ...SERVICE_PARTS].includes(args.only)) throw new Error(`--only=${args.only}: no such part`);
const METRICS_OFF = 'dashboard, metrics off';
const METRICS_ON = 'dashboard, metrics on';
const LOGOUT_SESSIONS = 6_000;
// The logout run's users, each with one session (logouts of one user take its row in turn, see recordEvents):
// bench users numbered after the large population's range, which is seeded later.
const LOGOUT_FROM = Math.max(LARGE, SMALL);
const FLOOD = 'sign-in flood, many addresses';
const EMPTY_FLOOD = 'empty sign-in flood, one IPv6 /48';
// The rate at which the hostile tester's empty bodies refused the owner's sign-in (issue 22).
const EMPTY_FLOOD_RATE = Number(args['empty-flood-rate'] ?? 1500);
const REVOKE_SESSIONS = 100_000;
const FEED_SESSIONS = 200;
// Events a second this process commits for webhooks to deliver, and for how long.
const WEBHOOK_RATE = Number(args['webhook-rate'] ?? 600);
const WEBHOOK_SECONDS = Number(args['webhook-seconds'] ?? 20);

// Every request comes from 127.0.0.1: the per-address and per-network budgets would measure the throttle, not the server.
const UNTHROTTLED = Object.fromEntries(
  ['SIGNIN', 'SIGNUP', 'SIGNUP_EMAIL', 'REFRESH', 'FORGOT', 'RESET', 'RESET_TOKEN', 'SIGNIN_NETWORK', 'SIGNUP_NETWORK', 'MFA', 'PASSKEY'].map((n) => [`RATE_LIMIT_${n}`, '1000000000/1m']),
);

interface Row {
  scenario: string;
  population: number;
  result: LoadResult;
  note?: string;
}

async function main() {
  build();
  const adminUrl = process.env.DATABASE_URL;
  const benchDb = `latchkey_bench_${randomBytes(4).toString('hex')}`;
  const dataDir = adminUrl ? undefined : await mkdtemp(join(tmpdir(), 'latchkey-bench-'));
  let databaseUrl: string | undefined;
  if (adminUrl) {
    await admin(adminUrl, `CREATE DATABASE ${benchDb}`);
    const u = new URL(adminUrl);
    u.pathname = `/${benchDb}`;
    databaseUrl = u.toString();
  }
  const engine = databaseUrl ? 'postgres' : 'pglite';
  const config = loadConfig({ ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), ...(args.workers ? { WORKERS: String(args.workers) } : {}) });
  const workers = config.workers;
  const serverEnv: Record<string, string> = {
    ...UNTHROTTLED,
    LOCKOUT_THRESHOLD: '1000',
    // All load comes from one address, with as many connections as the scenario asks for.
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    NODE_ENV: 'production',
    // As in production: every instance names the same public URL, hence the same token issuer.
    PUBLIC_URL: 'https://auth.bench.test',
    WORKERS: String(workers),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: dataDir! }),
  };
  const rows: Row[] = [];
  const rss: Record<string, number[]> = {};
  const failures: string[] = [];
  const extra: Record<string, number | string> = {};
  const parts: ReportPart[] = [];
  let soak: Soak | undefined;
  const soakSeconds = !WHOLE && !ONLY_MEMORY ? 0 : (MEMORY_SOAK ?? (engine === 'pglite' ? 600 : 0));
  console.error(`Latchkey bench: ${engine}, ${workers} worker(s), ${CONNECTIONS} connections, ${DURATION} s per scenario`);

  try {
    // Population of 1,000 users with live sessions, plus the material of the logout and revocation runs.
    const passwordHash = await argon2.hash(BENCH_PASSWORD, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    await withDatabase(databaseUrl, dataDir, async (db) => {
      await db.migrate();
      await seedUsers(db, passwordHash, 0, SMALL);
      await seedOAuthClient(db);
      if (servicePart('revocation')) await seedSessionsOfOneUser(db, passwordHash, 'bench-feed', 'bench-feed', FEED_SESSIONS);
      if (!WHOLE && !ONLY_MEMORY) return;
      await seedUsers(db, passwordHash, LOGOUT_FROM, LOGOUT_FROM + LOGOUT_SESSIONS);
      await seedSessionsOfOneUser(db, passwordHash, 'bench-revoke', 'bench-revoke', REVOKE_SESSIONS);
      await seedResetToken(db, 'bench-revoke', REVOKE_RESET_TOKEN);
    });

    if (soakSeconds > 0 && engine === 'pglite') soak = await memoryRun(serverEnv, soakSeconds, failures);
    if (ONLY_FLOOD) {
      // The flood's rate is a multiple of what the machine hashes: measured first, as the whole run does.
      extra.raw_argon2_verify_per_s = round(await argon2Rate('verify', DURATION, workers, Math.max(1, Math.round(CONNECTIONS / workers)), {}));
      await signInFlood(serverEnv, rows, failures, extra);
    }
    if (WHOLE) {
      const baseline = await startProcess(['--import', 'tsx', 'bench/baseline-server.ts'], { WORKERS: String(workers) }, '/');
      const server = await startServer(serverEnv);
      extra.first_start_ms = round(server.readyMs);
      // The same server with one log line per request, to measure what LOG_REQUESTS costs (PostgreSQL only:
      // an embedded database belongs to one process).
      const logged = databaseUrl ? await startServer({ ...serverEnv, LOG_REQUESTS: 'true' }) : undefined;
      await runScenarios(server, SMALL, rows, failures, { baselineUrl: baseline.url, loggedUrl: logged?.url, workers, extra });
      rss['baseline-http'] = peakRssMb(baseline.child.pid!);
      rss.latchkey = peakRssMb(server.child.pid!);
      await Promise.all([baseline.stop(), logged?.stop(), server.stop()]);

      await signInFlood(serverEnv, rows, failures, extra);
    }
    if (WHOLE || ONLY_JWT) parts.push(await jwtLibrariesRun());
    // Before the 100,000 revocations below: the feed would replay them all to the verifier at its start.
    if (servicePart('verify')) parts.push(await sdkVerifyRun());
    if (servicePart('revocation')) parts.push(await revocationReach(serverEnv, FEED_SESSIONS, failures));
    if (servicePart('webhooks')) parts.push(await webhookDelivery(serverEnv, databaseUrl, { rate: WEBHOOK_RATE, seconds: WEBHOOK_SECONDS }, failures));
    if (WHOLE) {
      const server = await startServer(serverEnv);
      extra.start_to_ready_ms = round(server.readyMs);
      await revocationRun(server, failures, extra);
      rss['latchkey after 100,000 revocations'] = peakRssMb(server.child.pid!);
      await server.stop();
    }
    if (WHOLE || ONLY_METRICS) await metricsRun(serverEnv, rows, failures);
    if (WHOLE || ONLY_ACCOUNT) parts.push(await accountRun(serverEnv, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS }, failures));
    if (WHOLE || ONLY_PAGES) parts.push(await pagesRun(serverEnv, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, workers }, failures));
    if (WHOLE || ONLY_OAUTH) parts.push(await oauthRun(serverEnv, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS }, failures));
    if (WHOLE || ONLY_MFA || ONLY_PASSKEY) parts.push(await mfaRun(serverEnv, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, passkeyOnly: ONLY_PASSKEY }, failures));
    if (WHOLE) {
      if (LARGE > SMALL) {
        console.error(`seeding ${LARGE.toLocaleString('en')} users and sessions`);
        const seedStart = performance.now();
        await withDatabase(databaseUrl, dataDir, async (db) => {
          await seedUsers(db, passwordHash, SMALL, LARGE);
          await db.db.execute('ANALYZE');
        });
        extra.seed_seconds = round((performance.now() - seedStart) / 1000);
        const server = await startServer(serverEnv);
        extra.start_to_ready_large_ms = round(server.readyMs);
        await runScenarios(server, LARGE, rows, failures, undefined);
        rss['latchkey at large population'] = peakRssMb(server.child.pid!);
        await server.stop();
      }
    }
  } finally {
    if (adminUrl && !args.keep) await admin(adminUrl, `DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`);
    if (dataDir && !args.keep) await rm(dataDir, { recursive: true, force: true });
  }

  await writeReport({ engine, workers, rows, rss, extra, failures, soak, parts });
}

async function writeReport(r: Parameters<typeof buildReport>[0]) {
  const report = buildReport(r);
  await writeFile(join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(report.json, null, 2)}\n`);
  await writeFile(join(ROOT, 'bench/results/latest.md'), report.markdown);
  console.log(report.markdown);
  if (r.failures.length > 0) {
    console.error(`FAILED:\n${r.failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

/** Sign-in guesses from many addresses at three times the hashing capacity, with refresh and dashboard clients beside them. */
async function signInFlood(serverEnv: Record<string, string>, rows: Row[], failures: string[], extra: Record<string, number | string>) {
  const flood = await floodRun(serverEnv, { hashingCapacity: Number(extra.raw_argon2_verify_per_s) || 70, duration: DURATION });
  const answered = Object.entries(flood.flood.statuses).map(([k, v]) => `${k}: ${v}`).join(', ');
  rows.push({ scenario: FLOOD, population: SMALL, result: { ...flood.flood, non2xx: flood.unexpected }, note: `${flood.floodRate}/s offered (3 × raw verify); answered ${answered}` });
  rows.push({ scenario: 'refresh during the flood', population: SMALL, result: flood.refresh, note: '4 connections' });
  rows.push({ scenario: 'dashboard during the flood', population: SMALL, result: flood.dashboard, note: '4 connections' });
  if (flood.unexpected > 0) failures.push(`sign-in flood: ${flood.unexpected} answers other than 401 and 503 server_busy`);
  if (flood.refresh.non2xx + flood.dashboard.non2xx > 0) failures.push('healthy clients refused during the flood');

  const empty = await emptyFloodRun(serverEnv, { rate: EMPTY_FLOOD_RATE, duration: DURATION });
  const floodAnswers = Object.entries(empty.flood.statuses).map(([k, v]) => `${k}: ${v}`).join(', ');
  const ownerAnswers = Object.entries(empty.owner.statuses).map(([k, v]) => `${k}: ${v}`).join(', ');
  const notBadRequest = empty.flood.requests - (empty.flood.statuses['400'] ?? 0);
  rows.push({ scenario: EMPTY_FLOOD, population: SMALL, result: { ...empty.flood, non2xx: notBadRequest }, note: `${empty.floodRate}/s offered, \`{}\` from one IPv6 /48; answered ${floodAnswers}` });
  extra.owner_signins_during_empty_flood = ownerAnswers;
  extra.owner_signin_during_empty_flood_p50_ms = empty.owner.p50;
  extra.owner_signin_during_empty_flood_max_ms = empty.owner.max;
  extra.owner_signins_refused_during_empty_flood = empty.owner.attempts - (empty.owner.statuses['200'] ?? 0);
  if (notBadRequest > 0) failures.push(`empty sign-in flood: ${notBadRequest} answers other than 400`);
  if (empty.owner.attempts === 0 || extra.owner_signins_refused_during_empty_flood !== 0)
    failures.push(`empty sign-in flood: the owner's sign-ins were answered ${ownerAnswers || 'never'}`);
}

/** The dashboard with metrics off and on, alternated; the ratio of the medians is a target (>= 0.9). */
async function metricsRun(serverEnv: Record<string, string>, rows: Row[], failures: string[]) {
  console.error('metrics overhead: the dashboard with METRICS_PORT unset, then set and scraped');
  const m = await metricsOverhead(serverEnv, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS });
  const rounds = (xs: number[]) => `req/s rounds: ${xs.map((x) => Math.round(x)).join(', ')}`;
  rows.push({ scenario: METRICS_OFF, population: SMALL, result: m.off, note: `${rounds(m.rounds.off)}; alternating with the next row` });
  rows.push({ scenario: METRICS_ON, population: SMALL, result: m.on, note: `${rounds(m.rounds.on)}; scraped every 5 s (${m.scrapes} scrapes)` });
  for (const r of [m.off, m.on]) if (r.non2xx > 0 || r.errors > 0) failures.push(`metrics overhead: ${r.non2xx} non-2xx, ${r.errors} errors`);
  if (m.failedScrapes > 0) failures.push(`metrics overhead: ${m.failedScrapes} of ${m.scrapes} scrapes failed`);
  console.error(`metrics overhead: dashboard with metrics on / off = ${m.ratio} (goal >= 0.9): ${m.ratio >= 0.9 ? 'PASS' : 'FAIL'}`);
}

interface Soak extends SoakResult {
  /** npm itself, the parent `npm start` keeps while the server runs: its peak (MB). */
  npmPeakRssMb: number;
  /** Latchkey's processes on their first start, on a new data folder: peak, and idle 5 s after ready (MB). */
  firstStart: { peakRssMb: number; idleRssMb: number };
}

/** `npm start` (its build already made); Latchkey's processes are every one below npm. */
async function npmStart(env: Record<string, string>) {
  const server = await startProcess(['start', '--ignore-scripts'], env, '/readyz', 'npm');
  const npm = server.child.pid!;
  return { server, npm, latchkey: descendantsOf(npm) };
}

/**
 * The embedded server as `npm start` runs it, counting every process npm leaves running: its first start
 * on a new data folder, then `seconds` of mixed load on the bench's folder, its resident memory sampled
 * every second.
 */
async function memoryRun(serverEnv: Record<string, string>, seconds: number, failures: string[]): Promise<Soak> {
  const fresh = await mkdtemp(join(tmpdir(), 'latchkey-bench-first-'));
  const first = await npmStart({ ...serverEnv, DATA_DIR: join(fresh, 'data') });
  await new Promise((r) => setTimeout(r, 5_000));
  const settled = rssOf(...first.latchkey);
  const firstStart = { peakRssMb: settled.hwm, idleRssMb: settled.rss };
  await first.server.stop();
  await rm(fresh, { recursive: true, force: true });
  console.error(`memory soak: ${seconds} s of mixed load, ${SOAK_CLIENTS} clients`);
  const { server, npm, latchkey } = await npmStart(serverEnv);
  const result = await memorySoak(server.url, latchkey, seconds, SOAK_CLIENTS);
  const npmPeakRssMb = rssOf(npm).hwm;
  await server.stop();
  if (result.unexpected > 0) failures.push(`memory soak: ${result.unexpected} answers were not the expected status`);
  return { ...result, npmPeakRssMb, firstStart };
}

/** Alternates two measurements ROUNDS times; returns the median of each. */
async function alternate<A, B>(a: () => Promise<A>, b: () => Promise<B>, rateOf: { a: (x: A) => number; b: (x: B) => number }) {
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    as.push(await a());
    bs.push(await b());
  }
  const median = <T>(xs: T[], rate: (x: T) => number) => [...xs].sort((x, y) => rate(x) - rate(y))[Math.floor(xs.length / 2)]!;
  return { a: median(as, rateOf.a), b: median(bs, rateOf.b), all: { a: as.map(rateOf.a), b: bs.map(rateOf.b) } };
}

interface Baselines {
  baselineUrl: string;
  loggedUrl: string | undefined;
  workers: number;
  extra: Record<string, number | string>;
}

async function runScenarios(server: Server, population: number, rows: Row[], failures: string[], baselines: Baselines | undefined) {
  const all = baselines !== undefined;
  const { url } = server;
  const byRps = (r: LoadResult) => r.rps;
  const same = (x: number) => x;
  const perProcess = Math.max(1, Math.round(CONNECTIONS / (baselines?.workers ?? 1)));
  const rounds = (what: string, xs: number[]) => `${what} rounds: ${xs.map((x) => Math.round(x)).join(', ')}`;
  const post = (path: string, body: object, token?: string) => ({
    method: 'POST' as const,
    path,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const record = (scenario: string, result: LoadResult, note?: string) => {
    rows.push({ scenario, population, result, note });
    if (result.non2xx > 0 || result.errors > 0) failures.push(`${scenario} at ${population}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  };
  const pick = () => Math.floor(Math.random() * population);

  // Access tokens of 200 users, from their seeded refresh tokens; the rest of the chains feed the refresh run.
  const chainStart = population === SMALL ? 0 : Math.floor(population / 2);
  const tokens = await refreshMany(url, Array.from({ length: 200 }, (_, i) => benchRefreshToken(chainStart + i)));
  const accessTokens = tokens.map((t) => t.access_token);

  const signin = () =>
    load('signin', {
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [{ setupRequest: (req) => ({ ...req, ...post('/api/signin', { email: benchEmail(pick()), password: BENCH_PASSWORD }) }) }],
    });

  if (baselines) {
    let n = 0;
    const dashboard = (name: string, target: string) => () =>
      load(name, {
        url: target,
        connections: CONNECTIONS,
        duration: DURATION,
        requests: [{ method: 'GET', path: '/api/dashboard', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${accessTokens[n++ % accessTokens.length]}` } }) }],
      });
    const pair = await alternate(
      () => load('baseline-http', { url: baselines.baselineUrl, connections: CONNECTIONS, duration: DURATION }),
      async () => {
        const plain = await dashboard('dashboard', url)();
        const logged = baselines.loggedUrl ? await dashboard('dashboard, LOG_REQUESTS=true', baselines.loggedUrl)() : undefined;
        return { plain, logged };
      },
      { a: byRps, b: ({ plain }) => plain.rps },
    );
    rows.push({ scenario: 'baseline-http', population: 0, result: pair.a, note: rounds('req/s', pair.all.a) });
    record('dashboard', pair.b.plain, rounds('req/s', pair.all.b));
    if (pair.b.logged) record('dashboard, LOG_REQUESTS=true', pair.b.logged, 'same rounds, one log line per request');

    const verify = await alternate(
      () => argon2Rate('verify', DURATION, baselines.workers, perProcess, {}),
      signin,
      { a: same, b: byRps },
    );
    baselines.extra.raw_argon2_verify_per_s = round(verify.a);
    record('signin', verify.b, `${rounds('req/s', verify.all.b)}; raw verify ${verify.all.a.map(round).join(', ')}`);

    let m = 0;
    const run = randomBytes(3).toString('hex');
    const hash = await alternate(
      () => argon2Rate('hash', DURATION, baselines.workers, perProcess, {}),
      () =>
        load('signup', {
          url,
          connections: CONNECTIONS,
          duration: DURATION,
          requests: [
            {
              setupRequest: (req) => ({
                ...req,
                ...post('/api/signup', { name: 'New User', email: `new.${run}.${m++}@bench.test`, password: BENCH_PASSWORD }),
              }),
            },
          ],
        }),
      { a: same, b: byRps },
    );
    baselines.extra.raw_argon2_hash_per_s = round(hash.a);
    record('signup', hash.b, `${rounds('req/s', hash.all.b)}; raw hash ${hash.all.a.map(round).join(', ')}`);
  } else {
    record('signin', await signin());
  }

  // Refresh chains: each token is used once; its successor goes back into the pool.
  const pool = Array.from({ length: Math.min(population - 200, 5_000) }, (_, i) => benchRefreshToken(chainStart + 200 + i));
  let lost = 0;
  record(
    'refresh',
    await load('refresh', {
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          setupRequest: (req) => ({ ...req, ...post('/api/refresh', { refresh_token: pool.shift() ?? 'exhausted' }) }),
          onResponse: (status, body) => {
            if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
            else lost += 1;
          },
        },
      ],
    }),
    'chains of single-use tokens',
  );
  if (lost > 0) failures.push(`refresh at ${population}: ${lost} chains broken`);

  if (all) {
    // Logout then, on the next request, the same access token: it must be refused every time.
    const sessions = (await refreshMany(url, Array.from({ length: LOGOUT_SESSIONS }, (_, j) => benchRefreshToken(LOGOUT_FROM + j)))).map((t) => t.access_token);
    let next = 0;
    let accepted = 0;
    let wrongLogout = 0;
    const result = await load('logout + reject', {
      url,
      connections: CONNECTIONS,
      amount: sessions.length * 2,
      requests: [
        {
          setupRequest: (req, context: { token?: string }) => {
            context.token = sessions[next++ % sessions.length];
            return { ...req, method: 'POST', path: '/api/logout', headers: { authorization: `Bearer ${context.token}` } };
          },
          onResponse: (status) => {
            if (status !== 200) wrongLogout += 1;
          },
        },
        {
          setupRequest: (req, context: { token?: string }) => ({
            ...req,
            method: 'GET',
            path: '/api/dashboard',
            headers: { authorization: `Bearer ${context.token}` },
          }),
          onResponse: (status) => {
            if (status !== 401) accepted += 1;
          },
        },
      ],
    });
    // Half the answers are the expected 401s.
    const expected401 = result.requests / 2;
    rows.push({ scenario: 'logout + reject', population, result: { ...result, non2xx: result.non2xx - expected401 }, note: `${accepted} revoked tokens accepted` });
    if (accepted > 0 || wrongLogout > 0) failures.push(`logout + reject: ${accepted} revoked tokens accepted, ${wrongLogout} logouts failed`);
  }
}

/** Revokes 100,000 sessions in one password reset, then checks their access tokens and the server's memory. */
async function revocationRun(server: Server, failures: string[], extra: Record<string, number | string>) {
  const sample = await refreshMany(server.url, Array.from({ length: 50 }, (_, j) => revokeRefreshToken(j)));
  const started = performance.now();
  const res = await fetch(`${server.url}/api/reset-password/${REVOKE_RESET_TOKEN}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: 'a new bench passphrase' }),
  });
  extra.reset_revoking_100000_sessions_ms = round(performance.now() - started);
  if (res.status !== 200) failures.push(`revocation run: reset answered ${res.status}`);
  await new Promise((r) => setTimeout(r, 1000));
  let accepted = 0;
  for (const t of sample) {
    const r = await fetch(`${server.url}/api/dashboard`, { headers: { authorization: `Bearer ${t.access_token}` } });
    if (r.status !== 401) accepted += 1;
  }
  extra.revoked_tokens_accepted_after_100000_revocations = accepted;
  if (accepted > 0) failures.push(`revocation run: ${accepted} of ${sample.length} revoked access tokens accepted`);
}

async function withDatabase(databaseUrl: string | undefined, dataDir: string | undefined, fn: (db: Database) => Promise<void>) {
  const db = await openDatabase({ databaseUrl, dataDir: dataDir ?? '', poolSize: 2 });
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function admin(url: string, statement: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

function buildReport(r: {
  engine: string;
  workers: number;
  rows: Row[];
  rss: Record<string, number[]>;
  extra: Record<string, number | string>;
  failures: string[];
  soak?: Soak | undefined;
  parts: ReportPart[];
}) {
  const rate = (scenario: string, population = SMALL) => r.rows.find((x) => x.scenario === scenario && x.population === population)?.result.rps;
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? Math.round((a / b) * 100) / 100 : undefined);
  const peak = Object.keys(r.rss).length ? Math.max(...Object.values(r.rss).flat()) : undefined;
  const targets: Target[] = [];
  const t = (name: string, value: number | undefined, goal: string, ok: boolean | undefined) => targets.push([name, value, goal, ok]);
  const mo = ratio(rate(METRICS_ON), rate(METRICS_OFF));
  t('dashboard with metrics on / off', mo, '>= 0.9', mo === undefined ? undefined : mo >= 0.9);
  const d = ratio(rate('dashboard'), rate('baseline-http', 0));
  t('dashboard / baseline-http', d, '>= 0.5', d === undefined ? undefined : d >= 0.5);
  const si = ratio(rate('signin'), Number(r.extra.raw_argon2_verify_per_s));
  t('signin / raw argon2id verify', si, '>= 0.85', si === undefined ? undefined : si >= 0.85);
  const su = ratio(rate('signup'), Number(r.extra.raw_argon2_hash_per_s));
  t('signup / raw argon2id hash', su, '>= 0.8', su === undefined ? undefined : su >= 0.8);
  const rf = rate('refresh');
  t('refresh per second', rf && Math.round(rf), '>= 1000', rf === undefined ? undefined : rf >= 1000);
  const siL = ratio(rate('signin', LARGE), rate('signin'));
  t(`signin at ${LARGE.toLocaleString('en')} / at 1,000`, siL, '>= 0.9', siL === undefined ? undefined : siL >= 0.9);
  const rfL = ratio(rate('refresh', LARGE), rate('refresh'));
  t(`refresh at ${LARGE.toLocaleString('en')} / at 1,000`, rfL, '>= 0.9', rfL === undefined ? undefined : rfL >= 0.9);
  t('peak RSS of any server process (MB)', peak, '< 256', peak === undefined ? undefined : peak < 256);
  const during = (scenario: string) => r.rows.find((x) => x.scenario === scenario)?.result.p99;
  const fr = during('refresh during the flood');
  t('refresh p99 during a sign-in flood (ms)', fr, '< 50', fr === undefined ? undefined : fr < 50);
  const fd = during('dashboard during the flood');
  t('dashboard p99 during a sign-in flood (ms)', fd, '< 20', fd === undefined ? undefined : fd < 20);
  const fu = r.rows.find((x) => x.scenario === FLOOD)?.result.non2xx;
  t('flood answers other than 401 and 503 server_busy', fu, '0', fu === undefined ? undefined : fu === 0);
  const ow = r.extra.owner_signins_refused_during_empty_flood === undefined ? undefined : Number(r.extra.owner_signins_refused_during_empty_flood);
  t("owner's sign-ins refused during the empty sign-in flood", ow, '0', ow === undefined ? undefined : ow === 0);
  const ready = r.extra.start_to_ready_ms === undefined ? undefined : Number(r.extra.start_to_ready_ms);
  t('start to ready on an existing database (ms)', ready, '< 1500', ready === undefined ? undefined : ready < 1500);
  for (const part of r.parts) targets.push(...part.targets);
  const s = r.soak;
  if (s) {
    t('embedded first start on a new data folder: peak RSS of all its processes (MB)', s.firstStart.peakRssMb, '<= 320', s.firstStart.peakRssMb <= 320);
    t(`embedded peak RSS of all its processes through ${s.seconds} s of mixed load (MB)`, s.peakRssMb, '< 256', s.peakRssMb < 256);
    // Flat: the last window's mean within 5% of the first's (windows of a minute, or a quarter of a shorter run).
    const growth = Math.round(((s.lastWindowMb - s.firstWindowMb) / s.firstWindowMb) * 1000) / 10;
    t(`embedded RSS flat: last ${s.windowSeconds} s vs first ${s.windowSeconds} s (% growth)`, growth, '<= 5 (flat)', growth <= 5);
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const lines = [
    `Latchkey benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machine}. Database: ${r.engine === 'postgres' ? 'PostgreSQL on the same machine' : 'embedded (PGlite)'}; ${r.workers} server process(es); ${CONNECTIONS} connections, ${DURATION} s per scenario, load generator in another process.`,
    '',
    '| scenario | users | req/s | p50 ms | p99 ms | errors | note |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...r.rows.map(
      (x) =>
        `| ${x.scenario} | ${x.population ? x.population.toLocaleString('en') : ''} | ${Math.round(x.result.rps).toLocaleString('en')} | ${x.result.p50} | ${x.result.p99} | ${x.result.non2xx + x.result.errors} | ${x.note ?? ''} |`,
    ),
    '',
    '| target | measured | goal | met |',
    '| --- | ---: | --- | --- |',
    ...targets.map(([name, value, goal, ok]) => `| ${name} | ${value ?? 'n/a'} | ${goal} | ${ok === undefined ? 'n/a' : ok ? 'yes' : '**no**'} |`),
    '',
    `Scenarios and their baselines alternate ${ROUNDS} times; each figure is the median round. Raw argon2id (m=19456, t=2, p=1, libuv pool 4, ${r.workers} process(es), ${Math.max(1, Math.round(CONNECTIONS / r.workers))} at once): verify ${r.extra.raw_argon2_verify_per_s}/s, hash ${r.extra.raw_argon2_hash_per_s}/s.`,
    `Peak RSS (MB) per process: ${Object.entries(r.rss).map(([k, v]) => `${k} ${v.join(' / ')}`).join('; ')}.`,
    `Other figures: ${Object.entries(r.extra).map(([k, v]) => `${k.replaceAll('_', ' ')}: ${v}`).join('; ')}.`,
    ...(s
      ? [
          '',
          `Embedded memory soak: ${s.seconds} s, ${s.clients} clients each repeating sign-up, sign-in, 5 dashboards, refresh, 2 dashboards, forgot-password, logout (${Object.entries(s.requests).map(([k, v]) => `${k} ${v}`).join(', ')}; ${s.unexpected} unexpected answers). ` +
            `RSS of Latchkey's processes under \`npm start\` (MB): ${s.readyRssMb} at ready, peak (VmHWM) ${s.peakRssMb}, mean of the first ${s.windowSeconds} s ${s.firstWindowMb}, of the last ${s.windowSeconds} s ${s.lastWindowMb}, slope after the first window ${s.slopeMbPerMin} MB/min. ` +
            `First start on a new data folder: peak ${s.firstStart.peakRssMb}, ${s.firstStart.idleRssMb} 5 s after ready. npm itself, the parent \`npm start\` keeps: peak ${s.npmPeakRssMb} more.`,
        ]
      : []),
    ...r.parts.flatMap((part) => ['', ...part.lines]),
    ...(r.failures.length ? ['', `Failures: ${r.failures.join('; ')}`] : []),
    '',
  ];
  return {
    markdown: lines.join('\n'),
    json: { date: new Date().toISOString(), machine, engine: r.engine, workers: r.workers, connections: CONNECTIONS, duration: DURATION, rows: r.rows, targets, rss: r.rss, extra: r.extra, memory_soak: r.soak, ...Object.fromEntries(r.parts.map((p) => [p.name, p.figures])), failures: r.failures },
  };
}

await main();
