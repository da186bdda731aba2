// examples/app-service-python: the seed's app_service in its own stack (FastAPI, PyJWT, SQLite, on Debian's
// Python and packages), trusting a real Latchkey through its JWKS and its signed webhooks.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/core/events.js';
import { signWebhook } from '../../src/webhooks/worker.js';
import { json, latchkey } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { freePort } from '../helpers/services.js';
import { until } from '../helpers/webhook-receiver.js';
import { describeUnless } from '../helpers/skip.js';

/** Debian's own Python, whatever python3 the PATH finds first (pyenv, a venv): the example needs its packages. */
const PYTHON = '/usr/bin/python3';
const APP_DIR = join(ROOT, 'examples/app-service-python');
const PASSWORD = 'correct horse battery staple';

function missingPython(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, jwt, cryptography'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  if (probe.error) return `${PYTHON} cannot run (${probe.error.message})`;
  if (probe.status !== 0) return `${PYTHON} has no ${probe.stderr.trim().split('\n').at(-1)} (apt-get install python3-fastapi python3-uvicorn python3-jwt python3-cryptography)`;
  return undefined;
}
const missing = missingPython();
// A machine without them skips this file (npm test on a fresh clone); CI installs them (.ci/run), and must run it.
if (missing && process.env.CI) throw new Error(`The Python example app service is tested in CI, and ${missing}.`);

type PythonApp = ServerProcess & { database: string };

/** The example as its README runs it (`python3 main.py` in its folder), with nothing of this environment but PATH. */
async function startPythonApp(port: number, database: string, env: Record<string, string>): Promise<PythonApp> {
  const app = await startServerProcess(
    { PYTHONDONTWRITEBYTECODE: '1', LOG_LEVEL: 'warning', PORT: String(port), APP_DATABASE: database, ...env },
    ['main.py'],
    { executable: PYTHON, cwd: APP_DIR, readyPath: '/healthz' },
  );
  try {
    await app.ready();
  } catch (err) {
    await app.stop('SIGKILL');
    throw new Error(`the Python app service did not start: ${(err as Error).message}`);
  }
  return Object.assign(app, { database });
}

/** Rows of the app's own SQLite database, read by Python's sqlite3 (Node 20 has none). */
async function appRows(app: PythonApp, query: string, ...params: string[]): Promise<unknown[][]> {
  const script = 'import json, sqlite3, sys; print(json.dumps(sqlite3.connect(sys.argv[1]).execute(sys.argv[2], sys.argv[3:]).fetchall()))';
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', script, app.database, query, ...params]);
  return JSON.parse(stdout) as unknown[][];
}

async function call(app: PythonApp, path: string, token?: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${app.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> | null, challenge: res.headers.get('www-authenticate') };
}

/** A Standard Webhooks delivery as Latchkey's worker makes it (its own signWebhook), posted to the app. */
async function postWebhook(app: PythonApp, secret: string, id: string, body: string, opts: { timestamp?: number; signature?: string } = {}) {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${app.url}/sync_user`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': opts.signature ?? signWebhook(secret, id, timestamp, body) },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const userEvent = (type: string, data: Record<string, unknown>, at = new Date()) => JSON.stringify({ type, timestamp: at.toISOString(), data });
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

describeUnless(missing)('the Python app service (examples/app-service-python)', () => {
  let root: string;
  let database: TestDatabase;
  let env: Record<string, string>;
  let server: ServerProcess;
  let app: PythonApp;
  let hook: { id: string; secret: string };
  /** A second app on keys this test holds (its own JWKS), for tokens Latchkey never issues: wrong audience, expired… */
  let keyed: PythonApp;
  let keyedStarting: Promise<PythonApp> | undefined;
  let keyedSecret: string;
  let jwks: { url: string; kid: string; privateKey: CryptoKey; publicJwk: Record<string, unknown>; close(): Promise<void> };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'latchkey-app-python-'));
    database = await createTestDatabase();
    const port = await freePort();
    // A delivery the app cannot take for 3 s is dead: one test makes one so (the app stopped), then replays it.
    env = { DATA_DIR: join(root, 'latchkey'), SECRET_KEY: database.secretKey, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, WEBHOOK_RETRY_FOR: '3s' };
    if (database.url) env.DATABASE_URL = database.url;

    // The test's own ES256 key, served as a JWKS the way Latchkey serves its own.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid = 'test-key';
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const jwksServer = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}`;
    jwks = {
      url: jwksUrl,
      kid,
      privateKey,
      publicJwk,
      close: () => new Promise((resolve) => jwksServer.close(() => resolve()).closeAllConnections()),
    };
    keyedSecret = newSecret();
    // Started while Latchkey starts.
    keyedStarting = startPythonApp(await freePort(), join(root, 'keyed.db'), { LATCHKEY_URL: jwksUrl, LATCHKEY_WEBHOOK_SECRET: keyedSecret });

    server = await startServerProcess(env);
    await server.ready();
    // The README's steps: register the app's /sync_user for every event type, then start it with the secret.
    const appPort = await freePort();
    hook = json(await latchkey(env, ['webhooks', 'add', `http://127.0.0.1:${appPort}/sync_user`, '--events', EVENT_TYPES.join(','), '--json']));
    expect(hook.secret).toMatch(/^whsec_/);
    app = await startPythonApp(appPort, join(root, 'app.db'), { LATCHKEY_URL: server.url, LATCHKEY_WEBHOOK_SECRET: hook.secret });
    keyed = await keyedStarting;
  }, 90_000);

  afterAll(async () => {
    await Promise.all([app?.stop(), keyedStarting?.then((a) => a.stop(), () => {}), jwks?.close()]);
    if (server) await server.stop();
    await database?.drop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const email = `ada-${randomUUID().slice(0, 8)}@example.com`;
  let userId: string;
  let first: string; // the access token of the session that logs out
  let second: string; // the access token of another session, which stays

  async function signIn(): Promise<string> {
    const res = await fetch(`${server.url}/api/signin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  it('knows a user signed up on Latchkey within seconds, and answers /me with its token', async () => {
    const res = await fetch(`${server.url}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada', email, password: PASSWORD }) });
    expect(res.status).toBe(201);
    userId = ((await res.json()) as { user: { id: string } }).user.id;
    first = await signIn();
    second = await signIn();
    const me = await until(() => call(app, '/me', first), (r) => r.status === 200, 10_000);
    expect(me.body, app.output()).toMatchObject({ user: { id: userId, email, name: 'Ada', role: 'user', disabled_at: null } });
  });

  it("refuses tokens with a bad signature, alg none, or none at all, with Latchkey's codes", async () => {
    const [header, payload, signature] = first.split('.') as [string, string, string];
    const at = Math.floor(signature.length / 2);
    const flipped = `${signature.slice(0, at)}${signature[at] === 'A' ? 'B' : 'A'}${signature.slice(at + 1)}`;
    const none = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), alg: 'none' })).toString('base64url');
    const cases: [string, string | undefined, string][] = [
      ['a changed signature', `${header}.${payload}.${flipped}`, 'invalid_token'],
      ['alg none, no signature', `${none}.${payload}.`, 'invalid_token'],
      ['alg none, the signature kept', `${none}.${payload}.${signature}`, 'invalid_token'],
      ['no token', undefined, 'missing_token'],
    ];
    for (const [name, token, code] of cases) {
      const res = await call(app, '/me', token);
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 401, error: code });
      expect(res.body?.message).toEqual(expect.any(String));
      expect(res.challenge, name).toMatch(/^Bearer realm="latchkey"/);
    }
    // The same codes as Latchkey answers.
    const dashboard = await fetch(`${server.url}/api/dashboard`, { headers: { authorization: `Bearer ${header}.${payload}.${flipped}` } });
    expect(((await dashboard.json()) as { error: string }).error).toBe('invalid_token');
  });

  it('refuses tokens signed with a published key but another audience or issuer, expired, or outside the lifetime rules', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sub = randomUUID();
    const sign = (claims: JWTPayload = {}, header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = jwks.privateKey) =>
      new SignJWT({ iss: jwks.url, aud: 'latchkey', sub, sid: randomUUID(), jti: randomUUID(), auth_time: now - 60, iat: now, exp: now + 900, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: jwks.kid, typ: 'at+jwt', ...header } as never)
        .sign(key);
    // The user this app knows, through a webhook signed with its secret.
    const profile = { id: sub, email: 'keyed@example.com', name: 'Keyed', role: 'user', created_at: new Date().toISOString(), disabled_at: null, email_verified_at: null, legacy_id: null };
    expect((await postWebhook(keyed, keyedSecret, 'evt_1', userEvent('user.created', profile))).status).toBe(200);
    expect(await call(keyed, '/me', await sign())).toMatchObject({ status: 200, body: { user: { id: sub } } });

    const other = await generateKeyPair('ES256');
    const cases: [string, string, string][] = [
      ['another audience', await sign({ aud: 'billing' }), 'invalid_token'],
      ['another issuer', await sign({ iss: 'https://auth.example.com' }), 'invalid_token'],
      ['expired', await sign({ iat: now - 1000, exp: now - 100, auth_time: now - 1000 }), 'token_expired'],
      ['typ JWT', await sign({}, { typ: 'JWT' }), 'invalid_token'],
      ['a lifetime above 900 + 30 s', await sign({ exp: now + 3600 }), 'invalid_token'],
      ['iat 2 minutes ahead', await sign({ iat: now + 120, exp: now + 1000 }), 'invalid_token'],
      ['no sid', await sign({ sid: undefined }), 'invalid_token'],
      ['HS256 keyed with the public JWK', await sign({}, { alg: 'HS256' }, new TextEncoder().encode(JSON.stringify(jwks.publicJwk))), 'invalid_token'],
      ['a kid not in the JWKS', await sign({}, { kid: 'unknown' }, other.privateKey), 'invalid_token'],
    ];
    for (const [name, token, code] of cases) {
      const res = await call(keyed, '/me', token);
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 401, error: code });
    }
  });

  it('refuses a token soon after its session logs out on Latchkey, and still accepts the other session', async () => {
    const logout = await fetch(`${server.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${first}` } });
    expect(logout.status).toBe(200);
    const refused = await until(() => call(app, '/me', first), (r) => r.status === 401, 10_000);
    expect(refused.body?.error, app.output()).toBe('session_revoked');
    expect((await call(app, '/me', second)).status).toBe(200);
  });

  it('refuses a forged, tampered or stale webhook with 400, and changes nothing', async () => {
    const profile = (await call(app, '/me', second)).body!.user as Record<string, unknown>;
    const id = `evt_forged_${randomUUID()}`;
    const body = userEvent('user.updated', { ...profile, name: 'Mallory' });
    const now = Math.floor(Date.now() / 1000);
    const post = (opts: Parameters<typeof postWebhook>[4]) => () => postWebhook(app, hook.secret, id, body, opts);
    const cases: [string, () => ReturnType<typeof postWebhook>, string][] = [
      ['signed with another secret', post({ signature: signWebhook(newSecret(), id, now, body), timestamp: now }), 'webhook_invalid_signature'],
      ['the signature of another body', post({ signature: signWebhook(hook.secret, id, now, userEvent('user.updated', profile)), timestamp: now }), 'webhook_invalid_signature'],
      ['a replay signed 10 minutes ago', post({ timestamp: now - 600 }), 'webhook_timestamp_out_of_range'],
      ['a timestamp 10 minutes ahead', post({ timestamp: now + 600 }), 'webhook_timestamp_out_of_range'],
      ['no signature', post({ signature: '' }), 'webhook_missing_headers'],
    ];
    for (const [name, send, code] of cases) {
      const res = await send();
      expect({ name, status: res.status, error: res.body.error }).toEqual({ name, status: 400, error: code });
    }
    expect((await call(app, '/me', second)).body).toMatchObject({ user: { name: 'Ada' } });
    // Not even its id was recorded: the genuine event with that id would still be applied.
    expect(await appRows(app, 'SELECT count(*) FROM webhook_events WHERE id = ?', id)).toEqual([[0]]);
  });

  it('applies a redelivered webhook (the same webhook-id) once, and an older one after a newer one not at all', async () => {
    // A user of the test's own, with event numbers far above Latchkey's: webhook-id evt_<n>, n growing with
    // each of a user's events.
    const profile = { id: randomUUID(), email: 'numbered@example.com', name: 'First', role: 'user', created_at: new Date().toISOString(), disabled_at: null, email_verified_at: null, legacy_id: null };
    const post = (n: number, type: string, name: string) => postWebhook(app, hook.secret, `evt_${n}`, userEvent(type, { ...profile, name }));
    const nameOf = async () => (await appRows(app, 'SELECT name FROM users WHERE id = ?', profile.id))[0]?.[0];
    expect((await post(900_000_010, 'user.created', 'First')).body).toEqual({ status: 'applied' });
    // Latchkey sends it again (no answer in time, say), signed anew.
    expect(await post(900_000_010, 'user.created', 'First')).toEqual({ status: 200, body: { status: 'duplicate' } });
    expect((await post(900_000_030, 'user.updated', 'Newer')).body).toEqual({ status: 'applied' });
    // An operator's replay of an older dead delivery, after the newer one: recorded, changes nothing.
    expect((await post(900_000_020, 'user.updated', 'Older')).body).toEqual({ status: 'stale' });
    expect(await nameOf()).toBe('Newer');
    expect((await post(900_000_040, 'user.deleted', 'Newer')).body).toEqual({ status: 'applied' });
    expect((await post(900_000_025, 'user.updated', 'Revived')).body).toEqual({ status: 'stale' });
    expect(await nameOf()).toBeUndefined();
    expect(await appRows(app, 'SELECT count(*) FROM webhook_events WHERE id IN (?, ?, ?)', 'evt_900000010', 'evt_900000020', 'evt_900000025')).toEqual([[3]]);
    // A webhook-id that is not Latchkey's evt_<number>, however well signed, is refused and recorded nowhere.
    expect((await postWebhook(app, hook.secret, `evt_${randomUUID()}`, userEvent('user.updated', profile))).body).toMatchObject({ error: 'webhook_invalid_payload' });
  });

  it("a replayed dead user.created, once the user's user.deleted was delivered, does not bring the user back", async () => {
    // The app is down for the whole of WEBHOOK_RETRY_FOR (a few seconds here): the sign-up's delivery dies.
    const port = Number(new URL(app.url).port);
    expect(await app.stop()).toBe(0);
    const res = await fetch(`${server.url}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ghost', email: `ghost-${randomUUID().slice(0, 8)}@example.com`, password: PASSWORD }) });
    expect(res.status).toBe(201);
    const ghost = ((await res.json()) as { user: { id: string } }).user.id;
    type Delivery = { id: number; endpoint_id: string; event_type: string; status: string };
    const deliveries = async () => (json(await latchkey(env, ['webhooks', 'deliveries', '--json'])) as Delivery[]).filter((d) => d.endpoint_id === hook.id);
    const dead = await until(deliveries, (rows) => rows.some((d) => d.event_type === 'user.created' && d.status === 'dead'), 30_000);
    const created = dead.find((d) => d.event_type === 'user.created' && d.status === 'dead')!;

    // Back up; the user is deleted, and that event (no longer behind a pending one) is delivered.
    app = await startPythonApp(port, app.database, { LATCHKEY_URL: server.url, LATCHKEY_WEBHOOK_SECRET: hook.secret });
    json(await latchkey(env, ['users', 'delete', ghost, '--yes', '--json']));
    await until(deliveries, (rows) => rows.some((d) => d.event_type === 'user.deleted' && d.status === 'delivered' && d.id > created.id), 15_000);

    // The operator replays the dead user.created: delivered, answered, and the user stays deleted.
    expect(json(await latchkey(env, ['webhooks', 'replay', String(created.id), '--json']))).toEqual({ replayed: 1 });
    await until(deliveries, (rows) => rows.find((d) => d.id === created.id)?.status === 'delivered', 15_000);
    expect(await appRows(app, 'SELECT count(*) FROM users WHERE id = ?', ghost), app.output()).toEqual([[0]]);
  }, 90_000);

  it("keeps each user's items, and drops the user and its items once Latchkey deletes the user", async () => {
    const added = [];
    for (const title of ['first', 'second']) {
      const res = await call(app, '/items', second, { method: 'POST', body: { title } });
      expect(res.status).toBe(201);
      added.push(res.body as { id: number; title: string });
    }
    expect((await call(app, '/items', second, { method: 'POST', body: {} })).body).toMatchObject({ error: 'invalid_request' });
    expect((await call(app, `/items/${added[0]!.id}`, second, { method: 'DELETE' })).status).toBe(204);
    expect((await call(app, `/items/${added[0]!.id}`, second, { method: 'DELETE' })).status).toBe(404);
    expect((await call(app, '/items', second)).body).toEqual({ items: [{ id: added[1]!.id, title: 'second', created_at: expect.any(String) }] });

    const deleted = json(await latchkey(env, ['users', 'delete', userId, '--yes', '--json']));
    expect(deleted).toMatchObject({ user: { id: userId }, sessions_ended: 1 });
    const left = () => appRows(app, 'SELECT (SELECT count(*) FROM users WHERE id = ?) + (SELECT count(*) FROM items WHERE user_id = ?)', userId, userId);
    expect(await until(left, (rows) => rows[0]![0] === 0, 10_000), app.output()).toEqual([[0]]);
    expect((await call(app, '/me', second)).body).toMatchObject({ error: 'session_revoked' });
  }, 60_000);
});
