import { UNSAFE_NAME_CHARACTERS } from '../../contracts/fields.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parsePasswordHash, type HashProblem } from '../passwords/hash-formats.js';
import { normalizeEmail } from '../users/users.js';

/**
 * One user as a source read it, before any check: the fields as found, under Latchkey's names. Plain
 * JSON, so that a batch can travel to a running server as it is.
 */
export interface RawUserRow {
  /** Where the row is in its source: the line of a file (the header is line 1), or the position in a table. */
  row: number;
  id?: unknown;
  name?: unknown;
  email?: unknown;
  password_hash?: unknown;
  created_at?: unknown;
  /** False (or "false", "0", "f") for an account the old system had deactivated: it is imported disabled. */
  active?: unknown;
  /** Set by a source that could not read the row (not UTF-8, too large, malformed): the row is rejected. */
  unreadable?: string;
}

export type RejectReason =
  | 'unreadable'
  | 'missing_id'
  | 'invalid_id'
  | 'missing_name'
  | 'invalid_name'
  | 'missing_email'
  | 'invalid_email'
  | 'missing_password_hash'
  | HashProblem
  | 'invalid_created_at'
  | 'invalid_active'
  | 'duplicate_email'
  | 'duplicate_id';

/** A row that passed every check, ready to insert. */
export interface ImportUser {
  row: number;
  legacyId: string;
  name: string;
  email: string;
  passwordHash: string;
  createdAt: Date | undefined;
  disabled: boolean;
}

export interface Rejection {
  row: number;
  /** The row's id and email as given, cut short and stripped of control characters, to find it again. */
  id?: string;
  email?: string;
  reason: RejectReason;
  detail: string;
}

export type RowCheck = { ok: true; user: ImportUser } | { ok: false; rejection: Rejection };

// The limits of sign-up (src/http/schemas.ts): an imported user must be one that could have signed up.
const EMAIL_MAX = 254;
const NAME_MAX = 100;
const ID_MAX = 255;
// Control characters cannot be stored (NUL) or forge log lines; a lone surrogate cannot be encoded, and
// U+FFFD is what a lossy decoder left of bytes that were not text.
const UNSAFE_TEXT = /[\p{Cc}\p{Cs}\ufffd]/u;
const EMAIL = fullFormats.email as RegExp;

/** Checks one row as sign-up would check a new user, and its hash against the formats and limits Latchkey verifies. */
export function checkImportRow(raw: RawUserRow, now: Date): RowCheck {
  const reject = (reason: RejectReason, detail: string): RowCheck => ({ ok: false, rejection: { ...describeRow(raw), reason, detail } });
  if (raw.unreadable !== undefined) return reject('unreadable', String(raw.unreadable).slice(0, 200));

  const id = typeof raw.id === 'number' && Number.isSafeInteger(raw.id) ? String(raw.id) : raw.id;
  if (id === undefined || id === null || (typeof id === 'string' && id.trim() === '')) return reject('missing_id', 'no id');
  if (typeof id !== 'string') return reject('invalid_id', 'the id must be text or a whole number');
  const legacyId = id.trim();
  if (legacyId.length > ID_MAX || UNSAFE_TEXT.test(legacyId)) return reject('invalid_id', `the id must be at most ${ID_MAX} printable characters`);

  if (raw.name === undefined || raw.name === null) return reject('missing_name', 'no name');
  if (typeof raw.name !== 'string') return reject('invalid_name', 'the name must be text');
  const name = raw.name.trim();
  if (name === '') return reject('missing_name', 'the name is empty');
  if (name.length > NAME_MAX || UNSAFE_TEXT.test(name) || UNSAFE_NAME_CHARACTERS.test(name)) return reject('invalid_name', `the name must be at most ${NAME_MAX} characters, none of them a control character or bidi override`);

  if (raw.email === undefined || raw.email === null || raw.email === '') return reject('missing_email', 'no email');
  if (typeof raw.email !== 'string') return reject('invalid_email', 'the email must be text');
  const email = normalizeEmail(raw.email);
  if (email.length > EMAIL_MAX || !EMAIL.test(email)) return reject('invalid_email', 'not an email address sign-up would accept');

  if (raw.password_hash === undefined || raw.password_hash === null || raw.password_hash === '') return reject('missing_password_hash', 'no password hash');
  if (typeof raw.password_hash !== 'string') return reject('invalid_hash', 'the password hash must be text');
  const passwordHash = raw.password_hash.trim();
  const hash = parsePasswordHash(passwordHash);
  if (!hash.ok) return reject(hash.reason, hash.detail);

  const createdAt = parseTimestamp(raw.created_at);
  if (createdAt === null) return reject('invalid_created_at', 'created_at is not a date and time');
  if (createdAt && createdAt.getTime() > now.getTime() + 86_400_000) return reject('invalid_created_at', 'created_at is in the future');

  const active = parseBoolean(raw.active);
  if (active === null) return reject('invalid_active', 'active must be true or false');

  return { ok: true, user: { row: raw.row, legacyId, name, email, passwordHash, createdAt, disabled: active === false } };
}

/** The id and email of a row as text safe to print, for a report. */
export function describeRow(raw: RawUserRow): { row: number; id?: string; email?: string } {
  const ref: { row: number; id?: string; email?: string } = { row: raw.row };
  const id = printable(raw.id);
  const email = printable(raw.email);
  if (id !== undefined) ref.id = id;
  if (email !== undefined) ref.email = email;
  return ref;
}

function printable(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).slice(0, 120).replace(/[\p{Cc}\p{Cs}]/gu, '?').trim();
  return text === '' ? undefined : text;
}

// Timestamps without a zone are taken as UTC: what Flask apps stored with datetime.utcnow().
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** undefined when absent, null when present but not a valid timestamp. */
function parseTimestamp(value: unknown): Date | undefined | null {
  if (value === undefined || value === null || value === '') return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (typeof value !== 'string' || value.length > 40) return null;
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(Number(`0${frac || '.0'}`) * 1000));
  const check = new Date(utc);
  // Date.UTC rolls 31 February over to March: a date that does not exist is refused instead.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return null;
  if (year < 1970) return null;
  const offset = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  const offsetMinutes = offset ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3] ?? 0)) : 0;
  return new Date(utc - offsetMinutes * 60_000);
}

/** undefined when absent, null when not a boolean in any usual spelling. */
function parseBoolean(value: unknown): boolean | undefined | null {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== 'string') return null;
  const text = value.trim().toLowerCase();
  if (['true', 't', '1', 'yes', 'y'].includes(text)) return true;
  if (['false', 'f', '0', 'no', 'n'].includes(text)) return false;
  return null;
}
