import type { Config } from '../../config.js';
import type { Mailer } from '../../core/mail-queue.js';
import type { Db } from '../../db/client.js';
import { lockEnabledUserForMail } from '../../db/queries/users.js';
import { enqueue } from '../../core/mail-queue.js';
import { formatCode, issueOneTimeCode } from '../../core/one-time-tokens.js';
import { signinCodeEmail } from './emails.js';

export const SIGNIN_CODE = 'signin_code';

/**
 * Queues a sign-in code email as an intent: the user's id and the client network the code will be bound to,
 * nothing secret. The code is minted when the email is sent, so no copy of the database holds a usable code;
 * the intent lives as long as a code would.
 */
export async function queueSigninCodeIntent(db: Db, userId: string, network: string, now: Date, ttlSeconds: number): Promise<void> {
  await enqueue(db, { kind: SIGNIN_CODE, userId, network }, now, new Date(now.getTime() + ttlSeconds * 1000));
}

/**
 * The outbox handler of sign-in code intents. It stores the HMAC of a new code bound to the user and the
 * network that asked, superseding the user's earlier unused code (a newer one replaces it, and a code minted
 * by a failed attempt at this email), then emails the code. The code exists only in this function's memory
 * and in the email; its lifetime counts from now. A user deleted or disabled since the request gets nothing.
 */
export async function sendSigninCodeEmail(
  deps: { db: Db; mailer: Pick<Mailer, 'send'>; config: Config; oneTimeCodeKey: Uint8Array },
  payload: Record<string, unknown>,
  now: Date,
): Promise<'sent' | 'dropped'> {
  const { userId, network } = payload;
  if (typeof userId !== 'string' || typeof network !== 'string') return 'dropped';
  const ttlSeconds = deps.config.ttl.signinCode;
  const minted = await deps.db.transaction(async (tx) => {
    // Locking the user orders this mint with a concurrent disable, which then revokes the new code.
    const user = await lockEnabledUserForMail(tx, userId);
    if (!user) return undefined;
    const issued = await issueOneTimeCode(tx, deps.oneTimeCodeKey, {
      type: 'signin_code',
      userId: user.id,
      now,
      ttlSeconds,
      supersede: true,
      boundTo: network,
      payload: { network },
    });
    return { user, code: issued.token };
  });
  if (!minted) return 'dropped';
  await deps.mailer.send(signinCodeEmail(minted.user, formatCode(minted.code), ttlSeconds));
  return 'sent';
}
