import type { Config } from '../../config.js';
import { addSeconds } from '../../core/clock.js';
import type { Mailer } from '../../core/mail-queue.js';
import type { Db } from '../../db/client.js';
import { lockEnabledUserForMail } from '../../db/queries/users.js';
import { enqueue } from '../../core/mail-queue.js';
import { issueOneTimeCode, issueOneTimeToken } from '../../core/one-time-tokens.js';
import { emailChangeConfirmEmail, emailChangeNoticeEmail, verificationEmail } from './emails.js';

/**
 * The emails of verification and email change, queued as intents (a user's id, the addresses concerned, nothing
 * secret) and rendered by the outbox handlers below when they are sent: the link and the code are minted then,
 * so no copy of the database ever holds a usable one. Each intent lives as long as its link would.
 */

export const EMAIL_VERIFICATION = 'email_verification';
export const EMAIL_CHANGE = 'email_change';
export const EMAIL_CHANGE_NOTICE = 'email_change_notice';

/** How long the "this wasn't me" link of an email change works: long enough for a person back from a week away. */
export const CANCEL_LINK_TTL = 7 * 86_400;

export const verifyEmailUrl = (publicUrl: string, token: string) => `${publicUrl}/verify-email/${token}`;
export const cancelEmailChangeUrl = (publicUrl: string, token: string) => `${publicUrl}/cancel-email-change/${token}`;

/** Queues the verification email of the user's current address (sign-up, a resend, a refused sign-in). */
export async function queueVerificationIntent(db: Db, userId: string, now: Date, ttlSeconds: number): Promise<void> {
  await enqueue(db, { kind: EMAIL_VERIFICATION, userId }, now, addSeconds(now, ttlSeconds));
}

/** Queues the two emails of an email change: the confirmation to the new address, the notice to the old one. */
export async function queueEmailChangeIntents(db: Db, change: { userId: string; oldEmail: string; newEmail: string }, now: Date, ttlSeconds: number) {
  await enqueue(db, { kind: EMAIL_CHANGE, userId: change.userId, email: change.newEmail }, now, addSeconds(now, ttlSeconds));
  await enqueue(db, { kind: EMAIL_CHANGE_NOTICE, ...change }, now, addSeconds(now, ttlSeconds));
}

type MailDeps = { db: Db; mailer: Pick<Mailer, 'send'>; config: Config; oneTimeCodeKey: Uint8Array };

/**
 * Sends a verification email: a link and a 6-digit code, both new, both superseding the user's earlier ones
 * (only the newest email works), both for the address the user has now. A user verified, disabled or deleted
 * since the request gets nothing.
 */
export async function sendVerificationEmail(deps: MailDeps, payload: Record<string, unknown>, now: Date): Promise<'sent' | 'dropped'> {
  if (typeof payload.userId !== 'string') return 'dropped';
  const userId = payload.userId;
  const ttlSeconds = deps.config.ttl.emailVerification;
  const minted = await deps.db.transaction(async (tx) => {
    const user = await lockEnabledUserForMail(tx, userId);
    if (!user || user.emailVerifiedAt) return undefined;
    const common = { userId, now, ttlSeconds, supersede: true, payload: { email: user.email } };
    const link = await issueOneTimeToken(tx, { type: 'email_verification', ...common });
    const code = await issueOneTimeCode(tx, deps.oneTimeCodeKey, { type: 'email_verification_code', ...common, boundTo: user.email, digits: true });
    return { user, link: link.token, code: code.token };
  });
  if (!minted) return 'dropped';
  await deps.mailer.send(verificationEmail(minted.user, verifyEmailUrl(deps.config.publicUrl, minted.link), minted.code, ttlSeconds));
  return 'sent';
}

/** Sends the confirmation link of an email change to the new address; a newer change supersedes it. */
export async function sendEmailChangeEmail(deps: MailDeps, payload: Record<string, unknown>, now: Date): Promise<'sent' | 'dropped'> {
  const { userId, email } = payload;
  if (typeof userId !== 'string' || typeof email !== 'string') return 'dropped';
  const ttlSeconds = deps.config.ttl.emailVerification;
  const minted = await deps.db.transaction(async (tx) => {
    const user = await lockEnabledUserForMail(tx, userId);
    if (!user) return undefined;
    const link = await issueOneTimeToken(tx, { type: 'email_change', userId, now, ttlSeconds, supersede: true, payload: { email } });
    return { user, link: link.token };
  });
  if (!minted) return 'dropped';
  const to = { name: minted.user.name, email, emailVerifiedAt: null, locale: minted.user.locale };
  await deps.mailer.send(emailChangeConfirmEmail(to, verifyEmailUrl(deps.config.publicUrl, minted.link), ttlSeconds));
  return 'sent';
}

/** Sends the notice of an email change to the old address, with the link that undoes it. */
export async function sendEmailChangeNotice(deps: MailDeps, payload: Record<string, unknown>, now: Date): Promise<'sent' | 'dropped'> {
  const { userId, oldEmail, newEmail } = payload;
  if (typeof userId !== 'string' || typeof oldEmail !== 'string' || typeof newEmail !== 'string') return 'dropped';
  const minted = await deps.db.transaction(async (tx) => {
    const user = await lockEnabledUserForMail(tx, userId);
    if (!user) return undefined;
    const payload = { old_email: oldEmail, new_email: newEmail };
    const link = await issueOneTimeToken(tx, { type: 'email_change_cancel', userId, now, ttlSeconds: CANCEL_LINK_TTL, payload });
    return { user, link: link.token };
  });
  if (!minted) return 'dropped';
  // To the old address, whatever the account's address is by now: that is the mailbox the owner still reads.
  const to = { name: minted.user.name, email: oldEmail, emailVerifiedAt: minted.user.email === oldEmail ? minted.user.emailVerifiedAt : null, locale: minted.user.locale };
  await deps.mailer.send(emailChangeNoticeEmail(to, newEmail, cancelEmailChangeUrl(deps.config.publicUrl, minted.link), CANCEL_LINK_TTL));
  return 'sent';
}
