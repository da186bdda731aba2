import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  /** Set when the suite runs on PostgreSQL; unset means the embedded engine. */
  url: string | undefined;
  engine: 'postgres' | 'pglite';
  /** The SECRET_KEY of every app on this database: instances sharing a database share their secret. */
  secretKey: string;
  /** On the embedded engine, the image of a new migrated database an in-memory one starts from (test/global-setup.ts). */
  image?: Blob;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: a new database on the PostgreSQL server named by TEST_DATABASE_URL,
 * or nothing (the caller then uses an embedded PGlite database, a copy of the run's migrated image).
 * On PostgreSQL it is empty, unless `migrated`: then a copy of the run's migrated template
 * (test/global-setup.ts), as the embedded engine's start from its image; Latchkey then finds no migration to run.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  const secretKey = randomBytes(32).toString('base64url');
  if (!adminUrl) return { url: undefined, engine: 'pglite', secretKey, image: await embeddedImage(), drop: async () => {} };
  const name = `latchkey_test_${randomBytes(6).toString('hex')}`;
  const template = options.migrated ? inject('postgresTemplate') : '';
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    engine: 'postgres',
    secretKey,
    drop: () => withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

let image: Promise<Blob | undefined> | undefined;
function embeddedImage(): Promise<Blob | undefined> {
  const file = inject('embeddedImage');
  image ??= file ? readFile(file).then((bytes) => new Blob([bytes])) : Promise.resolve(undefined);
  return image;
}

/** Runs `fn` on a connection of its own to `url`, closed after. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
