import type { Config } from '../../config.js';
import type { Mailer } from '../../core/mail-queue.js';
import type { Db } from '../../db/client.js';
import { lockEnabledUserForMail } from '../../db/queries/users.js';
import { enqueue } from '../../core/mail-queue.js';
import { invitationEmail, passwordResetEmail } from './emails.js';
import { issueOneTimeToken } from '../../core/one-time-tokens.js';

export const PASSWORD_RESET = 'password_reset';

export function resetUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/reset-password/${token}`;
}

/**
 * Queues a reset email as an intent: the user's id and nothing secret. The token is minted when the
 * email is sent, so no copy of the database (data, WAL, dumps) ever holds a usable link. The intent
 * lives as long as a link would: one older than RESET_TOKEN_TTL is not sent.
 */
export async function queueResetIntent(db: Db, userId: string, now: Date, ttlSeconds: number): Promise<void> {
  await enqueue(db, { kind: PASSWORD_RESET, userId }, now, new Date(now.getTime() + ttlSeconds * 1000));
}

/** Queues an invitation: a reset intent marked so, whose link says so and lives INVITATION_TTL. */
export async function queueInvitationIntent(db: Db, userId: string, now: Date, ttlSeconds: number): Promise<void> {
  await enqueue(db, { kind: PASSWORD_RESET, userId, invitation: true }, now, new Date(now.getTime() + ttlSeconds * 1000));
}

/**
 * The outbox handler of reset intents (and of invitations, which are reset links for a first password). It stores the SHA-256 of a new token, then emails the link; the raw
 * token exists only in this function's memory and in the email. The link's lifetime counts from now. A user
 * deleted or disabled since the request gets nothing.
 *
 * A new link leaves the user's earlier ones alive (until they expire, or one of them is used): anyone can ask
 * for a reset email, so were each link to supersede the one before, a stranger asking every few minutes would
 * spoil every link in the owner's mailbox before it could be used. With the mail quotas (RESET_MAIL_LIMIT,
 * RESET_MAIL_ACCOUNT_LIMIT) spent, the emails strangers caused are links the owner can use, for a whole
 * RESET_TOKEN_TTL each. A token minted by a failed attempt at an email was never seen: its hash stays, unusable, until it expires.
 */
export async function sendResetEmail(
  deps: { db: Db; mailer: Pick<Mailer, 'send'>; config: Config },
  payload: Record<string, unknown>,
  now: Date,
): Promise<'sent' | 'dropped'> {
  if (typeof payload.userId !== 'string') return 'dropped';
  const userId = payload.userId;
  const invitation = payload.invitation === true;
  const ttl = invitation ? deps.config.ttl.invitation : deps.config.ttl.resetToken;
  const minted = await deps.db.transaction(async (tx) => {
    // Locking the user orders this mint with a concurrent disable, which then revokes the new link.
    const user = await lockEnabledUserForMail(tx, userId);
    if (!user) return undefined;
    const { token } = await issueOneTimeToken(tx, { type: 'password_reset', userId: user.id, now, ttlSeconds: ttl, payload: invitation ? { invitation } : null });
    return { user, token };
  });
  if (!minted) return 'dropped';
  const link = resetUrl(deps.config.publicUrl, minted.token);
  await deps.mailer.send(invitation ? invitationEmail(minted.user, link, ttl) : passwordResetEmail(minted.user, link, ttl));
  return 'sent';
}
