import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import type { MfaReset } from '../../contracts/users.js';
import { findUser, toAdminUser } from '../users/user-admin.js';
import { mfaResetEmail } from './emails.js';
import { removeSecondFactors } from './factors.js';

/**
 * An operator's reset of a user's second factors (the command line, the admin API), for a user who lost their
 * authenticator app and their recovery codes: both are removed, `user.mfa_disabled` goes out, the audit row names
 * the operator, and the user is mailed. `removed: false` when there was no confirmed app (a pending one goes all the same).
 */
export async function resetMfaByOperator(deps: { db: Db; clock: Clock }, ref: string, actor: string): Promise<MfaReset> {
  const user = await findUser(deps.db, ref);
  const removed = await removeSecondFactors(deps, user, { actor, notice: mfaResetEmail(user) });
  return { user: toAdminUser(user), removed };
}
