import { CLOCK_SKEW_SECONDS } from './clock-skew.js';
import type { JwtAlgorithm } from '../../config.js';
import type { Db } from '../../db/client.js';
import { openKeyRow, readKeyRows } from './key-store.js';
import {
  deleteRemovedKeys,
  prepareSigningKeys,
  revokeKey,
  rotateIfDue,
  rotateSigningKey,
  secretMismatch,
  type KeyContext,
  type KeyRevocation,
} from './key-rotation.js';
import { hmacKey, LiveKeySet, type KeyEntry, type KeySet, type SigningKey } from './keys.js';

export interface KeyRingOptions extends KeyContext {
  algorithm: JwtAlgorithm;
  hmacSecret: string | undefined;
  accessTokenTtl: number;
  /** Seconds; 0: no automatic rotation. */
  rotationInterval: number;
}

/** This instance's key set, kept in step with the database, and the keys' schedule. */
export interface KeyRing extends KeySet {
  /** Reads the stored keys again; called on every key notice, on reconnect, and by maintain(). */
  reload(): Promise<void>;
  /**
   * Rotates now (what `keys rotate` does); returns the new key's kid. `inTransaction` runs in the rotation's
   * transaction once the key is stored (to audit it).
   */
  rotate(opts?: { publishLead?: number; inTransaction?: (tx: Db, kid: string) => Promise<void> }): Promise<string>;
  /**
   * Revokes a key now (what `keys revoke` does; see revokeKey) and reloads: this instance neither signs with it nor
   * accepts its tokens from the moment this resolves. Undefined when no key has this kid.
   */
  revoke(kid: string, opts?: { inTransaction?: (tx: Db, done: KeyRevocation) => Promise<void> }): Promise<KeyRevocation | undefined>;
  /** One pass of the schedule: rotate if due, delete keys whose tokens have expired, reload. */
  maintain(): Promise<void>;
  /** Starts the schedule's timer (a server's background job; a command-line tool never starts it). */
  startSchedule(): void;
  /** Stops the schedule's timer. */
  close(): void;
}

/** What every stored kid looks like: a JWK thumbprint (SHA-256, base64url). Nothing else is looked up. */
const KID_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Reads of the keys caused by unknown kids are this far apart at least (ms): forged kids cannot hammer the database. */
const UNKNOWN_KID_SPACING_MS = 100;
/** How long a kid that a read did not find is not looked up again (ms), and how many such kids are remembered. */
const MISSED_KID_MS = 10 * 60_000;
const MISSED_KIDS = 1_000;

/**
 * KeySet.findKey. A key another instance has just made (a revocation's replacement signs at once) may name a token
 * before the notice of it arrives here: an unknown kid reads the keys again, once per kid, in reads spaced out in time.
 */
function unknownKidLookup(set: LiveKeySet, reload: () => Promise<void>, reloading: () => Promise<void>) {
  const missed = new Map<string, number>();
  let lastRead = 0;
  let nextRead: Promise<void> | undefined;
  /** A reload that starts after this call (joined by every caller until it starts). */
  const readAfterNow = () =>
    (nextRead ??= (async () => {
      await reloading();
      const wait = lastRead + UNKNOWN_KID_SPACING_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      nextRead = undefined;
      lastRead = performance.now();
      await reload();
    })());
  return async (kid: string): Promise<SigningKey | undefined> => {
    const known = set.byKid(kid);
    if (known || !KID_SHAPE.test(kid)) return known;
    const missedAt = missed.get(kid);
    if (missedAt !== undefined && performance.now() - missedAt < MISSED_KID_MS) return undefined;
    await readAfterNow();
    const found = set.byKid(kid);
    if (!found) {
      missed.delete(kid);
      missed.set(kid, performance.now());
      if (missed.size > MISSED_KIDS) missed.delete(missed.keys().next().value!);
    }
    return found;
  };
}

export async function openKeyRing(opts: KeyRingOptions): Promise<KeyRing> {
  const { algorithm, logger, clock } = opts;
  const keepSeconds = opts.accessTokenTtl + CLOCK_SKEW_SECONDS;
  await prepareSigningKeys(opts, algorithm);
  const set = new LiveKeySet(clock, keepSeconds, algorithm === 'HS256' ? hmacKey(opts.hmacSecret ?? '') : undefined);

  // Each key is decrypted once; a reload only reads the rows and opens the new ones.
  let opened = new Map<string, KeyEntry>();
  const unopenable = new Set<string>();
  let revokedRowsDue = Infinity;
  const load = async (strict: boolean) => {
    const entries: KeyEntry[] = [];
    const rows = await readKeyRows(opts.db);
    // A revoked key is never loaded again, by any reload; its row stays until its tokens would have expired.
    revokedRowsDue = Math.min(Infinity, ...rows.flatMap((r) => (r.revokedAt ? [r.revokedAt.getTime() + keepSeconds * 1000] : [])));
    for (const row of rows) {
      if (row.revokedAt) continue;
      let entry = opened.get(row.kid);
      if (!entry) {
        try {
          entry = await openKeyRow(row, opts.sealingKey);
        } catch {
          if (strict) throw secretMismatch(opts.secretSource);
          if (!unopenable.has(row.kid)) logger.error({ kid: row.kid }, 'a stored signing key does not open with this instance\'s SECRET_KEY; ignored');
          unopenable.add(row.kid);
          continue;
        }
      }
      entries.push({ ...entry, createdAt: row.createdAt, activatesAt: row.activatesAt, retiredAt: row.retiredAt });
    }
    opened = new Map(entries.map((e) => [e.kid, e]));
    set.replace(entries);
  };

  let reloading = Promise.resolve();
  const reload = () =>
    (reloading = reloading
      .then(() => load(false))
      .catch((err: Error) => logger.warn({ err: err.message }, 'could not reload the signing keys; keeping the ones loaded')));

  const maintain = async () => {
    const now = clock.now();
    const newest = set.newestCreation();
    // Checked in memory first, so that an idle tick costs one read; the lock decides between instances.
    if (algorithm !== 'HS256' && opts.rotationInterval > 0 && newest && newest.getTime() + opts.rotationInterval * 1000 <= now.getTime())
      await rotateIfDue(opts, algorithm, opts.rotationInterval);
    if (set.hasRemovable(now) || revokedRowsDue <= now.getTime()) await deleteRemovedKeys(opts, keepSeconds);
    await reload();
  };

  const findKey = unknownKidLookup(set, reload, () => reloading);

  await load(true);
  await maintain();
  const tickMs = opts.rotationInterval > 0 ? Math.min(60_000, Math.max(1_000, (opts.rotationInterval * 1000) / 4)) : 60_000;
  let timer: NodeJS.Timeout | undefined;

  return {
    get current(): SigningKey {
      return set.current;
    },
    signingKeyAt: (at) => set.signingKeyAt(at),
    byKid: (kid) => set.byKid(kid),
    findKey,
    jwks: () => set.jwks(),
    reload,
    maintain,
    async rotate(o = {}) {
      if (algorithm === 'HS256') throw new Error('JWT_ALGORITHM is HS256: there is no stored key to rotate');
      const row = await rotateSigningKey(opts, { alg: algorithm, publishLead: o.publishLead, reason: 'requested', inTransaction: o.inTransaction });
      await reload();
      return row!.kid;
    },
    async revoke(kid, o = {}) {
      const done = await revokeKey(opts, kid, { alg: algorithm === 'HS256' ? undefined : algorithm, inTransaction: o.inTransaction });
      if (!done) return undefined;
      await reload();
      // The reload failed (it logged why): the key leaves this instance's set all the same.
      if (opened.delete(kid)) set.replace([...opened.values()]);
      return done;
    },
    startSchedule() {
      timer ??= setInterval(() => {
        maintain().catch((err: Error) => logger.warn({ err: err.message }, 'signing key maintenance failed; retrying at the next tick'));
      }, tickMs).unref();
    },
    close: () => clearInterval(timer),
  };
}
