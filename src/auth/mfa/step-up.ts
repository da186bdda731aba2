import { recordAuditEvent } from '../../core/audit.js';
import type { ClientInfo } from '../../core/client-address.js';
import { hasSecondFactor } from '../../db/queries/mfa.js';
import { AppError } from '../../errors.js';
import { raiseSession, type SessionDeps } from '../sessions/sessions.js';
import type { User } from '../users/users.js';
import { requireSecondFactor, type MfaDeps, type SecondFactor } from './factors.js';

/**
 * A step-up (`POST /api/me/mfa/step-up`): a signed-in user's session, opened with a password alone (`aal1`), proves
 * a second factor and becomes `aal2`, as a service that answered `insufficient_user_authentication` asks. The factor
 * is spent as any other (RATE_LIMIT_MFA, audited, `401 invalid_mfa_code`); the answer is a fresh access token of
 * the same session, and the session's later tokens keep the level.
 */
export async function stepUp(
  deps: MfaDeps & SessionDeps,
  user: User,
  sessionId: string,
  factor: SecondFactor,
  client: ClientInfo,
): Promise<{ accessToken: string; expiresIn: number; amr: readonly string[] }> {
  if (!(await hasSecondFactor(deps.db, user.id))) throw new AppError('mfa_not_enrolled', 'The account has no second factor to step up with.');
  const spent = await requireSecondFactor(deps, user, factor, client);
  const raised = await raiseSession(deps, { userId: user.id, sessionId, emailVerified: user.emailVerifiedAt !== null }, spent.amr);
  if (!raised) throw new AppError('session_revoked');
  await recordAuditEvent(deps.db, deps.clock, { type: 'mfa_step_up', userId: user.id, email: user.email, sessionId, client, details: { mfa: spent.method } });
  deps.sessionLists.forget(user.id);
  return raised;
}
