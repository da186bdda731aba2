import { and, asc, eq, isNull } from 'drizzle-orm';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Clock } from '../clock.js';
import type { JwtAlgorithm } from '../config.js';
import type { Db } from '../db/client.js';
import { signingKeys } from '../db/schema.js';

type Key = CryptoKey | Uint8Array;

export interface SigningKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly privateKey: Key;
  readonly publicKey: Key;
  /** Undefined for HS256: a shared secret is never published. */
  readonly publicJwk: JWK | undefined;
}

/** The keys this server signs with and accepts; verification finds keys here by `kid` and nowhere else. */
export interface KeySet {
  readonly current: SigningKey;
  byKid(kid: string): SigningKey | undefined;
  /** The public half of every usable asymmetric key, as served at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] };
}

export interface KeySetOptions {
  algorithm: JwtAlgorithm;
  secretKey: string | undefined;
}

export async function loadKeySet(db: Db, clock: Clock, opts: KeySetOptions): Promise<KeySet> {
  const current =
    opts.algorithm === 'HS256' ? hmacKey(opts.secretKey ?? '') : await loadOrCreateAsymmetricKey(db, clock, opts.algorithm);
  const rows = await db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(asc(signingKeys.createdAt));
  const keys = new Map<string, SigningKey>([[current.kid, current]]);
  for (const row of rows) if (!keys.has(row.kid)) keys.set(row.kid, await importStoredKey(row));
  const published = [...keys.values()].flatMap((k) => (k.publicJwk ? [k.publicJwk] : []));
  return {
    current,
    byKid: (kid) => keys.get(kid),
    jwks: () => ({ keys: published }),
  };
}

function hmacKey(secret: string): SigningKey {
  const bytes = new TextEncoder().encode(secret);
  return { kid: 'hs256', alg: 'HS256', privateKey: bytes, publicKey: bytes, publicJwk: undefined };
}

async function loadOrCreateAsymmetricKey(db: Db, clock: Clock, alg: JwtAlgorithm): Promise<SigningKey> {
  const existing = await oldestActiveKey(db, alg);
  if (existing) return importStoredKey(existing);

  const pair = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(pair.publicKey);
  const privateJwk = await exportJWK(pair.privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  await db
    .insert(signingKeys)
    .values({ kid, alg, publicJwk, privateJwk, createdAt: clock.now(), activatesAt: clock.now() })
    .onConflictDoNothing();
  // Instances starting together may each insert a key; all of them settle on the oldest one.
  const chosen = await oldestActiveKey(db, alg);
  if (!chosen) throw new Error(`no ${alg} signing key after inserting one`);
  return importStoredKey(chosen);
}

async function oldestActiveKey(db: Db, alg: JwtAlgorithm) {
  const [row] = await db
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.alg, alg), isNull(signingKeys.retiredAt)))
    .orderBy(asc(signingKeys.createdAt), asc(signingKeys.kid))
    .limit(1);
  return row;
}

async function importStoredKey(row: typeof signingKeys.$inferSelect): Promise<SigningKey> {
  const alg = row.alg as JwtAlgorithm;
  const stored = row.publicJwk as JWK;
  const publicJwk: JWK = { kty: stored.kty, crv: stored.crv, x: stored.x, y: stored.y, n: stored.n, e: stored.e };
  for (const k of Object.keys(publicJwk) as (keyof JWK)[]) if (publicJwk[k] === undefined) delete publicJwk[k];
  return {
    kid: row.kid,
    alg,
    privateKey: await importJWK(row.privateJwk as JWK, alg),
    publicKey: await importJWK(publicJwk, alg),
    publicJwk: { ...publicJwk, kid: row.kid, alg, use: 'sig' },
  };
}
