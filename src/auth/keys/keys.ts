import type { JWK } from 'jose';
import type { Clock } from '../../core/clock.js';
import type { JwtAlgorithm } from '../../config.js';

type Key = CryptoKey | Uint8Array;

/** How long verifiers may cache /.well-known/jwks.json; a new key is published this long before it signs. */
export const JWKS_MAX_AGE_SECONDS = 300;

export type AsymmetricAlgorithm = Exclude<JwtAlgorithm, 'HS256'>;

export interface SigningKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly privateKey: Key;
  readonly publicKey: Key;
  /** The same keys for node:crypto: PEM (PKCS#8 and SPKI), or the HS256 secret's bytes. */
  readonly signingMaterial: string | Buffer;
  readonly verifyingMaterial: string | Buffer;
  /** Undefined for HS256: a shared secret is never published. */
  readonly publicJwk: JWK | undefined;
}

/** The keys this server signs with and accepts; verification finds keys here by `kid` and nowhere else. */
export interface KeySet {
  /** The key that signs now. */
  readonly current: SigningKey;
  /** The key that signs at `at`: of the stored keys, the one activated last at or before `at`. */
  signingKeyAt(at: Date): SigningKey;
  byKid(kid: string): SigningKey | undefined;
  /**
   * byKid, but a kid not in memory that looks like one of this server's makes it read the stored keys first (a key
   * another instance has just made); such reads are spaced out and a kid not found is not looked up again soon.
   */
  findKey?(kid: string): Promise<SigningKey | undefined>;
  /** The public half of every usable asymmetric key, as served at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] };
}

/** What decides a stored key's life: published from its insertion, signs from activation, removed later. */
export interface KeyTimes {
  readonly kid: string;
  readonly createdAt: Date;
  readonly activatesAt: Date;
  readonly retiredAt: Date | null;
}

export interface KeyEntry extends KeyTimes {
  readonly key: SigningKey;
}

/**
 * When a key leaves the set: `keepSeconds` (the access token lifetime plus clock skew) after it stopped
 * signing, that is after the next key activated or after it was retired; undefined while it may still sign.
 */
export function removalTimes(keys: readonly KeyTimes[], keepSeconds: number): Map<string, number | undefined> {
  const result = new Map<string, number | undefined>();
  for (const k of keys) {
    const ends = keys.filter((n) => n.activatesAt > k.activatesAt).map((n) => n.activatesAt.getTime());
    if (k.retiredAt) ends.push(k.retiredAt.getTime());
    result.set(k.kid, ends.length > 0 ? Math.min(...ends) + keepSeconds * 1000 : undefined);
  }
  return result;
}

export function hmacKey(secret: string): SigningKey {
  const bytes = new TextEncoder().encode(secret);
  const material = Buffer.from(bytes);
  return { kid: 'hs256', alg: 'HS256', privateKey: bytes, publicKey: bytes, signingMaterial: material, verifyingMaterial: material, publicJwk: undefined };
}

interface View {
  from: number;
  until: number;
  signing: SigningKey;
  byKid: Map<string, SigningKey>;
  jwks: { keys: JWK[] };
}

/**
 * The key set in memory, replaced whole at each reload. What it answers depends on the time: a published
 * key starts signing at its activation and leaves at its removal time, with no reload needed for either.
 */
export class LiveKeySet implements KeySet {
  private entries: (KeyEntry & { removesAt: number | undefined })[] = [];
  private cached: View | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly keepSeconds: number,
    /** Set with HS256: it signs, and the stored keys only verify until they leave. */
    private readonly hmac: SigningKey | undefined,
  ) {}

  replace(entries: readonly KeyEntry[]): void {
    const removal = removalTimes(entries, this.keepSeconds);
    this.entries = [...entries]
      .sort((a, b) => a.activatesAt.getTime() - b.activatesAt.getTime() || a.kid.localeCompare(b.kid))
      .map((e) => ({ ...e, removesAt: removal.get(e.kid) }));
    this.cached = undefined;
  }

  get current(): SigningKey {
    return this.signingKeyAt(this.clock.now());
  }

  signingKeyAt(at: Date): SigningKey {
    return this.view(at.getTime()).signing;
  }

  byKid(kid: string): SigningKey | undefined {
    return this.view(this.clock.now().getTime()).byKid.get(kid);
  }

  jwks(): { keys: JWK[] } {
    return this.view(this.clock.now().getTime()).jwks;
  }

  /** The stored keys still in the set at `at` (published, verifying), oldest activation first. */
  entriesAt(at: Date): KeyEntry[] {
    const t = at.getTime();
    return this.entries.filter((e) => e.removesAt === undefined || t < e.removesAt);
  }

  /** Whether a key has passed its removal time but is still stored (deleteRemovedKeys is due). */
  hasRemovable(at: Date): boolean {
    return this.entries.some((e) => e.removesAt !== undefined && e.removesAt <= at.getTime());
  }

  /** When the newest key that is not retired was made: the schedule counts from it. */
  newestCreation(): Date | undefined {
    return this.entries.filter((e) => e.retiredAt === null).at(-1)?.createdAt;
  }

  private view(t: number): View {
    if (this.cached && t >= this.cached.from && t < this.cached.until) return this.cached;
    const live = this.entriesAt(new Date(t));
    const byKid = new Map(live.map((e) => [e.kid, e.key]));
    if (this.hmac) byKid.set(this.hmac.kid, this.hmac);
    // The view changes only when a key activates or leaves: it is computed again at the next such instant.
    const instants = this.entries.flatMap((e) => [e.activatesAt.getTime(), ...(e.removesAt === undefined ? [] : [e.removesAt])]);
    this.cached = {
      from: Math.max(-Infinity, ...instants.filter((i) => i <= t)),
      until: Math.min(Infinity, ...instants.filter((i) => i > t)),
      signing: this.hmac ?? pickSigningKey(live, t),
      byKid,
      jwks: { keys: live.flatMap((e) => (e.key.publicJwk ? [e.key.publicJwk] : [])) },
    };
    return this.cached;
  }
}

function pickSigningKey(live: readonly KeyEntry[], t: number): SigningKey {
  const usable = live.filter((e) => e.retiredAt === null);
  const active = usable.filter((e) => e.activatesAt.getTime() <= t);
  // Retired keys sign only on an instance whose JWT_ALGORITHM disagrees with the one that retired them.
  const chosen = active.at(-1) ?? usable[0] ?? live.at(-1);
  if (!chosen) throw new Error('no signing key loaded');
  return chosen.key;
}
