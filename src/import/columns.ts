import type { RawUserRow } from '../auth/import/import-rows.js';

/** The fields of a user an import reads, under Latchkey's names. */
export type UserField = 'id' | 'name' | 'email' | 'password_hash' | 'created_at' | 'active';

/** Which source column holds each field; unset fields are looked up by COLUMN_NAMES. */
export type ColumnMap = Partial<Record<UserField, string>>;

/**
 * The names each field goes by in the apps Latchkey replaces, first match wins: the Flask tutorials' `users`
 * (id, name, email, password, created_at), Flask-Bcrypt apps' (id, username, email, password_hash,
 * is_active), python-jwt-auth's MySQL `user` (id, name, email, password, registration_timestamp).
 */
export const COLUMN_NAMES: Readonly<Record<UserField, readonly string[]>> = {
  id: ['id', 'user_id', 'uid', 'legacy_id'],
  name: ['name', 'username', 'full_name', 'fullname', 'display_name'],
  email: ['email', 'email_address'],
  password_hash: ['password_hash', 'password', 'hashed_password', 'passwd', 'pwd_hash'],
  created_at: ['created_at', 'registration_timestamp', 'date_joined', 'registered_at', 'created'],
  active: ['is_active', 'active'],
};

const REQUIRED: readonly UserField[] = ['id', 'name', 'email', 'password_hash'];

/** A source that cannot be imported at all: unreachable, no such table, a required column missing. */
export class ImportSourceError extends Error {
  override name = 'ImportSourceError';
}

export type ColumnsOf = Record<UserField, string | undefined>;

/** Maps each field to a column among `available` (names compared without case): the chosen one, else the first of COLUMN_NAMES there. */
export function matchColumns(available: readonly string[], chosen: ColumnMap = {}): ColumnsOf {
  const byLowerName = new Map(available.map((c) => [c.trim().toLowerCase(), c]));
  const find = (field: UserField) => {
    const asked = chosen[field];
    if (asked !== undefined) return byLowerName.get(asked.trim().toLowerCase());
    return COLUMN_NAMES[field].map((name) => byLowerName.get(name)).find((c) => c !== undefined);
  };
  return Object.fromEntries((Object.keys(COLUMN_NAMES) as UserField[]).map((f) => [f, find(f)])) as ColumnsOf;
}

/**
 * matchColumns for a source with one set of columns (a table, a CSV header): throws, naming the columns
 * there are, when a chosen column is not among them or a required field (id, name, email, password hash) has none.
 */
export function resolveColumns(available: readonly string[], chosen: ColumnMap = {}, where = 'the source'): ColumnsOf {
  const map = matchColumns(available, chosen);
  const missing = (Object.keys(COLUMN_NAMES) as UserField[]).filter((f) => map[f] === undefined && (chosen[f] !== undefined || REQUIRED.includes(f)));
  if (missing.length > 0) {
    const wanted = missing.map((f) => `${f} (${chosen[f] ?? COLUMN_NAMES[f].join('/')})`).join(', ');
    throw new ImportSourceError(`${where} has no column for ${wanted}; its columns: ${available.join(', ')}`);
  }
  return map;
}

/** The row under Latchkey's field names, from a record keyed by the source's column names (or positions). */
export function toRawRow(row: number, record: Readonly<Record<string, unknown>> | readonly unknown[], map: ColumnsOf): RawUserRow {
  const raw: RawUserRow = { row };
  for (const field of Object.keys(map) as UserField[]) {
    const column = map[field];
    if (column !== undefined && Object.hasOwn(record, column)) raw[field] = (record as Record<string, unknown>)[column];
  }
  return raw;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** `table` or `schema.table`, plain identifiers only: the name goes into SQL text (quoted), never a value. */
export function parseTableName(table: string): { schema: string | undefined; name: string } {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p)))
    throw new ImportSourceError(`"${table.slice(0, 100)}" is not a table name: letters, digits and _ only, as table or schema.table`);
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: undefined, name: parts[0]! };
}

/** The longest text read of any field: enough for every valid value, while a huge one stays on the server. */
export const FIELD_READ_LIMIT = 1_024;
