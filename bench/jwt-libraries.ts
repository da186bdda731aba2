// Why Latchkey carries two JWT libraries: jose for keys (generation, JWK import and export, thumbprints),
// fast-jwt for the tokens it signs and verifies on every request. This part measures that second choice:
// access tokens signed and verified by fast-jwt (node:crypto, on the calling thread, as
// src/auth/sessions/access-tokens.ts does) against jose (WebCrypto, whose work is queued on libuv's thread
// pool), alone and while password hashes keep that pool busy, as they do under a sign-in load.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import argon2 from 'argon2';
import { createSigner, createVerifier } from 'fast-jwt';
import { jwtVerify, SignJWT } from 'jose';
import type { ReportPart } from './lib.js';

const ISSUER = 'https://auth.bench.test';
const AUDIENCE = 'bench';
const TOKENS = 2_000;
const ROUNDS = 3;
// A library must reach this share of the other's rate to take over the tokens without a loss.
const PARITY = 0.9;

type Alg = 'ES256' | 'EdDSA';

interface Keys {
  alg: Alg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  privatePem: string;
  publicPem: string;
}

function keysFor(alg: Alg): Keys {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const privatePem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return { alg, privateKey: createPrivateKey(privatePem), publicKey: createPublicKey(publicPem), privatePem, publicPem };
}

function claims() {
  const iat = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), auth_time: iat, iat, exp: iat + 900 };
}

/** Operations per second over `count` calls, the calls of one batch in flight together (as requests are). */
async function rate(count: number, op: (i: number) => unknown): Promise<number> {
  const started = process.hrtime.bigint();
  const batch = 64;
  for (let i = 0; i < count; i += batch) {
    const pending: unknown[] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) pending.push(op(j));
    await Promise.all(pending);
  }
  return Math.round(count / (Number(process.hrtime.bigint() - started) / 1e9));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(keys: Keys) {
  const fastSign = createSigner({ key: keys.privatePem, algorithm: keys.alg, kid: 'k', header: { alg: keys.alg, typ: 'at+jwt' } });
  const fastVerify = createVerifier({ key: keys.publicPem, algorithms: [keys.alg], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false });
  const joseSign = () => new SignJWT(claims()).setProtectedHeader({ alg: keys.alg, kid: 'k', typ: 'at+jwt' }).sign(keys.privateKey);
  const tokens = Array.from({ length: TOKENS }, () => fastSign(claims()));
  const joseVerify = (t: string) => jwtVerify(t, keys.publicKey, { issuer: ISSUER, audience: AUDIENCE, algorithms: [keys.alg] });
  const runs = { fastSign: [] as number[], joseSign: [] as number[], fastVerify: [] as number[], joseVerify: [] as number[] };
  // Alternated, so that drift of the machine weighs on both libraries alike.
  for (let r = 0; r < ROUNDS; r++) {
    runs.fastSign.push(await rate(TOKENS, () => fastSign(claims())));
    runs.joseSign.push(await rate(TOKENS, () => joseSign()));
    runs.fastVerify.push(await rate(TOKENS, (i) => fastVerify(tokens[i]!)));
    runs.joseVerify.push(await rate(TOKENS, (i) => joseVerify(tokens[i]!)));
  }
  return { fastSign: median(runs.fastSign), joseSign: median(runs.joseSign), fastVerify: median(runs.fastVerify), joseVerify: median(runs.joseVerify) };
}

/** Keeps libuv's thread pool busy with argon2id hashes (the sign-in load) until `stop` is called. */
function busyThreadPool(): { stop: () => Promise<void> } {
  let running = true;
  const lanes = Array.from({ length: 4 }, async () => {
    while (running) await argon2.hash('correct horse battery', { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(lanes);
    },
  };
}

export async function jwtLibrariesRun(): Promise<ReportPart> {
  console.error(`JWT libraries: fast-jwt and jose, ES256 and EdDSA, ${TOKENS} tokens × ${ROUNDS} alternated rounds, idle and with argon2 on the thread pool`);
  const figures: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const keys = keysFor(alg);
    figures[`${alg} idle`] = await measure(keys);
    const busy = busyThreadPool();
    try {
      figures[`${alg} hashing`] = await measure(keys);
    } finally {
      await busy.stop();
    }
  }
  const lines = ['| algorithm, thread pool | fast-jwt sign/s | jose sign/s | fast-jwt verify/s | jose verify/s |', '| --- | --- | --- | --- | --- |'];
  for (const [name, f] of Object.entries(figures)) lines.push(`| ${name} | ${f.fastSign} | ${f.joseSign} | ${f.fastVerify} | ${f.joseVerify} |`);
  const es = figures['ES256 hashing']!;
  const verifyRatio = Math.round((es.joseVerify / es.fastVerify) * 100) / 100;
  const signRatio = Math.round((es.joseSign / es.fastSign) * 100) / 100;
  return {
    name: 'jwt_libraries',
    targets: [
      // Informative: fast-jwt keeps its place while jose falls short of parity where it matters, under a sign-in load.
      ['jose verify / fast-jwt verify, ES256 during hashing', verifyRatio, `< ${PARITY} keeps fast-jwt`, verifyRatio < PARITY],
      ['jose sign / fast-jwt sign, ES256 during hashing', signRatio, `< ${PARITY} keeps fast-jwt`, signRatio < PARITY],
    ],
    lines: [
      'JWT libraries (in the bench process; medians of alternated rounds; "hashing": four argon2id hashes at a time on the thread pool, as under a sign-in load):',
      '',
      ...lines,
    ],
    figures,
  };
}
