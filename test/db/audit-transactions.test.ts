import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSigningKeys, revokeSigningKey, rotateSigningKeys } from '../../src/auth/keys/key-admin.js';
import { createServiceClient, listServiceClients, removeServiceClient, rotateServiceClientSecret } from '../../src/auth/service-clients/service-clients.js';
import { createUserByOperator, deleteUser, disableUser, enableUser, revokeUserSessions, showUser } from '../../src/auth/users/user-admin.js';
import type { AuditEventType } from '../../src/core/audit.js';
import { rowsOf } from '../../src/db/client.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

// An audit row of a change exists if and only if the change committed: it is written in the change's
// transaction. A deferred trigger fails the commit of any transaction that wrote an audit row of a doomed
// type, after every statement of it (the audit insert included): the change must then be gone too.
let t: TestApp;
const ACTOR = 'test:audit';

beforeAll(async () => {
  t = await startTestApp();
  await t.deps.db.execute('CREATE TABLE audit_doom (type text PRIMARY KEY)');
  await t.deps.db.execute(`
    CREATE FUNCTION audit_doom() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM audit_doom WHERE type = NEW.type) THEN RAISE EXCEPTION 'doomed audit event %', NEW.type; END IF;
      RETURN NULL;
    END $$`);
  await t.deps.db.execute(`
    CREATE CONSTRAINT TRIGGER audit_doom AFTER INSERT ON audit_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_doom()`);
});

afterAll(async () => {
  await t?.close();
});

async function auditRows(type: AuditEventType, where: string): Promise<number> {
  const [row] = rowsOf<{ n: string | number }>(await t.deps.db.execute(`SELECT count(*) AS n FROM audit_events WHERE type = '${type}' AND ${where}`));
  return Number(row?.n);
}

/** Runs `change` while `type` is doomed (it must fail, and leave no row), then for real (exactly one row). */
async function expectAtomic<T>(type: AuditEventType, where: () => string, change: () => Promise<T>, unchanged: () => Promise<void>): Promise<T> {
  await t.deps.db.execute(`INSERT INTO audit_doom VALUES ('${type}')`);
  try {
    await expect(change()).rejects.toThrow();
  } finally {
    await t.deps.db.execute(`DELETE FROM audit_doom WHERE type = '${type}'`);
  }
  expect(await auditRows(type, where())).toBe(0);
  await unchanged();
  const result = await change();
  expect(await auditRows(type, where())).toBe(1);
  return result;
}

const userCount = async (email: string) => Number(rowsOf<{ n: string }>(await t.deps.db.execute(`SELECT count(*) AS n FROM users WHERE email = '${email}'`))[0]?.n);
const throwUnless = async (res: { statusCode: number; body: string }, status: number) => {
  if (res.statusCode !== status) throw new Error(`${res.statusCode} ${res.body}`);
  return res;
};

describe('audit rows are written in the transaction of their change', () => {
  it('signup and an operator creating a user', async () => {
    const email = uniqueEmail('signup');
    const signup = () => t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'A', email, password: GOOD_PASSWORD } }).then((r) => throwUnless(r, 201));
    await expectAtomic('signup', () => `email = '${email}'`, signup, async () => expect(await userCount(email)).toBe(0));
    const created = uniqueEmail('created');
    const create = () => createUserByOperator(t.deps, { email: created, name: 'B', password: GOOD_PASSWORD }, ACTOR);
    await expectAtomic('user_created', () => `email = '${created}'`, create, async () => expect(await userCount(created)).toBe(0));
  });

  it('a sign-in that opens a session, and a logout', async () => {
    const user = await signUp(t);
    const sessionsOf = async () => Number(rowsOf<{ n: string }>(await t.deps.db.execute(`SELECT count(*) AS n FROM sessions WHERE user_id = '${user.id}'`))[0]?.n);
    const signin = () => t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } }).then((r) => throwUnless(r, 200));
    await expectAtomic('signin_succeeded', () => `user_id = '${user.id}'`, signin, async () => expect(await sessionsOf()).toBe(0));

    const tokens = await signIn(t, user.email);
    const logout = () => t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) }).then((r) => throwUnless(r, 200));
    const live = async () => expect((await showUser(t.deps, user.id)).active_sessions).toBe(2);
    await expectAtomic('logout', () => `user_id = '${user.id}'`, logout, live);
    expect((await showUser(t.deps, user.id)).active_sessions).toBe(1);
  });

  it('disabling, enabling, revoking sessions and deleting a user', async () => {
    const user = await signUp(t);
    await signIn(t, user.email);
    const where = () => `email = '${user.email}'`;
    await expectAtomic('user_disabled', where, () => disableUser(t.deps, user.id, ACTOR), async () => {
      const shown = await showUser(t.deps, user.id);
      expect(shown.disabled_at).toBeNull();
      expect(shown.active_sessions).toBe(1);
    });
    await expectAtomic('user_enabled', where, () => enableUser(t.deps, user.id, ACTOR), async () => {
      expect((await showUser(t.deps, user.id)).disabled_at).not.toBeNull();
    });
    await signIn(t, user.email);
    await expectAtomic('sessions_revoked', where, () => revokeUserSessions(t.deps, user.id, ACTOR), async () => {
      expect((await showUser(t.deps, user.id)).active_sessions).toBe(1);
    });
    const deleted = await expectAtomic('user_deleted', where, () => deleteUser(t.deps, user.id, ACTOR), async () => {
      expect(await userCount(user.email)).toBe(1);
    });
    expect(deleted.user.id).toBe(user.id);
    expect(await userCount(user.email)).toBe(0);
  });

  it('rotating the signing key', async () => {
    const kids = async () => (await listSigningKeys(t.deps)).map((k) => k.kid);
    const before = await kids();
    const rotated = await expectAtomic('signing_key_rotated', () => `details->>'actor' = '${ACTOR}'`, () => rotateSigningKeys(t.deps, ACTOR), async () => {
      expect(await kids()).toEqual(before);
    });
    expect(await kids()).toContain(rotated.kid);
  });

  it('revoking the signing key: a failed revocation leaves the key signing and makes no new one', async () => {
    const kid = t.deps.keys.current.kid;
    const keys = async () => (await listSigningKeys(t.deps)).map((k) => `${k.kid}:${k.state}`);
    const before = await keys();
    const done = await expectAtomic('signing_key_revoked', () => `details->>'kid' = '${kid}'`, () => revokeSigningKey(t.deps, kid, ACTOR), async () => {
      expect(await keys()).toEqual(before);
      expect(t.deps.keys.current.kid).toBe(kid);
      expect(t.deps.revocations.isKeyRevoked(kid)).toBe(false);
    });
    expect(done.new_key!.kid).not.toBe(kid);
    expect(t.deps.keys.byKid(kid)).toBeUndefined();
  });

  it('creating, rotating and removing a service client', async () => {
    const where = () => `details->>'name' = 'audited'`;
    const names = async () => (await listServiceClients(t.deps)).map((c) => c.name);
    await expectAtomic('service_client_created', where, () => createServiceClient(t.deps, { name: 'audited', scopes: ['admin'] }, ACTOR), async () => {
      expect(await names()).not.toContain('audited');
    });
    await expectAtomic('service_client_secret_rotated', where, () => rotateServiceClientSecret(t.deps, 'audited', ACTOR), async () => {
      expect((await listServiceClients(t.deps)).find((c) => c.name === 'audited')?.secret_rotated_at).toBeNull();
    });
    await expectAtomic('service_client_removed', where, () => removeServiceClient(t.deps, 'audited', ACTOR), async () => {
      expect(await names()).toContain('audited');
    });
    expect(await names()).not.toContain('audited');
  });
});
