import type { Clock } from '../../core/clock.js';
import { findUsableToken } from '../../core/one-time-tokens.js';
import type { Db } from '../../db/client.js';
import { credentialStamp, findUserById } from '../users/users.js';

/**
 * The user an `enrollment_token` (REQUIRE_MFA_FOR_ROLES) stands for, while it may still serve: unexpired, the user
 * enabled, their credentials those read with the verified password, and no factor enrolled with it yet (enrolling one revokes it).
 * Undefined otherwise. Only the enrolment routes ask (src/http/authenticate.ts).
 */
export async function enrollingUser(deps: { db: Db; clock: Clock }, token: string): Promise<string | undefined> {
  const pending = await findUsableToken(deps.db, 'mfa_enrollment', token, deps.clock.now());
  const user = pending && (await findUserById(deps.db, pending.userId));
  if (!user || user.disabledAt || credentialStamp(user) !== pending.payload?.credentials) return undefined;
  return user.id;
}
