import { constants, KeyObject, verify as cryptoVerify } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { LatchkeyVerifyError, type Logger } from './errors.js';

/** The algorithms a key may pin. `none` and HS* never: a verifier holds no shared secret. */
const ALGORITHMS = {
  ES256: { hash: 'sha256', types: ['ec'], curve: 'P-256', signatureLength: 64 },
  ES384: { hash: 'sha384', types: ['ec'], curve: 'P-384', signatureLength: 96 },
  ES512: { hash: 'sha512', types: ['ec'], curve: 'P-521', signatureLength: 132 },
  EdDSA: { hash: null, types: ['ed25519', 'ed448'] },
  Ed25519: { hash: null, types: ['ed25519'] },
  RS256: { hash: 'sha256', types: ['rsa'] },
  RS384: { hash: 'sha384', types: ['rsa'] },
  RS512: { hash: 'sha512', types: ['rsa'] },
  PS256: { hash: 'sha256', types: ['rsa', 'rsa-pss'], pss: true },
  PS384: { hash: 'sha384', types: ['rsa', 'rsa-pss'], pss: true },
  PS512: { hash: 'sha512', types: ['rsa', 'rsa-pss'], pss: true },
} as const satisfies Record<string, { hash: string | null; types: readonly string[]; curve?: string; signatureLength?: number; pss?: boolean }>;

type Algorithm = keyof typeof ALGORITHMS;

/** One published key, ready for node:crypto: its algorithm is the one its JWK names, and no other. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: Algorithm;
  /** Checks `signature` over `data` (synchronous, on the calling thread). */
  verify(data: Buffer, signature: Buffer): boolean;
}

/**
 * The key a JWK publishes, for the algorithm it names; undefined for anything unusable. jose judges the
 * JWK (members, curve and algorithm agree); node:crypto then verifies on the calling thread, which
 * WebCrypto (jose's own verification) would not: measured at half the throughput.
 */
async function toVerificationKey(jwk: Record<string, unknown>): Promise<VerificationKey | undefined> {
  const { kid, alg, use } = jwk;
  if (typeof kid !== 'string' || kid === '' || typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg)) return undefined;
  if (use !== undefined && use !== 'sig') return undefined;
  const spec = ALGORITHMS[alg as Algorithm];
  let key: KeyObject;
  try {
    // Only the public members: a JWK carrying `d` must not turn into a private key here.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, k: _k, ...publicMembers } = jwk;
    const imported = await importJWK(publicMembers as JWK, alg);
    if (imported instanceof Uint8Array) return undefined;
    key = KeyObject.from(imported);
  } catch {
    return undefined;
  }
  if (key.type !== 'public') return undefined;
  if (!(spec.types as readonly string[]).includes(key.asymmetricKeyType ?? '')) return undefined;
  if ('curve' in spec && key.asymmetricKeyDetails?.namedCurve !== { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' }[spec.curve])
    return undefined;
  const hash = spec.hash;
  const input =
    'pss' in spec
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : 'signatureLength' in spec
        ? { key, dsaEncoding: 'ieee-p1363' as const }
        : key;
  const length = 'signatureLength' in spec ? spec.signatureLength : undefined;
  return {
    kid,
    alg: alg as Algorithm,
    verify(data, signature) {
      if (length !== undefined && signature.length !== length) return false;
      try {
        return cryptoVerify(hash, data, input, signature);
      } catch {
        return false;
      }
    },
  };
}

export interface JwksOptions {
  url: string;
  /** Seconds a fetched key set is used before it is fetched again (in the background). */
  cacheMaxAge: number;
  /** Seconds between two fetches caused by an unknown `kid`: the floor that keeps forged kids from hammering Latchkey. */
  cooldown: number;
  /** Milliseconds a fetch may take. */
  timeout: number;
  now: () => number;
  logger: Logger;
}

/**
 * Latchkey's published keys, by `kid`. Fetched once, refreshed in the background after `cacheMaxAge`,
 * and fetched again at once for a `kid` it does not know, at most once per `cooldown`. Latchkey
 * publishes a key 5 minutes before it signs with it, so a rotation is seen before its first token.
 */
export class JwksCache {
  private keys = new Map<string, VerificationKey>();
  private fetchedAt: number | undefined;
  private attemptedAt: number | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly options: JwksOptions) {}

  get loaded(): boolean {
    return this.fetchedAt !== undefined;
  }

  /** The key for `kid` from what is in memory; starts a background refresh when the set is old. */
  get(kid: string): VerificationKey | undefined {
    if (this.fetchedAt !== undefined && this.options.now() - this.fetchedAt >= this.options.cacheMaxAge * 1000 && !this.inflight) {
      this.refresh().catch(() => {
        // Logged by refresh; the keys in memory keep verifying.
      });
    }
    return this.keys.get(kid);
  }

  /**
   * The key for a `kid` not in memory: fetches the set again unless it was fetched within the cooldown.
   * Throws `jwks_unavailable` when no key set could be fetched at all.
   */
  async lookup(kid: string): Promise<VerificationKey | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    const now = this.options.now();
    // After a failed attempt with nothing loaded, a second a try; otherwise the cooldown.
    const floor = this.fetchedAt === undefined ? 1000 : this.options.cooldown * 1000;
    if (this.inflight || this.attemptedAt === undefined || now - this.attemptedAt >= floor) {
      try {
        await this.refresh();
      } catch (err) {
        // This kid may well be a new key that could not be fetched: not the token's fault.
        throw new LatchkeyVerifyError('jwks_unavailable', undefined, { cause: err });
      }
    } else if (this.fetchedAt === undefined) {
      throw new LatchkeyVerifyError('jwks_unavailable');
    }
    return this.keys.get(kid);
  }

  /** Fetches the key set now (concurrent callers share one request). */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.attemptedAt = this.options.now();
    try {
      const res = await fetch(this.options.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.options.timeout),
        redirect: 'error',
      });
      if (!res.ok) throw new Error(`GET ${this.options.url} answered ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!body || !Array.isArray(body.keys)) throw new Error(`GET ${this.options.url} did not answer a JWKS ({"keys": [...]})`);
      const keys = new Map<string, VerificationKey>();
      const duplicated = new Set<string>();
      const imported = await Promise.all(
        body.keys.map((jwk: unknown) => (jwk && typeof jwk === 'object' ? toVerificationKey(jwk as Record<string, unknown>) : undefined)),
      );
      for (const key of imported) {
        if (!key) continue;
        if (keys.has(key.kid)) duplicated.add(key.kid);
        keys.set(key.kid, key);
      }
      // Two keys with one kid: neither can be trusted to be the one meant.
      for (const kid of duplicated) keys.delete(kid);
      this.keys = keys;
      this.fetchedAt = this.options.now();
    } catch (err) {
      this.options.logger.warn('could not fetch the JWKS', { url: this.options.url, error: (err as Error).message });
      throw err;
    }
  }
}
