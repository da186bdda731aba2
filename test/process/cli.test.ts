import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, json, latchkey } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { entry, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeHashes, missingPythonLibraries } from '../helpers/python-hashes.js';
import { describeUnless, itUnless, ON_POSTGRES } from '../helpers/skip.js';

const PASSWORD = 'correct horse battery staple';
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function post(server: ServerProcess, path: string, body: object, token?: string) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const signin = (server: ServerProcess, email: string) => post(server, '/api/signin', { email, password: PASSWORD });
const refresh = (server: ServerProcess, token: string) => post(server, '/api/refresh', { refresh_token: token });
const dashboard = async (server: ServerProcess, token: string) =>
  (await fetch(`${server.url}/api/dashboard`, { headers: { authorization: `Bearer ${token}` } })).status;

/** With several server processes (PostgreSQL), a revocation reaches each through NOTIFY: give it a moment. */
async function eventually(check: () => Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('not within the time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Setup {
  database: TestDatabase;
  env: Record<string, string>;
}

async function setUp(name: string): Promise<Setup> {
  const database = await createTestDatabase();
  const env: Record<string, string> = { DATA_DIR: join(root, name), SECRET_KEY: database.secretKey };
  if (database.url) env.DATABASE_URL = database.url;
  return { database, env };
}

describeWithAndWithoutServer('commands', (withServer) => {
  let s: Setup;
  let server: ServerProcess | undefined;
  const run = (args: string[], input = '') => latchkey(s.env, args, input);

  beforeAll(async () => {
    s = await setUp(withServer ? 'with-server' : 'no-server');
    expect(json(await run(['db', 'create', '--json'])).migrations.every((m: { applied: boolean }) => m.applied)).toBe(true);
    if (withServer) {
      // On PostgreSQL, two processes behind one port: a change must reach both through NOTIFY.
      server = await startServerProcess({ ...s.env, LOG_LEVEL: 'info', ...(s.database.url ? { WORKERS: '2' } : {}) });
      await server.ready();
    }
  }, 120_000);
  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
    await s.database.drop();
  });

  it('reports migrations, and applies none twice', async () => {
    const states = json(await run(['migrate', 'status', '--json']));
    expect(states.length).toBeGreaterThanOrEqual(4);
    expect(states.every((m: { applied: boolean }) => m.applied)).toBe(true);
    const migrated = await run(['migrate']);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/\d+ applied, 0 pending/);
  }, 60_000);

  it('creates a user with the password from standard input, under the sign-up policy', async () => {
    const created = json(await run(['users', 'create', '--email', 'Ada@Example.com', '--name', 'Ada', '--admin', '--json'], `${PASSWORD}\n`));
    expect(created).toMatchObject({ email: 'ada@example.com', name: 'Ada', role: 'admin', disabled_at: null });
    expectOneLine(await run(['users', 'create', '--email', 'ada@example.com', '--name', 'Ada'], PASSWORD), 1, /\(email_taken\)/);
    expectOneLine(await run(['users', 'create', '--email', 'weak@example.com', '--name', 'W'], 'short\n'), 1, /\(password_too_short\)/);
    expectOneLine(await run(['users', 'create', '--email', 'none@example.com', '--name', 'N']), 2, /no password on standard input/);
    if (server) {
      // An admin must have a second factor (REQUIRE_MFA_FOR_ROLES): the right password gets the enrolment token.
      const first = await signin(server, 'ada@example.com');
      expect(first.status).toBe(403);
      expect(first.body).toMatchObject({ error: 'mfa_enrollment_required', enrollment_token: expect.any(String) });
      if (!s.database.url) expect(server.output()).toContain('"op":"users.create"');
    }
  }, 60_000);

  it('lists and shows users, as a table or JSON, a page at a time', async () => {
    for (const name of ['Bea', 'Cy']) expect((await run(['users', 'create', '--email', `${name}@example.com`, '--name', name], PASSWORD)).code).toBe(0);
    const all = json(await run(['users', 'list', '--json']));
    expect(all.users.map((u: { email: string }) => u.email)).toEqual(['ada@example.com', 'bea@example.com', 'cy@example.com']);
    expect(all.next_after).toBeNull();
    const first = json(await run(['users', 'list', '--limit', '2', '--json']));
    expect(first.users).toHaveLength(2);
    const second = json(await run(['users', 'list', '--limit', '2', '--after', first.next_after, '--json']));
    expect(second.users.map((u: { email: string }) => u.email)).toEqual(['cy@example.com']);
    expect(json(await run(['users', 'list', '--offset', '1', '--limit', '1', '--json'])).users[0].email).toBe('bea@example.com');

    const table = await run(['users', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+ROLE\s+STATUS\s+CREATED$/);
    expect(table.stdout).toContain('bea@example.com');
    const shown = json(await run(['users', 'show', all.users[1].id, '--json']));
    expect(shown).toMatchObject({ email: 'bea@example.com', active_sessions: 0, mfa: { totp: false, passkeys: 0, recovery_codes_left: 0 } });
    expectOneLine(await run(['users', 'show', 'nobody@example.com']), 1, /\(user_not_found\)/);
  }, 90_000);

  it('revokes sessions, disables, enables and deletes users, and a running server honours each at once', async () => {
    const email = 'dee@example.com';
    expect((await run(['users', 'create', '--email', email, '--name', 'Dee'], PASSWORD)).code).toBe(0);
    const tokens = server && (await signin(server, email)).body;

    const revoked = json(await run(['sessions', 'revoke', '--user', email, '--json']));
    expect(revoked.sessions_ended).toBe(server ? 1 : 0);
    if (server && tokens) {
      await eventually(async () => (await dashboard(server!, tokens.access_token!)) === 401);
      expect((await refresh(server, tokens.refresh_token!)).body.error).toBe('invalid_refresh_token');
    }

    // A session opened at once, in the revocation's second, is a live one.
    const again = server && (await signin(server, email)).body;
    if (server && again) expect(await dashboard(server, again.access_token!)).toBe(200);
    const disabled = json(await run(['users', 'disable', email, '--json']));
    expect(disabled).toMatchObject({ changed: true, sessions_ended: server ? 1 : 0 });
    expect(disabled.user.disabled_at).not.toBeNull();
    if (server && again) {
      await eventually(async () => (await dashboard(server!, again.access_token!)) === 401);
      const refused = await signin(server, email);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('account_disabled');
      expect((await post(server, '/api/signin', { email, password: 'not the right one' })).body.error).toBe('invalid_credentials');
    }
    expect((await run(['users', 'disable', email])).stdout).toContain('already disabled');

    expect(json(await run(['users', 'enable', email, '--json'])).user.disabled_at).toBeNull();
    if (server) expect((await signin(server, email)).status).toBe(200);

    expect(json(await run(['users', 'grant-admin', email, '--json']))).toMatchObject({ changed: true, user: { email, role: 'admin' } });
    expect((await run(['users', 'revoke-admin', email])).stdout).toContain('is no longer an admin');

    const deleted = json(await run(['users', 'delete', email, '--yes', '--json']));
    expect(deleted.user.email).toBe(email);
    if (server) expect((await signin(server, email)).body.error).toBe('invalid_credentials');
    expectOneLine(await run(['users', 'delete', email, '--yes']), 1, /\(user_not_found\)/);
  }, 120_000);

  it('lists and rotates the signing keys', async () => {
    const before = json(await run(['keys', 'list', '--json']));
    expect(before.filter((k: { state: string }) => k.state === 'current')).toHaveLength(1);
    const fresh = json(await run(['keys', 'rotate', '--json']));
    expect(fresh).toMatchObject({ state: 'next', alg: 'ES256' });
    const after = await run(['keys', 'list']);
    expect(after.stdout.split('\n')[0]).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+ACTIVATES\s+RETIRED\s+REVOKED$/);
    expect(after.stdout).toContain(fresh.kid);
    if (server) await eventually(async () => JSON.stringify(await (await fetch(`${server!.url}/.well-known/jwks.json`)).json()).includes(fresh.kid));
  }, 60_000);

  it('revokes a signing key: confirmed with --yes, a new key signs at once, its tokens are refused, sessions live on', async () => {
    const current = json(await run(['keys', 'list', '--json'])).find((k: { state: string }) => k.state === 'current').kid as string;
    let tokens: Record<string, string> | undefined;
    if (server) {
      json(await run(['users', 'create', '--email', 'kim@example.com', '--name', 'Kim', '--verified', '--json'], `${PASSWORD}\n`));
      tokens = (await signin(server, 'kim@example.com')).body;
      expect(await dashboard(server, tokens.access_token!)).toBe(200);
    }
    expectOneLine(await run(['keys', 'revoke', current]), 2, /add --yes/);
    expect(json(await run(['keys', 'list', '--json'])).find((k: { kid: string }) => k.kid === current).state).toBe('current');

    const done = json(await run(['keys', 'revoke', current, '--yes', '--json']));
    expect(done).toMatchObject({ kid: current, already_revoked: false, new_key: { state: 'current', alg: 'ES256' } });
    const listed = json(await run(['keys', 'list', '--json']));
    expect(listed.find((k: { kid: string }) => k.kid === current)).toMatchObject({ state: 'revoked', revoked_at: done.revoked_at });
    if (server) {
      // Every server process is told (NOTIFY on PostgreSQL; the command ran in the server on the embedded engine).
      await eventually(async () => (await dashboard(server!, tokens!.access_token!)) === 401);
      const jwks = JSON.stringify(await (await fetch(`${server.url}/.well-known/jwks.json`)).json());
      expect(jwks).not.toContain(current);
      const refreshed = await refresh(server, tokens!.refresh_token!);
      expect(refreshed.status).toBe(200);
      expect(await dashboard(server, refreshed.body.access_token!)).toBe(200);
    }

    const again = await run(['keys', 'revoke', current, '--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/was already revoked/);
    expectOneLine(await run(['keys', 'revoke', 'no-such-kid', '--yes']), 1, /\(key_not_found\)/);
    expectOneLine(await run(['keys', 'revoke', 'x'.repeat(101), '--yes']), 2, /kid: must be a key id/);
  }, 120_000);

  // Hashes made by Python's werkzeug and bcrypt: skipped on a machine without them, except in CI.
  itUnless(process.env.CI ? undefined : missingPythonLibraries())('imports users with their old hashes from a file, a dry run first, a rerun changing nothing', async () => {
    const [pbkdf2, bcrypt] = makeHashes([
      { kind: 'werkzeug', method: 'pbkdf2:sha256', password: 'old pbkdf2 password' },
      { kind: 'bcrypt', rounds: 4, password: 'old bcrypt password' },
    ]);
    const file = join(root, `${withServer ? 'with' : 'no'}-server-users.csv`);
    writeFileSync(file, ['id,name,email,password_hash', `7,Old One,Old.One@Legacy.example,${pbkdf2!.hash}`, `8,Old Two,old.two@legacy.example,${bcrypt!.hash}`, '9,Bad,not-an-email,x'].join('\n') + '\n');

    const dry = json(await run(['users', 'import', file, '--dry-run', '--json']));
    expect(dry).toMatchObject({ read: 3, inserted: 2, rejected: 1, dryRun: true });
    expectOneLine(await run(['users', 'show', 'old.one@legacy.example']), 1, /\(user_not_found\)/);

    const done = json(await run(['users', 'import', file, '--json']));
    expect(done).toMatchObject({ read: 3, inserted: 2, skipped: 0, rejected: 1, dryRun: false });
    expect(done.rejections[0]).toMatchObject({ row: 4, id: '9' });
    const again = await run(['users', 'import', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/3 read, 0 imported, 2 already there, 1 refused/);
    expect(json(await run(['users', 'show', 'old.one@legacy.example', '--json']))).toMatchObject({ name: 'Old One', legacy_id: '7' });
    if (server) {
      const res = await post(server, '/api/signin', { email: 'old.two@legacy.example', password: 'old bcrypt password' });
      expect(res.status).toBe(200);
    }
  }, 120_000);

  it('drops the database only when no server uses it', async () => {
    let dropped = await run(['db', 'drop', '--yes']);
    if (server) {
      expectOneLine(dropped, 1, s.database.url ? /is in use/ : /server is running/);
      // The database is still there: the admin's right password still gets the enrolment token.
      expect((await signin(server, 'ada@example.com')).body.error).toBe('mfa_enrollment_required');
      if (!s.database.url) return;
      // On PostgreSQL the group with no server does not run (NO_SERVER_ON_POSTGRES): the drop is made here, once the server has stopped.
      expect(await server.stop()).toBe(0);
      dropped = await run(['db', 'drop', '--yes']);
    }
    expect(dropped.code, dropped.stderr).toBe(0);
    if (s.database.url) expectOneLine(await run(['users', 'list']), 1, /does not exist/);
    else expect(existsSync(s.env.DATA_DIR!)).toBe(false);
    expect((await run(['db', 'create'])).code).toBe(0);
    expect(json(await run(['users', 'list', '--json'])).users).toEqual([]);
  }, 90_000);
});

// `latchkey serve`: the server in the command line's own process (npm start runs node with memory settings too).
const SERVE = [...entry('cli/main'), 'serve'];

describeUnless(ON_POSTGRES)('the embedded server\'s control socket (started by latchkey serve)', () => {
  let dataDir: string;
  let server: ServerProcess;
  const socketPath = () => join(dataDir, 'control.sock');

  /** Sends raw bytes and resolves with every line received until the server closes or `lines` arrived. */
  function exchange(payload: string | Buffer, lines: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath());
      let text = '';
      const done = () => {
        socket.destroy();
        resolve(text.split('\n').filter(Boolean));
      };
      socket.on('data', (d) => {
        text += d;
        if (text.split('\n').filter(Boolean).length >= lines) done();
      });
      socket.on('close', done);
      socket.on('error', reject);
      socket.write(payload);
    });
  }

  beforeAll(async () => {
    dataDir = join(root, 'socket');
    // A file left where the socket goes (a crashed server's): neither the command line nor the server minds it.
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'control.sock'), '');
    expect((await latchkey({ DATA_DIR: dataDir }, ['db', 'create'])).code).toBe(0);
    server = await startServerProcess({ DATA_DIR: dataDir }, SERVE);
    await server.ready();
  }, 120_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('is a socket only its owner can open, made by the server, in the process `latchkey serve` started', async () => {
    const owner = JSON.parse(readFileSync(join(dataDir, 'latchkey.lock'), 'utf8')).pid;
    expect(owner).toBe(server.child.pid);
    const stat = statSync(socketPath());
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it('answers one JSON line per request, in order, and validates each request', async () => {
    const answers = (await exchange(
      [
        JSON.stringify({ op: 'keys.list', args: {} }),
        JSON.stringify({ op: 'users.drop_everything', args: {} }),
        JSON.stringify({ op: 'users.show', args: { user: 'a@example.com', extra: 1 } }),
        JSON.stringify({ op: 'users.create', args: { email: 'x@example.com', name: 'X', password: 12345678 } }),
        JSON.stringify({ op: 'users.show', args: { user: 'nobody@example.com' } }),
        'not json',
      ].join('\n') + '\n',
      6,
    )).map((line) => JSON.parse(line));
    expect(answers[0]).toMatchObject({ ok: true });
    expect(answers.slice(1).map((a) => a.error.code)).toEqual(['unknown_operation', 'invalid_arguments', 'invalid_arguments', 'user_not_found', 'invalid_arguments']);
    expect(answers[2].error.message).toMatch(/extra/);
  });

  it('refuses a request larger than its bound and closes the connection', async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, 'a');
    const [answer] = await exchange(huge, 1);
    expect(JSON.parse(answer!).error.code).toBe('message_too_large');
    expect((await latchkey({ DATA_DIR: dataDir }, ['users', 'list', '--json'])).code).toBe(0);
  });

  it('is removed when the server stops; the command line then opens the folder itself', async () => {
    expect(await server.stop()).toBe(0);
    expect(existsSync(socketPath())).toBe(false);
    expect(existsSync(join(dataDir, 'latchkey.lock'))).toBe(false);
    expect((await latchkey({ DATA_DIR: dataDir }, ['users', 'list', '--json'])).code).toBe(0);
    server = await startServerProcess({ DATA_DIR: dataDir }, SERVE);
    await server.ready();
  }, 60_000);
});
