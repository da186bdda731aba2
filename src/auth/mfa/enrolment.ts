import type { Clock } from '../../core/clock.js';
import { findUsableToken } from '../../core/one-time-tokens.js';
import type { Db } from '../../db/client.js';
import { findUserById } from '../users/users.js';
import { changedSince } from './second-step.js';

/**
 * The user an `enrollment_token` (REQUIRE_MFA_FOR_ROLES) stands for, while it may still serve: unexpired, the user
 * enabled, their credentials unchanged since, and no factor enrolled with it yet (enrolling one revokes it).
 * Undefined otherwise. Only the enrolment routes ask (src/http/authenticate.ts).
 */
export async function enrollingUser(deps: { db: Db; clock: Clock }, token: string): Promise<string | undefined> {
  const pending = await findUsableToken(deps.db, 'mfa_enrollment', token, deps.clock.now());
  const user = pending && (await findUserById(deps.db, pending.userId));
  if (!user || user.disabledAt || changedSince(user, pending.createdAt)) return undefined;
  return user.id;
}
