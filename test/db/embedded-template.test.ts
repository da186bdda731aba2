import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase, rowsOf, type Database } from '../../src/db/client.js';
import { DamagedDataDirError, EMBEDDED_TEMPLATE } from '../../src/db/embedded-template.js';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// A new embedded database is a copy of embedded/template.tar.gz, never PostgreSQL's initdb (whose peak
// alone is over twice the memory Latchkey runs in). These tests open the engine directly, on folders of their own.

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-template-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const open = (dataDir: string) => openDatabase({ databaseUrl: undefined, dataDir, poolSize: 1 });

async function query<T>(database: Database, text: string): Promise<T> {
  return rowsOf<T>(await database.db.execute(sql.raw(text)))[0]!;
}

/** The cluster's identity, which initdb draws at random: two copies of one template share it. */
const systemIdentifier = (database: Database) => query<{ id: string }>(database, 'SELECT system_identifier::text AS id FROM pg_control_system()').then((r) => r.id);

async function withDatabase<T>(dataDir: string, use: (database: Database) => Promise<T>): Promise<T> {
  const database = await open(dataDir);
  try {
    return await use(database);
  } finally {
    await database.close();
  }
}

describeUnless(ON_POSTGRES)('a new embedded database', () => {
  it('is a copy of the template, on disk and in memory, and migrates', async () => {
    const ids = await Promise.all(
      ['a', 'b'].map((name) =>
        withDatabase(join(root, name), async (database) => {
          await database.migrate();
          expect(await query<{ n: number }>(database, 'SELECT count(*)::int AS n FROM users')).toEqual({ n: 0 });
          return systemIdentifier(database);
        }),
      ),
    );
    expect(ids[0]).toBe(ids[1]);
    expect(await withDatabase('memory://', systemIdentifier)).toBe(ids[0]);
    // Owner-only from the copy on.
    expect(statSync(join(root, 'a', 'PG_VERSION')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'a', 'base')).mode & 0o777).toBe(0o700);
  }, 60_000);

  it('is made for the PostgreSQL of the installed PGlite (npm run db:template makes it again after an upgrade)', async () => {
    const major = await withDatabase(join(root, 'version'), (database) =>
      query<{ v: string }>(database, "SELECT current_setting('server_version_num') AS v").then((r) => Math.floor(Number(r.v) / 10000)),
    );
    expect(readFileSync(join(root, 'version', 'PG_VERSION'), 'utf8').trim()).toBe(String(major));
    expect(statSync(EMBEDDED_TEMPLATE).size).toBeLessThan(8 * 2 ** 20);
  }, 60_000);

  it('is copied again when a start was cut short during the copy', async () => {
    const dataDir = join(root, 'cut-short');
    await withDatabase(dataDir, async () => {});
    // What a copy stopped before its end leaves: files, its marker, no PG_VERSION.
    writeFileSync(join(dataDir, '.template-copy'), '');
    rmSync(join(dataDir, 'PG_VERSION'));
    await withDatabase(dataDir, async (database) => {
      await database.migrate();
      expect(await query<{ n: number }>(database, 'SELECT count(*)::int AS n FROM users')).toEqual({ n: 0 });
    });
    expect(existsSync(join(dataDir, '.template-copy'))).toBe(false);
  }, 60_000);

  it('never overwrites a database that lost its PG_VERSION: it refuses to open it, and the data is still there', async () => {
    const dataDir = join(root, 'damaged');
    await withDatabase(dataDir, async (database) => {
      await database.migrate();
      await database.db.execute(sql.raw("INSERT INTO users (email, name, password_hash) VALUES ('kept@example.com', 'Kept', 'x')"));
    });
    renameSync(join(dataDir, 'PG_VERSION'), join(root, 'PG_VERSION.saved'));
    const refused = await open(dataDir).then(
      async (database) => {
        await database.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(DamagedDataDirError);
    expect((refused as Error).message).toContain('without its PG_VERSION file');
    renameSync(join(root, 'PG_VERSION.saved'), join(dataDir, 'PG_VERSION'));
    await withDatabase(dataDir, async (database) => {
      expect(await query<{ email: string }>(database, 'SELECT email FROM users')).toEqual({ email: 'kept@example.com' });
    });
  }, 60_000);
});
