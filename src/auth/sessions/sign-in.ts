import type { Logger } from 'pino';
import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import { replacePasswordHash } from '../../db/queries/users.js';
import { AppError, type ErrorCode } from '../../errors.js';
import { countOutcome, type SigninOutcome } from '../../core/metrics.js';
import { recordAuditEvent } from '../../core/audit.js';
import { isKnownClient } from '../throttle/known-clients.js';
import type { ClientInfo } from '../../core/client-address.js';
import { createSession, type SessionDeps, type TokenPair } from './sessions.js';

/** Sessions' dependencies, and the password hasher, the throttle and the log. */
export interface SignInDeps extends SessionDeps {
  passwords: PasswordHasher;
  throttle: Throttle;
  breachCheck: BreachCheck | undefined;
  logger: Logger;
}
import { findUserByEmail, normalizeEmail, type User } from '../users/users.js';

/**
 * Checks a password and opens a fresh session. Unknown email and wrong password fail identically,
 * and both count towards the account's lockout, so throttling reveals nothing either. A disabled
 * account is refused with `account_disabled`, and only once the password proved right.
 */
export async function signIn(
  deps: SignInDeps,
  credentials: { email: string; password: string },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  return countOutcome((outcome) => deps.metrics.signin(outcome), SIGNIN_FAILURES, async () => [
    await checkAndOpenSession(deps, credentials, client),
    'success' as const,
  ]);
}

const SIGNIN_FAILURES: Partial<Record<ErrorCode, SigninOutcome>> = {
  invalid_credentials: 'invalid_credentials',
  too_many_attempts: 'locked',
  server_busy: 'server_busy',
};

async function checkAndOpenSession(
  deps: SignInDeps,
  credentials: { email: string; password: string },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  // A full hashing queue refuses at once, before counting the attempt or reading the database.
  deps.passwords.assertCapacity();
  const email = normalizeEmail(credentials.email);
  const onLock = (scope: 'account' | 'client') => (seconds: number) => {
    void recordAuditEvent(deps.db, deps.clock, { type: 'account_locked', email, client, details: { seconds, scope } }).catch(() => {});
  };
  // Counted before anything else, so that parallel guesses are counted too.
  const lockedForStrangers = await deps.throttle.beginSignin(email, onLock('account')).then(
    () => false,
    (err: unknown) => {
      if (err instanceof AppError && err.code === 'too_many_attempts') return err;
      throw err;
    },
  );
  const user = await findUserByEmail(deps.db, email);
  // Strangers' failures lock the account for unknown clients only: a network the owner has signed in from
  // goes on, counting its own failures apart, so that strangers cannot lock the owner out.
  const clientKey = `${email} ${client.network}`;
  if (lockedForStrangers) {
    if (!(await isKnownClient(deps, user?.id, client.network, deps.config.ttl.sessionMaxAge))) throw lockedForStrangers;
    await deps.throttle.beginSignin(clientKey, onLock('client'));
  }
  const counted = lockedForStrangers ? clientKey : email;
  const valid = await checkPassword(deps, user, credentials.password, client).catch(async (err: unknown) => {
    // Not checked (the server is busy): the attempt proved nothing, so it does not count toward a lock.
    if (err instanceof AppError && err.code === 'server_busy') await deps.throttle.refundSignin(counted);
    throw err;
  });
  if (!user || !valid) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user?.id, email, client });
    throw new AppError('invalid_credentials');
  }
  // Told only to whoever knows the password, after the same work as any other attempt: a guesser gets
  // invalid_credentials either way, while the owner learns why signing in fails instead of retrying.
  if (user.disabledAt) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email, client, details: { reason: 'account_disabled' } });
    throw new AppError('account_disabled');
  }
  // A success during a lock ends only this client's count: the strangers' lock stays.
  await deps.throttle.signinSucceeded(counted);
  if (deps.passwords.needsRehash(user.passwordHash)) await upgradePasswordHash(deps, user, credentials.password);
  const tokens = await createSession(deps, user, client, (tx, sessionId) =>
    recordAuditEvent(tx, deps.clock, { type: 'signin_succeeded', userId: user.id, email, sessionId, client }),
  );
  if (!tokens) {
    // The password was right when checked, but a reset replaced it before the session could open.
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email, client, details: { reason: 'credentials_changed' } });
    throw new AppError('invalid_credentials');
  }
  return { user, tokens };
}

/**
 * Checks the password (against a dummy hash for an unknown email, at the same cost). Only here, once the
 * request is valid and past every limit of its client and account, is the global budget spent: requests
 * refused before (an empty body, a locked account) cost nothing of it.
 */
async function checkPassword(deps: SignInDeps, user: User | undefined, password: string, client: ClientInfo): Promise<boolean> {
  await deps.throttle.limitGlobal('signin', client.wideNetwork);
  return user ? deps.passwords.verify(user.passwordHash, password) : deps.passwords.verifyDummy(password).then(() => false);
}

// Hashes made with older parameters are replaced while the plain password is at hand.
async function upgradePasswordHash(deps: SignInDeps, user: User, password: string) {
  try {
    const passwordHash = await deps.passwords.hash(password);
    // Only over the hash that was verified: a reset that landed meanwhile must not be undone.
    await replacePasswordHash(deps.db, user.id, user.passwordHash, passwordHash);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, userId: user.id }, 'password hash upgrade failed');
  }
}
