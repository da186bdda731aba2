import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLine, json, latchkey } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// Destructive commands are consistent: `users delete`, like `db drop` and `services remove`, needs --yes.
const PASSWORD = 'correct horse battery staple';
let root: string;
let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-cli-confirm-'));
  database = await createTestDatabase();
  env = { DATA_DIR: join(root, 'data'), SECRET_KEY: database.secretKey, ...(database.url ? { DATABASE_URL: database.url } : {}) };
}, 60_000);
afterAll(async () => {
  await database.drop();
  await rm(root, { recursive: true, force: true });
});

describe('users delete', () => {
  it('refuses without --yes, saying so, and deletes nothing; deletes with it', async () => {
    json(await latchkey(env, ['db', 'create', '--json']));
    const email = 'ada@example.com';
    json(await latchkey(env, ['users', 'create', '--email', email, '--name', 'Ada', '--json'], `${PASSWORD}\n`));
    expectOneLine(await latchkey(env, ['users', 'delete', email]), 2, /add --yes/);
    expect(json(await latchkey(env, ['users', 'show', email, '--json'])).email).toBe(email);
    expect(json(await latchkey(env, ['users', 'delete', email, '--yes', '--json'])).user.email).toBe(email);
  }, 120_000);
});

describe('users and their addresses', () => {
  it('creates a user verified with --verified; marks one verified; queues a verification email, or says why not', async () => {
    json(await latchkey(env, ['db', 'create', '--json']));
    const vouched = json(await latchkey(env, ['users', 'create', '--email', 'grace@example.com', '--name', 'Grace', '--verified', '--json'], `${PASSWORD}\n`));
    expect(vouched).toMatchObject({ email_verified: true, email_verified_at: expect.any(String) });
    const plain = json(await latchkey(env, ['users', 'create', '--email', 'alan@example.com', '--name', 'Alan', '--json'], `${PASSWORD}\n`));
    expect(plain.email_verified).toBe(false);
    expect(json(await latchkey(env, ['users', 'send-verification', 'alan@example.com', '--json']))).toMatchObject({ sent: true });
    expect((await latchkey(env, ['users', 'verify-email', 'alan@example.com'])).stdout).toContain('Marked alan@example.com verified');
    expect(json(await latchkey(env, ['users', 'verify-email', 'alan@example.com', '--json'])).changed).toBe(false);
    expect((await latchkey(env, ['users', 'send-verification', 'alan@example.com'])).stdout).toContain('Nothing sent: alan@example.com is verified already');
    // A second factor's reset (the removal itself is tested through the admin API, test/http/mfa.test.ts): none here.
    expect((await latchkey(env, ['users', 'mfa-reset', 'alan@example.com'])).stdout).toContain('alan@example.com had no second factor');
    expect(json(await latchkey(env, ['users', 'mfa-reset', 'alan@example.com', '--json']))).toMatchObject({ removed: false, user: { email: 'alan@example.com' } });
  }, 120_000);
});
