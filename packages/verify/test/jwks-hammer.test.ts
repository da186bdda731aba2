import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type Verifier } from '../src/index.js';
import { AUDIENCE, b64url, httpServer, ISSUER, makeKey, memoryLogger, token, type TestKey } from './helpers.js';

/**
 * An attacker's view of the verifier's JWKS fetches: bursts of forged tokens (a known kid with a bad
 * signature, or a new kid each) while Latchkey's JWKS endpoint fails or answers slowly. What a JWKS
 * server receives is counted: one fetch in flight at a time, the cooldown for every cause, back-off
 * after failures.
 */
describe('the verifier under a burst of forged tokens', () => {
  let key: TestKey;
  const state = { status: 200, delayMs: 0, fetches: 0, inFlight: 0, maxInFlight: 0 };
  let server: Awaited<ReturnType<typeof httpServer>>;
  const verifiers: Verifier[] = [];
  let now = Date.now();

  async function make() {
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${server.url}/.well-known/jwks.json`, logger: memoryLogger(), now: () => now });
    verifiers.push(v);
    await v.ready().catch(() => undefined);
    return v;
  }

  /** `count` tokens sent as an attacker would: batches of concurrent requests, a few milliseconds apart. */
  async function burst(v: Verifier, tokens: () => string, count: number) {
    for (let sent = 0; sent < count; sent += 100) {
      await Promise.all(Array.from({ length: Math.min(100, count - sent) }, () => v.verify(tokens()).catch(() => undefined)));
      await new Promise((r) => setTimeout(r, 5));
    }
    // Let a fetch started by the last batch land.
    await new Promise((r) => setTimeout(r, 50 + state.delayMs));
  }

  /** A token under the published kid whose signature is not the key's. */
  let forged: string;
  const unknownKid = () =>
    `${b64url({ alg: 'ES256', typ: 'at+jwt', kid: `forged-${Math.random().toString(36).slice(2)}` })}.${b64url({ sub: 'x' })}.${b64url('sig')}`;

  beforeAll(async () => {
    key = await makeKey('ES256');
    server = await httpServer((req, res) => {
      state.fetches += 1;
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      setTimeout(() => {
        state.inFlight -= 1;
        if (state.status !== 200) res.writeHead(state.status).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.jwk] }));
      }, state.delayMs);
    });
    const good = await token(key);
    forged = `${good.slice(0, good.lastIndexOf('.'))}.${b64url('x'.repeat(64))}`;
  });
  afterAll(async () => {
    for (const v of verifiers) v.close();
    await server?.close();
  });

  function reset(status: number, delayMs = 0) {
    Object.assign(state, { status, delayMs, fetches: 0, maxInFlight: 0 });
  }

  it('after a failed background refresh, 2,000 forged tokens cause no further fetch until the back-off has passed', async () => {
    reset(200);
    const v = await make();
    expect(state.fetches).toBe(1);
    // The keys go stale while the endpoint fails.
    reset(503);
    now += 301_000;
    await burst(v, () => forged, 2000);
    expect(state.fetches).toBe(1);
    await burst(v, unknownKid, 2000);
    expect(state.fetches).toBe(1);
    // Backing off: the next attempt after the cooldown, and later ones further apart while it still fails.
    now += 30_000;
    await burst(v, () => forged, 500);
    expect(state.fetches).toBe(2);
    now += 30_000;
    await burst(v, unknownKid, 500);
    expect(state.fetches).toBe(2);
    now += 30_000;
    await burst(v, unknownKid, 500);
    expect(state.fetches).toBe(3);
    // Mended: the next allowed fetch succeeds and the keys verify again.
    reset(200);
    now += 300_000;
    await burst(v, () => forged, 100);
    expect(state.fetches).toBe(1);
    expect((await v.verify(await token(key, { now }))).sub).toBe('user-1');
  });

  it('200 tokens with as many unknown kids cause at most one fetch per cooldown, the endpoint up or failing', async () => {
    reset(200);
    const v = await make();
    reset(200);
    await burst(v, unknownKid, 200);
    expect(state.fetches).toBe(0);
    now += 30_000;
    await burst(v, unknownKid, 200);
    expect(state.fetches).toBe(1);
    reset(503);
    now += 30_000;
    await burst(v, unknownKid, 200);
    expect(state.fetches).toBe(1);
    await burst(v, unknownKid, 200);
    expect(state.fetches).toBe(1);
  });

  it('with nothing loaded and the endpoint failing, backs off (1 s, 2 s, 4 s...) instead of one fetch a token', async () => {
    reset(503);
    const v = await make();
    expect(state.fetches).toBe(1);
    await burst(v, unknownKid, 2000);
    expect(state.fetches).toBe(1);
    const attempts: number[] = [];
    for (let second = 1; second <= 8; second++) {
      now += 1_000;
      await burst(v, unknownKid, 100);
      attempts.push(state.fetches);
    }
    // Retries at 1, 3 and 7 s after the first failure.
    expect(attempts).toEqual([2, 2, 3, 3, 3, 3, 4, 4]);
  });

  it('keeps one fetch in flight at a time, however slow the endpoint and however many tokens wait', async () => {
    reset(200);
    const v = await make();
    reset(200, 300);
    now += 301_000;
    await burst(v, unknownKid, 1000);
    expect(state.maxInFlight).toBe(1);
    expect(state.fetches).toBe(1);
  });
});
