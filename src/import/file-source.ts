import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import type { RawUserRow } from '../auth/import/import-rows.js';
import { ImportSourceError, matchColumns, resolveColumns, toRawRow, type ColumnMap, type ColumnsOf } from './columns.js';
import { CsvSplitter, LineSplitter, type FileRecord } from './records.js';

export type FileFormat = 'csv' | 'jsonl';

export interface FileSourceOptions {
  /** By the file's extension (.csv; .jsonl, .ndjson), else by its first character (`{` is JSON lines). */
  format?: FileFormat;
  columns?: ColumnMap;
  /** A longer record is reported as unreadable, never held whole: 64 KiB by default. */
  maxRecordBytes?: number;
}

const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;

/**
 * Users from a file: CSV with a header row (id, name, email, password_hash, and optionally created_at,
 * is_active; other names of COLUMN_NAMES too), or JSON lines, one object a line with the same keys.
 * `input` is a path, or the bytes themselves (standard input). Row numbers are line numbers.
 */
export async function* readUserFile(input: string | AsyncIterable<Uint8Array>, options: FileSourceOptions = {}): AsyncGenerator<RawUserRow> {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const chunks = typeof input === 'string' ? openFile(input) : input;
  let format = options.format ?? (typeof input === 'string' ? formatOfName(input) : undefined);
  let splitter: CsvSplitter | LineSplitter | undefined;
  // The header's columns by position: the fields of a record are looked up by index.
  let header: { names: string[]; map: ColumnsOf } | undefined;

  const rowsOf = function* (records: FileRecord[]): Generator<RawUserRow> {
    for (const record of records) {
      if ('error' in record) yield { row: record.line, unreadable: record.error };
      else if (format === 'jsonl') yield jsonRow(record.line, record.fields[0]!, options.columns);
      else if (!header) {
        const names = record.fields.map((f) => f.trim());
        const byName = resolveColumns(names, options.columns, 'the CSV header');
        const map = Object.fromEntries(Object.entries(byName).map(([field, column]) => [field, column === undefined ? undefined : String(names.indexOf(column))])) as ColumnsOf;
        header = { names, map };
      } else if (record.fields.length !== header.names.length)
        yield { row: record.line, unreadable: `${record.fields.length} fields where the header has ${header.names.length}` };
      else yield toRawRow(record.line, record.fields, header.map);
    }
  };

  for await (const chunk of chunks) {
    if (chunk.length === 0) continue;
    format ??= sniffFormat(chunk);
    splitter ??= format === 'csv' ? new CsvSplitter(max) : new LineSplitter(max);
    yield* rowsOf(splitter.feed(chunk));
  }
  if (splitter) yield* rowsOf(splitter.end());
  if (format !== 'jsonl' && !header) throw new ImportSourceError('the CSV file is empty: it has no header row');
}

function jsonRow(line: number, text: string, columns: ColumnMap | undefined): RawUserRow {
  let value: unknown;
  try {
    value = JSON.parse(line === 1 ? text.replace(/^\uFEFF/, '') : text);
  } catch {
    return { row: line, unreadable: 'not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { row: line, unreadable: 'not a JSON object' };
  const record = value as Record<string, unknown>;
  return toRawRow(line, record, matchColumns(Object.keys(record), columns));
}

async function* openFile(path: string): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    throw new ImportSourceError(`cannot read ${path}: ${(err as Error).message}`);
  } finally {
    stream.destroy();
  }
}

function formatOfName(path: string): FileFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return undefined;
}

function sniffFormat(chunk: Uint8Array): FileFormat {
  const first = chunk.find((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0xef && b !== 0xbb && b !== 0xbf);
  if (first === 0x5b) throw new ImportSourceError('the file is one JSON array: write one JSON object a line (JSON lines)');
  return first === 0x7b ? 'jsonl' : 'csv';
}
