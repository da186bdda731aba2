import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditTime, searchAuditLog } from '../../src/auth/audit/audit-search.js';
import { insertUser } from '../../src/auth/users/users.js';
import { rowsOf } from '../../src/db/client.js';
import { searchAuditEventsQuery, type AuditSearch } from '../../src/db/queries/audit-events.js';
import { auditEvents } from '../../src/db/schema.js';
import { startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

// The admin's search of the audit log (src/auth/audit/audit-search.ts) on a few thousand events: every filter, the
// pages, the bad filters, and the plans: each filter reads an index, never the whole table.

const EVENTS = 4_000;
const USERS = 200;
const START = Date.parse('2025-01-01T00:00:00Z');
const MINUTE = 60_000;

let t: TestApp;
const users: { id: string; email: string }[] = [];
beforeAll(async () => {
  t = await startTestApp();
  const now = t.clock.now();
  for (let i = 0; i < USERS; i++) {
    const user = await insertUser(t.deps.db, now, { name: `Audit ${i}`, email: uniqueEmail('audit'), passwordHash: 'not-a-hash' });
    users.push({ id: user.id, email: user.email });
  }
  // Event i, a minute after event i - 1, as a log has them: mostly sign-ins by users, now and then an operator's change.
  const rows = Array.from({ length: EVENTS }, (_, i) => {
    const user = users[i % USERS]!;
    const operator = i % 50 === 0;
    return {
      occurredAt: new Date(START + i * MINUTE),
      type: operator ? 'user_disabled' : i % 10 === 0 ? 'signin_failed' : 'signin_succeeded',
      userId: i % 7 === 0 ? null : user.id,
      email: user.email,
      ipAddress: '192.0.2.1',
      details: operator ? { actor: `service:svc-${i % 3}`, n: i } : i % 4 === 0 ? { actor: 'user', n: i } : { n: i },
    };
  });
  for (let i = 0; i < rows.length; i += 500) await t.deps.db.insert(auditEvents).values(rows.slice(i, i + 500));
  await t.deps.db.execute(sql`ANALYZE`);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const search = (query: Partial<Parameters<typeof searchAuditLog>[1]>) => searchAuditLog(t.deps, { limit: 50, ...query });

/** Every event the filters find, following the cursors. */
async function everything(query: Partial<Parameters<typeof searchAuditLog>[1]>) {
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 200; pages++) {
    const page = await search({ ...query, cursor });
    ids.push(...page.events.map((e) => e.id));
    if (page.next_cursor === null) return ids;
    cursor = page.next_cursor;
  }
  throw new Error('more than 200 pages');
}

describe('searching the audit log', () => {
  it('pages through every event newest first, by id, each once', async () => {
    const ids = await everything({ limit: 200 });
    expect(ids.length).toBe(EVENTS);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(EVENTS);
  });

  it('filters by type, actor, user id, address and time, each and together', async () => {
    const all = await t.deps.db.select().from(auditEvents);
    const expected = (keep: (r: (typeof all)[number]) => boolean) => all.filter(keep).map((r) => r.id).sort((a, b) => b - a);
    const actorOf = (r: (typeof all)[number]) => (r.details as { actor?: string }).actor;
    const [one, two] = users;
    const from = new Date(START + 1000 * MINUTE);
    const to = new Date(START + 2000 * MINUTE);
    const cases: [Partial<Parameters<typeof searchAuditLog>[1]>, (r: (typeof all)[number]) => boolean][] = [
      [{ type: 'signin_failed' }, (r) => r.type === 'signin_failed'],
      [{ actor: 'service:svc-1' }, (r) => actorOf(r) === 'service:svc-1'],
      [{ user: one!.id }, (r) => r.userId === one!.id],
      [{ user: one!.id.toUpperCase() }, (r) => r.userId === one!.id],
      // An address: the events that named it, and the user's own that did not (their user id).
      [{ user: ` ${two!.email.toUpperCase()} ` }, (r) => r.email === two!.email || r.userId === two!.id],
      [{ from: from.toISOString(), to: to.toISOString() }, (r) => r.occurredAt >= from && r.occurredAt < to],
      [{ type: 'signin_failed', actor: 'user', from: from.toISOString() }, (r) => r.type === 'signin_failed' && actorOf(r) === 'user' && r.occurredAt >= from],
      [{ user: one!.email, type: 'signin_succeeded' }, (r) => (r.email === one!.email || r.userId === one!.id) && r.type === 'signin_succeeded'],
      [{ type: 'logout' }, () => false],
      [{ user: 'nobody@example.com' }, () => false],
      [{ actor: "user' OR '1'='1" }, () => false],
      [{ actor: '%' }, () => false],
      [{ user: '%@%' }, () => false],
    ];
    for (const [query, keep] of cases) expect(await everything({ ...query, limit: 37 }), JSON.stringify(query)).toEqual(expected(keep));
  });

  it('answers each event with its user as they are now, its actor and its details', async () => {
    const user = users[4]!;
    const { events } = await search({ user: user.id, limit: 200 });
    expect(events.length).toBeGreaterThan(1);
    for (const event of events) {
      expect(event).toMatchObject({ user_id: user.id, user: { email: user.email, name: 'Audit 4' }, email: user.email, ip_address: '192.0.2.1' });
      expect(event.actor).toBe((event.details as { actor?: string }).actor ?? null);
    }
    expect(events.map((e) => e.actor)).toContain('user');
    // An event of no user (or of a deleted one) has none.
    const [orphan] = (await search({ user: user.email, limit: 200 })).events.filter((e) => e.user_id === null);
    expect(orphan).toMatchObject({ user: null, email: user.email });
  });

  it('refuses bad filters with 400 invalid_request naming each field, and reads nothing', async () => {
    const bad: [Partial<Parameters<typeof searchAuditLog>[1]>, string[]][] = [
      [{ user: 'not-an-id' }, ['user']],
      [{ user: `${'a'.repeat(300)}@example.com` }, ['user']],
      [{ user: 'a\u0000@example.com' }, ['user']],
      [{ type: 'no_such_type' }, ['type']],
      [{ type: "signin_failed' --" }, ['type']],
      [{ actor: 'x'.repeat(201) }, ['actor']],
      [{ actor: 'line\nbreak' }, ['actor']],
      [{ from: '2025-02-30' }, ['from']],
      [{ from: '2025-13-01' }, ['from']],
      [{ to: '2025-01-01T24:00:00Z' }, ['to']],
      [{ to: '0000-01-01' }, ['to']],
      [{ to: '99999-01-01' }, ['to']],
      [{ from: '2025-01-01T00:00:00+99:00' }, ['from']],
      [{ from: 'yesterday' }, ['from']],
      [{ from: '2025-05-02', to: '2025-05-01' }, ['to']],
      [{ cursor: 'garbage' }, ['cursor']],
      [{ cursor: Buffer.from('0').toString('base64url') }, ['cursor']],
      [{ cursor: Buffer.from('9'.repeat(16)).toString('base64url') }, ['cursor']],
      [{ limit: 0 }, ['limit']],
      [{ limit: 201 }, ['limit']],
      [{ type: 'nope', from: 'nope', cursor: '!' }, ['type', 'from', 'cursor']],
    ];
    for (const [query, fields] of bad) {
      const refused = await search(query).then(() => undefined, (err: unknown) => err);
      expect(refused, JSON.stringify(query)).toMatchObject({ code: 'invalid_request', status: 400 });
      expect((refused as { details: { field: string }[] }).details.map((d) => d.field)).toEqual(fields);
    }
  });

  it('reads times as RFC 3339 has them, dates alone, and a form\'s date and time as UTC', () => {
    expect(parseAuditTime('2025-05-01')?.toISOString()).toBe('2025-05-01T00:00:00.000Z');
    expect(parseAuditTime('2025-05-01T12:30')?.toISOString()).toBe('2025-05-01T12:30:00.000Z');
    expect(parseAuditTime('2025-05-01T12:30:15.25Z')?.toISOString()).toBe('2025-05-01T12:30:15.250Z');
    expect(parseAuditTime('2025-05-01T12:30:00+02:00')?.toISOString()).toBe('2025-05-01T10:30:00.000Z');
    expect(parseAuditTime('2025-05-01t12:30:00-01:30')?.toISOString()).toBe('2025-05-01T14:00:00.000Z');
    expect(parseAuditTime('2024-02-29')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    for (const bad of ['2023-02-29', '2025-04-31', '2025-00-10', '2025-05-01T12:60', '2025-05-01T12:00:61Z', '1969-12-31T23:59:59Z', '2025-5-1', ' 2025-05-01', '2025-05-01T12'])
      expect(parseAuditTime(bad), bad).toBeUndefined();
  });
});

describe('the search\'s plans', () => {
  async function plan(search: AuditSearch): Promise<string> {
    const result = await t.deps.db.execute(sql`EXPLAIN ${searchAuditEventsQuery(t.deps.db, search)}`);
    return rowsOf<{ 'QUERY PLAN': string }>(result).map((r) => r['QUERY PLAN']).join('\n');
  }

  it('reads an index for every filter, alone or with a cursor, never the whole table', async () => {
    const [one] = users;
    // A filter most events match reads the newest events by id until it has a page; a rarer one, its own index (a
    // type, the overview's index by type and time).
    const cases: [string, AuditSearch, RegExp][] = [
      ['no filter', { limit: 51 }, /Index Scan Backward using audit_events_pkey/],
      ['a cursor', { limit: 51, beforeId: 2000 }, /Index Scan Backward using audit_events_pkey/],
      ['a common type', { limit: 51, type: 'signin_succeeded' }, /audit_events_pkey|audit_events_type_occurred_at_idx/],
      ['a rare type', { limit: 51, type: 'user_disabled' }, /audit_events_type_occurred_at_idx/],
      ['a rare type, a cursor', { limit: 51, type: 'user_disabled', beforeId: 2000 }, /audit_events_type_occurred_at_idx/],
      ['a type never seen', { limit: 51, type: 'logout' }, /audit_events_type_occurred_at_idx/],
      ['a common actor', { limit: 51, actor: 'user' }, /audit_events_pkey|audit_events_actor_id_idx/],
      ['a rare actor', { limit: 51, actor: 'service:svc-1' }, /audit_events_actor_id_idx/],
      ['a user', { limit: 51, userId: one!.id }, /audit_events_user_id_id_idx/],
      ['a user, a cursor', { limit: 51, userId: one!.id, beforeId: 2000 }, /audit_events_user_id_id_idx/],
      ['an address', { limit: 51, email: one!.email, userId: one!.id }, /audit_events_(email|user_id)_id_idx[\s\S]*audit_events_(email|user_id)_id_idx/],
      ['an address of no user', { limit: 51, email: 'nobody@example.com' }, /audit_events_email_id_idx/],
      ['an hour', { limit: 51, from: new Date(START + 100 * MINUTE), to: new Date(START + 160 * MINUTE) }, /audit_events_occurred_at_idx/],
      ['a rare type in an hour', { limit: 51, type: 'user_disabled', from: new Date(START + 100 * MINUTE), to: new Date(START + 160 * MINUTE) }, /audit_events_(type_occurred_at|occurred_at)_idx/],
    ];
    for (const [name, search, index] of cases) {
      const text = await plan(search);
      expect(text, `${name}:\n${text}`).not.toMatch(/Seq Scan on audit_events/);
      expect(text, `${name}:\n${text}`).toMatch(index);
    }
  });
});
