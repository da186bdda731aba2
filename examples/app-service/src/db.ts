import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface Queryable {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

/** The app's own database: PostgreSQL, or the embedded engine (PGlite) in a folder; one interface for both. */
export interface Database extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    created_at timestamptz NOT NULL,
    disabled_at timestamptz,
    synced_at timestamptz NOT NULL,
    -- The number of the Latchkey event (webhook-id evt_<n>) this row is at: an older one never overwrites it.
    last_event bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS items (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS items_user_id ON items (user_id, id);
  -- One row per webhook applied, written in the same transaction as its change: a redelivery finds it and
  -- changes nothing. seq records the order they were applied in.
  CREATE TABLE IF NOT EXISTS applied_webhooks (
    webhook_id text PRIMARY KEY,
    seq bigserial NOT NULL,
    type text NOT NULL,
    user_id uuid,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
`;

export async function openDatabase(config: { databaseUrl?: string; dataDir: string }): Promise<Database> {
  const db = config.databaseUrl ? openPostgres(config.databaseUrl) : await openEmbedded(config.dataDir);
  await db.query('SELECT 1');
  for (const statement of SCHEMA.split(';').filter((s) => s.trim())) await db.query(statement);
  return db;
}

function openPostgres(url: string): Database {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  return {
    query: (text, params) => pool.query(text, params) as never,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (text, params) => client.query(text, params) as never });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const lite = await PGlite.create(dataDir);
  return {
    query: (text, params) => lite.query(text, params) as never,
    transaction: (fn) => lite.transaction((tx) => fn({ query: (text, params) => tx.query(text, params) as never })),
    close: () => lite.close(),
  };
}
