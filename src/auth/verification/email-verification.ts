import { NO_USER_ID } from '../../contracts/ids.js';
import type { Logger } from 'pino';
import type { Throttle } from '../throttle/throttle.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { lockUserRow, markEmailVerified } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import type { ClientInfo } from '../../core/client-address.js';
import { consumeOneTimeCode, consumeOneTimeToken, findUsableToken, revokeUserTokens, type OneTimeToken } from '../../core/one-time-tokens.js';
import { announceUserChange, type UserCache } from '../../core/user-cache.js';
import { findUserByEmail, findUserById, normalizeEmail, toPublicUser, type PublicUser, type User } from '../users/users.js';
import { queueVerificationIntent } from './verification-mail.js';

/** What verification and email changes use; `outbox` is told when a row is queued, `profiles` when a user changed. */
export interface VerificationDeps {
  db: Db;
  clock: Clock;
  config: Config;
  logger: Logger;
  outbox: { wake(): void };
  throttle: Throttle;
  profiles: UserCache<PublicUser>;
  oneTimeCodeKey: Uint8Array;
}

// Wrong codes that spend a verification code: five guesses at six digits have 1 chance in 200,000.
const CODE_MAX_FAILURES = 5;

export interface Verified {
  /** `verified` (an address proved) or `email_changed` (a new address confirmed, and so proved). */
  outcome: 'verified' | 'email_changed';
  user: PublicUser;
}

/**
 * Follows the link of a verification email: consumed in the transaction that marks the address, so it works
 * once. Undefined when the token is not a live verification link (it may be an email change's: see
 * src/auth/account/email-change.ts, whose links open the same page and POST to the same route).
 */
export async function verifyEmailToken(deps: VerificationDeps, token: string, client: ClientInfo = {}): Promise<Verified | undefined> {
  const now = deps.clock.now();
  const proved = await deps.db.transaction(async (tx) => {
    const verification = await consumeOneTimeToken(tx, 'email_verification', token, now);
    return verification && proveAddress(tx, deps, verification, client, now);
  });
  if (!proved) return undefined;
  deps.profiles.forget(proved.id);
  return { outcome: 'verified', user: toPublicUser(proved) };
}

/**
 * Checks the 6-digit code of a verification email. Tried per address (RATE_LIMIT_VERIFY_CODE) before anything
 * is read, and five wrong ones spend the code: the answer to a wrong code, an unknown address or a verified
 * one is the same `400 invalid_verification_token`, after the same statements.
 */
export async function verifyEmailCode(deps: VerificationDeps, email: string, code: string, client: ClientInfo = {}): Promise<Verified> {
  const address = normalizeEmail(email);
  await deps.throttle.limitAccount('verifyCode', address);
  const user = await findUserByEmail(deps.db, address);
  const now = deps.clock.now();
  const opts = { type: 'email_verification_code' as const, userId: user?.id ?? NO_USER_ID, boundTo: address, code, now, maxFailures: CODE_MAX_FAILURES };
  const consumed = await consumeOneTimeCode(deps.db, deps.oneTimeCodeKey, opts);
  if (!user || !consumed) throw new AppError('invalid_verification_token');
  const proved = await deps.db.transaction((tx) => proveAddress(tx, deps, consumed, client, now));
  deps.profiles.forget(proved.id);
  return { outcome: 'verified', user: toPublicUser(proved) };
}

/**
 * Marks the address a consumed link or code was sent to as verified, if it is still the user's: the other
 * proof in the same email dies with it. The user.updated event, the audit row and the notice to the other
 * instances go in the same transaction.
 */
async function proveAddress(tx: Db, deps: VerificationDeps, proof: Pick<OneTimeToken<'email_verification'>, 'userId' | 'payload'>, client: ClientInfo, now: Date): Promise<User> {
  const user = await lockUserRow(tx, proof.userId);
  if (!user || user.disabledAt || user.email !== proof.payload.email) throw new AppError('invalid_verification_token');
  await revokeUserTokens(tx, user.id, now, ['email_verification', 'email_verification_code']);
  // Proved already (by a reset, or the other half of this email): nothing changes, and the answer is the same.
  const verified = await markEmailVerified(tx, user.id, now);
  if (!verified) return user;
  await recordEvents(tx, [userEvent('user.updated', verified, ['email_verified'])], now);
  await recordAuditEvent(tx, deps.clock, { type: 'email_verified', userId: user.id, email: user.email, client });
  await announceUserChange(tx, user.id);
  return verified;
}

/** Whether a verification link can still be used, for the page it opens. */
export async function isVerificationTokenUsable(deps: Pick<VerificationDeps, 'db' | 'clock'>, token: string): Promise<boolean> {
  return (await findUsableToken(deps.db, 'email_verification', token, deps.clock.now())) !== undefined;
}

/**
 * Sends a new verification email to a signed-in user's address, within VERIFICATION_MAIL_LIMIT (per address and
 * per account). Whether one went out is not said: `already_verified` when there is nothing to prove.
 */
export async function resendVerificationToUser(deps: VerificationDeps, userId: string, client: ClientInfo = {}): Promise<'sent' | 'already_verified'> {
  const user = await findUserById(deps.db, userId);
  if (!user) throw new AppError('invalid_token');
  if (user.emailVerifiedAt) return 'already_verified';
  await sendVerification(deps, user, client);
  return 'sent';
}

/**
 * Sends a new verification email to an address, if it has an unverified, enabled account and the limits allow:
 * known and unknown addresses do the same work (a look-up, the limits, an audit row) before the answer, and
 * the email is queued after it, so neither the answer nor its timing tells them apart.
 */
export async function resendVerificationToAddress(deps: VerificationDeps, email: string, client: ClientInfo = {}): Promise<void> {
  const address = normalizeEmail(email);
  const user = await findUserByEmail(deps.db, address);
  await sendVerification(deps, user, client, address);
}

type MailingDeps = Pick<VerificationDeps, 'db' | 'clock' | 'config' | 'logger' | 'outbox' | 'throttle'>;

/**
 * Queues a verification email for the user (none for an address with no account, or verified, or disabled), within
 * VERIFICATION_MAIL_LIMIT per address and per account, and audits the request: a resend, or a sign-in refused for an
 * unverified address (REQUIRE_EMAIL_VERIFICATION). The email is queued after the caller's answer.
 */
export async function sendVerification(deps: MailingDeps, user: User | undefined, client: ClientInfo, address = user?.email ?? ''): Promise<void> {
  const allowed = await deps.throttle.allowVerificationMail([address, `user:${user?.id ?? address}`]);
  const sent = Boolean(user && allowed && !user.disabledAt && !user.emailVerifiedAt);
  await recordAuditEvent(deps.db, deps.clock, { type: 'verification_email_requested', userId: user?.id, email: address, client, details: { sent } });
  if (!sent || !user) return;
  void queueVerification(deps, user.id).catch((err: Error) => {
    deps.logger.error({ err: err.message, userId: user.id }, 'could not queue a verification email');
  });
}

async function queueVerification(deps: Pick<VerificationDeps, 'db' | 'clock' | 'config' | 'outbox'>, userId: string): Promise<void> {
  await queueVerificationIntent(deps.db, userId, deps.clock.now(), deps.config.ttl.emailVerification);
  deps.outbox.wake();
}
