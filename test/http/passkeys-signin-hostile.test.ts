import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { encodeCBOR } from '@levischuck/tiny-cbor';
import { and, eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, passkeys, sessions, users } from '../../src/db/schema.js';
import { SoftwareAuthenticator, type Bend } from '../helpers/authenticator.js';
import { bearer, PUBLIC_URL, useMailingApp, type TestApp } from '../helpers/app.js';
import { withPasskey, type WithPasskey } from '../helpers/passkeys.js';
import { serviceClients } from '../helpers/service-clients.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

// A hostile client against the passkey sign-in of signed challenges (src/auth/mfa/signin-challenges.ts) and the
// assertion check on node:crypto (src/auth/mfa/webauthn.ts `verifyAssertion`): one challenge, one session, however
// it is spelled or raced; every assertion the specification refuses, refused, and never a 5xx; a sign-in racing the
// removal of its passkey, a reset, a disable or a deletion opens no session that outlives them, and deadlocks nothing.

type Json = Record<string, unknown>;
type Res = Awaited<ReturnType<TestApp['inject']>>;
const post = (t: TestApp, url: string, payload?: Json, token?: string) =>
  t.inject({ method: 'POST', url, ...(payload ? { payload } : {}), ...(token ? { headers: bearer(token) } : {}) });
const options = async (t: TestApp) => (await post(t, '/api/signin/passkey/options')).json() as { challenge: string; challenge_id: string };
const answer = (t: TestApp, challengeId: string, response: unknown) => post(t, '/api/signin/passkey', { challenge_id: challengeId, response } as Json);
const passkeySignIn = async (t: TestApp, authenticator: SoftwareAuthenticator, bend: Bend = {}) => {
  const o = await options(t);
  return answer(t, o.challenge_id, authenticator.get(o, bend));
};
const refusedWith = (res: Res, error: string, what: string) => {
  expect(res.statusCode, `${what}: ${res.body}`).toBe(401);
  expect(res.json().error, what).toBe(error);
};
const sessionsOf = async (t: TestApp, userId: string) => t.deps.db.select().from(sessions).where(eq(sessions.userId, userId));
const liveSessionsOf = async (t: TestApp, userId: string) => (await sessionsOf(t, userId)).filter((s) => s.revokedAt === null);
const clonesOf = async (t: TestApp, userId: string) =>
  t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, userId), eq(auditEvents.type, 'passkey_clone_suspected')));

/** The same bytes in another base64url spelling: padded, or with the unused low bits of the last character set. */
function respellings(challenge: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(challenge.at(-1)!);
  const variants = [`${challenge}=`, `${challenge}==`];
  for (let low = 1; low < 4; low += 1) variants.push(challenge.slice(0, -1) + alphabet[last | low]);
  // Each decodes to the same 52 bytes.
  for (const v of variants) expect(Buffer.from(v, 'base64url').equals(Buffer.from(challenge, 'base64url')), v).toBe(true);
  return variants;
}

describe('one signed challenge signs in once, however it is spelled or raced', () => {
  const { t } = useMailingApp();

  it('refuses the same challenge spelled otherwise (padding, other trailing bits), before and after the right spelling signs in', async () => {
    const user = await withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, true));
    const o = await options(t);
    const variants = respellings(o.challenge_id);
    // The challenge is 52 bytes: 70 characters whose last carries 2 unused bits.
    expect(o.challenge_id).toHaveLength(70);
    expect(o.challenge).toBe(o.challenge_id);
    for (const v of variants) refusedWith(await answer(t, v, user.authenticator.get({ challenge: v })), 'invalid_passkey', `before: ${v}`);
    expect((await answer(t, o.challenge_id, user.authenticator.get(o))).statusCode).toBe(200);
    for (const v of variants) refusedWith(await answer(t, v, user.authenticator.get({ challenge: v })), 'invalid_passkey', `after: ${v}`);
    // The right spelling in the client data, another as challenge_id, and the other way round.
    for (const v of variants) {
      const fresh = await options(t);
      const w = respellings(fresh.challenge_id)[variants.indexOf(v)]!;
      refusedWith(await answer(t, w, user.authenticator.get(fresh)), 'invalid_passkey', `challenge_id ${w}`);
      refusedWith(await answer(t, fresh.challenge_id, user.authenticator.get({ challenge: w })), 'invalid_passkey', `client data ${w}`);
    }
    expect(await liveSessionsOf(t, user.id)).toHaveLength(2); // the password sign-in of withPasskey, and the one above
  });

  it('opens one session of twenty answers to one challenge at once, a synced passkey (counter 0) as well', async () => {
    for (const synced of [false, true]) {
      const user = await withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, synced));
      const before = (await sessionsOf(t, user.id)).length;
      const o = await options(t);
      // Twenty answers each signed afresh (for a device-bound passkey, counters 1 to 20, each one new to the server).
      const answers = Array.from({ length: 20 }, () => user.authenticator.get(o));
      const results = await Promise.all(answers.map((a) => answer(t, o.challenge_id, a)));
      expect(results.filter((r) => r.statusCode === 200), `synced ${synced}`).toHaveLength(1);
      for (const r of results.filter((r) => r.statusCode !== 200)) refusedWith(r, 'invalid_passkey', `synced ${synced}`);
      expect((await sessionsOf(t, user.id)).length - before).toBe(1);
    }
  });
});

describe('assertions the specification refuses', () => {
  const { t } = useMailingApp();
  let user: WithPasskey;
  beforeAll(async () => {
    user = await withPasskey(t);
  });
  const RP_ID = new URL(PUBLIC_URL).hostname;

  it('takes authenticator data with extension data under the ED flag, and refuses extension data without it, or the flag without data', async () => {
    const extensions = encodeCBOR(new Map([['credProtect', 2]]));
    expect((await passkeySignIn(t, user.authenticator, { extensions })).statusCode).toBe(200);
    refusedWith(await passkeySignIn(t, user.authenticator, { extensions, flags: 0x05 }), 'invalid_passkey', 'extensions without ED');
    refusedWith(await passkeySignIn(t, user.authenticator, { flags: 0x85 }), 'invalid_passkey', 'ED without extensions');
    refusedWith(await passkeySignIn(t, user.authenticator, { flags: 0x45 }), 'invalid_passkey', 'AT without attested credential data');
    refusedWith(await passkeySignIn(t, user.authenticator, { extensions: Buffer.from([0xa1, 0x61]) }), 'invalid_passkey', 'truncated extension CBOR');
  });

  it('refuses truncated authenticator data, and a signature as r||s, of another hash, or of another algorithm', async () => {
    const o = await options(t);
    const good = user.authenticator.get(o);
    const authData = Buffer.from(good.response.authenticatorData, 'base64url');
    for (const cut of [0, 1, 32, 33, 36]) {
      const res = await answer(t, o.challenge_id, { ...good, response: { ...good.response, authenticatorData: authData.subarray(0, cut).toString('base64url') || 'AA' } });
      refusedWith(res, 'invalid_passkey', `authenticator data of ${cut} bytes`);
    }
    refusedWith(await passkeySignIn(t, user.authenticator, { rawSignature: true }), 'invalid_passkey', 'ECDSA r||s');
    refusedWith(await passkeySignIn(t, user.authenticator, { hash: 'sha384' }), 'invalid_passkey', 'ECDSA over SHA-384');
    refusedWith(await passkeySignIn(t, user.authenticator, { hash: 'sha512' }), 'invalid_passkey', 'ECDSA over SHA-512');
    // Signed by an Ed25519 and an RSA key, on the P-256 passkey's credential id.
    for (const [type, hash] of [['ed25519', null], ['rsa', 'sha256']] as const) {
      const o2 = await options(t);
      const a = user.authenticator.get(o2);
      const { privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      const signed = Buffer.concat([Buffer.from(a.response.authenticatorData, 'base64url'), createHash('sha256').update(Buffer.from(a.response.clientDataJSON, 'base64url')).digest()]);
      const signature = sign(hash, signed, privateKey).toString('base64url');
      refusedWith(await answer(t, o2.challenge_id, { ...a, response: { ...a.response, signature } }), 'invalid_passkey', type);
    }
    // The right signature, over authenticator data for another RP ID.
    expect(createHash('sha256').update(RP_ID).digest().equals(authData.subarray(0, 32))).toBe(true);
    expect((await passkeySignIn(t, user.authenticator)).statusCode).toBe(200);
  });

  it('refuses the backed-up flag on a passkey that says it cannot be backed up (BS without BE), as the library did', async () => {
    const before = (await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId)))[0]!;
    // UP, UV and BS (0x10), without BE (0x08).
    refusedWith(await passkeySignIn(t, user.authenticator, { flags: 0x15 }), 'invalid_passkey', 'BS without BE');
    const after = (await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId)))[0]!;
    expect(after.backedUp).toBe(before.backedUp);
    // The same passkey with its flags as they are signs in.
    expect((await passkeySignIn(t, user.authenticator)).statusCode).toBe(200);
  });

  it('refuses a token binding in the client data that is not one (signed as it is), as the library did; takes a readable one', async () => {
    for (const tokenBinding of ['present', 5, {}, { status: 'bound' }]) {
      refusedWith(await passkeySignIn(t, user.authenticator, { clientData: { tokenBinding } }), 'invalid_passkey', `token binding ${JSON.stringify(tokenBinding)}`);
    }
    expect((await passkeySignIn(t, user.authenticator, { clientData: { tokenBinding: { status: 'supported' } } })).statusCode).toBe(200);
  });

  it('refuses another user’s handle, an empty or padded one, and id and rawId spelled apart', async () => {
    const other = await withPasskey(t);
    refusedWith(await passkeySignIn(t, user.authenticator, { userHandle: Buffer.from(other.id).toString('base64url') }), 'invalid_passkey', 'other handle');
    refusedWith(await passkeySignIn(t, user.authenticator, { userHandle: `${Buffer.from(user.id).toString('base64url')}=` }), 'invalid_passkey', 'padded handle');
    const o = await options(t);
    const a = user.authenticator.get(o);
    refusedWith(await answer(t, o.challenge_id, { ...a, rawId: `${a.rawId}=` }), 'invalid_passkey', 'rawId padded');
    const res = await answer(t, o.challenge_id, { ...a, response: { ...a.response, userHandle: '' } });
    expect(res.statusCode, res.body).toBe(400);
  });

  it('answers every malformed body 4xx, never 5xx', async () => {
    const o = await options(t);
    const a = user.authenticator.get(o);
    const cd = (json: unknown) => Buffer.from(typeof json === 'string' ? json : JSON.stringify(json)).toString('base64url');
    const bodies: [string, unknown][] = [
      ['no body', undefined],
      ['challenge_id missing', { response: a }],
      ['challenge_id a number', { challenge_id: 5, response: a }],
      ['challenge_id empty', { challenge_id: '', response: a }],
      ['response missing', { challenge_id: o.challenge_id }],
      ['response a string', { challenge_id: o.challenge_id, response: 'x' }],
      ['response.response missing', { challenge_id: o.challenge_id, response: { id: a.id, rawId: a.rawId, type: 'public-key' } }],
      ['id missing', { challenge_id: o.challenge_id, response: { ...a, id: undefined } }],
      ['type other', { challenge_id: o.challenge_id, response: { ...a, type: 'password' } }],
      ['signature not base64url', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, signature: '!!' } } }],
      ['userHandle a number', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, userHandle: 7 } } }],
      ['client data without challenge', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, clientDataJSON: cd({ type: 'webauthn.get', origin: PUBLIC_URL }) } } }],
      ['client data array', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, clientDataJSON: cd([o.challenge_id]) } } }],
      ['client data origin a number', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, clientDataJSON: cd({ type: 'webauthn.get', challenge: o.challenge_id, origin: 5 }) } } }],
      ['client data with a token binding', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, clientDataJSON: cd({ type: 'webauthn.get', challenge: o.challenge_id, origin: PUBLIC_URL, tokenBinding: 'x' }) } } }],
      ['client data of one byte', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, clientDataJSON: 'AA' } } }],
      ['authenticator data of one byte', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, authenticatorData: 'AA' } } }],
      ['signature of 1024 characters', { challenge_id: o.challenge_id, response: { ...a, response: { ...a.response, signature: 'A'.repeat(1024) } } }],
      ['challenge_id of 512 characters', { challenge_id: 'A'.repeat(512), response: a }],
      ['challenge_id with a NUL', { challenge_id: `${o.challenge_id}\u0000`, response: a }],
    ];
    for (const [what, body] of bodies) {
      const res = await t.inject({ method: 'POST', url: '/api/signin/passkey', ...(body === undefined ? {} : { payload: body as Json }) });
      expect(res.statusCode, `${what}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(500);
      expect(res.json().error, what).toEqual(expect.any(String));
    }
    // The answer itself was never spent by any of those.
    expect((await answer(t, o.challenge_id, a)).statusCode).toBe(200);
  });
});

describe('counters', () => {
  const { t } = useMailingApp();

  it('refuses a counter gone back, audited as a clone; takes a synced passkey’s 0 and then a counter it starts sending, never 0 again', async () => {
    const user = await withPasskey(t);
    expect((await passkeySignIn(t, user.authenticator, { counter: 10 })).statusCode).toBe(200);
    refusedWith(await passkeySignIn(t, user.authenticator, { counter: 9 }), 'invalid_passkey', 'counter 9 after 10');
    refusedWith(await passkeySignIn(t, user.authenticator, { counter: 0 }), 'invalid_passkey', 'counter 0 after 10');
    expect(await clonesOf(t, user.id)).toHaveLength(2);
    const synced = await withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, true));
    expect((await passkeySignIn(t, synced.authenticator)).statusCode).toBe(200);
    expect((await passkeySignIn(t, synced.authenticator)).statusCode).toBe(200);
    expect((await passkeySignIn(t, synced.authenticator, { counter: 3 })).statusCode).toBe(200);
    refusedWith(await passkeySignIn(t, synced.authenticator, { counter: 0 }), 'invalid_passkey', 'synced 0 after 3');
    expect(await clonesOf(t, synced.id)).toHaveLength(1);
  });
});

describeUnless(NO_POSTGRES)('a passkey sign-in racing a change of its user (PostgreSQL)', () => {
  const { t, smtp } = useMailingApp();
  let sql: pg.Pool;
  beforeAll(() => {
    sql = new pg.Pool({ connectionString: t.database.url, max: 3 });
  });
  afterAll(async () => {
    await sql?.end();
  });

  async function waitingForLocks(n: number) {
    for (let i = 0; i < 500; i++) {
      const { rows } = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if (rows[0]!.n >= n) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${n} requests never queued for the user's row lock`);
  }

  function expectNoDeadlockLogged(from: number) {
    const logs = t.logs.slice(from).join('');
    expect(logs).not.toContain('40P01');
    expect(logs).not.toContain('deadlock');
    expect(logs).not.toContain('database unavailable');
  }

  /**
   * A second connection holds the user's row as a change of their factors or credentials does (FOR NO KEY UPDATE);
   * the sign-in, its signature checked, queues behind it; then `change` runs in the holder's transaction, which commits.
   */
  async function signInBehind(user: WithPasskey, change: (c: pg.PoolClient) => Promise<unknown>): Promise<Res> {
    const holder = await sql.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [user.id]);
      const signin = passkeySignIn(t, user.authenticator);
      await waitingForLocks(1);
      await change(holder);
      await holder.query('COMMIT');
      return await signin;
    } catch (err) {
      await holder.query('ROLLBACK');
      throw err;
    } finally {
      holder.release();
    }
  }

  it('a passkey removed while its sign-in waited: no session, and no clone suspected (nor its owner mailed)', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const sessionsBefore = (await sessionsOf(t, user.id)).length;
    const res = await signInBehind(user, (c) => c.query('DELETE FROM passkeys WHERE id = $1', [user.passkeyId]));
    refusedWith(res, 'invalid_passkey', 'removed passkey');
    expect((await sessionsOf(t, user.id)).length).toBe(sessionsBefore);
    expect(await clonesOf(t, user.id)).toEqual([]);
    // No "A passkey of yours may have been copied" mail: the one mail the owner had was the passkey's registration.
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === 'A passkey of yours may have been copied')).toEqual([]);
    expectNoDeadlockLogged(logged);
  });

  it('the removal route itself, queued ahead of the sign-in: the passkey goes, no session, no clone suspected', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const sessionsBefore = (await sessionsOf(t, user.id)).length;
    const holder = await sql.connect();
    let removed: Res;
    let signin: Res;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [user.id]);
      const removal = t.inject({
        method: 'DELETE',
        url: `/api/me/passkeys/${user.passkeyId}`,
        headers: bearer(user.token),
        payload: { password: user.password, recovery_code: user.recoveryCodes[0] },
      });
      await waitingForLocks(1);
      const signingIn = passkeySignIn(t, user.authenticator);
      await waitingForLocks(2);
      await holder.query('COMMIT');
      [removed, signin] = await Promise.all([removal, signingIn]);
    } finally {
      holder.release();
    }
    expect(removed.statusCode, removed.body).toBe(200);
    refusedWith(signin, 'invalid_passkey', 'sign-in behind the removal');
    expect((await sessionsOf(t, user.id)).length).toBe(sessionsBefore);
    expect(await clonesOf(t, user.id)).toEqual([]);
    expectNoDeadlockLogged(logged);
  });

  it('a reset (new password time and not-before) committed while the sign-in waited: no session', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const sessionsBefore = (await sessionsOf(t, user.id)).length;
    const res = await signInBehind(user, (c) => c.query("UPDATE users SET password_changed_at = now(), not_before = date_trunc('second', now()) + interval '1 second' WHERE id = $1", [user.id]));
    refusedWith(res, 'invalid_credentials', 'reset first');
    expect((await sessionsOf(t, user.id)).length).toBe(sessionsBefore);
    expectNoDeadlockLogged(logged);
  });

  it('a disable committed while the sign-in waited: no session', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const sessionsBefore = (await sessionsOf(t, user.id)).length;
    const res = await signInBehind(user, (c) => c.query('UPDATE users SET disabled_at = now() WHERE id = $1', [user.id]));
    expect(res.statusCode, res.body).toBe(401);
    expect((await sessionsOf(t, user.id)).length).toBe(sessionsBefore);
    expectNoDeadlockLogged(logged);
  });

  it('a deletion committed while the sign-in waited: no session, no 5xx', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const res = await signInBehind(user, (c) => c.query('DELETE FROM users WHERE id = $1', [user.id]));
    expect(res.statusCode, res.body).toBe(401);
    expect(await sessionsOf(t, user.id)).toEqual([]);
    expectNoDeadlockLogged(logged);
  });

  it('a step-up whose passkey is removed while its counter waits: refused, and no clone suspected', async () => {
    const user = await withPasskey(t);
    const logged = t.logs.length;
    const o = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    const holder = await sql.connect();
    let res: Res;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM passkeys WHERE id = $1 FOR UPDATE', [user.passkeyId]);
      const stepUp = post(t, '/api/me/mfa/step-up', { passkey: user.authenticator.get(o) }, user.token);
      await waitingForLocks(1);
      await holder.query('DELETE FROM passkeys WHERE id = $1', [user.passkeyId]);
      await holder.query('COMMIT');
      res = await stepUp;
    } finally {
      holder.release();
    }
    expect(res.statusCode, res.body).toBe(401);
    expect(await clonesOf(t, user.id)).toEqual([]);
    expectNoDeadlockLogged(logged);
  });
});

describe('sign-ins racing the changes of their users, through the routes', () => {
  const { t } = useMailingApp();
  const clients = serviceClients(() => t, 'passkey-crowd');

  function expectNoDeadlockLogged(from: number) {
    const logs = t.logs.slice(from).join('');
    expect(logs).not.toContain('40P01');
    expect(logs).not.toContain('deadlock');
    expect(logs).not.toContain('database unavailable');
  }

  it('many sign-ins racing removals, disables and deletions: never a 5xx, never a live session left to a removed passkey or a disabled or deleted user', async () => {
    const admin = clients.auth(await clients.client(['admin']));
    const logged = t.logs.length;
    // Synced passkeys (counter 0): three sign-ins of one at once cannot arrive with their counters out of order, so any
    // clone suspected would be the race's.
    const racers = await Promise.all(Array.from({ length: 12 }, () => withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, true))));
    const plays = racers.map((user, i) => {
      const signins = Array.from({ length: 3 }, () => passkeySignIn(t, user.authenticator));
      const kind = i % 3;
      const change =
        kind === 0
          ? t.inject({ method: 'DELETE', url: `/api/me/passkeys/${user.passkeyId}`, headers: bearer(user.token), payload: { password: user.password, recovery_code: user.recoveryCodes[0] } })
          : kind === 1
            ? t.inject({ method: 'POST', url: `/api/admin/users/${user.id}/disable`, headers: admin })
            : t.inject({ method: 'DELETE', url: `/api/admin/users/${user.id}`, headers: admin });
      return Promise.all([change, ...signins]);
    });
    const answers = (await Promise.all(plays)).flat();
    for (const r of answers) expect(r.statusCode, r.body).toBeLessThan(500);
    for (const [i, user] of racers.entries()) {
      if (i % 3 === 0) {
        expect(await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId))).toEqual([]);
        expect(await clonesOf(t, user.id), 'no clone alarm for a removed passkey').toEqual([]);
      } else {
        const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
        if (i % 3 === 1) expect(row!.disabledAt).not.toBeNull();
        else expect(row).toBeUndefined();
        expect(await liveSessionsOf(t, user.id)).toEqual([]);
      }
    }
    expectNoDeadlockLogged(logged);
  });
});
