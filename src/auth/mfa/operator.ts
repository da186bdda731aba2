import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { deleteRecoveryCodes, deleteTotp } from '../../db/queries/mfa.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import { announceUserChange } from '../../core/user-cache.js';
import type { MfaReset } from '../../contracts/users.js';
import { findUser, toAdminUser } from '../users/user-admin.js';
import { mfaResetEmail } from './emails.js';

/**
 * An operator's reset of a user's second factors (the command line, the admin API), for a user who lost their
 * authenticator app and their recovery codes: both are removed, `user.mfa_disabled` goes out, the audit row names
 * the operator, and the user is mailed. `removed: false` when there was no confirmed app (a pending one goes all the same).
 */
export async function resetMfaByOperator(deps: { db: Db; clock: Clock }, ref: string, actor: string): Promise<MfaReset> {
  const user = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const removed = await deps.db.transaction(async (tx) => {
    const removed = await deleteTotp(tx, user.id);
    await deleteRecoveryCodes(tx, user.id);
    if (!removed) return false;
    await recordEvents(tx, [userEvent('user.mfa_disabled', user)], now);
    await recordAuditEvent(tx, deps.clock, { type: 'mfa_disabled', userId: user.id, email: user.email, details: { factor: 'totp', actor } });
    await enqueueNotice(tx, mfaResetEmail(user), now);
    await announceUserChange(tx, user.id);
    return true;
  });
  return { user: toAdminUser(user), removed };
}
