import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { SessionDeps, TokenPair } from '../sessions/sessions.js';
import { setName, setPasswordOfEnabledUser } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import type { ClientInfo } from '../../core/client-address.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import { revokeUserTokens } from '../../core/one-time-tokens.js';
import { checkNewPassword } from '../passwords/passwords.js';
import { passwordChangedEmail } from '../reset/emails.js';
import { confirmIdentity, type SecondFactor } from '../mfa/factors.js';
import { createSession, endUserSessions, publishEndedSessions } from '../sessions/sessions.js';
import { deleteUser } from '../users/user-admin.js';
import { announceUserChange } from '../../core/user-cache.js';
import { findUserById, type User } from '../users/users.js';
import type { EmailChangeDeps } from './email-change.js';
import { accountDeletedEmail } from './emails.js';

/**
 * What a signed-in user changes of their own account (`/api/me`): the name, the password, the account itself.
 * Sensitive changes take the password, and a second factor once the user has one (`confirmIdentity`); each writes its webhook event and its audit row
 * (actor `user`) in its own transaction, and a change of the profile reaches every instance's profile cache.
 */

export interface AccountDeps extends EmailChangeDeps, SessionDeps {
  breachCheck: BreachCheck | undefined;
}


/** The user an access token names; `invalid_token` when the account is gone (deleted since the token was issued). */
export async function accountOf(deps: Pick<AccountDeps, 'db'>, userId: string): Promise<User> {
  const user = await findUserById(deps.db, userId);
  if (!user) throw new AppError('invalid_token');
  return user;
}

/** Sets the user's display name (already checked as at sign-up). */
export async function renameAccount(deps: AccountDeps, userId: string, name: string, client: ClientInfo = {}): Promise<User> {
  const now = deps.clock.now();
  const user = await deps.db.transaction(async (tx) => {
    const user = await setName(tx, userId, name.trim(), now);
    if (!user) throw new AppError('invalid_token');
    await recordEvents(tx, [userEvent('user.updated', user, ['name'])], now);
    await recordAuditEvent(tx, deps.clock, { type: 'profile_updated', userId, email: user.email, client, details: { fields: ['name'] } });
    await announceUserChange(tx, userId);
    return user;
  });
  deps.profiles.forget(userId);
  return user;
}

/**
 * Changes the password of a signed-in user who knows the current one. Every session opened before, the
 * caller's included, ends at once on every instance (the not-before), unused reset links die, a notice goes to
 * the address; the caller gets the tokens of a new session.
 */
export async function changePassword(
  deps: AccountDeps,
  user: User,
  input: { currentPassword: string; newPassword: string } & SecondFactor,
  client: ClientInfo = {},
): Promise<TokenPair> {
  const amr = await confirmIdentity(deps, user, input.currentPassword, input, client);
  await checkNewPassword(deps, input.newPassword);
  const passwordHash = await deps.passwords.hash(input.newPassword);
  const now = deps.clock.now();
  const { changed, ended } = await deps.db.transaction(async (tx) => {
    const changed = await setPasswordOfEnabledUser(tx, user.id, passwordHash, now);
    if (!changed) throw new AppError('account_disabled');
    await revokeUserTokens(tx, user.id, now, 'password_reset');
    await recordEvents(tx, [userEvent('user.password_changed', changed)], now);
    const ended = await endUserSessions(tx, user.id, 'password_changed', now);
    await enqueueNotice(tx, passwordChangedEmail(changed), now);
    const details = { actor: 'user', sessionsRevoked: ended.sessionIds.length };
    await recordAuditEvent(tx, deps.clock, { type: 'password_changed', userId: user.id, email: changed.email, client, details });
    return { changed, ended };
  });
  publishEndedSessions(deps, ended);
  deps.outbox.wake();
  const tokens = await createSession(deps, { ...changed, notBefore: ended.notBefore }, client, (tx, sessionId) =>
    recordAuditEvent(tx, deps.clock, { type: 'signin_succeeded', userId: user.id, email: changed.email, sessionId, client, details: { passwordChanged: true } }),
    amr,
  );
  // Another change of the credentials landed in between: that one's sessions rule.
  if (!tokens) throw new AppError('session_revoked');
  return tokens;
}

/** Deletes the account of a user who knows its password, as an operator's delete does; a goodbye email goes out. */
export async function deleteOwnAccount(deps: AccountDeps, user: User, proof: { password: string } & SecondFactor, client: ClientInfo = {}): Promise<void> {
  await confirmIdentity(deps, user, proof.password, proof, client);
  await deleteUser(deps, user.id, 'user', (tx, deleted, now) =>
    enqueueNotice(tx, accountDeletedEmail(deleted), now),
  );
  deps.outbox.wake();
}
