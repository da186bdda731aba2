import type { Clock } from '../../core/clock.js';
import type { ClientInfo } from '../../core/client-address.js';
import type { Db } from '../../db/client.js';
import { deleteConsent, markUserClientSessionsRevoked, selectConsentsOf, selectOAuthClientById } from '../../db/queries/oauth.js';
import { lockUserRow } from '../../db/queries/users.js';
import { isUuid } from '../../contracts/ids.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, sessionRevokedEvent } from '../../core/events.js';
import { announceRevocations } from '../sessions/revocation-feed.js';
import type { RevocationList } from '../sessions/revocations.js';
import { isOAuthClientId } from './clients.js';

/**
 * The consents a user gave third-party clients (the applications they allowed on the consent page), as the user sees
 * them on /account and `GET /api/me/consents`, and their withdrawal: the consent goes, and so does every live session
 * of the user's that the client holds, on every instance at once, as a removal of the client ends all of its own.
 */

export interface ConsentDeps {
  db: Db;
  clock: Clock;
  revocations: Pick<RevocationList, 'add'>;
}

/** An application a user allowed, and what it may read. */
export interface ConsentInfo {
  client_id: string;
  name: string;
  scopes: string[];
  granted_at: string;
}

/** What a withdrawal ended. */
export interface ConsentRevoked {
  client_id: string;
  name: string;
  /** How many of the user's sessions held by the client ended. */
  sessions_ended: number;
}

// The reason services hear of in the `session.revoked` events of the sessions a withdrawal ends.
const REASON = 'consent_revoked';

/** The applications a user allowed, by name. */
export async function listConsents(deps: Pick<ConsentDeps, 'db'>, userId: string): Promise<ConsentInfo[]> {
  if (!isUuid(userId)) return [];
  const rows = await selectConsentsOf(deps.db, userId);
  return rows.map((r) => ({ client_id: r.clientId, name: r.name, scopes: r.scopes, granted_at: r.grantedAt.toISOString() }));
}

/**
 * Withdraws a user's consent to a client and ends the user's live sessions the client holds (their refresh tokens and
 * access tokens stop working at once); a code it has not exchanged yet opens nothing (its exchange checks the
 * consent). Audited `oauth_consent_revoked` with `actor: "user"`. `consent_not_found` for any client the user has
 * not allowed (another user's consent, an unknown or malformed id), with nothing changed. Two withdrawals at once:
 * the second waits for the user's row, then finds no consent.
 */
export async function revokeConsent(deps: ConsentDeps, userId: string, clientId: string, client: ClientInfo = {}): Promise<ConsentRevoked> {
  if (!isUuid(userId) || !isOAuthClientId(clientId)) throw new AppError('consent_not_found');
  const now = deps.clock.now();
  const { name, ended } = await deps.db.transaction(async (tx) => {
    // The user before the sessions (the lock order of src/db/queries/sessions.ts).
    const user = await lockUserRow(tx, userId);
    if (!user || !(await deleteConsent(tx, user.id, clientId))) throw new AppError('consent_not_found');
    const name = (await selectOAuthClientById(tx, clientId))?.name ?? clientId;
    const ended = await markUserClientSessionsRevoked(tx, user.id, clientId, now, REASON);
    await announceRevocations(tx, ended, now);
    await recordEvents(tx, ended.map((sid) => sessionRevokedEvent(user.id, sid, REASON)), now);
    await recordAuditEvent(tx, deps.clock, { type: 'oauth_consent_revoked', userId: user.id, client, details: { actor: 'user', clientId, name, sessions: ended.length } });
    return { name, ended };
  });
  for (const sid of ended) deps.revocations.add(sid, now);
  return { client_id: clientId, name, sessions_ended: ended.length };
}
