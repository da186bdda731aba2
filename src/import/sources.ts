import type { RawUserRow } from '../auth/import-rows.js';
import type { ColumnMap } from './columns.js';
import { readUserFile, type FileFormat } from './file-source.js';

export { COLUMN_NAMES, ImportSourceError, type ColumnMap, type UserField } from './columns.js';
export { readUserFile, type FileFormat } from './file-source.js';

export interface SourceOptions {
  /** Source column for a field, when none of COLUMN_NAMES fits. */
  columns?: ColumnMap;
  /** File sources: csv or jsonl, when neither the extension nor the first character tells. */
  format?: FileFormat;
}

/** The rows of a source named as the command line names it: a file path (CSV or JSON lines). Nothing is opened until iterated. */
export function openUserSource(spec: string, options: SourceOptions = {}): AsyncIterable<RawUserRow> {
  return readUserFile(spec, { format: options.format, columns: options.columns });
}
