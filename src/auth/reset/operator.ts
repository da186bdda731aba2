import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import { recordAuditEvent } from '../../core/audit.js';
import { findUser, toAdminUser } from '../users/user-admin.js';
import { insertUser } from '../users/users.js';
import type { ResetSent, UserCreated } from '../../contracts/users.js';
import { queueInvitationIntent, queueResetIntent } from './reset-mail.js';

/**
 * What an operator does with reset links (the admin API, the console): send a user one, whatever the mail limits
 * (an operator is not a stranger), and invite someone to a new account. An invitation is a reset link that lives
 * INVITATION_TTL and says it is an invitation; the account's password, until its owner follows the link, is one
 * nobody knows, so nobody can sign in to it, and following the link proves the address, as any reset link does.
 * The email itself is minted by the outbox (./reset-mail.ts): no usable link is ever at rest.
 */

interface OperatorDeps {
  db: Db;
  clock: Clock;
  config: Config;
  /** Told when a row is queued; without it (the command line), a server's outbox finds the row at its next poll. */
  outbox?: { wake(): void } | undefined;
}

/** Queues a reset email for the user, audited with who asked; `sent: false` when the account is disabled. */
export async function sendResetByOperator(deps: OperatorDeps, ref: string, actor: string): Promise<ResetSent> {
  const user = await findUser(deps.db, ref);
  const sent = !user.disabledAt;
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await recordAuditEvent(tx, deps.clock, { type: 'password_reset_requested', userId: user.id, email: user.email, details: { actor, sent } });
    if (sent) await queueResetIntent(tx, user.id, now, deps.config.ttl.resetToken);
  });
  if (sent) deps.outbox?.wake();
  return { user: toAdminUser(user), sent };
}

/**
 * Creates an account for someone and emails them an invitation to choose its password; `email_taken` when the
 * address has an account. The user, its audit row and the invitation's intent are written in one transaction.
 */
export async function inviteUser(
  deps: OperatorDeps & { passwords: Pick<PasswordHasher, 'hash'> },
  input: { email: string; name: string; admin?: boolean | undefined },
  actor: string,
): Promise<UserCreated> {
  // A password nobody knows, hashed as any other, so that a sign-in to the account costs what any other does.
  const passwordHash = await deps.passwords.hash(randomBytes(32).toString('base64url'));
  const role = input.admin ? 'admin' : 'user';
  const now = deps.clock.now();
  const user = await insertUser(deps.db, now, { name: input.name, email: input.email, passwordHash, role }, async (tx, user) => {
    await recordAuditEvent(tx, deps.clock, { type: 'user_created', userId: user.id, email: user.email, details: { actor, role, verified: false, invited: true } });
    await queueInvitationIntent(tx, user.id, now, deps.config.ttl.invitation);
  });
  deps.outbox?.wake();
  return { user: toAdminUser(user), invited: true };
}
