// npm run postman
// Runs Latchkey's Postman collection, then the chapter seed's, each against a real Latchkey server started
// here (`node dist/main.js`, built first if the sources changed) on a free port, with a temporary DATA_DIR
// (or DATABASE_URL, when set) and a local SMTP server that catches the emails:
//   1. postman/latchkey.postman_collection.json, default settings, every folder but the last; then the
//      reset email's token is read and the last folder ("Password reset with the emailed link") runs with it;
//   2. postman/seed/jwt_auth.postman_collection.json, unchanged, on a server with PASSWORD_CHECK_COMMON=false
//      (its example password is `password123`): once as it is, once with `jwt_token` set to the token its
//      own "Signin API" returned (the collection has no script that sets it). Its requests name
//      localhost:5001; an HTTP agent sends them to this run's server instead, so that port need not be free.
// Exits 1 when Latchkey's collection has any failure; the seed's results are reported, not judged.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import newman, { type NewmanRunSummary, type RunOptions } from 'newman';
import { freePort } from '../test/helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../test/helpers/smtp.js';

const ROOT = new URL('..', import.meta.url).pathname;
const COLLECTION = join(ROOT, 'postman/latchkey.postman_collection.json');
const ENVIRONMENT = join(ROOT, 'postman/latchkey.postman_environment.json');
const SEED_COLLECTION = join(ROOT, 'postman/seed/jwt_auth.postman_collection.json');
/** The folder that needs the emailed reset token: run on its own, once the email has arrived. */
const EMAILED_FOLDER = 'Password reset with the emailed link';
const READY_TIMEOUT_MS = 120_000;

interface Server {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const servers = new Set<Server>();
let workDir: string | undefined;
let smtp: TestSmtpServer | undefined;

/** Builds dist/ when it is missing or older than a source file. */
function buildIfNeeded() {
  const main = join(ROOT, 'dist/main.js');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  const sources = Math.max(newest(join(ROOT, 'src')), statSync(join(ROOT, 'tsconfig.json')).mtimeMs, statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs);
  if (existsSync(main) && statSync(main).mtimeMs >= sources) return;
  console.log('== npm run build');
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) throw new Error('the build failed');
}

/**
 * `node dist/main.js` on a free loopback port, in a folder of its own (so that no .env of the checkout
 * applies), its data in that folder unless DATABASE_URL is set; resolves once /readyz answers 200.
 */
async function startServer(name: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const dir = join(workDir!, name);
  await mkdir(dir, { recursive: true });
  const engine: Record<string, string> = process.env.DATABASE_URL
    ? { DATABASE_URL: process.env.DATABASE_URL, ...(process.env.SECRET_KEY ? { SECRET_KEY: process.env.SECRET_KEY } : {}) }
    : { DATA_DIR: join(dir, 'data') };
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...engine, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const server: Server = {
    url,
    port,
    async stop() {
      servers.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
  servers.add(server);
  const settings = Object.entries(env)
    .filter(([k]) => k !== 'SMTP_URL')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(`== Latchkey (${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded, temporary DATA_DIR'}${settings ? `, ${settings}` : ''}) starting on ${url}`);
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited during its start:\n${output}`);
    if (Date.now() - started > READY_TIMEOUT_MS) throw new Error(`the server was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`   ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return server;
}

function runCollection(title: string, options: RunOptions): Promise<NewmanRunSummary> {
  console.log(`\n== newman: ${title}`);
  return new Promise((resolve, reject) =>
    newman.run({ reporters: 'cli', timeoutRequest: 30_000, ...options }, (err, summary) => (err ? reject(err) : resolve(summary))),
  );
}

function asEnvironment(values: Record<string, unknown>) {
  return { name: 'postman/run.ts', values: Object.entries(values).map(([key, value]) => ({ key, value, enabled: true })) };
}

/** Every connection to the server at `port`, whatever host and port the request names. */
function agentTo(port: number): Agent {
  const agent = new Agent({ keepAlive: false });
  agent.createConnection = () => connect(port, '127.0.0.1');
  return agent;
}

interface Totals {
  requests: number;
  requestsFailed: number;
  assertions: number;
  assertionsFailed: number;
  scriptErrors: number;
  failures: number;
}

function totals(...summaries: NewmanRunSummary[]): Totals {
  const sum = (f: (s: NewmanRunSummary) => number) => summaries.reduce((n, s) => n + f(s), 0);
  return {
    requests: sum((s) => s.run.stats.requests.total),
    requestsFailed: sum((s) => s.run.stats.requests.failed),
    assertions: sum((s) => s.run.stats.assertions.total),
    assertionsFailed: sum((s) => s.run.stats.assertions.failed),
    scriptErrors: sum((s) => s.run.stats.testScripts.failed + s.run.stats.prerequestScripts.failed),
    failures: sum((s) => s.run.failures.length + (s.error ? 1 : 0)),
  };
}

const describeTotals = (t: Totals) =>
  `${t.requests} requests (${t.requestsFailed} failed), ${t.assertions - t.assertionsFailed} assertions passed, ${t.assertionsFailed} failed` +
  (t.scriptErrors ? `, ${t.scriptErrors} script errors` : '');

/** Latchkey's collection: everything but the emailed-link folder, then that folder with the token from the email. */
async function runLatchkeyCollection(): Promise<{ totals: Totals; problems: string[] }> {
  const server = await startServer('latchkey', { SMTP_URL: smtp!.url });
  const problems: string[] = [];
  try {
    const folders = (JSON.parse(readFileSync(COLLECTION, 'utf8')) as { item: { name: string }[] }).item.map((f) => f.name);
    if (!folders.includes(EMAILED_FOLDER)) throw new Error(`the collection has no folder "${EMAILED_FOLDER}"`);
    const first = await runCollection('postman/latchkey.postman_collection.json', {
      collection: COLLECTION,
      environment: ENVIRONMENT,
      envVar: [{ key: 'baseUrl', value: server.url }],
      folder: folders.filter((f) => f !== EMAILED_FOLDER),
    });
    const env = first.environment.toObject();
    const email = String(env.email ?? '');
    let second: NewmanRunSummary | undefined;
    try {
      const mail = await smtp!.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password', 30_000);
      const token = /\/reset-password\/([^\s/?#"<]+)/.exec(mail.text)?.[1];
      if (!token) throw new Error(`no reset link in the email to ${email}`);
      console.log(`\n== the reset email to ${email} arrived; its token goes to the folder "${EMAILED_FOLDER}"`);
      second = await runCollection(`postman/latchkey.postman_collection.json, folder "${EMAILED_FOLDER}"`, {
        collection: COLLECTION,
        environment: asEnvironment({ ...env, reset_token: token }),
        folder: EMAILED_FOLDER,
      });
      if (second.run.stats.requests.total === 0) problems.push(`the folder "${EMAILED_FOLDER}" sent no request`);
    } catch (err) {
      problems.push(`password reset with the emailed link: ${(err as Error).message}`);
    }
    return { totals: totals(first, ...(second ? [second] : [])), problems };
  } finally {
    await server.stop();
  }
}

/** What the seed chapter's own Flask app answers to each request of its collection (its app/routes.py). */
const SEED_APP: Record<'asIs' | 'withToken', Record<string, { status: number; body: string }>> = {
  // A fresh database; {{jwt_token}} is never set, so "Bearer {{jwt_token}}" is sent as it is.
  asIs: {
    'Signup API': { status: 201, body: '{"message": "User created successfully"}' },
    'Signin API': { status: 200, body: '{"message": "Sign-in successful", access_token, refresh_token, user}' },
    'Protected Route': { status: 422, body: '{"msg": "Not enough segments"} (flask-jwt-extended, malformed token)' },
    'Forgot Password': { status: 200, body: '{"message": "Password reset email sent"}' },
    Logout: { status: 422, body: '{"msg": "Not enough segments"} (flask-jwt-extended, malformed token)' },
  },
  // The user exists already; jwt_token holds the access token of the first pass's "Signin API".
  withToken: {
    'Signup API': { status: 400, body: '{"message": "User already exists"}' },
    'Signin API': { status: 200, body: '{"message": "Sign-in successful", access_token, refresh_token, user}' },
    'Protected Route': { status: 200, body: '{"message": "Welcome Test User!", user}' },
    'Forgot Password': { status: 200, body: '{"message": "Password reset email sent"}' },
    Logout: { status: 200, body: '{"message": "Logout successful. Tokens revoked."}' },
  },
};

interface SeedResult {
  pass: 'asIs' | 'withToken';
  name: string;
  status: number | undefined;
  answer: string;
  seedStatus: number | undefined;
  verdict: string;
}

function seedResults(pass: 'asIs' | 'withToken', summary: NewmanRunSummary): SeedResult[] {
  return summary.run.executions.map((e) => {
    const name = e.item.name;
    const seed = SEED_APP[pass][name];
    const status = e.response?.code;
    let answer = e.requestError ? `no answer: ${e.requestError.message}` : '';
    let message: unknown;
    if (e.response) {
      try {
        const body = JSON.parse(e.response.text()) as Record<string, unknown>;
        message = body.message;
        const text = String(body.message ?? '');
        answer = body.error ? String(body.error) : JSON.stringify(text.length > 40 ? `${text.slice(0, 39)}…` : text);
      } catch {
        answer = e.response.text().slice(0, 60);
      }
    }
    const seedMessage = seed && /"message": "([^"]*)"/.exec(seed.body)?.[1];
    const verdict = !seed
      ? 'not in the seed'
      : status !== seed.status
        ? 'differs'
        : seedMessage !== undefined && message !== seedMessage
          ? 'pass (other message)'
          : 'pass';
    return { pass, name, status, answer, seedStatus: seed?.status, verdict };
  });
}

/** The seed's collection, unchanged, against a server that accepts its example password. */
async function runSeedCollection(): Promise<{ totals: Totals; results: SeedResult[] }> {
  const server = await startServer('seed', { SMTP_URL: smtp!.url, PASSWORD_CHECK_COMMON: 'false' });
  try {
    const requestAgents = { http: agentTo(server.port) };
    console.log(`   the seed's requests to http://localhost:5001 are sent to ${server.url}`);
    const asIs = await runCollection('postman/seed/jwt_auth.postman_collection.json, as it is', { collection: SEED_COLLECTION, requestAgents });
    const signin = asIs.run.executions.find((e) => e.item.name === 'Signin API');
    let token = '';
    try {
      token = String((JSON.parse(signin?.response?.text() ?? '{}') as { access_token?: string }).access_token ?? '');
    } catch {
      // no token: the second pass shows what that does
    }
    const withToken = await runCollection('postman/seed/jwt_auth.postman_collection.json, with jwt_token from its "Signin API"', {
      collection: SEED_COLLECTION,
      environment: asEnvironment({ jwt_token: token }),
      requestAgents,
    });
    return { totals: totals(asIs, withToken), results: [...seedResults('asIs', asIs), ...seedResults('withToken', withToken)] };
  } finally {
    await server.stop();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function cleanUp() {
  await Promise.all([...servers].map((s) => s.stop()));
  await smtp?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}

async function main(): Promise<number> {
  buildIfNeeded();
  workDir = await mkdtemp(join(tmpdir(), 'latchkey-postman-'));
  smtp = await startSmtpServer();
  const latchkey = await runLatchkeyCollection();
  const seed = await runSeedCollection();

  console.log('\n== Summary');
  console.log(`Latchkey's collection (postman/latchkey.postman_collection.json), default settings:\n  ${describeTotals(latchkey.totals)}`);
  for (const p of latchkey.problems) console.log(`  problem: ${p}`);
  console.log(
    `The seed's collection (postman/seed/jwt_auth.postman_collection.json), unchanged, PASSWORD_CHECK_COMMON=false:\n  ${describeTotals(seed.totals)}` +
      ' (it has no tests: each answer is compared below with what the seed\'s own app answers)',
  );
  const label = { asIs: 'as it is', withToken: 'jwt_token set' };
  console.log(
    table([
      ['pass', 'request', 'Latchkey', 'seed app', 'verdict'],
      ...seed.results.map((r) => [label[r.pass], r.name, `${r.status ?? '-'} ${r.answer}`, String(r.seedStatus ?? '-'), r.verdict]),
    ]),
  );
  const t = latchkey.totals;
  const failed = t.requestsFailed + t.assertionsFailed + t.scriptErrors + t.failures + latchkey.problems.length > 0;
  console.log(failed ? "\nLatchkey's collection FAILED" : "\nLatchkey's collection passed");
  return failed ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await cleanUp();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(`\npostman/run.ts: ${err instanceof Error ? err.message : String(err)}`);
    await cleanUp();
    process.exit(1);
  });
