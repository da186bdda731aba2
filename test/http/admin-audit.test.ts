import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestApp, uniqueEmail, type SignedUp, type TestApp } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';

// The admin API's search of the audit log (GET /api/admin/audit-events, scope admin): its filters as query
// parameters, checked (400 invalid_request naming the field), newest first, a page at a time.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const { auth, call, onePerScope } = serviceClients(() => t, 'audit-admin');

let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
let ada: SignedUp;
let bob: SignedUp;
const stranger = uniqueEmail('stranger');

interface Event {
  id: number;
  type: string;
  occurred_at: string;
  user_id: string | null;
  user: { email: string; name: string } | null;
  email: string | null;
  actor: string | null;
  details: Record<string, unknown> | null;
}

const search = async (query: string, who = admin) => {
  const res = await call('GET', `/api/admin/audit-events${query ? `?${query}` : ''}`, auth(who));
  return res;
};
const eventsOf = async (query: string) => {
  const res = await search(query);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { events: Event[]; next_cursor: string | null };
};

beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
  ada = await signUp(t, { name: '<img src=x onerror=alert(1)>' });
  bob = await signUp(t);
  t.clock.advance(60);
  // A failed sign-in for each, and one for an address no account has.
  for (const email of [ada.email, bob.email, stranger]) await t.inject({ method: 'POST', url: '/api/signin', payload: { email, password: 'a wrong password here' } });
  t.clock.advance(60);
  // An operator's change: audited with the client as actor.
  expect((await call('POST', `/api/admin/users/${bob.id}/disable`, auth(admin))).statusCode).toBe(200);
});

describe('searching the audit log', () => {
  it('finds events by user id, newest first, with the user as they are now', async () => {
    const { events } = await eventsOf(`user=${ada.id}`);
    expect(events.map((e) => e.type)).toEqual(['signin_failed', 'signup']);
    expect(events[0]).toMatchObject({ user_id: ada.id, user: { email: ada.email, name: ada.name }, email: ada.email });
    expect(events[0]!.id).toBeGreaterThan(events[1]!.id);
  });

  it('finds events by address: those that named it, even with no account', async () => {
    const { events } = await eventsOf(`user=${encodeURIComponent(stranger.toUpperCase())}`);
    expect(events).toEqual([expect.objectContaining({ type: 'signin_failed', user_id: null, user: null, email: stranger })]);
  });

  it('finds events by type, by actor and by time, and all of them at once', async () => {
    const disabled = await eventsOf('type=user_disabled');
    expect(disabled.events).toEqual([expect.objectContaining({ user_id: bob.id, actor: `service:${admin.name}`, details: expect.objectContaining({ actor: `service:${admin.name}` }) })]);
    const byActor = await eventsOf(`actor=${encodeURIComponent(`service:${admin.name}`)}`);
    expect(byActor.events.map((e) => e.type)).toEqual(['user_disabled']);
    const failed = (await eventsOf('type=signin_failed')).events;
    expect(failed.map((e) => e.email).sort()).toEqual([ada.email, bob.email, stranger].sort());
    // The sign-ups happened before the clock moved; the failures a minute after.
    const after = new Date(Date.parse(failed.at(-1)!.occurred_at)).toISOString();
    const since = (await eventsOf(`from=${encodeURIComponent(after)}&user=${bob.id}`)).events;
    expect(since.map((e) => e.type)).toEqual(['user_disabled', 'signin_failed']);
    const before = (await eventsOf(`to=${encodeURIComponent(after)}&user=${bob.id}`)).events;
    expect(before.map((e) => e.type)).toEqual(['signup']);
    const all = (await eventsOf(`user=${bob.email}&type=signin_failed&from=${after.slice(0, 10)}&to=9998-01-01`)).events;
    expect(all.map((e) => e.type)).toEqual(['signin_failed']);
  });

  it('pages by cursor: each event once, newest first, until next_cursor is null', async () => {
    const everything = (await eventsOf('limit=200')).events.map((e) => e.id);
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 50; n++) {
      const page: { events: Event[]; next_cursor: string | null } = await eventsOf(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(everything);
    expect((await eventsOf('')).events.length).toBe(Math.min(everything.length, 50));
  });

  it('answers bad filters 400 invalid_request naming the field, and injection attempts nothing or 400, never a 5xx', async () => {
    const bad: [string, string | undefined][] = [
      ['type=no_such_type', 'type'],
      ["type=signin_failed'--", 'type'],
      ['type=', 'type'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=1e2', 'limit'],
      ['cursor=garbage!', 'cursor'],
      ['cursor=Z2FyYmFnZQ', 'cursor'],
      [`cursor=${'A'.repeat(1000)}`, 'cursor'],
      ['from=2025-02-30', 'from'],
      ['from=yesterday', 'from'],
      ['from=2025-01-01T25:00:00Z', 'from'],
      ['to=0000-01-01', 'to'],
      ['to=275760-09-13', 'to'],
      ['from=2025-05-02&to=2025-05-01', 'to'],
      [`from=${'9'.repeat(10_000)}`, 'from'],
      ['user=not-a-user', 'user'],
      [`user=${'a'.repeat(10_000)}@example.com`, 'user'],
      ['user=%00@example.com', 'user'],
      [`actor=${'x'.repeat(201)}`, 'actor'],
      ['actor=a%0Ab', 'actor'],
    ];
    for (const [query, field] of bad) {
      const res = await search(query);
      expect(res.statusCode, query.slice(0, 60)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      if (field) expect(JSON.stringify(res.json().details ?? res.json().message), query.slice(0, 60)).toContain(field);
    }
    // Quotes, wildcards and SQL in a filter are values, matched exactly: nothing matches them.
    for (const query of ["actor=%25", "actor=user'%20OR%20'1'%3D'1", 'actor=*', 'user=%25%40%25', "user=x'%40example.com", 'user=%5C%40x']) {
      const res = await search(query);
      expect(res.statusCode, query).toBe(200);
      expect(res.json().events, query).toEqual([]);
    }
    // Arrays of a filter and unknown parameters: refused or ignored, never a 5xx.
    for (const query of ['type=signin_failed&type=signup', 'user=a&user=b', 'limit=1&limit=2', 'foo=bar', 'from[]=x']) {
      expect((await search(query)).statusCode, query).toBeLessThan(500);
    }
  });
});

describe('who may search the audit log', () => {
  it('answers 401 invalid_client without a good credential, and 403 insufficient_scope without the admin scope', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from(`${admin.client_id}:wrong`).toString('base64')}` }]) {
      const res = await call('GET', '/api/admin/audit-events', headers);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_client');
    }
    for (const who of [reader, feedOnly]) {
      const res = await search('type=signup', who);
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toBe('insufficient_scope');
    }
    // Checked before the query.
    expect((await search('type=nope', reader)).statusCode).toBe(403);
  });

  it('is in the OpenAPI document under the admin tag, with HTTP Basic, its filters and its errors', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    const op = doc.paths['/api/admin/audit-events']?.get;
    expect(op.tags).toEqual(['admin']);
    expect(op.security).toEqual([{ serviceClient: [] }]);
    expect(op.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['actor', 'cursor', 'from', 'limit', 'to', 'type', 'user']);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
  });
});
