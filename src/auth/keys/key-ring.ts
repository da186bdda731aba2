import { CLOCK_SKEW_SECONDS } from './clock-skew.js';
import type { JwtAlgorithm } from '../../config.js';
import type { Db } from '../../db/client.js';
import { openKeyRow, readKeyRows } from './key-store.js';
import { deleteRemovedKeys, prepareSigningKeys, rotateIfDue, rotateSigningKey, secretMismatch, type KeyContext } from './key-rotation.js';
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
  /** One pass of the schedule: rotate if due, delete keys whose tokens have expired, reload. */
  maintain(): Promise<void>;
  /** Starts the schedule's timer (a server's background job; a command-line tool never starts it). */
  startSchedule(): void;
  /** Stops the schedule's timer. */
  close(): void;
}

export async function openKeyRing(opts: KeyRingOptions): Promise<KeyRing> {
  const { algorithm, logger, clock } = opts;
  const keepSeconds = opts.accessTokenTtl + CLOCK_SKEW_SECONDS;
  await prepareSigningKeys(opts, algorithm);
  const set = new LiveKeySet(clock, keepSeconds, algorithm === 'HS256' ? hmacKey(opts.hmacSecret ?? '') : undefined);

  // Each key is decrypted once; a reload only reads the rows and opens the new ones.
  let opened = new Map<string, KeyEntry>();
  const unopenable = new Set<string>();
  const load = async (strict: boolean) => {
    const entries: KeyEntry[] = [];
    for (const row of await readKeyRows(opts.db)) {
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
    if (set.hasRemovable(now)) await deleteRemovedKeys(opts, keepSeconds);
    await reload();
  };

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
    jwks: () => set.jwks(),
    reload,
    maintain,
    async rotate(o = {}) {
      if (algorithm === 'HS256') throw new Error('JWT_ALGORITHM is HS256: there is no stored key to rotate');
      const row = await rotateSigningKey(opts, { alg: algorithm, publishLead: o.publishLead, reason: 'requested', inTransaction: o.inTransaction });
      await reload();
      return row!.kid;
    },
    startSchedule() {
      timer ??= setInterval(() => {
        maintain().catch((err: Error) => logger.warn({ err: err.message }, 'signing key maintenance failed; retrying at the next tick'));
      }, tickMs).unref();
    },
    close: () => clearInterval(timer),
  };
}
