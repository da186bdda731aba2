import { UNIQUE_VIOLATION, sqlState, type Db } from '../../db/client.js';
import { lockUserRow, setEmail } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import type { ClientInfo } from '../../core/client-address.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import { consumeOneTimeToken, findUsableToken, revokeUserTokens, type OneTimeToken } from '../../core/one-time-tokens.js';
import { confirmIdentity, type MfaDeps, type SecondFactor } from '../mfa/factors.js';
import { endUserSessions, publishEndedSessions } from '../sessions/sessions.js';
import { announceUserChange } from '../../core/user-cache.js';
import { findUserByEmail, normalizeEmail, toPublicUser, type User } from '../users/users.js';
import type { VerificationDeps, Verified } from '../verification/email-verification.js';
import type { RevocationList } from '../sessions/revocations.js';

/** Verification's dependencies, with what checking the password and ending sessions use. */
export interface EmailChangeDeps extends VerificationDeps, MfaDeps {
  revocations: RevocationList;
}
import { emailTakenNoticeEmail } from '../verification/emails.js';
import { queueEmailChangeIntents } from '../verification/verification-mail.js';

/**
 * An email change, as the owner runs it: asked for with the password, confirmed from the new address, and
 * undone from the old one. The address changes only when the new one confirms; two accounts never end with one
 * address (the unique index, not a check); the old mailbox can undo the change and sign every device out.
 */


export const EMAIL_CHANGE_MESSAGE =
  'To finish the change, open the link sent to the new address. A notice went to your current address.';

/**
 * Asks for the address of the user to become `email`. The password is checked first (`confirmPassword`). The
 * new address gets a confirmation link, or, when it belongs to another account, a notice saying someone tried
 * (that account's owner learns of it; the asker does not); either way the current address gets a notice with a
 * link that undoes the change. The answer is the same in every case, within VERIFICATION_MAIL_LIMIT or past it.
 */
export async function requestEmailChange(
  deps: EmailChangeDeps,
  user: User,
  input: { email: string; password: string } & SecondFactor,
  client: ClientInfo = {},
): Promise<void> {
  await confirmIdentity(deps, user, input.password, input, client);
  const newEmail = normalizeEmail(input.email);
  if (newEmail === user.email) {
    throw new AppError('invalid_request', 'This is already the address of the account.', [{ field: 'email', message: 'is already the address of the account' }]);
  }
  const owner = await findUserByEmail(deps.db, newEmail);
  const allowed = await deps.throttle.allowVerificationMail([newEmail, `change:${user.id}`]);
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await recordAuditEvent(tx, deps.clock, { type: 'email_change_requested', userId: user.id, email: user.email, client, details: { newEmail, sent: allowed } });
    if (!allowed) return;
    if (owner) await enqueueNotice(tx, emailTakenNoticeEmail(owner), now);
    else await queueEmailChangeIntents(tx, { userId: user.id, oldEmail: user.email, newEmail }, now, deps.config.ttl.emailVerification);
  });
  deps.outbox.wake();
}

/**
 * Follows the confirmation link of an email change: the account takes the new address, verified, in the
 * transaction that consumes the link. If another account took the address meanwhile, `409 email_taken` and
 * nothing changes (the link stays usable). The links sent to the old address for it (reset, verification) die.
 */
export async function confirmEmailChange(deps: EmailChangeDeps, token: string, client: ClientInfo = {}): Promise<Verified | undefined> {
  const now = deps.clock.now();
  const changed = await deps.db.transaction(async (tx) => {
    const change = await consumeOneTimeToken(tx, 'email_change', token, now);
    return change && takeNewAddress(tx, deps, change, client, now);
  });
  if (!changed) return undefined;
  deps.profiles.forget(changed.id);
  return { outcome: 'email_changed', user: toPublicUser(changed) };
}

async function takeNewAddress(tx: Db, deps: EmailChangeDeps, change: OneTimeToken<'email_change'>, client: ClientInfo, now: Date): Promise<User> {
  const before = await lockUserRow(tx, change.userId);
  if (!before || before.disabledAt) throw new AppError('invalid_verification_token');
  const user = await setEmail(tx, before.id, change.payload.email, now, now).catch((err: unknown) => {
    if (sqlState(err) === UNIQUE_VIOLATION) throw new AppError('email_taken', { message: 'Another account has this address now; nothing was changed.', cause: err });
    throw err;
  });
  if (!user) throw new AppError('invalid_verification_token');
  await revokeUserTokens(tx, user.id, now, ['email_change', 'email_verification', 'email_verification_code', 'password_reset']);
  await recordEvents(tx, [userEvent('user.updated', user, before.emailVerifiedAt ? ['email'] : ['email', 'email_verified'])], now);
  await recordAuditEvent(tx, deps.clock, { type: 'email_changed', userId: user.id, email: user.email, client, details: { previousEmail: before.email } });
  await announceUserChange(tx, user.id);
  return user;
}

/** Whether the confirmation link of an email change can still be used, for the page it opens. */
export async function isEmailChangeTokenUsable(deps: Pick<VerificationDeps, 'db' | 'clock'>, token: string): Promise<boolean> {
  return (await findUsableToken(deps.db, 'email_change', token, deps.clock.now())) !== undefined;
}

/** Whether a "this wasn't me" link can still be used, for the page it opens. */
export async function isCancelTokenUsable(deps: Pick<VerificationDeps, 'db' | 'clock'>, token: string): Promise<boolean> {
  return (await findUsableToken(deps.db, 'email_change_cancel', token, deps.clock.now())) !== undefined;
}

/**
 * The "this wasn't me" link sent to the old address: the change is cancelled if not confirmed yet, undone if it
 * was (the old address comes back, proved again by this link, unless another account took it meanwhile), every
 * session of the account ends on every instance, and every link in flight dies (a reset link sent to the new
 * address included). The owner then resets the password from the old address.
 */
export async function cancelEmailChange(deps: EmailChangeDeps, token: string, client: ClientInfo = {}): Promise<{ reverted: boolean }> {
  const now = deps.clock.now();
  const outcome = await deps.db.transaction(async (tx) => {
    const cancel = await consumeOneTimeToken(tx, 'email_change_cancel', token, now);
    if (!cancel) throw new AppError('invalid_verification_token');
    const user = await lockUserRow(tx, cancel.userId);
    if (!user) throw new AppError('invalid_verification_token');
    await revokeUserTokens(tx, user.id, now);
    const reverted = user.email === cancel.payload.new_email && (await revertAddress(tx, user, cancel.payload.old_email, now));
    const ended = await endUserSessions(tx, user.id, 'email_change_cancelled', now);
    const details = { reverted, sessionsEnded: ended.sessionIds.length, newEmail: cancel.payload.new_email };
    await recordAuditEvent(tx, deps.clock, { type: 'email_change_cancelled', userId: user.id, email: cancel.payload.old_email, client, details });
    await announceUserChange(tx, user.id);
    return { ended, reverted };
  });
  publishEndedSessions(deps, outcome.ended);
  deps.profiles.forget(outcome.ended.userId);
  return { reverted: outcome.reverted };
}

// In a savepoint: should another account hold the old address by now, the rest of the cancel still happens.
async function revertAddress(tx: Db, user: User, oldEmail: string, now: Date): Promise<boolean> {
  try {
    const reverted = await tx.transaction((sp) => setEmail(sp, user.id, oldEmail, now, now));
    if (reverted) await recordEvents(tx, [userEvent('user.updated', reverted, ['email'])], now);
    return reverted !== undefined;
  } catch (err) {
    if (sqlState(err) === UNIQUE_VIOLATION) return false;
    throw err;
  }
}
