import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.js';

/**
 * Creating and dropping the database itself, for `latchkey db create` and `db drop`. PostgreSQL's
 * CREATE and DROP DATABASE run from the server's maintenance database (`postgres`), with the user and
 * password of DATABASE_URL; the embedded engine's database is its data folder.
 */

// Never dropped, whatever DATABASE_URL names: PostgreSQL's own.
const SYSTEM_DATABASES = new Set(['postgres', 'template0', 'template1']);

export class DatabaseAdminError extends Error {}

function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!name) throw new DatabaseAdminError('DATABASE_URL names no database (postgres://user@host:5432/<name>)');
  return name;
}

async function withMaintenanceClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Creates the database DATABASE_URL names unless it exists; says whether it did. */
export async function createPostgresDatabase(databaseUrl: string): Promise<{ name: string; created: boolean }> {
  const name = databaseName(databaseUrl);
  return withMaintenanceClient(databaseUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return { name, created: false };
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (err) {
      // Created meanwhile by someone else: what was asked for exists.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return { name, created: false };
    }
    return { name, created: true };
  });
}

/**
 * Drops the database DATABASE_URL names. PostgreSQL refuses while anyone is connected to it (a running
 * server among them): that refusal is kept, and said in a sentence.
 */
export async function dropPostgresDatabase(databaseUrl: string): Promise<{ name: string; dropped: boolean }> {
  const name = databaseName(databaseUrl);
  if (SYSTEM_DATABASES.has(name)) throw new DatabaseAdminError(`refusing to drop PostgreSQL's own database "${name}": name Latchkey's database in DATABASE_URL`);
  return withMaintenanceClient(databaseUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) return { name, dropped: false };
    try {
      await client.query(`DROP DATABASE ${quoteIdent(name)}`);
    } catch (err) {
      if ((err as { code?: string }).code === '55006') {
        const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        throw new DatabaseAdminError(
          `the database "${name}" is in use (${rows[0]?.n ?? 'some'} connection(s): a running Latchkey server?); stop what uses it, then drop it`,
        );
      }
      throw err;
    }
    return { name, dropped: true };
  });
}

/**
 * Removes an embedded data folder: the database, its lock, the secret key file. Refuses while another
 * process holds the folder, and refuses a folder that does not hold an embedded database (a mistyped
 * DATA_DIR must not cost someone their files).
 */
export async function dropDataFolder(dataDir: string): Promise<{ dropped: boolean }> {
  if (!existsSync(dataDir)) return { dropped: false };
  const entries = await readdir(dataDir);
  if (entries.length === 0) return { dropped: false };
  if (!entries.includes('PG_VERSION'))
    throw new DatabaseAdminError(`${dataDir} does not hold an embedded Latchkey database (no PG_VERSION): nothing removed`);
  const lock = await lockDataDir(dataDir);
  try {
    await rm(join(dataDir), { recursive: true, force: true });
  } finally {
    lock.release();
  }
  return { dropped: true };
}
