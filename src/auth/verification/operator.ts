import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { markEmailVerified } from '../../db/queries/users.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import { announceUserChange } from '../../core/user-cache.js';
import { findUser, toAdminUser } from '../users/user-admin.js';
import type { EmailVerifiedByOperator, VerificationSent } from '../../contracts/users.js';
import { queueVerificationIntent } from './verification-mail.js';

/** What an operator does about an address (the command line, the admin API): vouch for it, or send the owner a proof. */

interface OperatorDeps {
  db: Db;
  clock: Clock;
  config: Config;
}

/** Marks the user's address verified on the operator's word; `changed: false` when it already was. */
export async function verifyEmailByOperator(deps: OperatorDeps, ref: string, actor: string): Promise<EmailVerifiedByOperator> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const user = await deps.db.transaction(async (tx) => {
    const user = await markEmailVerified(tx, found.id, now);
    if (!user) return undefined;
    await recordEvents(tx, [userEvent('user.updated', user, ['email_verified'])], now);
    await recordAuditEvent(tx, deps.clock, { type: 'email_verified', userId: user.id, email: user.email, details: { actor } });
    await announceUserChange(tx, user.id);
    return user;
  });
  return { user: toAdminUser(user ?? found), changed: user !== undefined };
}

/**
 * Queues a verification email for the user (a link and a code, superseding earlier ones), whatever the mail
 * limits: an operator is not a stranger. `sent: false` when the address is verified already or the account
 * disabled. A server's outbox sends it (the command line's row is found at the next poll).
 */
export async function sendVerificationByOperator(deps: OperatorDeps, ref: string, actor: string): Promise<VerificationSent> {
  const user = await findUser(deps.db, ref);
  const sent = !user.emailVerifiedAt && !user.disabledAt;
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await recordAuditEvent(tx, deps.clock, { type: 'verification_email_requested', userId: user.id, email: user.email, details: { actor, sent } });
    if (sent) await queueVerificationIntent(tx, user.id, now, deps.config.ttl.emailVerification);
  });
  return { user: toAdminUser(user), sent };
}
