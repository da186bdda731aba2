import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMPORT_BATCH_MAX, importUserBatch } from '../../src/auth/import/user-import.js';
import { rowsOf } from '../../src/db/client.js';
import { users } from '../../src/db/schema.js';
import { ImportInterruptedError } from '../../src/import/import-users.js';
import { ImportSourceError, openUserSource, readUserFile } from '../../src/import/sources.js';
import { GOOD_PASSWORD, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { allUsers, expectSignInUpgrades, importInto, legacyUsers, storedUser, type LegacyUser } from '../helpers/import.js';
import { hasWerkzeug, missingPythonLibraries } from '../helpers/python-hashes.js';
import { describeUnless } from '../helpers/skip.js';

const missing = missingPythonLibraries();
// A machine without them skips these tests (npm test on a fresh clone); CI must have them.
if (missing && process.env.CI) throw new Error(`These tests import hashes made by the real libraries, and ${missing}.`);

let t: TestApp;
let dir: string;
let legacy: LegacyUser[];
beforeAll(async () => {
  t = await startTestApp();
  dir = await mkdtemp(join(tmpdir(), 'latchkey-import-'));
  legacy = legacyUsers('csv', [
    { kind: 'werkzeug' },
    { kind: 'werkzeug', method: 'pbkdf2' },
    { kind: 'werkzeug', method: 'pbkdf2:sha512:100000' },
    { kind: 'bcrypt', rounds: 10 },
    { kind: 'bcrypt', rounds: 12, prefix: '2a' },
    ...(hasWerkzeug(2) ? [{ kind: 'werkzeug' as const, werkzeug: 2 as const }] : []),
  ]);
  // As the old app stored them: mixed case and stray spaces, which sign-up would have normalised.
  legacy[0]!.email = `  ${legacy[0]!.email.toUpperCase()} `;
  legacy[1]!.name = 'Lovelace, "Ada"';
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

const csvField = (value: string) => (/[",\n\r]/.test(value) || value.trim() !== value ? `"${value.replaceAll('"', '""')}"` : value);
const csv = (header: string[], rows: (string | number)[][]) => [header, ...rows].map((r) => r.map((v) => csvField(String(v))).join(',')).join('\r\n') + '\r\n';

async function file(name: string, content: string | Buffer) {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describeUnless(missing)('importing a CSV file', () => {
  it('keeps the old password hashes, which sign-in verifies and replaces with argon2id', async () => {
    const path = await file('users.csv', csv(['id', 'name', 'email', 'password_hash', 'created_at'], legacy.map((u) => [u.id, u.name, u.email, u.hash, '2024-03-01 12:34:56'])));
    const summary = await importInto(t, openUserSource(path));
    expect(summary).toMatchObject({ read: legacy.length, inserted: legacy.length, skipped: 0, rejected: 0, dryRun: false, rejections: [] });

    const first = (await storedUser(t, legacy[0]!.email.trim().toLowerCase()))!;
    expect(first).toMatchObject({ legacyId: '1', name: 'csv user 1', passwordHash: legacy[0]!.hash, disabledAt: null });
    expect(first.createdAt.toISOString()).toBe('2024-03-01T12:34:56.000Z');
    expect((await storedUser(t, legacy[1]!.email))!.name).toBe('Lovelace, "Ada"');

    for (const user of legacy) await expectSignInUpgrades(t, user);
  });

  it('changes nothing when run again: every row is already there', async () => {
    const path = join(dir, 'users.csv');
    const before = await allUsers(t);
    const summary = await importInto(t, openUserSource(path));
    expect(summary).toMatchObject({ read: legacy.length, inserted: 0, skipped: legacy.length, rejected: 0, conflicts: [] });
    expect(await allUsers(t)).toEqual(before);
  });

  it('writes nothing in a dry run, and tells what a real run would do', async () => {
    const [fresh] = legacyUsers('dry', [{ kind: 'bcrypt', rounds: 4 }]);
    const lines = [legacy[2]!, fresh!].map((u) => JSON.stringify({ id: u.id, name: u.name, email: u.email, password_hash: u.hash }));
    const path = await file('dry.jsonl', `${lines.join('\n')}\n`);
    const before = await allUsers(t);
    const summary = await importInto(t, openUserSource(path), { dryRun: true });
    expect(summary).toMatchObject({ read: 2, inserted: 1, skipped: 1, rejected: 0, dryRun: true });
    expect(await allUsers(t)).toEqual(before);
  });

  it('reports each bad row with its reason and line, and imports the good rows around them', async () => {
    const [a, b] = legacyUsers('bad', [{ kind: 'bcrypt', rounds: 4 }, { kind: 'werkzeug', method: 'pbkdf2:sha256:1000' }]);
    const row = (id: string, name: string, email: string, hash: string) => `${id},${name},${email},${hash},\n`;
    const parts: (string | Buffer)[] = [
      'id,name,email,password_hash,created_at\n', // 1
      row('1', 'Good A', a!.email, a!.hash), // 2
      row('2', 'x'.repeat(100_000), 'huge@legacy.example', a!.hash), // 3
      Buffer.concat([Buffer.from('3,Bad '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(',utf8@legacy.example,h,\n')]), // 4
      row('4', 'Same email', a!.email.toUpperCase(), a!.hash), // 5
      row('1', 'Same id', 'same.id@legacy.example', a!.hash), // 6
      row('6', "Robert'); DROP TABLE users;--", 'bobby@legacy.example', a!.hash), // 7
      row('7', 'Quote', "x' OR '1'='1", a!.hash), // 8
      row('8', 'Plain', 'plain@legacy.example', 'hunter2'), // 9
      row('9', 'Slow', 'slow@legacy.example', `pbkdf2:sha256:5000000$salt$${'ab'.repeat(32)}`), // 10
      row('10', 'Costly', 'costly@legacy.example', `$2b$15$${a!.hash.slice(7)}`), // 11
      row('11', '   ', 'noname@legacy.example', a!.hash), // 12
      '12,When,when@legacy.example,' + a!.hash + ',yesterday\n', // 13
      row('13', 'Nul\u0000name', 'nul@legacy.example', a!.hash), // 14
      '14,Short,short@legacy.example\n', // 15
      row('15', '"Line\nbreak"', 'multiline@legacy.example', a!.hash), // 16-17
      row('16', 'Good B', b!.email, b!.hash), // 18
      '17,"Never closed,open@legacy.example,x\n19,more,more@legacy.example,y\n', // 19-20
    ];
    const path = await file('bad.csv', Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
    const summary = await importInto(t, openUserSource(path), { batchSize: 2 });

    expect(summary.rejections.map((r) => [r.row, r.reason])).toEqual([
      [3, 'unreadable'],
      [4, 'unreadable'],
      [5, 'duplicate_email'],
      [6, 'duplicate_id'],
      [8, 'invalid_email'],
      [9, 'unsupported_hash'],
      [10, 'hash_over_limit'],
      [11, 'hash_over_limit'],
      [12, 'missing_name'],
      [13, 'invalid_created_at'],
      [14, 'invalid_name'],
      [15, 'unreadable'],
      [16, 'invalid_name'],
      [19, 'unreadable'],
    ]);
    const byRow = new Map(summary.rejections.map((r) => [r.row, r]));
    expect(byRow.get(3)!.detail).toMatch(/longer than 65536 bytes/);
    expect(byRow.get(4)!.detail).toBe('not valid UTF-8');
    expect(byRow.get(5)!.detail).toMatch(/row 2/);
    expect(byRow.get(15)!.detail).toMatch(/3 fields where the header has 5/);
    expect(byRow.get(19)!.detail).toMatch(/never ends/);
    // The reasons never repeat a hash.
    expect(JSON.stringify(summary.rejections)).not.toContain(a!.hash.slice(10));
    expect(summary).toMatchObject({ read: 17, inserted: 3, skipped: 0, rejected: 14 });

    expect((await storedUser(t, 'bobby@legacy.example'))!.name).toBe("Robert'); DROP TABLE users;--");
    await expectSignInUpgrades(t, a!);
    await expectSignInUpgrades(t, b!);
  });

  it('refuses a file without the columns it needs, naming the ones it has', async () => {
    const path = await file('columns.csv', 'id,name,mail,pw\n1,a,b,c\n');
    await expect(importInto(t, openUserSource(path))).rejects.toSatisfy(
      (err: ImportInterruptedError) => err.cause instanceof ImportSourceError && /email.*password_hash.*its columns: id, name, mail, pw/.test((err.cause as Error).message),
    );
  });
});

describeUnless(missing)('importing JSON lines', () => {
  it('reads the seeds\' column names, numbers as ids, inactive accounts, and reports lines it cannot read', async () => {
    const [a, b] = legacyUsers('jsonl', [{ kind: 'werkzeug', method: 'scrypt:16384:8:1' }, { kind: 'bcrypt', rounds: 4 }]);
    const lines: (string | Buffer)[] = [
      // After a byte-order mark.
      `\uFEFF${JSON.stringify({ id: 101, username: a!.name, email: a!.email, password: a!.hash, registration_timestamp: '2023-05-06T07:08:09+02:00' })}`, // 1
      '[1,2,3]', // 2
      '{"id": 3, "name": ', // 3
      JSON.stringify({ id: { $gt: '' }, name: 'Object id', email: 'object@legacy.example', password_hash: a!.hash }), // 4
      JSON.stringify({ id: 5, name: 'y'.repeat(200_000), email: 'long@legacy.example', password_hash: a!.hash }), // 5
      '   ', // 6
      Buffer.concat([Buffer.from('{"id": 7, "name": "'), Buffer.from([0xfe, 0xfe]), Buffer.from('"}')]), // 7
      JSON.stringify({ id: 8, name: 'Number hash', email: 'number@legacy.example', password_hash: 12345 }), // 8
      JSON.stringify({ id: 'b-9', name: b!.name, email: b!.email, password_hash: b!.hash, is_active: false }), // 9
    ];
    const path = await file('users.jsonl', Buffer.concat(lines.flatMap((l) => [typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')])));
    const summary = await importInto(t, readUserFile(path));
    expect(summary.rejections.map((r) => [r.row, r.reason])).toEqual([
      [2, 'unreadable'],
      [3, 'unreadable'],
      [4, 'invalid_id'],
      [5, 'unreadable'],
      [7, 'unreadable'],
      [8, 'invalid_hash'],
    ]);
    expect(summary).toMatchObject({ read: 8, inserted: 2, rejected: 6 });

    const first = (await storedUser(t, a!.email))!;
    expect(first).toMatchObject({ legacyId: '101', name: a!.name, disabledAt: null });
    expect(first.createdAt.toISOString()).toBe('2023-05-06T05:08:09.000Z');
    expect((await storedUser(t, b!.email))!).toMatchObject({ legacyId: 'b-9', disabledAt: t.clock.now() });
    await expectSignInUpgrades(t, a!);
  });
});

describeUnless(missing)('what is already there', () => {
  it('leaves an account that signed up here as it is, and reports the email as taken', async () => {
    const [old] = legacyUsers('taken', [{ kind: 'bcrypt', rounds: 4 }]);
    const here = await signUp(t, { email: old!.email });
    const path = await file('taken.csv', csv(['id', 'name', 'email', 'password_hash'], [[1, old!.name, old!.email, old!.hash]]));
    const summary = await importInto(t, openUserSource(path));
    expect(summary).toMatchObject({ inserted: 0, skipped: 1, conflicts: [{ row: 2, id: '1', email: old!.email, status: 'skipped', reason: 'email_taken' }] });
    const signin = (password: string) => t.inject({ method: 'POST', url: '/api/signin', payload: { email: here.email, password } });
    expect((await signin(GOOD_PASSWORD)).statusCode).toBe(200);
    expect((await signin(old!.password)).statusCode).toBe(401);
  });

  it('treats a hash beyond the limits that reached the database as wrong, without computing it', async () => {
    await t.deps.db.insert(users).values({ name: 'Hostile', email: 'hostile@legacy.example', passwordHash: `pbkdf2:sha256:2000000000$salt$${'ab'.repeat(32)}` });
    const started = performance.now();
    const res = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: 'hostile@legacy.example', password: 'whatever it is' } });
    expect(res.statusCode).toBe(401);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describeUnless(missing)('the batch and the driver', () => {
  it('refuses an oversized batch, and answers one outcome per row in order', async () => {
    const rows = Array.from({ length: IMPORT_BATCH_MAX + 1 }, (_, i) => ({ row: i + 1 }));
    await expect(importUserBatch(t.deps.db, rows, { now: t.clock.now() })).rejects.toMatchObject({ code: 'invalid_request' });
    const result = await importUserBatch(t.deps.db, [{ row: 7, id: 1 }, { row: 9, unreadable: 'odd' }], { now: t.clock.now(), dryRun: true });
    expect(result.outcomes.map((o) => [o.row, o.status, o.status === 'rejected' && o.reason])).toEqual([
      [7, 'rejected', 'missing_name'],
      [9, 'rejected', 'unreadable'],
    ]);
  });

  it('stops when a batch fails, tells what was done, and a rerun resumes', async () => {
    const made = legacyUsers('resume', [{ kind: 'bcrypt', rounds: 4 }]);
    const rows = Array.from({ length: 5 }, (_, i) => ({ row: i + 2, id: i, name: `Resume ${i}`, email: `resume${i}@legacy.example`, password_hash: made[0]!.hash }));
    async function* source() {
      yield* rows;
    }
    let calls = 0;
    const failing = importInto(t, source(), {
      batchSize: 2,
      apply: async (batch) => {
        if (++calls === 2) throw new Error('connection lost');
        return importUserBatch(t.deps.db, batch, { now: t.clock.now() });
      },
    });
    const err = await failing.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportInterruptedError);
    expect((err as ImportInterruptedError).summary.inserted).toBe(2);
    expect((err as Error).message).toMatch(/connection lost/);

    const again = await importInto(t, source(), { batchSize: 2 });
    expect(again).toMatchObject({ read: 5, inserted: 3, skipped: 2 });
    const [{ count }] = rowsOf<{ count: number }>(await t.deps.db.execute(sql`select count(*)::int as count from users where email like 'resume%'`)) as [{ count: number }];
    expect(count).toBe(5);
  });
});
