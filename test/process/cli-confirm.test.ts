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
