// npx tsx bench/import.ts [-- --users=100000 --batch=1000 --database-url=postgres://postgres@127.0.0.1:5432/postgres]
// Times `latchkey users import` without its command line: 100,000 generated users (werkzeug pbkdf2 and
// scrypt, bcrypt: real formats, a few distinct hashes shared by all) from a CSV file into the embedded
// engine (a data folder on disk) and into PostgreSQL (a fresh database it creates and drops, when a URL
// is given or DATABASE_URL is set), then from a PostgreSQL table. Each import is timed, then its rerun
// (everything already there). Then the same file through the command line (`bin/latchkey.js users import
// --json`, a process of its own): into an embedded data folder with no server, into one held by a running
// server (the command goes through its control socket), and into PostgreSQL.
// Writes bench/results/import.{json,md}. The goal: under a minute for 100,000.
import { pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import bcrypt from 'bcrypt';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { importUserBatch } from '../src/auth/import/user-import.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { importUsers, type ImportSummary } from '../src/import/import-users.js';
import { openUserSource } from '../src/import/sources.js';
import { build, ROOT, startServer } from './lib.js';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const USERS = Number(args.users ?? 100_000);
const BATCH = Number(args.batch ?? 1_000);
const PG_URL = args['database-url'] ?? process.env.DATABASE_URL;
const GOAL_MS = 60_000;

const salt = () => randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16);
function werkzeugPbkdf2(password: string) {
  const s = salt();
  return `pbkdf2:sha256:1000000$${s}$${pbkdf2Sync(password, s, 1_000_000, 32, 'sha256').toString('hex')}`;
}
function werkzeugScrypt(password: string) {
  const s = salt();
  return `scrypt:32768:8:1$${s}$${scryptSync(password, s, 64, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('hex')}`;
}
const HASHES = [werkzeugScrypt('bench a'), werkzeugPbkdf2('bench b'), bcrypt.hashSync('bench c', 10), bcrypt.hashSync('bench d', 12).replace(/^\$2b\$/, '$2a$')];

async function writeCsv(path: string) {
  const out = createWriteStream(path);
  out.write('id,name,email,password_hash,created_at\n');
  for (let i = 1; i <= USERS; i++) {
    const line = `${i},Imported User ${i},Imported.User${i}@Example.com,${HASHES[i % HASHES.length]},2023-0${1 + (i % 9)}-1${i % 10} 12:00:00\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

interface Run {
  target: string;
  source: string;
  run: 'first' | 'rerun';
  users: number;
  ms: number;
  usersPerSecond: number;
  summary: Omit<ImportSummary, 'rejections' | 'conflicts'>;
}

async function timeImport(database: Database, target: string, source: string, spec: string, options: { table?: string } = {}): Promise<Run[]> {
  const runs: Run[] = [];
  for (const run of ['first', 'rerun'] as const) {
    const started = performance.now();
    const { rejections, conflicts, ...summary } = await importUsers({
      source: openUserSource(spec, options),
      batchSize: BATCH,
      apply: (batch) => importUserBatch(database.db, batch, { now: new Date() }),
    });
    const ms = Math.round(performance.now() - started);
    if (rejections.length > 0 || conflicts.length > 0) throw new Error(`unexpected rejections: ${JSON.stringify(rejections.slice(0, 3))}`);
    const expected = run === 'first' ? { inserted: USERS, skipped: 0 } : { inserted: 0, skipped: USERS };
    if (summary.inserted !== expected.inserted || summary.skipped !== expected.skipped) throw new Error(`unexpected totals: ${JSON.stringify(summary)}`);
    runs.push({ target, source, run, users: USERS, ms, usersPerSecond: Math.round(USERS / (ms / 1000)), summary });
    console.log(`${target} from ${source}, ${run} run: ${USERS} users in ${ms} ms`);
  }
  return runs;
}

/** `latchkey users import <file> --json` in a process of its own, first run then rerun, with the environment a user would give it. */
async function timeCli(target: string, env: Record<string, string>, file: string): Promise<Run[]> {
  const runs: Run[] = [];
  for (const run of ['first', 'rerun'] as const) {
    const started = performance.now();
    const child = spawn(process.execPath, [join(ROOT, 'bin/latchkey.js'), 'users', 'import', file, '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    const ms = Math.round(performance.now() - started);
    if (code !== 0) throw new Error(`latchkey users import exited ${code}: ${err}`);
    const { rejections, conflicts, source: _source, ...summary } = JSON.parse(out) as ImportSummary & { source: string };
    const expected = run === 'first' ? { inserted: USERS, skipped: 0 } : { inserted: 0, skipped: USERS };
    if (rejections.length > 0 || conflicts.length > 0 || summary.inserted !== expected.inserted || summary.skipped !== expected.skipped) {
      throw new Error(`unexpected result: ${JSON.stringify(summary)}`);
    }
    runs.push({ target, source: 'CSV file, command line', run, users: USERS, ms, usersPerSecond: Math.round(USERS / (ms / 1000)), summary });
    console.log(`${target} from the command line, ${run} run: ${USERS} users in ${ms} ms`);
  }
  return runs;
}

async function withPostgres<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `latchkey_bench_import_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = Object.assign(new URL(PG_URL!), { pathname: `/${name}` }).toString();
  try {
    return await fn(url);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

// The server and the command line run from dist/, as installed.
build();
const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-import-'));
const runs: Run[] = [];
try {
  const csv = join(dir, 'users.csv');
  await writeCsv(csv);

  const embedded = await openDatabase({ databaseUrl: undefined, dataDir: join(dir, 'data'), poolSize: 1 });
  try {
    await embedded.migrate();
    runs.push(...(await timeImport(embedded, 'embedded', 'CSV file', csv)));
  } finally {
    await embedded.close();
  }

  runs.push(...(await timeCli('embedded, no server', { DATA_DIR: join(dir, 'cli-data') }, csv)));
  const serverData = join(dir, 'server-data');
  const server = await startServer({ DATA_DIR: serverData, NODE_ENV: 'production' });
  try {
    runs.push(...(await timeCli('embedded, server running', { DATA_DIR: serverData }, csv)));
  } finally {
    await server.stop();
  }

  if (PG_URL) {
    await withPostgres((url) => timeCli('PostgreSQL', { DATABASE_URL: url }, csv).then((r) => void runs.push(...r)));
    await withPostgres(async (url) => {
      const database = await openDatabase({ databaseUrl: url, dataDir: '', poolSize: 4 });
      try {
        await database.migrate();
        runs.push(...(await timeImport(database, 'PostgreSQL', 'CSV file', csv)));
        // The same users as an old app's table (the chapter's shape), read back through the PostgreSQL source.
        await database.db.execute(sql`CREATE SCHEMA legacy`);
        await database.db.execute(sql`
          CREATE TABLE legacy.users (id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(120) UNIQUE NOT NULL,
                                     password VARCHAR(255) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)`);
        await database.db.execute(sql`
          INSERT INTO legacy.users (name, email, password, created_at)
          SELECT 'Imported User ' || i, 'Imported.User' || i || '@Example.com', (ARRAY[${sql.join(HASHES.map((h) => sql`${h}`), sql`, `)}]::text[])[1 + i % ${HASHES.length}], '2023-01-01 12:00:00'
          FROM generate_series(1, ${USERS}::int) i`);
        await database.db.execute(sql`TRUNCATE users CASCADE`);
        runs.push(...(await timeImport(database, 'PostgreSQL', 'PostgreSQL table', url, { table: 'legacy.users' })));
      } finally {
        await database.close();
      }
    });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
const machine = `${cpus().length} × ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const rows = runs.map((r) => `| ${r.target} | ${r.source} | ${r.run} | ${r.users.toLocaleString('en')} | ${(r.ms / 1000).toFixed(1)} | ${r.usersPerSecond.toLocaleString('en')} | ${r.run === 'first' ? (r.ms < GOAL_MS ? 'yes' : '**no**') : ''} |`);
const md = [
  `Latchkey import benchmark, ${when} UTC`,
  '',
  `Machine: ${machine}. ${USERS.toLocaleString('en')} users, batches of ${BATCH}, no hashing at import (${HASHES.length} distinct hashes: werkzeug scrypt and pbkdf2, bcrypt $2b$ and $2a$). A rerun finds every user already there.`,
  '',
  '| into | from | run | users | seconds | users/s | under a minute |',
  '| --- | --- | --- | ---: | ---: | ---: | --- |',
  ...rows,
  '',
].join('\n');
await writeFile(join(ROOT, 'bench/results/import.md'), md);
await writeFile(join(ROOT, 'bench/results/import.json'), JSON.stringify({ when, machine, users: USERS, batch: BATCH, runs }, null, 2));
console.log(md);
