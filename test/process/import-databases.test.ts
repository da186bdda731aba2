import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openUserSource } from '../../src/import/sources.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { allUsers, expectSignInUpgrades, importInto, legacyUsers, storedUser, type LegacyUser } from '../helpers/import.js';
import { hasWerkzeug, makeHashes, missingPythonLibraries } from '../helpers/python-hashes.js';
import { anyOf, describeUnless, NO_MYSQL, NO_POSTGRES } from '../helpers/skip.js';

// The old apps' databases live on the machine's servers: PostgreSQL with TEST_DATABASE_URL (the Latchkey
// database is then there too), MariaDB or MySQL with TEST_MYSQL_URL (mysql://root@127.0.0.1:3306/).
const PG_URL = process.env.TEST_DATABASE_URL;
const MYSQL_URL = process.env.TEST_MYSQL_URL;

const missing = missingPythonLibraries();
if ((PG_URL || MYSQL_URL) && missing) throw new Error(`These tests import hashes made by the real libraries, and ${missing}.`);

let t: TestApp;
beforeAll(async () => {
  if (PG_URL || MYSQL_URL) t = await startTestApp();
});
afterAll(() => t?.close());

const freshName = () => `latchkey_legacy_${randomBytes(5).toString('hex')}`;
const urlOf = (server: string, database: string) => Object.assign(new URL(server), { pathname: `/${database}` }).toString();

describeUnless(anyOf(NO_POSTGRES, missing))('importing from PostgreSQL databases shaped like the seeds', () => {
  const name = freshName();
  let url: string;
  let chapter: LegacyUser[];
  let flaskBcrypt: LegacyUser[];

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    url = urlOf(PG_URL!, name);

    // The chapter's and seed 001's users (werkzeug: the chapter asks for pbkdf2:sha256, 001 takes the default).
    chapter = legacyUsers('chapter', [
      { kind: 'werkzeug', method: 'pbkdf2:sha256' },
      { kind: 'werkzeug' },
      ...(hasWerkzeug(2) ? [{ kind: 'werkzeug' as const, werkzeug: 2 as const }] : []),
    ]);
    // Seed 000's users: uuid ids, username, Flask-Bcrypt's hashes (12 rounds), is_active.
    flaskBcrypt = legacyUsers('flask-bcrypt', [{ kind: 'bcrypt', rounds: 12 }, { kind: 'bcrypt', rounds: 4 }]).map((u, i) => ({
      ...u,
      id: `6f1c2a4e-0b7d-4c1e-9a3f-00000000000${i}`,
    }));

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(`
      CREATE TABLE users (
        id SERIAL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(120) UNIQUE NOT NULL,
        password VARCHAR(255) NOT NULL,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
      )`);
    for (const u of chapter)
      await db.query('INSERT INTO users (name, email, password, created_at) VALUES ($1, $2, $3, $4)', [u.name, u.email.toUpperCase(), u.hash, '2022-01-02 03:04:05']);
    await db.query('INSERT INTO users (name, email, password) VALUES ($1, $2, $3)', ['No email', 'not an email', chapter[0]!.hash]);
    await db.query('INSERT INTO users (name, email, password) VALUES ($1, $2, $3)', ['Plain', 'plain@legacy.example', 'hunter2']);
    await db.query('INSERT INTO users (name, email, password) VALUES ($1, $2, $3)', ['Short digest', 'digest@legacy.example', `pbkdf2:sha256:1000$salt$${'a'.repeat(200)}`]);

    await db.query('CREATE SCHEMA flask_bcrypt');
    await db.query(`
      CREATE TABLE flask_bcrypt.users (
        id VARCHAR(36) PRIMARY KEY,
        username VARCHAR(50) UNIQUE NOT NULL,
        email VARCHAR(120) UNIQUE NOT NULL,
        password_hash VARCHAR(128) NOT NULL,
        is_active BOOLEAN NOT NULL DEFAULT TRUE,
        created_at TIMESTAMP,
        updated_at TIMESTAMP
      )`);
    for (const [i, u] of flaskBcrypt.entries())
      await db.query('INSERT INTO flask_bcrypt.users (id, username, email, password_hash, is_active, created_at) VALUES ($1, $2, $3, $4, $5, now())', [u.id, u.name, u.email, u.hash, i === 0]);
    await db.end();
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('a dry run reads the seed\'s table and writes nothing', async () => {
    const before = await allUsers(t);
    const summary = await importInto(t, openUserSource(url), { dryRun: true });
    expect(summary).toMatchObject({ read: chapter.length + 3, inserted: chapter.length, rejected: 3, dryRun: true });
    expect(await allUsers(t)).toEqual(before);
  });

  it('imports the chapter\'s users table, rejecting the bad rows with reasons; the users sign in with their old passwords', async () => {
    const summary = await importInto(t, openUserSource(url));
    expect(summary).toMatchObject({ read: chapter.length + 3, inserted: chapter.length, skipped: 0, rejected: 3 });
    expect(summary.rejections.map((r) => [r.row, r.id, r.reason])).toEqual([
      [chapter.length + 1, String(chapter.length + 1), 'invalid_email'],
      [chapter.length + 2, String(chapter.length + 2), 'unsupported_hash'],
      [chapter.length + 3, String(chapter.length + 3), 'invalid_hash'],
    ]);
    const first = (await storedUser(t, chapter[0]!.email))!;
    expect(first).toMatchObject({ legacyId: '1', name: 'chapter user 1', passwordHash: chapter[0]!.hash });
    expect(first.createdAt.toISOString()).toBe('2022-01-02T03:04:05.000Z');
    for (const user of chapter) await expectSignInUpgrades(t, user);
  });

  it('imports seed 000\'s Flask-Bcrypt users from a table named with --table, keeping inactive ones disabled', async () => {
    const summary = await importInto(t, openUserSource(url, { table: 'flask_bcrypt.users' }));
    expect(summary).toMatchObject({ read: 2, inserted: 2, rejected: 0 });
    expect(await storedUser(t, flaskBcrypt[0]!.email)).toMatchObject({ legacyId: flaskBcrypt[0]!.id, name: flaskBcrypt[0]!.name, disabledAt: null });
    expect((await storedUser(t, flaskBcrypt[1]!.email))!.disabledAt).toEqual(t.clock.now());
    await expectSignInUpgrades(t, flaskBcrypt[0]!);
  });

  it('changes nothing when run again', async () => {
    const before = await allUsers(t);
    expect(await importInto(t, openUserSource(url))).toMatchObject({ inserted: 0, skipped: chapter.length, rejected: 3, conflicts: [] });
    expect(await importInto(t, openUserSource(url, { table: 'flask_bcrypt.users' }))).toMatchObject({ inserted: 0, skipped: 2 });
    expect(await allUsers(t)).toEqual(before);
  });

  it('refuses a table name that is not one', async () => {
    await expect(importInto(t, openUserSource(url, { table: 'users; DROP TABLE users' }))).rejects.toThrow(/not a table name/);
    await expect(importInto(t, openUserSource(url, { table: 'missing' }))).rejects.toThrow(/no table missing/);
  });
});

describeUnless(anyOf(NO_MYSQL, missing))('importing from a MariaDB database shaped like seed 004', () => {
  const name = freshName();
  let url: string;
  let people: LegacyUser[];

  beforeAll(async () => {
    // python-jwt-auth hashes with bcrypt.gensalt(10) and keeps users in Flask-SQLAlchemy's table `user`.
    people = legacyUsers('mariadb', [{ kind: 'bcrypt', rounds: 10 }, { kind: 'bcrypt', rounds: 10, prefix: '2a' }, { kind: 'bcrypt', rounds: 4 }]);
    const [tooCostly] = makeHashes([{ kind: 'bcrypt', rounds: 14, password: 'a costly password' }]);
    const server = await mysql.createConnection({ uri: MYSQL_URL });
    await server.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    await server.query(`USE ${name}`);
    await server.query(`
      CREATE TABLE user (
        id INTEGER NOT NULL AUTO_INCREMENT,
        email VARCHAR(100) NOT NULL,
        password VARCHAR(100) NOT NULL,
        name VARCHAR(100) NOT NULL,
        registration_timestamp DATETIME NOT NULL,
        admin BOOL NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (email)
      )`);
    for (const u of people)
      await server.execute('INSERT INTO user (email, password, name, registration_timestamp, admin) VALUES (?, ?, ?, ?, ?)', [u.email, u.hash, u.name, '2023-04-27 08:18:25', 0]);
    const bad: [string, string, string][] = [
      ['costly@legacy.example', tooCostly!.hash, 'Costly'],
      ["x' OR '1'='1", people[0]!.hash, 'Quote'],
      ['robert@legacy.example', people[2]!.hash, "Robert'); DROP TABLE users;--"],
    ];
    for (const [email, hash, who] of bad)
      await server.execute('INSERT INTO user (email, password, name, registration_timestamp, admin) VALUES (?, ?, ?, NOW(), 1)', [email, hash, who]);
    await server.end();
    url = urlOf(MYSQL_URL!, name);
  });
  afterAll(async () => {
    const server = await mysql.createConnection({ uri: MYSQL_URL });
    await server.query(`DROP DATABASE IF EXISTS ${name}`);
    await server.end();
  });

  it('a dry run writes nothing', async () => {
    const before = await allUsers(t);
    expect(await importInto(t, openUserSource(url), { dryRun: true })).toMatchObject({ read: 6, inserted: 4, rejected: 2, dryRun: true });
    expect(await allUsers(t)).toEqual(before);
  });

  it('finds the table `user`, imports its users with their bcrypt hashes, and they sign in with their old passwords', async () => {
    const summary = await importInto(t, openUserSource(url));
    expect(summary).toMatchObject({ read: 6, inserted: 4, skipped: 0, rejected: 2 });
    expect(summary.rejections.map((r) => [r.row, r.id, r.reason])).toEqual([
      [4, '4', 'hash_over_limit'],
      [5, '5', 'invalid_email'],
    ]);
    const first = (await storedUser(t, people[0]!.email))!;
    expect(first).toMatchObject({ legacyId: '1', name: 'mariadb user 1', role: 'user' });
    expect(first.createdAt.toISOString()).toBe('2023-04-27T08:18:25.000Z');
    // Taken literally; and an old admin flag gives no role here.
    expect(await storedUser(t, 'robert@legacy.example')).toMatchObject({ name: "Robert'); DROP TABLE users;--", role: 'user' });
    for (const user of people) await expectSignInUpgrades(t, user);
  });

  it('changes nothing when run again', async () => {
    const before = await allUsers(t);
    expect(await importInto(t, openUserSource(url))).toMatchObject({ read: 6, inserted: 0, skipped: 4, rejected: 2 });
    expect(await allUsers(t)).toEqual(before);
  });
});
