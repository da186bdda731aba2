import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp } from '../helpers/app.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let dataDir: string;
beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-restart-'));
});
afterAll(async () => {
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a restart', () => {
  it('keeps users, sessions, revocations and signing keys, and upgrades old password hashes', async () => {
    const clock = createTestClock();
    // The first run hashes with weaker argon2 parameters than the second, as after a configuration change.
    const first = await startTestApp({ database, dataDir, clock, env: { ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' } });
    const user = await signUp(first);
    const kept = await signIn(first, user.email);
    const ended = await signIn(first, user.email);
    expect((await first.inject({ method: 'POST', url: '/api/logout', headers: bearer(ended.access_token) })).statusCode).toBe(200);
    const kid = first.deps.keys.current.kid;
    const jwks = (await first.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    await first.close();

    const second = await startTestApp({ database, dataDir, clock, env: { ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '2' } });
    try {
      expect(second.deps.keys.current.kid).toBe(kid);
      expect((await second.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()).toEqual(jwks);
      expect((await dashboard(second, kept.access_token)).statusCode).toBe(200);
      expect((await dashboard(second, ended.access_token)).json().error).toBe('session_revoked');
      expect((await refresh(second, kept.refresh_token)).statusCode).toBe(200);
      expect((await refresh(second, ended.refresh_token)).statusCode).toBe(401);

      const [before] = await second.deps.db.select().from(users).where(eq(users.id, user.id));
      expect(before?.passwordHash).toMatch(/m=8192,p=1,t=1/);
      await signIn(second, user.email);
      const [after] = await second.deps.db.select().from(users).where(eq(users.id, user.id));
      expect(after?.passwordHash).toMatch(/m=19456,p=1,t=2/);
      await signIn(second, user.email);
    } finally {
      await second.close();
    }
  });
});
