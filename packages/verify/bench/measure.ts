/**
 * How fast @latchkey/verify verifies, against raw node:crypto ES256 verification on the same core. A JWKS
 * of its own is served on loopback; no Latchkey needed. Used by verify.ts (this package's own script)
 * and by Latchkey's `npm run bench -- --only=verify`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, verify } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createVerifier } from '../src/index.js';

export interface VerifyRates {
  /** node:crypto alone on the same tokens, per second (median round). */
  raw: number;
  /** New tokens through a verifier that caches nothing, per second (median round). */
  fresh: number;
  /** One token seen before, per second. */
  seen: number;
  rounds: { raw: number[]; fresh: number[] };
}

export async function measureVerify(opts: { tokens?: number; rounds?: number; seenVerifications?: number } = {}): Promise<VerifyRates> {
  const N = opts.tokens ?? 20_000;
  const ROUNDS = opts.rounds ?? 5;
  const M = opts.seenVerifications ?? 1_000_000;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;

  const issuer = 'https://auth.example.test';
  const now = Math.floor(Date.now() / 1000);
  const sign = (i: number) =>
    new SignJWT({ iss: issuer, aud: 'latchkey', sub: `user-${i}`, sid: `session-${i}`, jti: `jti-${i}`, auth_time: now, iat: now, exp: now + 900 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .sign(privateKey);

  const tokens = await Promise.all(Array.from({ length: N }, (_, i) => sign(i)));
  const verifier = createVerifier({ issuer, audience: 'latchkey', jwksUrl: url, cacheSize: N * 2 });
  // New tokens every time: a verifier that caches nothing.
  const uncached = createVerifier({ issuer, audience: 'latchkey', jwksUrl: url, cacheSize: 0 });
  try {
    await Promise.all([verifier.ready(), uncached.ready()]);
    const rate = (count: number, start: number) => Math.round(count / ((performance.now() - start) / 1000));

    // Raw: node:crypto alone on the same tokens (the signature only: no parsing, no claims).
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const rawRound = () => {
      const start = performance.now();
      for (const t of tokens) {
        const dot = t.lastIndexOf('.');
        if (!verify('sha256', Buffer.from(t.slice(0, dot)), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(t.slice(dot + 1), 'base64url'))) throw new Error('raw');
      }
      return rate(N, start);
    };
    const freshRound = async () => {
      const start = performance.now();
      for (const t of tokens) await uncached.verify(t);
      return rate(N, start);
    };
    // Alternated rounds, after a warm-up of each; the medians are compared.
    rawRound();
    await freshRound();
    const raws: number[] = [];
    const freshes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raws.push(rawRound());
      freshes.push(await freshRound());
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    for (const t of tokens) await verifier.verify(t);
    const seenToken = tokens[0]!;
    const start = performance.now();
    for (let i = 0; i < M; i++) await verifier.verify(seenToken);
    return { raw: median(raws), fresh: median(freshes), seen: rate(M, start), rounds: { raw: raws, fresh: freshes } };
  } finally {
    verifier.close();
    uncached.close();
    server.close();
  }
}
