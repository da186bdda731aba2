import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { ConfigError, type JwtAlgorithm } from '../../config.js';
import type { Db } from '../../db/client.js';
import { deleteKeyRows, insertKeyRow, retireKeys, revokeKeyRow } from '../../db/queries/signing-keys.js';
import { announceKeyChange, announceKeyRevocation, canOpen, generateKeyRow, readKeyRows, withKeyLock, type KeyRow } from './key-store.js';
import { JWKS_MAX_AGE_SECONDS, removalTimes, type AsymmetricAlgorithm } from './keys.js';

export interface KeyContext {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** From signingKeySealer(SECRET_KEY). */
  sealingKey: Uint8Array;
  /** Where that secret came from (SECRET_KEY, a file, memory), for the message when it does not fit. */
  secretSource: string;
}

/**
 * How long a new key is published before it signs. Verifiers cache the JWKS for its max-age, so by then
 * every one of them has it; a short rotation interval (tests) shortens the lead to half the interval.
 */
export function publishLead(rotationInterval: number): number {
  return rotationInterval > 0 ? Math.min(JWKS_MAX_AGE_SECONDS, rotationInterval / 2) : JWKS_MAX_AGE_SECONDS;
}

export interface RotateOptions {
  alg: AsymmetricAlgorithm;
  /** Seconds between publication and first signature; JWKS_MAX_AGE_SECONDS unless said otherwise. */
  publishLead?: number;
  reason?: string;
  /** Checked under the lock: the rotation happens only if it holds for the newest usable key. */
  onlyIf?: (newest: KeyRow | undefined, now: Date) => boolean;
  /** Runs in the rotation's transaction once the new key is stored (to audit the rotation). */
  inTransaction?: (tx: Db, kid: string) => Promise<void>;
}

/**
 * Publishes a new signing key that starts signing `publishLead` seconds from now; the key it supersedes
 * keeps verifying until its last token has expired. Instances rotating at once take turns on an advisory
 * lock, so `onlyIf` sees the other's key. Every listening instance is told to reload.
 * Returns the new key's row, or undefined when `onlyIf` declined.
 */
export async function rotateSigningKey(ctx: KeyContext, opts: RotateOptions): Promise<KeyRow | undefined> {
  const lead = opts.publishLead ?? JWKS_MAX_AGE_SECONDS;
  const row = await withKeyLock(ctx.db, async (tx) => {
    const now = ctx.clock.now();
    const rows = await readKeyRows(tx);
    if (opts.onlyIf && !opts.onlyIf(newestUsable(rows), now)) return undefined;
    // A key sealed with another secret would be one that no instance can use: refuse, as at start.
    if (!rows.every((r) => canOpen(r, ctx.sealingKey))) throw secretMismatch(ctx.secretSource);
    const inserted = await insertKey(tx, ctx, opts.alg, now, new Date(now.getTime() + lead * 1000));
    await announceKeyChange(tx, inserted.kid);
    await opts.inTransaction?.(tx, inserted.kid);
    return inserted;
  });
  if (row)
    ctx.logger.info({ kid: row.kid, alg: row.alg, activatesAt: row.activatesAt, reason: opts.reason ?? 'requested' }, 'new signing key published');
  return row;
}

/** What a revocation did: the key as it is now, and the key made to sign in its place, if it was signing. */
export interface KeyRevocation {
  revoked: KeyRow;
  replacement: KeyRow | undefined;
  /** The key had been revoked before: nothing was done this time. */
  already: boolean;
}

/**
 * Revokes a key at once: it is marked revoked (and retired), so that no instance's reload loads it again, and
 * every listening instance is told. When it is the key that signs now, a new key of `alg` signs from now on, with
 * no publication lead: an instance that sees one of its tokens before it has read the new key reads the keys
 * again then (KeyRing.findKey). `alg` undefined (HS256, whose shared secret signs): no key is made. Undefined when
 * no key has this kid; a key revoked before is answered `already`, unchanged.
 */
export async function revokeKey(
  ctx: KeyContext,
  kid: string,
  opts: { alg: AsymmetricAlgorithm | undefined; inTransaction?: (tx: Db, done: KeyRevocation) => Promise<void> },
): Promise<KeyRevocation | undefined> {
  const done = await withKeyLock(ctx.db, async (tx) => {
    const now = ctx.clock.now();
    const rows = await readKeyRows(tx);
    const row = rows.find((r) => r.kid === kid);
    if (!row) return undefined;
    if (row.revokedAt) return { revoked: row, replacement: undefined, already: true };
    const signing = signingRow(rows, now);
    const revoked = (await revokeKeyRow(tx, kid, now))!;
    let replacement: KeyRow | undefined;
    if (opts.alg && signing?.kid === kid) {
      if (!rows.every((r) => canOpen(r, ctx.sealingKey))) throw secretMismatch(ctx.secretSource);
      replacement = await insertKey(tx, ctx, opts.alg, now, now);
    }
    await announceKeyRevocation(tx, kid, now);
    const outcome = { revoked, replacement, already: false };
    await opts.inTransaction?.(tx, outcome);
    return outcome;
  });
  if (done && !done.already)
    ctx.logger.warn({ kid, replacement: done.replacement?.kid }, 'signing key revoked: every token it signed is refused from now on');
  return done;
}

/** The key that signs at `now` by the stored rows, as every instance's key set picks it (LiveKeySet). */
function signingRow(rows: readonly KeyRow[], now: Date): KeyRow | undefined {
  const usable = rows.filter((r) => r.retiredAt === null);
  return usable.filter((r) => r.activatesAt <= now).at(-1) ?? usable[0];
}

/** The automatic schedule: a new key every `interval` seconds, counted from the newest key's publication. */
export function rotateIfDue(ctx: KeyContext, alg: AsymmetricAlgorithm, interval: number): Promise<KeyRow | undefined> {
  return rotateSigningKey(ctx, {
    alg,
    publishLead: publishLead(interval),
    reason: 'schedule',
    onlyIf: (newest, now) => newest !== undefined && newest.createdAt.getTime() + interval * 1000 <= now.getTime(),
  });
}

/**
 * Brings the stored keys in line with this instance's configuration, at start: refuses a secret that
 * cannot open them, creates the first key, rotates to a changed JWT_ALGORITHM, and retires every stored
 * key when HS256 signs.
 */
export async function prepareSigningKeys(ctx: KeyContext, algorithm: JwtAlgorithm): Promise<void> {
  await withKeyLock(ctx.db, async (tx) => {
    const rows = await readKeyRows(tx);
    if (!rows.every((r) => canOpen(r, ctx.sealingKey))) throw secretMismatch(ctx.secretSource);
    const now = ctx.clock.now();
    let changed: string | undefined;

    if (algorithm === 'HS256') {
      const retired = await retireKeys(tx, now);
      if (retired.length > 0) {
        ctx.logger.info({ kids: retired }, 'JWT_ALGORITHM is HS256: stored keys retired; they verify until their tokens have expired');
        changed = retired[0]!;
      }
    } else {
      const newest = newestUsable(rows);
      const reason = newest && newest.alg !== algorithm ? `JWT_ALGORITHM changed from ${newest.alg} to ${algorithm}` : undefined;
      // The very first key signs at once: no verifier can hold an older JWKS that lacks it.
      if (!newest || reason) {
        const activatesAt = newest ? new Date(now.getTime() + JWKS_MAX_AGE_SECONDS * 1000) : now;
        const row = await insertKey(tx, ctx, algorithm, now, activatesAt);
        ctx.logger.info({ kid: row.kid, alg: algorithm, activatesAt, reason: reason ?? 'first key' }, 'new signing key published');
        changed = row.kid;
      }
    }
    if (changed) await announceKeyChange(tx, changed);
  });
}

/** Deletes the keys whose last token has expired (see removalTimes); returns their kids. */
export async function deleteRemovedKeys(ctx: KeyContext, keepSeconds: number): Promise<string[]> {
  const rows = await readKeyRows(ctx.db);
  const removal = removalTimes(rows, keepSeconds);
  const now = ctx.clock.now().getTime();
  const gone = rows.filter((r) => (removal.get(r.kid) ?? Infinity) <= now).map((r) => r.kid);
  if (gone.length > 0) {
    await deleteKeyRows(ctx.db, gone);
    ctx.logger.info({ kids: gone }, 'signing keys removed: every token they signed has expired');
  }
  return gone;
}

export function secretMismatch(source: string): ConfigError {
  const from = source === 'SECRET_KEY' ? 'SECRET_KEY' : source === 'memory' ? 'a secret generated in memory' : `the secret in ${source}`;
  return new ConfigError([
    `SECRET_KEY: the signing keys in the database were encrypted with another secret than this instance's (${from}). ` +
      'Every instance on one database must share the same SECRET_KEY: set it to the secret of the instances already ' +
      'running (their SECRET_KEY, or the content of their DATA_DIR/secret-key file).',
  ]);
}

function newestUsable(rows: readonly KeyRow[]): KeyRow | undefined {
  return rows.filter((r) => r.retiredAt === null).sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime())[0];
}

async function insertKey(tx: Db, ctx: KeyContext, alg: AsymmetricAlgorithm, createdAt: Date, activatesAt: Date): Promise<KeyRow> {
  return insertKeyRow(tx, await generateKeyRow(alg, ctx.sealingKey, { createdAt, activatesAt }));
}
