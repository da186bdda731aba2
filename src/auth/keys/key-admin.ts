import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { KeyRing } from './key-ring.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { readKeyRows, type KeyRow } from './key-store.js';

interface KeyAdminDeps {
  db: Db;
  clock: Clock;
  keys: KeyRing;
  config: Config;
}

/**
 * `current` signs now; `next` is published and signs from `activates_at`; `previous` signed before
 * and still verifies its tokens until they expire; `retired` no longer signs (it verifies until then too).
 */
export type KeyState = 'current' | 'next' | 'previous' | 'retired';

/** A stored signing key as an operator sees it; never its private half. */
export interface KeyInfo {
  kid: string;
  alg: string;
  state: KeyState;
  created_at: string;
  activates_at: string;
  retired_at: string | null;
}

function stateOf(row: KeyRow, signingKid: string, now: Date): KeyState {
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
