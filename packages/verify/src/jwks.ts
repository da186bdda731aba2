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
 * and fetched again at once for a `kid` it does not know. Latchkey publishes a key 5 minutes before it
 * signs with it, so a rotation is seen before its first token.
 *
 * Every fetch, whatever its cause (the max-age, an unknown `kid`, `ready()`), goes through one gate:
 * one fetch in flight at a time, none within `cooldown` of the last success, and after failures a
 * back-off that doubles (from 1 s while nothing is loaded, up to `cooldown`; from `cooldown` once keys
 * are loaded, up to `cacheMaxAge`). Forged tokens, however many, cannot make it hammer Latchkey.
 */
export class JwksCache {
  private keys = new Map<string, VerificationKey>();
  private fetchedAt: number | undefined;
  /** No fetch starts before this time (milliseconds). */
  private nextAttemptAt = 0;
  private failures = 0;
  private lastError: Error | undefined;
  private inflight: Promise<void> | undefined;
  private readonly revoked = new Set<string>();

  constructor(private readonly options: JwksOptions) {}

  get loaded(): boolean {
    return this.fetchedAt !== undefined;
  }

  /** The key for `kid` from what is in memory; starts a background refresh when the set is old. */
  get(kid: string): VerificationKey | undefined {
    const now = this.options.now();
    if (this.fetchedAt !== undefined && now - this.fetchedAt >= this.options.cacheMaxAge * 1000 && this.mayFetch(now)) {
      this.refresh().catch(() => {
        // Logged by refresh; the keys in memory keep verifying.
      });
    }
    return this.keys.get(kid);
  }

  /**
   * The key for a `kid` not in memory: joins the fetch in flight, or fetches the set again when the gate
   * allows. Throws `jwks_unavailable` when no key set could be fetched at all.
   */
  async lookup(kid: string): Promise<VerificationKey | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    if (this.inflight || this.mayFetch(this.options.now())) {
      try {
        await this.refresh();
      } catch (err) {
        // This kid may well be a new key that could not be fetched: not the token's fault.
        throw new LatchkeyVerifyError('jwks_unavailable', undefined, { cause: err });
      }
    } else if (this.fetchedAt === undefined) {
      throw new LatchkeyVerifyError('jwks_unavailable', undefined, { cause: this.lastError });
    }
    return this.keys.get(kid);
  }

  /**
   * Drops a key Latchkey revoked (a later fetch that still lists it, from a cached copy, does not bring it back), and
   * fetches the set again at once, whatever the gate says: when the revoked key was signing, its replacement signs
   * from now on, with no publication ahead. One fetch per revocation, which only Latchkey's feed can announce.
   */
  forget(kid: string): void {
    this.revoked.add(kid);
    this.keys.delete(kid);
    // A fetch in flight may have started before the new key existed: another follows it.
    const after = this.inflight ?? Promise.resolve();
    void after
      .catch(() => undefined)
      .then(() => this.refresh())
      .catch(() => {
        // Logged by refresh; the next unknown kid or the max-age tries again.
      });
  }

  /** Resolves once a key set is loaded: joins or starts a fetch if the gate allows, else rejects with the last failure. */
  async ensureLoaded(): Promise<void> {
    if (this.fetchedAt !== undefined) return;
    if (this.inflight || this.mayFetch(this.options.now())) return this.refresh();
    throw this.lastError ?? new Error(`GET ${this.options.url} is backing off`);
  }

  /** Fetches the key set now (concurrent callers share one request). Callers other than the first load go through mayFetch. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private mayFetch(now: number): boolean {
    return !this.inflight && now >= this.nextAttemptAt;
  }

  /** When the next fetch may start, from the outcome of the one that started at `startedAt`. */
  private schedule(startedAt: number, ok: boolean): void {
    const second = 1000;
    const cooldown = Math.max(this.options.cooldown * 1000, second);
    this.failures = ok ? 0 : this.failures + 1;
    let wait: number;
    if (ok) wait = this.options.cooldown * 1000;
    else if (this.fetchedAt === undefined) wait = Math.min(cooldown, second * 2 ** Math.min(this.failures - 1, 30));
    else wait = Math.min(Math.max(cooldown, this.options.cacheMaxAge * 1000), cooldown * 2 ** Math.min(this.failures - 1, 30));
    this.nextAttemptAt = startedAt + wait;
  }

  private async fetchOnce(): Promise<void> {
    const startedAt = this.options.now();
    // Held back from the start: a caller arriving while this one runs joins it, never starts another.
    this.nextAttemptAt = Number.POSITIVE_INFINITY;
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
        if (!key || this.revoked.has(key.kid)) continue;
        if (keys.has(key.kid)) duplicated.add(key.kid);
        keys.set(key.kid, key);
      }
      // Two keys with one kid: neither can be trusted to be the one meant.
      for (const kid of duplicated) keys.delete(kid);
      this.keys = keys;
      this.fetchedAt = this.options.now();
      this.lastError = undefined;
      this.schedule(startedAt, true);
    } catch (err) {
      this.lastError = err as Error;
      this.schedule(startedAt, false);
      this.options.logger.warn('could not fetch the JWKS', { url: this.options.url, error: (err as Error).message, failures: this.failures });
      throw err;
    }
  }
}
