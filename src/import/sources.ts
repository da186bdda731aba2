import type { RawUserRow } from '../auth/import/import-rows.js';
import type { ColumnMap } from './columns.js';
import { readUserFile, type FileFormat } from './file-source.js';
import { readMysqlUsers } from './mysql-source.js';
import { readPostgresUsers } from './postgres-source.js';

export { COLUMN_NAMES, ImportSourceError, type ColumnMap, type UserField } from './columns.js';
export { readUserFile, type FileFormat } from './file-source.js';
export { readMysqlUsers } from './mysql-source.js';
export { readPostgresUsers } from './postgres-source.js';

export interface SourceOptions {
  /** Database sources: `table` or `schema.table` (`users` by default; MySQL falls back to `user`). */
  table?: string;
  /** Source column for a field, when none of COLUMN_NAMES fits. */
  columns?: ColumnMap;
  /** File sources: csv or jsonl, when neither the extension nor the first character tells. */
  format?: FileFormat;
}

export type SourceKind = 'postgres' | 'mysql' | 'file';

export function sourceKind(spec: string): SourceKind {
  if (/^postgres(ql)?:\/\//i.test(spec)) return 'postgres';
  if (/^(mysql|mariadb):\/\//i.test(spec)) return 'mysql';
  return 'file';
}

/**
 * The rows of a source named as the command line names it: a `postgres://` or `postgresql://` URL, a
 * `mysql://` or `mariadb://` URL, or a file path (CSV or JSON lines). Nothing is opened until iterated.
 */
export function openUserSource(spec: string, options: SourceOptions = {}): AsyncIterable<RawUserRow> {
  const db = { table: options.table, columns: options.columns };
  switch (sourceKind(spec)) {
    case 'postgres':
      return readPostgresUsers(spec, db);
    case 'mysql':
      return readMysqlUsers(spec, db);
    case 'file':
      return readUserFile(spec, { format: options.format, columns: options.columns });
  }
}

/** The source as it may be printed or logged: a URL without its password. */
export function describeSource(spec: string): string {
  if (sourceKind(spec) === 'file') return spec;
  try {
    const url = new URL(spec);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(a database URL that does not parse)';
  }
}
