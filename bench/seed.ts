import { sql } from 'drizzle-orm';
import type { Database } from '../src/db/client.js';

export const BENCH_PASSWORD = 'bench passphrase 7f3a';
export const benchEmail = (i: number) => `bench${i}@bench.test`;
export const benchRefreshToken = (i: number) => `bench-refresh-${i}`;
export const revokeRefreshToken = (j: number) => `bench-revoke-${j}`;
export const feedRefreshToken = (j: number) => `bench-feed-${j}`;
export const REVOKE_RESET_TOKEN = 'bench-reset-token-for-the-revocation-run';

const BATCH = 100_000;

/**
 * Users bench{from..to-1}, each with one live session whose refresh token is bench-refresh-i (stored, as
 * Latchkey stores it, only as its SHA-256). One argon2 hash serves them all, so a million take seconds.
 */
// Password times to the millisecond, as Latchkey writes them: builds before 2026-12-06 refused a sign-in when
// PostgreSQL's own microseconds were there.
export async function seedUsers(database: Database, passwordHash: string, from: number, to: number) {
  for (let start = from; start < to; start += BATCH) {
    const end = Math.min(start + BATCH, to) - 1;
    await database.db.execute(sql`
      INSERT INTO users (id, name, email, password_hash, created_at, updated_at, password_changed_at)
      SELECT md5('u' || i)::uuid, 'Bench User ' || i, 'bench' || i || '@bench.test', ${passwordHash}, now(), now(), date_trunc('milliseconds', now())
      FROM generate_series(${start}::int, ${end}::int) i`);
    await database.db.execute(sql`
      INSERT INTO sessions (id, user_id, created_at, expires_at)
      SELECT md5('s' || i)::uuid, md5('u' || i)::uuid, now(), now() + interval '30 days'
      FROM generate_series(${start}::int, ${end}::int) i`);
    await database.db.execute(sql`
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT encode(sha256(convert_to('bench-refresh-' || i, 'UTF8')), 'hex'), md5('s' || i)::uuid, now(), now() + interval '7 days'
      FROM generate_series(${start}::int, ${end}::int) i`);
  }
}

/** `count` extra sessions of one user, refresh tokens `${prefix}-j`: the material of logout and revocation runs. */
export async function seedSessionsOfOneUser(database: Database, passwordHash: string, name: string, prefix: string, count: number) {
  await database.db.execute(sql`
    INSERT INTO users (id, name, email, password_hash, created_at, updated_at, password_changed_at)
    VALUES (md5(${name})::uuid, ${name}, ${`${name}@bench.test`}, ${passwordHash}, now(), now(), now())`);
  for (let start = 0; start < count; start += BATCH) {
    const end = Math.min(start + BATCH, count) - 1;
    await database.db.execute(sql`
      INSERT INTO sessions (id, user_id, created_at, expires_at)
      SELECT md5(${prefix} || j)::uuid, md5(${name})::uuid, now(), now() + interval '30 days'
      FROM generate_series(${start}::int, ${end}::int) j`);
    await database.db.execute(sql`
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT encode(sha256(convert_to(${prefix} || '-' || j, 'UTF8')), 'hex'), md5(${prefix} || j)::uuid, now(), now() + interval '7 days'
      FROM generate_series(${start}::int, ${end}::int) j`);
  }
}

/** A known reset token for the revocation user: one reset then revokes every one of its sessions. */
export async function seedResetToken(database: Database, name: string, token: string) {
  await database.db.execute(sql`
    INSERT INTO one_time_tokens (type, token_hash, user_id, created_at, expires_at)
    VALUES ('password_reset', encode(sha256(convert_to(${token}, 'UTF8')), 'hex'), md5(${name})::uuid, now(), now() + interval '1 hour')`);
}
