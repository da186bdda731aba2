import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { MIGRATIONS_FOLDER, rowsOf, type Db } from './client.js';

export interface MigrationState {
  /** The migration's file name without `.sql` (`0003_users_disabled_legacy_id`). */
  name: string;
  applied: boolean;
}

interface Journal {
  entries: { tag: string; when: number }[];
}

/**
 * Every migration this version ships, and whether the database has it. Drizzle's migrator records the
 * newest one applied by its `when` and applies those after it, so the same rule says which are pending.
 */
export async function migrationStatus(db: Db): Promise<MigrationState[]> {
  const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as Journal;
  const [table] = rowsOf<{ name: string | null }>(await db.execute(sql`select to_regclass('drizzle.__drizzle_migrations')::text as name`));
  let newest = -Infinity;
  if (table?.name) {
    const [row] = rowsOf<{ newest: string | number | null }>(await db.execute(sql`select max(created_at) as newest from drizzle.__drizzle_migrations`));
    if (row?.newest !== null && row?.newest !== undefined) newest = Number(row.newest);
  }
  return journal.entries.map((e) => ({ name: e.tag, applied: e.when <= newest }));
}
