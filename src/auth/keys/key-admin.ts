import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { KeyRing } from './key-ring.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { readKeyRows, type KeyRow } from './key-store.js';
import type { KeyRevoked, KeyState, SigningKeyView } from '../../contracts/keys.js';

interface KeyAdminDeps {
  db: Db;
  clock: Clock;
  keys: KeyRing;
  config: Config;
}

/** Where this instance learns that a key's tokens are dead (the revocation list, which the feed carries on). */
interface KeyRevocations {
  addKey(kid: string, revokedAt: Date): void;
}

/** A stored signing key as an operator sees it; never its private half. */
export type KeyInfo = SigningKeyView;

function stateOf(row: KeyRow, signingKid: string, now: Date): KeyState {
  if (row.revokedAt) return 'revoked';
  if (row.retiredAt) return 'retired';
  if (row.kid === signingKid) return 'current';
  return row.activatesAt > now ? 'next' : 'previous';
}

/** The stored signing keys, oldest activation first. With HS256, none signs: the shared secret does. */
export async function listSigningKeys(deps: Pick<KeyAdminDeps, 'db' | 'clock' | 'keys'>): Promise<KeyInfo[]> {
  const now = deps.clock.now();
  const signingKid = deps.keys.current.kid;
  return (await readKeyRows(deps.db)).map((row) => ({
    kid: row.kid,
    alg: row.alg,
    state: stateOf(row, signingKid, now),
    created_at: row.createdAt.toISOString(),
    activates_at: row.activatesAt.toISOString(),
    retired_at: row.retiredAt?.toISOString() ?? null,
    revoked_at: row.revokedAt?.toISOString() ?? null,
  }));
}

/**
 * Publishes a new signing key now; it signs once verifiers have had time to fetch it (the JWKS max-age),
 * and the current one keeps verifying until its tokens expire. Every instance reloads its keys.
 */
export async function rotateSigningKeys(deps: KeyAdminDeps, actor: string): Promise<KeyInfo> {
  if (deps.config.jwt.algorithm === 'HS256')
    throw new AppError('invalid_request', 'JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET_KEY, and there is no stored key to rotate.');
  const kid = await deps.keys.rotate({
    inTransaction: (tx, kid) => recordAuditEvent(tx, deps.clock, { type: 'signing_key_rotated', details: { actor, kid } }),
  });
  const key = (await listSigningKeys(deps)).find((k) => k.kid === kid);
  if (!key) throw new Error(`the new signing key ${kid} is not stored`);
  return key;
}

/**
 * The emergency stop for a signing key (one that leaked, say): it leaves the JWKS, and every token it signed is
 * refused, at once, on every instance (they are told by NOTIFY, and none loads a revoked key again); services
 * using @latchkey/verify drop it on the revocation feed's `key.revoked`. When it was the key signing now, a new key
 * signs at once, without the publication lead of a rotation. Refresh tokens are not signed, so sessions live on:
 * their next refresh gets a token of the new key. Revoking a revoked key changes nothing and says so
 * (`already_revoked`); an unknown kid is `key_not_found`.
 */
export async function revokeSigningKey(deps: KeyAdminDeps & { revocations: KeyRevocations }, kid: string, actor: string): Promise<KeyRevoked> {
  const done = await deps.keys.revoke(kid, {
    inTransaction: (tx, d) => recordAuditEvent(tx, deps.clock, { type: 'signing_key_revoked', details: { actor, kid, new_kid: d.replacement?.kid ?? null } }),
  });
  if (!done) throw new AppError('key_not_found');
  const revokedAt = done.revoked.revokedAt!;
  // This instance's list now, without waiting for its own notice (the embedded engine has none).
  deps.revocations.addKey(kid, revokedAt);
  const newKey = done.replacement ? (await listSigningKeys(deps)).find((k) => k.kid === done.replacement!.kid) : undefined;
  return { kid, revoked_at: revokedAt.toISOString(), already_revoked: done.already, new_key: newKey ?? null };
}
