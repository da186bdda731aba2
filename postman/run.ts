// npm run postman
// Runs Latchkey's Postman collection, then the chapter seed's, each against a real Latchkey server started
// here (`bin/latchkey-server`, built first if the sources changed) on a free port, with a temporary DATA_DIR
// (or DATABASE_URL, when set) and a local SMTP server that catches the emails:
//   1. postman/latchkey.postman_collection.json, default settings but RATE_LIMIT_SIGNIN (see SIGNIN_RATE). First the service clients its
//      "Services" folders call with are made with the command line (`latchkey services create … --json`, run
//      as the server is: same folder and environment, so that on the embedded engine it goes through the
//      server's control socket), and passed as environment variables. Every folder runs but two: then the
//      revocation feed's stream runs on its own, and once the stream has said `event: ready` its client is
//      removed, which ends the stream (newman runs a request's tests only when its response has ended); then
//      the reset email's token is read and the last folder ("Password reset with the emailed link") runs with
//      it. The paths the collection requests are checked against the server's OpenAPI document too;
//   2. postman/seed/jwt_auth.postman_collection.json, unchanged, on a server with PASSWORD_CHECK_COMMON=false
//      (its example password is `password123`): once as it is, once with `jwt_token` set to the token its
//      own "Signin API" returned (the collection has no script that sets it). Its requests name
//      localhost:5001; an HTTP agent sends them to this run's server instead, so that port need not be free.
// Exits 1 when Latchkey's collection has any failure; the seed's results are reported, not judged.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
/** The folder whose request is the revocation feed's stream: run on its own, and ended by removing its client. */
const STREAM_FOLDER = "Services: the revocation feed's stream";
/** What the stream says once it has replayed the revocations; from then on it only waits for new ones. */
const STREAM_READY = 'event: ready';
const READY_TIMEOUT_MS = 120_000;
/**
 * The collection's sign-in attempts (sign-ins, second steps, upstream sign-ins, all from this one address) take
 * less than a minute and outnumber the default 30 a minute: the limit is doubled, so that each answers as it would
 * alone. (The lockout the Errors folder shows is per account, not this limit.)
 */
const SIGNIN_RATE = '60/1m';

interface Server {
  url: string;
  port: number;
  /** `node bin/latchkey.js …args` where the server runs, with its environment; resolves with its standard output. */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const servers = new Set<Server>();
let workDir: string | undefined;
let smtp: TestSmtpServer | undefined;

/** Builds dist/ when it is missing or older than a source file. */
function buildIfNeeded() {
  // `npm run build` does nothing when no source changed since the last build.
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) throw new Error('the build failed');
}

/**
 * Latchkey as `npm start` runs it (bin/latchkey-server) on a free loopback port, in a folder of its own (so that no .env of the checkout
 * applies), its data in that folder unless DATABASE_URL is set; resolves once /readyz answers 200.
 */
async function startServer(name: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const dir = join(workDir!, name);
  await mkdir(dir, { recursive: true });
  const engine: Record<string, string> = process.env.DATABASE_URL
    ? { DATABASE_URL: process.env.DATABASE_URL, ...(process.env.SECRET_KEY ? { SECRET_KEY: process.env.SECRET_KEY } : {}) }
    : { DATA_DIR: join(dir, 'data') };
  const serverEnv = { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...engine, ...env };
  const child: ChildProcess = spawn(join(ROOT, 'bin/latchkey-server'), [], { cwd: dir, env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const server: Server = {
    url,
    port,
    cli: (args) => runCli(args, dir, serverEnv),
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

/** The command line, as `latchkey` runs it (the build in dist/); rejects when it exits with anything but 0. */
function runCli(args: string[], cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/latchkey.js'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`latchkey ${args.slice(0, 2).join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

interface ServiceClient {
  name: string;
  client_id: string;
  client_secret: string;
}

/** `latchkey services create <name> --scopes <scope> --json`, under a name no earlier run took (a DATABASE_URL keeps them). */
async function createServiceClient(server: Server, role: string, scope: string): Promise<ServiceClient> {
  const name = `postman-${role}-${randomBytes(4).toString('hex')}`;
  const out = JSON.parse(await server.cli(['services', 'create', name, '--scopes', scope, '--json'])) as Omit<ServiceClient, 'name'>;
  return { name, ...out };
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

/**
 * Every connection to the server at `port`, whatever host and port the request names. With `watch`, its
 * `then` is called (once) as soon as the bytes received on a connection include `watch.text`.
 */
function agentTo(port: number, watch?: { text: string; then: () => void }): Agent {
  const agent = new Agent({ keepAlive: false });
  let seen = false;
  agent.createConnection = () => {
    const socket = connect(port, '127.0.0.1');
    if (watch) {
      let tail = '';
      socket.on('data', (chunk: Buffer) => {
        const text = tail + chunk.toString('latin1');
        if (!seen && text.includes(watch.text)) {
          seen = true;
          watch.then();
        }
        tail = text.slice(-watch.text.length);
      });
    }
    return socket;
  };
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

interface CollectionItem {
  name: string;
  item?: CollectionItem[];
  request?: { url: { path?: string[] } | string };
}

/** The paths of the server's OpenAPI document that no request of the collection names (`{id}` matches any segment). */
async function uncoveredPaths(server: Server, collection: CollectionItem): Promise<string[]> {
  const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  const requested: string[][] = [];
  const walk = (item: CollectionItem) => {
    item.item?.forEach(walk);
    const url = item.request?.url;
    if (url !== undefined) requested.push(typeof url === 'string' ? new URL(url.replace('{{baseUrl}}', 'http://x')).pathname.split('/').filter(Boolean) : (url.path ?? []).filter(Boolean));
  };
  walk(collection);
  return Object.keys(doc.paths).filter((template) => {
    const want = template.split('/').filter(Boolean);
    return !requested.some((path) => path.length === want.length && want.every((w, i) => /^\{[^}]+\}$/.test(w) || w === path[i]));
  });
}

/**
 * Latchkey's collection: every folder but the stream's and the emailed-link one, with service clients made
 * for it; then the stream's folder, ended by removing its client once the stream is caught up; then the
 * emailed-link folder with the token from the email.
 */
async function runLatchkeyCollection(): Promise<{ totals: Totals; problems: string[] }> {
  const server = await startServer('latchkey', { SMTP_URL: smtp!.url, RATE_LIMIT_SIGNIN: SIGNIN_RATE });
  const problems: string[] = [];
  const clients = new Set<ServiceClient>();
  try {
    const collection = JSON.parse(readFileSync(COLLECTION, 'utf8')) as CollectionItem & { item: CollectionItem[] };
    const folders = collection.item.map((f) => f.name);
    for (const folder of [STREAM_FOLDER, EMAILED_FOLDER]) if (!folders.includes(folder)) throw new Error(`the collection has no folder "${folder}"`);
    for (const path of await uncoveredPaths(server, collection)) problems.push(`the OpenAPI document's path ${path} is not requested by the collection`);

    console.log('\n== service clients for the "Services" folders: latchkey services create <name> --scopes <scope> --json');
    const [admin, reader, feed] = await Promise.all([
      createServiceClient(server, 'admin', 'admin'),
      createServiceClient(server, 'reader', 'users:read'),
      createServiceClient(server, 'feed', 'revocations:read'),
    ]);
    for (const c of [admin, reader, feed]) clients.add(c);
    console.log(`   ${[admin, reader, feed].map((c) => c.name).join(', ')}`);
    const credentials = Object.entries({ admin, reader, feed }).flatMap(([role, c]) => [
      { key: `${role}_client_id`, value: c.client_id },
      { key: `${role}_client_secret`, value: c.client_secret },
    ]);
    const first = await runCollection('postman/latchkey.postman_collection.json', {
      collection: COLLECTION,
      environment: ENVIRONMENT,
      envVar: [{ key: 'baseUrl', value: server.url }, ...credentials],
      folder: folders.filter((f) => f !== STREAM_FOLDER && f !== EMAILED_FOLDER),
    });
    const env = first.environment.toObject();

    // The stream stays open until the server ends it: removing its client does, and lets newman run its tests.
    const feedRemoval: { done?: Promise<void> } = {};
    const stream = await runCollection(`postman/latchkey.postman_collection.json, folder "${STREAM_FOLDER}"`, {
      collection: COLLECTION,
      environment: asEnvironment(env),
      folder: STREAM_FOLDER,
      requestAgents: {
        http: agentTo(server.port, {
          text: STREAM_READY,
          then() {
            console.log(`\n   the stream said "${STREAM_READY}": latchkey services remove ${feed.name} --yes, which ends it`);
            feedRemoval.done = server.cli(['services', 'remove', feed.name, '--yes']).then(() => void clients.delete(feed));
          },
        }),
      },
    });
    if (stream.run.stats.requests.total === 0) problems.push(`the folder "${STREAM_FOLDER}" sent no request`);
    if (!feedRemoval.done) problems.push(`the revocation feed's stream never said "${STREAM_READY}"`);
    else await feedRemoval.done.catch((err: Error) => problems.push(`removing the feed's client: ${err.message}`));

    const email = String(env.email ?? '');
    let emailed: NewmanRunSummary | undefined;
    try {
      const mail = await smtp!.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password', 30_000);
      const token = /\/reset-password\/([^\s/?#"<]+)/.exec(mail.text)?.[1];
      if (!token) throw new Error(`no reset link in the email to ${email}`);
      console.log(`\n== the reset email to ${email} arrived; its token goes to the folder "${EMAILED_FOLDER}"`);
      emailed = await runCollection(`postman/latchkey.postman_collection.json, folder "${EMAILED_FOLDER}"`, {
        collection: COLLECTION,
        environment: asEnvironment({ ...env, reset_token: token }),
        folder: EMAILED_FOLDER,
      });
      if (emailed.run.stats.requests.total === 0) problems.push(`the folder "${EMAILED_FOLDER}" sent no request`);
    } catch (err) {
      problems.push(`password reset with the emailed link: ${(err as Error).message}`);
    }
    return { totals: totals(first, stream, ...(emailed ? [emailed] : [])), problems };
  } finally {
    // A DATABASE_URL outlives the run: the clients made for it go (an embedded DATA_DIR goes whole).
    if (process.env.DATABASE_URL) {
      await Promise.all([...clients].map((c) => server.cli(['services', 'remove', c.name, '--yes']).catch((err: Error) => console.warn(`   could not remove ${c.name}: ${err.message}`))));
    }
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

/** The seed's collection, unchanged, against a server (started by the caller) that accepts its example password. */
async function runSeedCollection(starting: Promise<Server>): Promise<{ totals: Totals; results: SeedResult[] }> {
  const server = await starting;
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
  // The seed's server starts while Latchkey's collection runs: its start is mostly waiting on its database.
  const seedServer = startServer('seed', { SMTP_URL: smtp.url, PASSWORD_CHECK_COMMON: 'false' });
  seedServer.catch(() => {}); // awaited below; cleanUp stops it if Latchkey's collection throws first
  const latchkey = await runLatchkeyCollection();
  const seed = await runSeedCollection(seedServer);

  console.log('\n== Summary');
  console.log(`Latchkey's collection (postman/latchkey.postman_collection.json), default settings but RATE_LIMIT_SIGNIN=${SIGNIN_RATE}:\n  ${describeTotals(latchkey.totals)}`);
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
