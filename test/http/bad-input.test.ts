import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

let t: TestApp;
let port: number;
beforeAll(async () => {
  // Trace level: the most a server can log, so the log checks below see everything.
  t = await startTestApp({ env: { LOG_LEVEL: 'trace' } });
  port = Number(new URL(await t.listen()).port);
});
afterAll(() => t.close());

/** Sends raw bytes on a fresh connection; resolves with everything the server answered before closing. */
function raw(bytes: string | Buffer, opts: { hangUpAfterMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', (err) => (opts.hangUpAfterMs === undefined ? reject(err) : resolve(answer)));
    socket.write(bytes);
    if (opts.hangUpAfterMs !== undefined) setTimeout(() => socket.destroy(), opts.hangUpAfterMs);
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
const errorLines = () => t.logs.filter((line) => JSON.parse(line).level >= 50);

describe('bad input gets a clear 4xx', () => {
  it('refuses control characters in a name with 400, and logs neither the hash nor the email', async () => {
    const email = uniqueEmail();
    for (const name of ['Bad\u0000Name', 'Line\nbreak', 'Tab\there', '\u007f']) {
      const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name, email, password: GOOD_PASSWORD } });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      expect(res.json().details).toEqual([{ field: 'name', message: expect.any(String) }]);
    }
    expect(errorLines()).toEqual([]);
    expect(t.logs.join('')).not.toContain(email);
    expect(t.logs.join('')).not.toContain('$argon2id$');
  });

  it('lists every problem of a body in details, not only the first', async () => {
    const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: '', email: 'not an email' } });
    expect(res.statusCode).toBe(400);
    const fields = [...new Set((res.json().details as { field: string }[]).map((d) => d.field))].sort();
    expect(fields).toEqual(['email', 'name', 'password']);
  });

  it('accepts an empty body labelled JSON on the routes that take none (logout, refresh)', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const json = { 'content-type': 'application/json' };
    const refreshed = await t.inject({ method: 'POST', url: '/api/refresh', headers: { ...bearer(tokens.refresh_token), ...json }, payload: '' });
    expect(refreshed.statusCode).toBe(200);
    const out = await t.inject({ method: 'POST', url: '/api/logout', headers: { ...bearer(refreshed.json().access_token), ...json }, payload: '' });
    expect(out.statusCode).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(refreshed.json().access_token) })).statusCode).toBe(401);
    // Elsewhere an empty JSON body is still an error.
    const signin = await t.inject({ method: 'POST', url: '/api/signin', headers: json, payload: '' });
    expect(signin.statusCode).toBe(400);
    expect(signin.json().error).toBe('malformed_json');
  });
});

describe('requests Node\'s HTTP parser refuses get the documented error body', () => {
  it('a malformed request line: 400 invalid_request', async () => {
    const answer = await raw('GARBAGE\r\n\r\n');
    expect(statusOf(answer)).toBe(400);
    expect(bodyOf(answer)).toEqual({ error: 'invalid_request', message: expect.any(String) });
  });

  it('headers over the limit: 431 headers_too_large', async () => {
    const answer = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(statusOf(answer)).toBe(431);
    expect(bodyOf(answer).error).toBe('headers_too_large');
  });

  it('an Expect header other than 100-continue: 417 expectation_failed', async () => {
    const answer = await raw('POST /api/signin HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\nContent-Length: 2\r\n\r\n{}');
    expect(statusOf(answer)).toBe(417);
    expect(bodyOf(answer).error).toBe('expectation_failed');
  });

  it('never logs the raw bytes of a refused request, password and bearer token included', async () => {
    const secret = 'a-raw-password-never-to-be-logged';
    const bearerToken = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW5ldmVyLWxvZ2dlZA';
    await raw(`POST /api/signin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearerToken}\r\nContent-Length: 5\r\nBad Header\r\n\r\n{"password":"${secret}"}`);
    await raw(`POST /api/signin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearerToken}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${secret}\r\n0\r\n\r\n`);
    const logs = t.logs.join('');
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(bearerToken);
    // Node attaches the raw bytes to the parser's error; logged whole, they would appear as a byte array.
    expect(logs).not.toContain('rawPacket');
  });
});

describe('logs', () => {
  it('log a client hanging up mid-body at debug level, never as a database failure', async () => {
    const before = t.logs.length;
    await raw('POST /api/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":', { hangUpAfterMs: 100 });
    await new Promise((r) => setTimeout(r, 200));
    const lines = t.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(lines.some((l) => /database/i.test(l.msg))).toBe(false);
  });

  it('never hold a token pasted into a path, percent-encoded or not', async () => {
    const resetToken = 'Zm9yLXRoZS1sb2dzLXRoaXMtaXMtYS1yZXNldC10b2tlbg';
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbm90aGVyIn0.bm90LWEtcmVhbC1zaWduYXR1cmUtZWl0aGVy';
    for (const url of [`/reset%2Dpassword/${resetToken}`, `/reset-password/${resetToken}`, `/api/${jwt}`, `/api/dashboard/${jwt}`, `/x?token=${jwt}`]) {
      await fetch(`http://127.0.0.1:${port}${url}`);
    }
    const logs = t.logs.join('');
    expect(logs).not.toContain(resetToken);
    expect(logs).not.toContain(jwt.split('.')[2]);
    expect(logs).not.toContain(jwt.split('.')[0]);
  });

  it('never hold a failed query\'s parameters', async () => {
    const { serializeError } = await import('../../src/logging.js');
    const failed = Object.assign(new Error('Failed query: insert into "users" ("email") values ($1)\nparams: secret@example.com,$argon2id$v=19$hash'), {
      name: 'DrizzleQueryError',
      cause: Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021', detail: 'secret@example.com' }),
    });
    const logged = JSON.stringify(serializeError(failed));
    expect(logged).toContain('Failed query: insert into');
    expect(logged).toContain('22021');
    expect(logged).not.toContain('secret@example.com');
    expect(logged).not.toContain('argon2id');
  });
});

describe('second factors and passkeys: bad bodies get a 4xx with a stable code, never a 5xx', () => {
  it('refuses malformed codes, tokens, WebAuthn answers and ids, and logs no error', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const answer = (response: Record<string, unknown>) => ({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response });
    const assertion = (clientDataJSON: string) => answer({ clientDataJSON, authenticatorData: 'AAAA', signature: 'AAAA' });
    const cases: [string, string, unknown, string, number][] = [
      ['POST', '/api/signin/mfa', { mfa_token: 'x', code: '12345' }, 'invalid_request', 400],
      ['POST', '/api/signin/mfa', { mfa_token: 'x', code: '123456', recovery_code: 'AAAA-BBBB-CCCC' }, 'invalid_request', 400],
      ['POST', '/api/signin/mfa', { mfa_token: '', code: '123456' }, 'invalid_request', 400],
      ['POST', '/api/signin/mfa', { mfa_token: 'x', passkey: 'not an answer' }, 'invalid_request', 400],
      ['POST', '/api/signin/mfa', { mfa_token: 'x', code: '123456' }, 'invalid_mfa_token', 401],
      ['POST', '/api/signin/mfa/passkey-options', { mfa_token: 'x'.repeat(600) }, 'invalid_request', 400],
      ['POST', '/api/signin/mfa/passkey-options', { mfa_token: 'unknown' }, 'invalid_mfa_token', 401],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: answer({}) }, 'invalid_request', 400],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: { ...assertion('AAAA'), type: 'password' } }, 'invalid_request', 400],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: assertion('not base64url!') }, 'invalid_request', 400],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: assertion('A'.repeat(5000)) }, 'invalid_request', 400],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: assertion(b64('not json')) }, 'invalid_passkey', 401],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: assertion(b64('{"challenge":{"a":1}}')) }, 'invalid_passkey', 401],
      ['POST', '/api/signin/passkey', { challenge_id: 'x', response: assertion(b64('{"challenge":"x"}')) }, 'invalid_passkey', 401],
      ['POST', '/api/me/mfa/totp/confirm', { code: '1234567' }, 'invalid_request', 400],
      ['POST', '/api/me/mfa/step-up', { recovery_code: 'not a code' }, 'invalid_request', 400],
      ['POST', '/api/me/passkeys', { response: answer({ clientDataJSON: b64('[]'), attestationObject: 'AAAA' }) }, 'invalid_passkey_registration', 400],
      ['POST', '/api/me/passkeys', { response: answer({ clientDataJSON: 'AAAA', attestationObject: 'AAAA' }), name: 'a\u0000b' }, 'invalid_request', 400],
      ['PATCH', '/api/me/passkeys/not-a-uuid', { name: 'x' }, 'invalid_request', 400],
      ['PATCH', '/api/me/passkeys/00000000-0000-4000-8000-000000000000', { name: '' }, 'invalid_request', 400],
      ['PATCH', '/api/me/passkeys/00000000-0000-4000-8000-000000000000', { name: 'x' }, 'passkey_not_found', 404],
      ['DELETE', '/api/me/passkeys/00000000-0000-4000-8000-000000000000', { password: user.password }, 'passkey_not_found', 404],
    ];
    for (const [method, url, payload, error, status] of cases) {
      const res = await t.inject({ method: method as 'POST', url, payload: payload as Record<string, unknown>, headers: bearer(access_token) });
      expect([res.statusCode, res.json().error], `${method} ${url} ${JSON.stringify(payload).slice(0, 120)}`).toEqual([status, error]);
    }
    expect(errorLines()).toEqual([]);
  });
});
