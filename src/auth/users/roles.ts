import type { Clock } from '../../core/clock.js';
import { recordAuditEvent } from '../../core/audit.js';
import type { Db } from '../../db/client.js';
import { markUserRole } from '../../db/queries/users.js';
import type { RoleChanged } from '../../contracts/users.js';
import { findUser, toAdminUser } from './user-admin.js';

/**
 * Granting and taking back the role `admin` (the console's, and REQUIRE_MFA_FOR_ROLES's by default). Nothing
 * holds the role but the user's row: the console reads it at every request, so a change takes effect at once on
 * every instance, and no session needs to end. A new admin without a second factor is walked through enrolling
 * one at their next sign-in, and until then the console refuses their sessions (opened with a password alone).
 */
export async function setUserRole(deps: { db: Db; clock: Clock }, ref: string, role: 'user' | 'admin', actor: string): Promise<RoleChanged> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const user = await deps.db.transaction(async (tx) => {
    const changed = await markUserRole(tx, found.id, role, now);
    if (changed) await recordAuditEvent(tx, deps.clock, { type: 'user_role_changed', userId: changed.id, email: changed.email, details: { actor, from: found.role, to: role } });
    return changed;
  });
  return user ? { user: toAdminUser(user), changed: true } : { user: toAdminUser(await findUser(deps.db, found.id)), changed: false };
}
