import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { NOT_AN_ADDRESS, type ClientInfo } from '../../core/client-address.js';
import type { User } from '../users/users.js';

export interface ReauthDeps {
  db: Db;
  clock: Clock;
  passwords: PasswordHasher;
  throttle: Throttle;
}

const LOCKED_MESSAGE = 'Too many wrong passwords for this account from this network; try again later.';

/**
 * Checks the password a signed-in user sends with a sensitive change (password, email, deletion). A wrong one
 * is `401 invalid_credentials`, audited as a failed sign-in, and counts against the same lockout as one
 * (LOCKOUT_THRESHOLD, each lock twice as long), under the account and the client's network together: whoever
 * holds a stolen access token cannot try passwords faster than a sign-in could, and strangers' failures on
 * other networks never stop the owner. The global budget of password checks is spent as a sign-in spends it.
 */
export async function confirmPassword(deps: ReauthDeps, user: User, password: string, client: ClientInfo): Promise<void> {
  deps.passwords.assertCapacity();
  const key = `${user.email} ${client.network ?? NOT_AN_ADDRESS}`;
  await deps.throttle.beginSignin(key).catch((err: unknown) => {
    if (err instanceof AppError && err.code === 'too_many_attempts') err.message = LOCKED_MESSAGE;
    throw err;
  });
  const valid = await deps.throttle
    .limitGlobal('signin', client.wideNetwork)
    .then(() => deps.passwords.verify(user.passwordHash, password))
    .catch(async (err: unknown) => {
      if (err instanceof AppError && err.code === 'server_busy') await deps.throttle.refundSignin(key);
      throw err;
    });
  if (!valid) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'reauthentication' } });
    throw new AppError('invalid_credentials', 'The password is wrong.');
  }
  await deps.throttle.signinSucceeded(key);
}
