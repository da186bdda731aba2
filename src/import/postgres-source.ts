import pg from 'pg';
import type { RawUserRow } from '../auth/import/import-rows.js';
import { FIELD_READ_LIMIT, ImportSourceError, parseTableName, resolveColumns, toRawRow, type ColumnMap, type UserField } from './columns.js';

export interface DatabaseSourceOptions {
  /** `table` or `schema.table`; `users` by default (MySQL: `users`, else `user`). */
  table?: string;
  columns?: ColumnMap;
  /** Rows fetched at a time. */
  fetchSize?: number;
}

/**
 * Users from a table of a PostgreSQL database, read through a cursor in one read-only snapshot, in the
 * order of their id; row numbers count from 1 in that order. Every field is read as text, cut at
 * FIELD_READ_LIMIT characters, so a huge value never crosses the network whole.
 */
export async function* readPostgresUsers(url: string, options: DatabaseSourceOptions = {}): AsyncGenerator<RawUserRow> {
  const table = parseTableName(options.table ?? 'users');
  const fetchSize = options.fetchSize ?? 1_000;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new ImportSourceError(`cannot connect to the PostgreSQL source: ${(err as Error).message}`);
  }
  let open = false;
  try {
    const { rows: found } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position`,
      [table.schema ?? null, table.name],
    );
    if (found.length === 0) throw new ImportSourceError(`the PostgreSQL source has no table ${options.table ?? 'users'}`);
    const map = resolveColumns(found.map((r) => r.column_name), options.columns, `table ${options.table ?? 'users'}`);
    const q = (name: string) => client.escapeIdentifier(name);
    const fields = (Object.keys(map) as UserField[]).filter((f) => map[f] !== undefined);
    const select = fields.map((f) => `left(${q(map[f]!)}::text, ${FIELD_READ_LIMIT}) AS ${q(f)}`).join(', ');
    const from = table.schema ? `${q(table.schema)}.${q(table.name)}` : q(table.name);

    // One snapshot for the whole read; timestamps with a time zone come out in UTC.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    open = true;
    await client.query("SET LOCAL TIME ZONE 'UTC'");
    await client.query(`DECLARE latchkey_import NO SCROLL CURSOR FOR SELECT ${select} FROM ${from} ORDER BY ${q(map.id!)}`);
    // The columns are selected under the fields' own names.
    const asSelected = Object.fromEntries(fields.map((f) => [f, f])) as Record<UserField, string>;
    let position = 0;
    for (;;) {
      const { rows } = await client.query<Record<string, string | null>>(`FETCH ${fetchSize} FROM latchkey_import`);
      for (const row of rows) {
        position += 1;
        yield toRawRow(position, row, asSelected);
      }
      if (rows.length < fetchSize) break;
    }
  } finally {
    if (open) await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  }
}
