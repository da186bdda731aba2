// A user deleted through the admin API while one of their sessions refreshes, as an attacker holding a
// refresh token and an admin client would time it. Every path takes row locks in one order (users, then
// sessions, then refresh_tokens): no interleaving deadlocks, so none answers 503 or logs "database unavailable".
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboard, refresh, signIn, signUp, startTestApp, type TestApp, type Tokens } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

let t: TestApp;
let admin: Credentials;
const clients = serviceClients(() => t, 'races');

beforeAll(async () => {
  t = await startTestApp();
  admin = await clients.client(['admin']);
});
afterAll(async () => {
  await t?.close();
});

const sidOf = (tokens: Tokens) => (JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
const deleteUser = (id: string) => t.inject({ method: 'DELETE', url: `/api/admin/users/${id}`, headers: clients.auth(admin) });

/** What the log lines from `from` on must never hold after a race: a deadlock, or the 503 it became. */
function expectNoDeadlockLogged(from: number) {
  const logs = t.logs.slice(from).join('');
  expect(logs).not.toContain('40P01');
  expect(logs).not.toContain('deadlock');
  expect(logs).not.toContain('database unavailable');
}

/** The race is over and left nothing usable: the user is gone, and no token of theirs refreshes or verifies. */
async function expectGone(userId: string, tokens: Tokens[]) {
  expect((await t.inject({ method: 'GET', url: `/api/admin/users/${userId}`, headers: clients.auth(admin) })).statusCode).toBe(404);
  for (const pair of tokens) {
    const again = await refresh(t, pair.refresh_token);
    expect(again.statusCode, again.body).toBe(401);
    expect((await dashboard(t, pair.access_token)).statusCode).toBe(401);
  }
}

describeUnless(NO_POSTGRES)('a delete and a refresh in the interleaving that deadlocked (PostgreSQL)', () => {
  let sql: pg.Pool;
  beforeAll(() => {
    sql = new pg.Pool({ connectionString: t.database.url, max: 2 });
  });
  afterAll(async () => {
    await sql?.end();
  });

  /** Resolves once `n` of this database's backends wait for a row lock (the requests under test, queued behind the holder). */
  async function waitingForLocks(n: number) {
    for (let i = 0; i < 500; i++) {
      const { rows } = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      if (rows[0]!.n >= n) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${n} requests never queued for the session's row lock`);
  }

  /**
   * A second connection holds the session's row; the two requests queue behind it in the order given, then
   * it lets go. The delete first: it takes the user, then waits for the session; the refresh comes next.
   */
  async function race(sid: string, first: () => Promise<{ statusCode: number; body: string }>, second: () => Promise<{ statusCode: number; body: string }>) {
    const holder = await sql.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM sessions WHERE id = $1 FOR NO KEY UPDATE', [sid]);
      const a = first();
      await waitingForLocks(1);
      const b = second();
      await waitingForLocks(2);
      await holder.query('COMMIT');
      return await Promise.all([a, b]);
    } finally {
      holder.release();
    }
  }

  it('the delete queued first, the refresh behind it: the delete succeeds, the refresh is refused with 401, nothing deadlocks', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const logged = t.logs.length;
    const [deleted, refreshed] = await race(sidOf(tokens), () => deleteUser(user.id), () => refresh(t, tokens.refresh_token));
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(refreshed.statusCode, refreshed.body).toBe(401);
    expect(JSON.parse(refreshed.body).error).toBe('invalid_refresh_token');
    expectNoDeadlockLogged(logged);
    await expectGone(user.id, [tokens]);
  });

  it('the refresh queued first, the delete behind it: both succeed, and the new pair dies with the user', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const logged = t.logs.length;
    const [refreshed, deleted] = await race(sidOf(tokens), () => refresh(t, tokens.refresh_token), () => deleteUser(user.id));
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expectNoDeadlockLogged(logged);
    await expectGone(user.id, [tokens, JSON.parse(refreshed.body) as Tokens]);
  });
});

describe('many deletes racing refreshes', () => {
  it('40 users, each deleted while two of their sessions refresh: never a 5xx, and each ends gone', async () => {
    const users: { user: { id: string }; sessions: Tokens[] }[] = [];
    for (let i = 0; i < 40; i++) {
      const user = await signUp(t);
      users.push({ user, sessions: [await signIn(t, user.email), await signIn(t, user.email)] });
    }
    const logged = t.logs.length;
    const answers = await Promise.all(
      users.flatMap(({ user, sessions }) => [
        ...sessions.map((s) => refresh(t, s.refresh_token)),
        deleteUser(user.id),
        ...sessions.map((s) => refresh(t, s.refresh_token)),
      ]),
    );
    const failed = answers.filter((r) => r.statusCode >= 500).map((r) => `${r.statusCode} ${r.body}`);
    expect(failed).toEqual([]);
    expectNoDeadlockLogged(logged);
    for (const { user, sessions } of users) await expectGone(user.id, sessions);
  }, 60_000);
});
