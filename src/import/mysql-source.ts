import mysql from 'mysql2';
import type { RawUserRow } from '../auth/import/import-rows.js';
import { FIELD_READ_LIMIT, ImportSourceError, parseTableName, resolveColumns, toRawRow, type UserField } from './columns.js';
import type { DatabaseSourceOptions } from './postgres-source.js';

// python-jwt-auth's Flask-SQLAlchemy model `User` makes a table named `user`.
const DEFAULT_TABLES = ['users', 'user'];

/**
 * Users from a table of a MySQL or MariaDB database (`mysql://user:password@host:port/database`), streamed
 * in the order of their id in one consistent snapshot; row numbers count from 1 in that order. Without a
 * table named, `users`, else `user`. Every field is read as text, cut at FIELD_READ_LIMIT characters.
 */
export async function* readMysqlUsers(url: string, options: DatabaseSourceOptions = {}): AsyncGenerator<RawUserRow> {
  const tables = options.table ? [parseTableName(options.table)] : DEFAULT_TABLES.map((t) => parseTableName(t));
  const conn = mysql.createConnection({
    uri: url.replace(/^mariadb:/i, 'mysql:'),
    charset: 'utf8mb4',
    connectTimeout: 10_000,
    // Timestamps as the server writes them, in UTC; nothing parsed by the driver.
    timezone: 'Z',
    dateStrings: true,
  });
  conn.on('error', () => {});
  const db = conn.promise();
  try {
    let found: { column_name: string; table_name: string; table_schema: string }[];
    try {
      [found] = (await db.query(
        `SELECT COLUMN_NAME AS column_name, TABLE_NAME AS table_name, TABLE_SCHEMA AS table_schema FROM information_schema.columns
         WHERE table_schema = COALESCE(?, DATABASE()) AND table_name IN (?) ORDER BY ORDINAL_POSITION`,
        [tables[0]!.schema ?? null, tables.map((t) => t.name)],
      )) as unknown as [typeof found];
    } catch (err) {
      throw new ImportSourceError(`cannot read the MySQL source: ${(err as Error).message}`);
    }
    const table = tables.find((t) => found.some((c) => c.table_name === t.name));
    if (!table) throw new ImportSourceError(`the MySQL source has no table ${tables.map((t) => t.name).join(' or ')} (does the URL name the database?)`);
    const label = `table ${table.schema ? `${table.schema}.` : ''}${table.name}`;
    const map = resolveColumns(found.filter((c) => c.table_name === table.name).map((c) => c.column_name), options.columns, label);
    const q = (name: string) => mysql.escapeId(name);
    const fields = (Object.keys(map) as UserField[]).filter((f) => map[f] !== undefined);
    const select = fields.map((f) => `LEFT(CAST(${q(map[f]!)} AS CHAR), ${FIELD_READ_LIMIT}) AS ${q(f)}`).join(', ');
    const from = table.schema ? `${q(table.schema)}.${q(table.name)}` : q(table.name);

    await db.query("SET time_zone = '+00:00'");
    await db.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const asSelected = Object.fromEntries(fields.map((f) => [f, f])) as Record<UserField, string>;
    const stream = conn.query(`SELECT ${select} FROM ${from} ORDER BY ${q(map.id!)}`).stream({ highWaterMark: options.fetchSize ?? 1_000 });
    let position = 0;
    try {
      for await (const row of stream) {
        position += 1;
        yield toRawRow(position, row as Record<string, string | null>, asSelected);
      }
    } finally {
      stream.destroy();
    }
  } finally {
    // A stream left early leaves rows on the wire: destroy rather than wait for them.
    conn.destroy();
  }
}
