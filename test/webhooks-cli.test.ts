import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLine, json, latchkey } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-webhooks-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const ADDED_LINE = /^\{"id": "(wh_[A-Za-z0-9_-]+)", "secret": "(whsec_[A-Za-z0-9+/]{43}=)"\}\n$/;

// Each launch of the command line costs seconds: one test per mode, four launches in it.
describe.each([
  ['with no server running', false],
  ['while a server process runs on the same database', true],
])('latchkey webhooks %s', (_title, withServer) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let server: ServerProcess | undefined;
  const run = (args: string[]) => latchkey(env, args);

  beforeAll(async () => {
    database = await createTestDatabase();
    env = { DATA_DIR: join(root, withServer ? 'with-server' : 'no-server'), SECRET_KEY: database.secretKey };
    if (database.url) env.DATABASE_URL = database.url;
    expect((await run(['db', 'create'])).code).toBe(0);
    if (withServer) {
      server = await startServerProcess(env);
      await server.ready();
    }
  }, 120_000);
  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
    await database.drop();
  });

  it('adds an endpoint printing exactly its id and secret, lists it without the secret, removes it, and refuses a bad URL', async () => {
    const added = await run(['webhooks', 'add', 'https://hooks.example.com/latchkey', '--events', 'user.created,session.revoked', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const match = ADDED_LINE.exec(added.stdout);
    expect(match, added.stdout).not.toBeNull();
    expect(Object.keys(JSON.parse(added.stdout))).toEqual(['id', 'secret']);
    const [, id, secret] = match!;

    const list = await run(['webhooks', 'list', '--json']);
    const endpoints = json(list);
    expect(endpoints).toEqual([
      { id, url: 'https://hooks.example.com/latchkey', events: ['session.revoked', 'user.created'], backchannel_logout_audience: null, created_at: expect.any(String), disabled_at: null },
    ]);
    expect(list.stdout).not.toContain(secret!.slice(6));
    expect(list.stdout).not.toMatch(/whsec_|secret/);

    const removed = await run(['webhooks', 'remove', id!, '--json']);
    expect(json(removed)).toMatchObject({ id, url: 'https://hooks.example.com/latchkey' });
    expect(removed.stdout).not.toMatch(/whsec_/);

    expectOneLine(await run(['webhooks', 'add', 'ftp://hooks.example.com/x', '--events', 'user.created']), 2, /url: must be an http:\/\/ or https:\/\/ URL/);
    if (server) expect(server.output()).not.toContain(secret!.slice(6));
  }, 120_000);
});
