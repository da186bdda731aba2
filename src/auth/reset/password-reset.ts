import type { Logger } from 'pino';
import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { RevocationList } from '../sessions/revocations.js';
import { setPasswordOfEnabledUser } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import { passwordChangedEmail } from './emails.js';
import { recordAuditEvent } from '../../core/audit.js';
import { checkNewPassword } from '../passwords/passwords.js';
import { isKnownClient } from '../throttle/known-clients.js';
import { queueResetIntent } from './reset-mail.js';
import { hashToken } from '../../core/secrets.js';
import { consumeOneTimeToken, findUsableToken, revokeUserTokens } from '../../core/one-time-tokens.js';
import type { ClientInfo } from '../../core/client-address.js';
import { endUserSessions, publishEndedSessions } from '../sessions/sessions.js';
import { recordEvents, userEvent } from '../../core/events.js';
import { findUserByEmail, normalizeEmail } from '../users/users.js';

/** What a reset uses; `outbox` is told when a row is queued. */
export interface ResetDeps {
  db: Db;
  clock: Clock;
  config: Config;
  logger: Logger;
  outbox: { wake(): void };
  passwords: PasswordHasher;
  throttle: Throttle;
  breachCheck: BreachCheck | undefined;
  revocations: RevocationList;
}


/**
 * Emails a reset link if the address has an account and its mail quota allows. Known and unknown
 * addresses do the same work before the caller answers (look-up, quota, audit); the email is queued
 * for the outbox afterwards, so neither the answer nor its timing tells them apart.
 */
export async function requestPasswordReset(deps: ResetDeps, email: string, client: ClientInfo = {}): Promise<void> {
  const address = normalizeEmail(email);
  const user = await findUserByEmail(deps.db, address);
  const known = await isKnownClient(deps, user?.id, client.network, deps.config.ttl.sessionMaxAge);
  const allowed = await deps.throttle.allowResetMail(address, { network: client.network ?? '', known });
  await recordAuditEvent(deps.db, deps.clock, {
    type: 'password_reset_requested',
    userId: user?.id,
    email: address,
    client,
    details: { sent: Boolean(user && allowed && !user.disabledAt) },
  });
  // A disabled account gets no link, and the answer says nothing of it: the same as for an unknown address.
  if (!user || !allowed || user.disabledAt) return;
  // Only this part differs between known and unknown addresses; it runs after the answer is sent.
  void queueResetEmail(deps, user.id).catch((err: Error) => {
    deps.logger.error({ err: err.message, userId: user.id }, 'could not queue a password reset email');
  });
}

// Only the intent is queued: the outbox mints the token when it sends the email (see reset-mail.ts).
async function queueResetEmail(deps: ResetDeps, userId: string): Promise<void> {
  await queueResetIntent(deps.db, userId, deps.clock.now(), deps.config.ttl.resetToken);
  deps.outbox.wake();
}

/** Whether a reset link can still be used, for the page the email links to. */
export async function isResetTokenUsable(deps: Pick<ResetDeps, 'db' | 'clock'>, token: string): Promise<boolean> {
  return (await resetLinkKind(deps, token)) !== undefined;
}

/** What a usable reset link is: a reset, or an invitation's first password (./operator.ts); undefined when it cannot be used. */
export async function resetLinkKind(deps: Pick<ResetDeps, 'db' | 'clock'>, token: string): Promise<'reset' | 'invitation' | undefined> {
  const found = await findUsableToken(deps.db, 'password_reset', token, deps.clock.now());
  if (!found) return undefined;
  return found.payload?.invitation ? 'invitation' : 'reset';
}

/**
 * Sets a new password through a reset token. The password is checked before the token is touched, so a
 * refused password leaves the link usable; the token is consumed atomically, so it works once.
 * Every session of the user is revoked, a sign-in lock is lifted, and a notice is emailed, except after an
 * invitation's link (the first password its owner chose: there was none to warn about). Either way the link
 * proved the address.
 */
export async function resetPassword(deps: ResetDeps, token: string, newPassword: string, client: ClientInfo = {}): Promise<{ invitation: boolean }> {
  await deps.throttle.limitAccount('resetToken', hashToken(token));
  await checkNewPassword(deps, newPassword);
  if (!(await isResetTokenUsable(deps, token))) throw new AppError('invalid_reset_token');
  const passwordHash = await deps.passwords.hash(newPassword);
  const now = deps.clock.now();
  const { user, ended, invitation } = await deps.db.transaction(async (tx) => {
    const consumed = await consumeOneTimeToken(tx, 'password_reset', token, now);
    if (!consumed) throw new AppError('invalid_reset_token');
    const invitation = consumed.payload?.invitation === true;
    // Every other link of this user dies with this one: whoever else holds one is too late.
    await revokeUserTokens(tx, consumed.userId, now, 'password_reset');
    // A disabled account's password cannot be reset, not even with a link sent before it was disabled.
    const user = await setPasswordOfEnabledUser(tx, consumed.userId, passwordHash, now, { provesEmail: true });
    if (!user) throw new AppError('invalid_reset_token');
    await recordEvents(tx, [userEvent('user.password_changed', user)], now);
    const ended = await endUserSessions(tx, user.id, 'password_reset', now);
    if (!invitation) await enqueueNotice(tx, passwordChangedEmail(user), now);
    // In the transaction: the audit says a reset happened if and only if it did.
    const details = { sessionsRevoked: ended.sessionIds.length, ...(invitation ? { invitation } : {}) };
    for (const type of ['password_reset_completed', 'password_changed'] as const) {
      await recordAuditEvent(tx, deps.clock, { type, userId: user.id, email: user.email, client, details });
    }
    return { user, ended, invitation };
  });
  publishEndedSessions(deps, ended);
  deps.outbox.wake();
  await deps.throttle.unlockAccount(user.email);
  return { invitation };
}
