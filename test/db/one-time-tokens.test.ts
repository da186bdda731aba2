import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpiredRows } from '../../src/auth/maintenance/purge.js';
import { loadConfig } from '../../src/config.js';
import {
  consumeOneTimeToken,
  findUsableToken,
  consumeOneTimeCode,
  formatCode,
  issueOneTimeCode,
  issueOneTimeToken,
  oneTimeCodeKey,
  revokeUserTokens,
} from '../../src/core/one-time-tokens.js';
import { CODE_ALPHABET, hashToken } from '../../src/core/secrets.js';
import { MIGRATIONS_FOLDER, openDatabase, rowsOf, type Database, type Db } from '../../src/db/client.js';
import { oneTimeTokens, users } from '../../src/db/schema.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const RESET = 'password_reset' as const;
// Types the next issues add; cast here to a type whose rows carry no payload, as the module knows none of them yet.
const VERIFY = 'email_verification' as typeof RESET;
const EMAIL_CHANGE = 'email_change' as typeof RESET;
const HOUR = 3600;

let testDb: TestDatabase;
let database: Database;
let db: Db;
const clock = createTestClock();

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = await openDatabase({ databaseUrl: testDb.url, dataDir: 'memory://', poolSize: 10, embeddedImage: testDb.image });
  await database.migrate();
  db = database.db;
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

async function newUser(): Promise<string> {
  const [user] = await db
    .insert(users)
    .values({ name: 'Token Owner', email: `owner-${randomUUID()}@example.com`, passwordHash: 'not a real hash' })
    .returning({ id: users.id });
  return user!.id;
}

const issue = (userId: string, type = RESET, ttlSeconds = HOUR, supersede = false) =>
  issueOneTimeToken(db, { type, userId, now: clock.now(), ttlSeconds, supersede }).then((t) => t.token);
const usable = async (token: string, type = RESET) => (await findUsableToken(db, type, token, clock.now())) !== undefined;
const consume = (token: string, type = RESET, now = clock.now()) => db.transaction((tx) => consumeOneTimeToken(tx, type, token, now));

describe('one-time tokens', () => {
  it('are usable until consumed, and consume once, for their user', async () => {
    const userId = await newUser();
    const token = await issue(userId);
    expect(await usable(token)).toBe(true);
    // Looking does not consume.
    expect(await usable(token)).toBe(true);
    const consumed = await consume(token);
    expect(consumed).toMatchObject({ userId, payload: null });
    expect(consumed!.expiresAt.getTime()).toBe(clock.now().getTime() + HOUR * 1000);
    expect(await usable(token)).toBe(false);
    expect(await consume(token)).toBeUndefined();
    expect(await consume('not a token at all')).toBeUndefined();
  });

  it('consume exactly once when many use one token at the same moment', async () => {
    const userId = await newUser();
    const token = await issue(userId);
    const results = await Promise.all(Array.from({ length: 25 }, () => consume(token)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(results.filter((r) => r === undefined)).toHaveLength(24);
  });

  it('stay usable when the transaction that consumed one fails', async () => {
    const userId = await newUser();
    const token = await issue(userId);
    await expect(
      db.transaction(async (tx) => {
        expect(await consumeOneTimeToken(tx, RESET, token, clock.now())).toBeDefined();
        throw new Error('the change the token was for failed');
      }),
    ).rejects.toThrow('the change the token was for failed');
    expect(await consume(token)).toBeDefined();
  });

  it('expire at the end of their lifetime', async () => {
    const userId = await newUser();
    const token = await issue(userId, RESET, 60);
    const expiry = clock.now().getTime() + 60_000;
    expect(await findUsableToken(db, RESET, token, new Date(expiry - 1))).toBeDefined();
    expect(await findUsableToken(db, RESET, token, new Date(expiry))).toBeUndefined();
    expect(await consume(token, RESET, new Date(expiry))).toBeUndefined();
    // Refused, not spent: the row is untouched until the purge.
    const [row] = await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.tokenHash, hashToken(token)));
    expect(row!.usedAt).toBeNull();
  });

  it('never consume as another type, and stay usable as their own', async () => {
    const userId = await newUser();
    const reset = await issue(userId, RESET);
    const verify = await issue(userId, VERIFY);
    expect(await usable(reset, VERIFY)).toBe(false);
    expect(await consume(reset, VERIFY)).toBeUndefined();
    expect(await consume(reset, EMAIL_CHANGE)).toBeUndefined();
    expect(await consume(verify, RESET)).toBeUndefined();
    expect(await consume(reset, RESET)).toMatchObject({ userId });
    expect(await consume(verify, VERIFY)).toMatchObject({ userId });
  });

  it('carry their payload', async () => {
    const userId = await newUser();
    const payload = { email: 'new-address@example.com' } as never;
    const { token } = await issueOneTimeToken(db, { type: EMAIL_CHANGE, userId, now: clock.now(), ttlSeconds: HOUR, payload });
    expect((await findUsableToken(db, EMAIL_CHANGE, token, clock.now()))?.payload).toEqual({ email: 'new-address@example.com' });
    expect((await consume(token, EMAIL_CHANGE))?.payload).toEqual({ email: 'new-address@example.com' });
  });

  it('supersede the user\'s earlier unused tokens of their type when asked, and only those', async () => {
    const [userId, other] = [await newUser(), await newUser()];
    const first = await issue(userId);
    const second = await issue(userId);
    // Without superseding, several live side by side (two pages waiting for a code, say).
    expect([await usable(first), await usable(second)]).toEqual([true, true]);
    const verify = await issue(userId, VERIFY);
    const othersToken = await issue(other);
    const latest = await issue(userId, RESET, HOUR, true);
    expect([await usable(first), await usable(second), await usable(latest)]).toEqual([false, false, true]);
    expect(await usable(verify, VERIFY)).toBe(true);
    expect(await usable(othersToken)).toBe(true);
    // Superseded tokens are gone, not merely spent: only the latest is left of this type.
    const rows = await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
    expect(rows.filter((r) => r.type === RESET).map((r) => r.tokenHash)).toEqual([hashToken(latest)]);
  });

  it('superseding issuers take turns: one unused token survives them', async () => {
    const userId = await newUser();
    const tokens = await Promise.all(
      Array.from({ length: 8 }, () => db.transaction((tx) => issueOneTimeToken(tx, { type: RESET, userId, now: clock.now(), ttlSeconds: HOUR, supersede: true }))),
    );
    const live = [];
    for (const { token } of tokens) if (await usable(token)) live.push(token);
    expect(live).toHaveLength(1);
  });

  it('issuing and consuming for one user at once never deadlock', async () => {
    const userId = await newUser();
    for (let i = 0; i < 10; i++) {
      const token = await issue(userId);
      await Promise.all([
        // A consumer that then changes the user, as a reset does.
        db.transaction(async (tx) => {
          await consumeOneTimeToken(tx, RESET, token, clock.now());
          await tx.update(users).set({ updatedAt: clock.now() }).where(eq(users.id, userId));
        }),
        db.transaction((tx) => issueOneTimeToken(tx, { type: RESET, userId, now: clock.now(), ttlSeconds: HOUR, supersede: true })),
      ]);
    }
  });

  it('are revoked by user, of one type or of all, and only that user\'s', async () => {
    const [userId, other] = [await newUser(), await newUser()];
    const [reset1, reset2, verify] = [await issue(userId), await issue(userId), await issue(userId, VERIFY)];
    const othersToken = await issue(other);
    expect(await revokeUserTokens(db, userId, clock.now(), RESET)).toBe(2);
    expect([await usable(reset1), await usable(reset2), await usable(verify, VERIFY)]).toEqual([false, false, true]);
    expect(await revokeUserTokens(db, userId, clock.now())).toBe(1);
    expect(await usable(verify, VERIFY)).toBe(false);
    expect(await usable(othersToken)).toBe(true);
    expect(await consume(reset1)).toBeUndefined();
  });

  it('go with their user', async () => {
    const userId = await newUser();
    const token = await issue(userId);
    await db.delete(users).where(eq(users.id, userId));
    expect(await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.tokenHash, hashToken(token)))).toEqual([]);
  });

  it('are purged once used or expired, whatever their type; live ones stay', async () => {
    const userId = await newUser();
    const used = await issue(userId, RESET);
    const revoked = await issue(userId, VERIFY);
    const expired = await issue(userId, EMAIL_CHANGE, 60);
    await consume(used);
    await revokeUserTokens(db, userId, clock.now(), VERIFY);
    const live = [await issue(userId, RESET, 2 * HOUR), await issue(userId, VERIFY, 2 * HOUR), await issue(userId, EMAIL_CHANGE, 2 * HOUR)];
    // The purge keeps every row a minute past its rule (instances' clocks may disagree).
    clock.advance(60 + 61);
    const counts = await purgeExpiredRows(db, clock, loadConfig({}));
    expect(counts.oneTimeTokens).toBeGreaterThanOrEqual(3);
    const left = (await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId))).map((r) => r.tokenHash).sort();
    expect(left).toEqual(live.map(hashToken).sort());
    expect(left).not.toContain(hashToken(used));
    expect(left).not.toContain(hashToken(revoked));
    expect(left).not.toContain(hashToken(expired));
  });

  it('leave nothing usable in a copy of the database: no raw token in any row of any table', async () => {
    const userId = await newUser();
    const spent = await issue(userId);
    await consume(spent);
    const superseded = await issue(userId);
    const tokens = [spent, superseded, await issue(userId, VERIFY), await issue(userId, RESET, HOUR, true)];
    const dump = await dumpDatabase(db);
    // The dump does hold the tokens' rows: their hashes are there, and nothing else of them.
    for (const token of [spent, ...tokens.slice(2)]) expect(dump).toContain(hashToken(token));
    for (const token of tokens) {
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(Buffer.from(token, 'base64url').toString('hex'));
    }
  });
});

describe('one-time codes', () => {
  const CODE = 'signin_code' as const;
  const key = oneTimeCodeKey('a secret key of at least thirty-two bytes');
  const network = '192.0.2.7/32';
  const issueCode = (userId: string, opts: { ttlSeconds?: number; boundTo?: string } = {}) =>
    issueOneTimeCode(db, key, {
      type: CODE,
      userId,
      now: clock.now(),
      ttlSeconds: opts.ttlSeconds ?? 600,
      supersede: true,
      boundTo: opts.boundTo ?? network,
      payload: { network: opts.boundTo ?? network },
    }).then((t) => t.token);
  const useCode = (userId: string, code: string, opts: { boundTo?: string; now?: Date; key?: Buffer } = {}) =>
    consumeOneTimeCode(db, opts.key ?? key, { type: CODE, userId, boundTo: opts.boundTo ?? network, code, now: opts.now ?? clock.now(), maxFailures: 5 });

  it('are 8 characters a person can type, consumed once, in any letter case, with or without the hyphen', async () => {
    const userId = await newUser();
    const code = await issueCode(userId);
    expect(code).toMatch(new RegExp(`^[${CODE_ALPHABET}]{8}$`));
    expect(await useCode(userId, formatCode(code).toLowerCase())).toMatchObject({ userId, payload: { network } });
    expect(await useCode(userId, code)).toBeUndefined();
  });

  it('work only for their user, their type and the network they are bound to', async () => {
    const [userId, other] = [await newUser(), await newUser()];
    const code = await issueCode(userId);
    expect(await useCode(other, code)).toBeUndefined();
    expect(await useCode(userId, code, { boundTo: '198.51.100.9/32' })).toBeUndefined();
    expect(await consumeOneTimeToken(db, CODE, code, clock.now())).toBeUndefined();
    expect(await useCode(userId, code)).toMatchObject({ userId });
  });

  it('expire at the end of their lifetime', async () => {
    const userId = await newUser();
    const code = await issueCode(userId, { ttlSeconds: 60 });
    expect(await useCode(userId, code, { now: new Date(clock.now().getTime() + 60_000) })).toBeUndefined();
    expect(await useCode(userId, code, { now: new Date(clock.now().getTime() + 59_999) })).toBeDefined();
  });

  it('are spent by 5 wrong tries, counted whoever makes them, while 4 leave the code working', async () => {
    const [userId, other] = [await newUser(), await newUser()];
    const code = await issueCode(userId);
    const othersCode = await issueCode(other);
    const wrong = code === '22222222' ? '33333333' : '22222222';
    for (let i = 0; i < 3; i++) expect(await useCode(userId, wrong)).toBeUndefined();
    // Another user's code, the right code from another network: wrong tries too. The fifth spends the code.
    expect(await useCode(userId, othersCode)).toBeUndefined();
    expect(await useCode(userId, code, { boundTo: '198.51.100.9/32' })).toBeUndefined();
    expect(await useCode(userId, code)).toBeUndefined();
    const [row] = await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
    expect(row).toMatchObject({ failedAttempts: 5 });
    expect(row!.usedAt).not.toBeNull();
    // Nothing of it touched the other user's code.
    expect(await useCode(other, othersCode)).toBeDefined();

    const next = await issueCode(userId);
    for (let i = 0; i < 4; i++) await useCode(userId, wrong);
    expect(await useCode(userId, next)).toMatchObject({ userId });
  });

  it('consume exactly once when many use one code at the same moment', async () => {
    const userId = await newUser();
    const code = await issueCode(userId);
    const results = await Promise.all(Array.from({ length: 20 }, () => useCode(userId, code)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('leave nothing usable in a copy of the database: only an HMAC under a key the database does not hold', async () => {
    const userId = await newUser();
    const code = await issueCode(userId);
    const dump = await dumpDatabase(db);
    const [row] = await db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
    expect(dump).toContain(row!.tokenHash);
    for (const form of [code, formatCode(code), hashToken(code), hashToken(formatCode(code))]) expect(dump).not.toContain(form);
    // With the row, but under another key (a copy of the database without SECRET_KEY), no code is found.
    expect(await useCode(userId, code, { key: oneTimeCodeKey('another secret key, not the server one') })).toBeUndefined();
  });
});

describe('the migration that brings them', () => {
  it('moves the reset links of a running server into one_time_tokens as they were, and drops reset_tokens', async () => {
    const oldDb = await createTestDatabase();
    const old = await openDatabase({ databaseUrl: oldDb.url, dataDir: 'memory://', poolSize: 2 });
    const folder = await mkdtemp(join(tmpdir(), 'latchkey-migrations-'));
    try {
      await migrateUpTo(old, folder, '_one_time_tokens');
      // In SQL, as that version's users table has it: today's schema names columns added since (a user's locale).
      const [user] = rowsOf<{ id: string }>(await old.db.execute(sql`INSERT INTO users (name, email, password_hash) VALUES ('Before', 'before@example.com', 'x') RETURNING id`));
      const [live, spent] = ['a link emailed before the upgrade', 'a link used before the upgrade'];
      const now = clock.now();
      await old.db.execute(sql`
        INSERT INTO reset_tokens (token_hash, user_id, created_at, expires_at, used_at) VALUES
          (${hashToken(live)}, ${user!.id}, ${now}, ${new Date(now.getTime() + HOUR * 1000)}, NULL),
          (${hashToken(spent)}, ${user!.id}, ${now}, ${new Date(now.getTime() + HOUR * 1000)}, ${now})`);
      await old.migrate();
      expect(await findUsableToken(old.db, RESET, live, now)).toMatchObject({ userId: user!.id, payload: null });
      expect(await findUsableToken(old.db, RESET, spent, now)).toBeUndefined();
      const rows = await old.db.select().from(oneTimeTokens);
      expect(rows.map((r) => [r.tokenHash, r.type, r.usedAt?.getTime() ?? null]).sort()).toEqual(
        [[hashToken(live), RESET, null], [hashToken(spent), RESET, now.getTime()]].sort(),
      );
      const [gone] = rowsOf<{ name: string | null }>(await old.db.execute(sql`SELECT to_regclass('reset_tokens')::text AS name`));
      expect(gone!.name).toBeNull();
    } finally {
      await old.close();
      await oldDb.drop();
      await rm(folder, { recursive: true, force: true });
    }
  });
});

/** Applies the shipped migrations that come before the one whose tag ends with `stopBefore`. */
async function migrateUpTo(target: Database, folder: string, stopBefore: string): Promise<void> {
  await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalFile = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalFile, 'utf8')) as { entries: { tag: string }[] };
  const stop = journal.entries.findIndex((e) => e.tag.endsWith(stopBefore));
  expect(stop).toBeGreaterThan(0);
  await writeFile(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, stop) }));
  const { migrate } = target.engine === 'postgres' ? await import('drizzle-orm/node-postgres/migrator') : await import('drizzle-orm/pglite/migrator');
  await migrate(target.db as never, { migrationsFolder: folder });
}

/** Every row of every table of the public schema, as JSON text. */
async function dumpDatabase(db: Db): Promise<string> {
  const tables = rowsOf<{ name: string }>(
    await db.execute(sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`),
  );
  expect(tables.map((t) => t.name)).toContain('one_time_tokens');
  const parts: string[] = [];
  for (const { name } of tables) {
    const rows = rowsOf<{ row: unknown }>(await db.execute(sql`SELECT row_to_json(t)::text AS row FROM ${sql.identifier(name)} t`));
    parts.push(...rows.map((r) => String(r.row)));
  }
  return parts.join('\n');
}
