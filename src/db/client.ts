import { mkdir } from 'node:fs/promises';
import { tightenDataDir } from './data-dir-modes.js';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { rootPath } from '../paths.js';
import { lockDataDir } from './data-dir-lock.js';
import { extractTemplate, isNewDataDir, PGLITE_SETTINGS, templateImage } from './embedded-template.js';
import * as schema from './schema.js';

/** One query interface over both engines: PostgreSQL through a pool, or PGlite in process. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** The rows of a raw `db.execute(sql...)`: both drivers answer with `{ rows }`. */
export const rowsOf = <T>(result: unknown): T[] => (result as { rows: T[] }).rows;

/**
 * The SQLSTATE of a database error anywhere in its cause chain (Drizzle wraps the driver's error): five
 * digits or capitals, from node-postgres or PGlite (both give `severity`), or one that starts with a digit.
 */
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; severity?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && (e.severity !== undefined || /^\d/.test(e.code))) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** PostgreSQL's foreign_key_violation: the row a reference names is gone (deleted by a concurrent transaction). */
export const FOREIGN_KEY_VIOLATION = '23503';
/** PostgreSQL's unique_violation: another row already holds the value (two accounts for one address). */
export const UNIQUE_VIOLATION = '23505';

export interface PoolStats {
  /** Connections open, idle among them, queries waiting for one, and the most the pool opens. */
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

export interface Database {
  readonly db: Db;
  readonly engine: 'postgres' | 'pglite';
  /** PostgreSQL's pool now; absent on the embedded engine (one connection, inside the process). */
  readonly poolStats?: () => PoolStats;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = rootPath('drizzle');
// Any constant works; it only has to be the same for every Latchkey instance.
const MIGRATION_LOCK_ID = 7_306_012;

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  /** Folder of the embedded database; `memory://` keeps it in memory. */
  dataDir: string;
  poolSize: number;
  /**
   * An in-memory embedded database starts as a copy of this image (a data folder dumped by PGlite's
   * `dumpDataDir`) instead of the template: tests open a hundred databases, and a copy of a migrated one
   * skips the migrations. Ignored for a folder on disk.
   */
  embeddedImage?: Blob;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.poolSize) : openPglite(opts.dataDir, opts.embeddedImage);
}

/** What differs between the engines; the rest of a Database is the same on both. */
type EngineParts = Omit<Database, 'ping'>;

function withPing(parts: EngineParts): Database {
  return {
    ...parts,
    async ping() {
      await parts.db.execute(sql`select 1`);
    },
  };
}

// Each engine's driver is imported only when it is used: a server on PostgreSQL never loads PGlite's WASM.
async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const [{ default: pg }, { drizzle: drizzlePg }, { migrate: migratePg }] = await Promise.all([
    import('pg'),
    import('drizzle-orm/node-postgres'),
    import('drizzle-orm/node-postgres/migrator'),
  ]);
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Fail fast when PostgreSQL is away instead of queueing requests forever.
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return withPing({
    db,
    engine: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize }),
    async migrate() {
      // Several instances may start at once: a session-level advisory lock runs migrations one at a time.
      const lock = await pool.connect();
      try {
        await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        await migratePg(drizzlePg(pool, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => {});
        lock.release();
      }
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  });
}

const pgliteModules = () => Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite'), import('drizzle-orm/pglite/migrator')]);

async function openPglite(dataDir: string, image: Blob | undefined): Promise<Database> {
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await pgliteModules();
  const inMemory = dataDir.startsWith('memory://');
  // Owner-only from the start; what PGlite writes (mode 666) is tightened once it is open, after
  // migrations and at close. Files it makes in between sit in folders no one else can enter.
  if (!inMemory) await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tighten = async () => {
    if (!inMemory) await tightenDataDir(dataDir);
  };
  // One walk once PGlite is open covers what was there before too (openDeps has already tightened and
  // logged a loose folder): a walk before the open as well would only repeat it.
  const lock = inMemory ? undefined : await lockDataDir(dataDir);
  let client: InstanceType<typeof PGlite>;
  try {
    // A new database, in memory or in a new folder, is a copy of the template, never PGlite's initdb.
    if (!inMemory && isNewDataDir(dataDir)) await extractTemplate(dataDir);
    const loadDataDir = inMemory ? (image ?? (await templateImage())) : undefined;
    client = await PGlite.create(dataDir, { ...(loadDataDir ? { loadDataDir } : {}), startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] });
    await tighten();
  } catch (err) {
    lock?.release();
    throw err;
  }
  const drizzleDb = drizzlePglite(client, { schema });
  const db = drizzleDb as unknown as Db;
  return withPing({
    db,
    engine: 'pglite',
    async migrate() {
      await migratePglite(drizzleDb, { migrationsFolder: MIGRATIONS_FOLDER });
      await tighten();
    },
    async close() {
      if (!client.closed) await client.close();
      await tighten().catch(() => {});
      lock?.release();
    },
  });
}

/**
 * A new in-memory embedded database, migrated, dumped as an image for `embeddedImage`: made once, a test run
 * starts each of its databases from it.
 */
export async function createEmbeddedImage(): Promise<Blob> {
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await pgliteModules();
  const client = await PGlite.create('memory://', { loadDataDir: await templateImage(), startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] });
  try {
    await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    return await client.dumpDataDir('none');
  } finally {
    await client.close();
  }
}
