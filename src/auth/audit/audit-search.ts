import { AUDIT_EVENT_TYPES } from '../../core/audit.js';
import type { Db } from '../../db/client.js';
import { searchAuditEvents, type AuditSearch, type AuditSearchRow } from '../../db/queries/audit-events.js';
import { AUDIT_PAGE_MAX, type AuditEventPage, type AuditEventView } from '../../contracts/audit.js';
import { isUuid } from '../../contracts/ids.js';
import { AppError, type ErrorDetail } from '../../errors.js';
import { findUserByEmail, normalizeEmail } from '../users/users.js';

/**
 * The audit log as an operator searches it (the admin API, the console): by user (an id, or an address, which
 * finds the events that named it and those of the user who has it now), type, actor and time, newest first, a
 * page at a time. The filters arrive as text, as a query string or a form has them, and are checked here once for
 * both: a bad one is `400 invalid_request` naming its field, never a query that fails.
 */

/** The filters as given; each absent or blank one is no filter. */
export interface AuditQuery {
  user?: string | undefined;
  type?: string | undefined;
  actor?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const MAX_ACTOR = 200;
const MAX_EMAIL = 254;

/**
 * A time as RFC 3339 has it (`2025-05-01T12:00:00Z`, an offset, fractions of a second), a date alone (its start),
 * or a date and time without a zone as a form's `datetime-local` field sends it (`2025-05-01T12:00`): UTC.
 */
const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?)?$/;
// The years a search may name: the epoch on, and never one that PostgreSQL or a JavaScript Date cannot hold.
const FIRST_YEAR = 1970;
const LAST_YEAR = 9998;

/** The instant `value` names, or undefined when it names none (30 February, hour 24, year 0, offset +99:00). */
export function parseAuditTime(value: string): Date | undefined {
  const match = TIME.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const calendar = new Date(Date.UTC(2000, month - 1, day));
  calendar.setUTCFullYear(year);
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  if (zone !== 'Z' && zone !== 'z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59)) return undefined;
  const offsetMinutes = zone.toUpperCase() === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const millis = Math.floor(Number(`0${fraction}`) * 1000);
  const utc = new Date(calendar.getTime() + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis);
  return utc.getUTCFullYear() >= FIRST_YEAR && utc.getUTCFullYear() <= LAST_YEAR ? utc : undefined;
}

// A cursor is the id of the last event shown, opaque to clients; at most 15 digits, exact as a JavaScript number.
const encodeCursor = (id: number) => Buffer.from(String(id)).toString('base64url');
function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^[1-9][0-9]{0,14}$/.test(text) ? Number(text) : undefined;
}

const given = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** The query's filters as the database takes them, or every problem of them at once. */
async function filtersOf(db: Db, query: AuditQuery): Promise<{ search: AuditSearch } | { problems: ErrorDetail[] }> {
  const problems: ErrorDetail[] = [];
  const search: AuditSearch = { limit: query.limit + 1 };
  const user = given(query.user);
  if (user !== undefined) {
    if (isUuid(user)) search.userId = user.toLowerCase();
    else if (user.includes('@') && user.length <= MAX_EMAIL && !CONTROL.test(user)) {
      search.email = normalizeEmail(user);
      // The events of whoever has the address now, under any address they had before, as well as those that named it.
      search.userId = (await findUserByEmail(db, search.email))?.id;
    } else problems.push({ field: 'user', message: 'must be a user id or an email address' });
  }
  const type = given(query.type);
  if (type !== undefined) {
    if (KNOWN_TYPES.has(type)) search.type = type;
    else problems.push({ field: 'type', message: 'is not an audit event type' });
  }
  const actor = given(query.actor);
  if (actor !== undefined) {
    if (actor.length <= MAX_ACTOR && !CONTROL.test(actor)) search.actor = actor;
    else problems.push({ field: 'actor', message: `must be at most ${MAX_ACTOR} characters, without control characters` });
  }
  for (const field of ['from', 'to'] as const) {
    const text = given(query[field]);
    if (text === undefined) continue;
    const at = parseAuditTime(text);
    if (at) search[field] = at;
    else problems.push({ field, message: `must be a date (2025-05-01) or a time (2025-05-01T12:00:00Z) from ${FIRST_YEAR} to ${LAST_YEAR}` });
  }
  if (search.from && search.to && search.from > search.to) problems.push({ field: 'to', message: 'must not be before from' });
  const cursor = given(query.cursor);
  if (cursor !== undefined) {
    search.beforeId = decodeCursor(cursor);
    if (search.beforeId === undefined) problems.push({ field: 'cursor', message: 'is not one this server gave' });
  }
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > AUDIT_PAGE_MAX) problems.push({ field: 'limit', message: `must be from 1 to ${AUDIT_PAGE_MAX}` });
  return problems.length > 0 ? { problems } : { search };
}

function toView(row: AuditSearchRow): AuditEventView {
  const details = row.details !== null && typeof row.details === 'object' && !Array.isArray(row.details) ? (row.details as Record<string, unknown>) : null;
  const actor = details?.actor;
  return {
    id: row.id,
    occurred_at: row.occurredAt.toISOString(),
    type: row.type,
    user_id: row.userId,
    user: row.userName !== null && row.userEmail !== null ? { email: row.userEmail, name: row.userName } : null,
    email: row.email,
    actor: typeof actor === 'string' ? actor : null,
    session_id: row.sessionId,
    ip_address: row.ipAddress,
    user_agent: row.userAgent,
    details,
  };
}

/** A page of audit events that match every filter given, newest first; the cursor names the last event of the page before. */
export async function searchAuditLog(deps: { db: Db }, query: AuditQuery): Promise<AuditEventPage> {
  const filters = await filtersOf(deps.db, query);
  if ('problems' in filters) {
    const { problems } = filters;
    throw new AppError('invalid_request', `Invalid request: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}.`, problems);
  }
  // One more than asked: whether it exists says whether there is a next page.
  const rows = await searchAuditEvents(deps.db, filters.search);
  const shown = rows.slice(0, query.limit);
  const last = shown.at(-1);
  return { events: shown.map(toView), next_cursor: rows.length > query.limit && last ? encodeCursor(last.id) : null };
}
