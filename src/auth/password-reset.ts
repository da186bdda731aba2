import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { resetTokens, users } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { MailMessage } from '../mail/mailer.js';
import { passwordChangedEmail, passwordResetEmail } from '../mail/templates.js';
import { assertPasswordAcceptable } from './passwords.js';
import { generateOpaqueToken, hashToken } from './secrets.js';
import { revokeUserSessions } from './sessions.js';
import { findUserByEmail } from './users.js';

export function resetUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/reset-password/${token}`;
}

/**
 * Emails a reset link if the address has an account. The caller answers the same whatever happens
 * here, and the email leaves in the background, so neither the answer nor its timing tells whether
 * the account exists.
 */
export async function requestPasswordReset(deps: Deps, email: string): Promise<void> {
  const user = await findUserByEmail(deps.db, email);
  if (!user) return;
  const now = deps.clock.now();
  const token = generateOpaqueToken();
  await deps.db.transaction(async (tx) => {
    // A new request supersedes every earlier link.
    await tx.delete(resetTokens).where(and(eq(resetTokens.userId, user.id), isNull(resetTokens.usedAt)));
    await tx.insert(resetTokens).values({
      tokenHash: hashToken(token),
      userId: user.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.config.ttl.resetToken * 1000),
    });
  });
  sendInBackground(deps, passwordResetEmail(user, resetUrl(deps.config.publicUrl, token), deps.config.ttl.resetToken));
}

/** Whether a reset link can still be used, for the page the email links to. */
export async function isResetTokenUsable(deps: Pick<Deps, 'db' | 'clock'>, token: string): Promise<boolean> {
  const [row] = await deps.db
    .select({ userId: resetTokens.userId })
    .from(resetTokens)
    .where(usableToken(hashToken(token), deps.clock.now()));
  return row !== undefined;
}

/**
 * Sets a new password through a reset token. The password is checked before the token is touched, so a
 * refused password leaves the link usable; the token is consumed atomically, so it works once.
 * Every session of the user is revoked, and a notice is emailed.
 */
export async function resetPassword(deps: Deps, token: string, newPassword: string): Promise<void> {
  assertPasswordAcceptable(newPassword, deps.config.password);
  if (!(await isResetTokenUsable(deps, token))) throw new AppError('invalid_reset_token');
  const passwordHash = await deps.passwords.hash(newPassword);
  const now = deps.clock.now();
  const { user, revoked } = await deps.db.transaction(async (tx) => {
    const [consumed] = await tx
      .update(resetTokens)
      .set({ usedAt: now })
      .where(usableToken(hashToken(token), now))
      .returning({ userId: resetTokens.userId });
    if (!consumed) throw new AppError('invalid_reset_token');
    const [user] = await tx
      .update(users)
      .set({ passwordHash, passwordChangedAt: now, updatedAt: now })
      .where(eq(users.id, consumed.userId))
      .returning();
    if (!user) throw new AppError('invalid_reset_token');
    const revoked = await revokeUserSessions(tx, user.id, 'password_reset', now);
    return { user, revoked };
  });
  for (const sessionId of revoked) deps.revocations.add(sessionId, now);
  sendInBackground(deps, passwordChangedEmail(user));
}

function usableToken(tokenHash: string, now: Date) {
  return and(eq(resetTokens.tokenHash, tokenHash), isNull(resetTokens.usedAt), gt(resetTokens.expiresAt, now));
}

function sendInBackground(deps: Pick<Deps, 'mailer' | 'logger'>, message: MailMessage) {
  deps.mailer.send(message).catch((err: Error) => {
    deps.logger.error({ err: err.message, subject: message.subject }, 'email delivery failed');
  });
}
