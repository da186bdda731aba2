import { NO_USER_ID } from '../../contracts/ids.js';
import type { Logger } from 'pino';
import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import { replacePasswordHash } from '../../db/queries/users.js';
import { AppError, type ErrorCode } from '../../errors.js';
import { countOutcome, type SigninOutcome } from '../../core/metrics.js';
import { recordAuditEvent, type AuditEvent } from '../../core/audit.js';
import { isKnownClient } from '../throttle/known-clients.js';
import { NOT_AN_ADDRESS, type ClientInfo } from '../../core/client-address.js';
import { consumeOneTimeCode, issueOneTimeToken } from '../../core/one-time-tokens.js';
import { secondFactorsOf } from '../../db/queries/mfa.js';
import { PASSWORD_AMR, type AuthMethod } from './access-tokens.js';
import { createSession, type SessionDeps, type TokenPair } from './sessions.js';
import { queueSigninCodeIntent } from './signin-code-mail.js';
import { notifyNewSignin } from './new-signin.js';
import { credentialStamp, findUserByEmail, normalizeEmail, type User } from '../users/users.js';
import { sendVerification } from '../verification/email-verification.js';

/**
 * Sessions' dependencies, and the password hasher, the throttle and the log; the key sign-in codes are
 * stored under (derived from SECRET_KEY) and the outbox that emails them.
 */
export interface SignInDeps extends SessionDeps {
  passwords: PasswordHasher;
  throttle: Throttle;
  breachCheck: BreachCheck | undefined;
  logger: Logger;
  oneTimeCodeKey: Uint8Array;
  outbox: { wake(): void };
}

/** An email and a password; and, to get through an account lock, the sign-in code emailed for it. */
export interface Credentials {
  email: string;
  password: string;
  code?: string | undefined;
}

/**
 * Checks a password and opens a fresh session. Unknown email and wrong password fail identically,
 * and both count towards the account's lockout, so throttling reveals nothing either. A disabled
 * account is refused with `account_disabled`, and only once the password proved right.
 */
export async function signIn(deps: SignInDeps, credentials: Credentials, client: ClientInfo): Promise<{ user: User; tokens: TokenPair }> {
  return countOutcome((outcome) => deps.metrics.signin(outcome), SIGNIN_FAILURES, async () => [
    await checkAndOpenSession(deps, credentials, client),
    'success' as const,
  ]);
}

const SIGNIN_FAILURES: Partial<Record<ErrorCode, SigninOutcome>> = {
  invalid_credentials: 'invalid_credentials',
  too_many_attempts: 'locked',
  mfa_required: 'mfa_required',
  mfa_enrollment_required: 'mfa_enrollment_required',
  server_busy: 'server_busy',
};

/** The refusal of a lock, kept to be answered as it is; any other failure goes on. */
function lockRefusal(err: unknown): AppError {
  if (err instanceof AppError && err.code === 'too_many_attempts') return err;
  throw err;
}

async function checkAndOpenSession(deps: SignInDeps, credentials: Credentials, client: ClientInfo): Promise<{ user: User; tokens: TokenPair }> {
  // A full hashing queue refuses at once, before counting the attempt or reading the database.
  deps.passwords.assertCapacity();
  const email = normalizeEmail(credentials.email);
  const onLock = (scope: 'account' | 'client') => (seconds: number) => {
    void recordAuditEvent(deps.db, deps.clock, { type: 'account_locked', email, client, details: { seconds, scope } }).catch(() => {});
  };
  // Counted before anything else, so that parallel guesses are counted too.
  const lockedForStrangers = await deps.throttle.beginSignin(email, onLock('account')).then(() => undefined, lockRefusal);
  const user = await findUserByEmail(deps.db, email);
  // Strangers' failures lock the account for unknown clients only: a network the owner has signed in from
  // goes on, counting its own failures apart, so that strangers cannot lock the owner out. A sign-in a lock
  // refuses has its password checked all the same, and gets the owner a sign-in code (signInThroughLock).
  const clientKey = `${email} ${client.network}`;
  const attempt = { user, email, password: credentials.password, code: credentials.code, clientKey };
  if (lockedForStrangers) {
    if (!(await isKnownClient(deps, user?.id, client.network, deps.config.ttl.sessionMaxAge))) {
      return signInThroughLock(deps, attempt, client, lockedForStrangers);
    }
    const lockedForClient = await deps.throttle.beginSignin(clientKey, onLock('client')).then(() => undefined, lockRefusal);
    if (lockedForClient) return signInThroughLock(deps, attempt, client, lockedForClient);
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
  return openSession(deps, { user, email, password: credentials.password, counted }, client);
}

/**
 * Checks the password (against a dummy hash for an unknown email, at the same cost). Only here, once the
 * request is valid and past every limit of its client and account, is the global budget spent: requests
 * refused before (an empty body, a locked account past its network's RATE_LIMIT_LOCKED_SIGNIN) cost nothing of it.
 */
async function checkPassword(deps: SignInDeps, user: User | undefined, password: string, client: ClientInfo): Promise<boolean> {
  await deps.throttle.limitGlobal('signin', client.wideNetwork);
  return user ? deps.passwords.verify(user.passwordHash, password) : deps.passwords.verifyDummy(password).then(() => false);
}

/**
 * Opens the session of a sign-in whose password proved right, and clears the attempts `counted` for it. The
 * audit row it writes in the session's transaction is what makes the client's network known from then on.
 */
async function openSession(
  deps: SignInDeps,
  signin: { user: User; email: string; password: string; counted: string; details?: Record<string, unknown> },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  const { user, details } = signin;
  await deps.throttle.signinSucceeded(signin.counted);
  await refuseUnverified(deps, user, client);
  if (deps.passwords.needsRehash(user.passwordHash)) await upgradePasswordHash(deps, user, signin.password);
  const factors = await secondFactorsOf(deps.db, user.id);
  if (factors.totp || factors.passkeys > 0) throw await secondStepRequired(deps, user, client, factors);
  if (deps.config.mfa.requiredForRoles.includes(user.role)) throw await enrolmentRequired(deps, user, client);
  return startSession(deps, user, client, PASSWORD_AMR, details);
}

/**
 * Where REQUIRE_EMAIL_VERIFICATION holds, refuses a user whose address is not verified, once they proved who they
 * are (told only to them, as account_disabled): `403 email_not_verified`, and the owner gets a fresh link with it.
 */
export async function refuseUnverified(deps: SignInDeps, user: User, client: ClientInfo): Promise<void> {
  if (!deps.config.requireEmailVerification || user.emailVerifiedAt) return;
  await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'email_not_verified' } });
  await sendVerification(deps, user, client);
  throw new AppError('email_not_verified');
}

// How long the second step of a sign-in may wait for its code.
const MFA_TOKEN_TTL_SECONDS = 300;
// How long a user who must enrol a second factor may take over it.
const ENROLMENT_TOKEN_TTL_SECONDS = 900;

/**
 * The answer to a right password for an account with a second factor: `403 mfa_required` with an `mfa_token`
 * (single use, MFA_TOKEN_TTL_SECONDS, only its SHA-256 stored, bound to the user and to the credentials read with
 * the verified hash) that POST /api/signin/mfa takes
 * with a code, and the `methods` the account has. No session opens, and no token is issued, before that second step.
 */
async function secondStepRequired(deps: SignInDeps, user: User, client: ClientInfo, factors: { totp: boolean; passkeys: number }): Promise<AppError> {
  const now = deps.clock.now();
  const payload = { credentials: credentialStamp(user) };
  const { token } = await issueOneTimeToken(deps.db, { type: 'mfa_signin', userId: user.id, now, ttlSeconds: MFA_TOKEN_TTL_SECONDS, payload });
  await recordAuditEvent(deps.db, deps.clock, { type: 'mfa_required', userId: user.id, email: user.email, client });
  const methods = [...(factors.totp ? ['totp'] : []), 'recovery_code', ...(factors.passkeys > 0 ? ['passkey'] : [])];
  return new AppError('mfa_required', { fields: { mfa_token: token, methods } });
}

/**
 * The answer to a right password for a user whose role must have a second factor (REQUIRE_MFA_FOR_ROLES) and has
 * none: `403 mfa_enrollment_required` with an `enrollment_token`, a bearer token (ENROLMENT_TOKEN_TTL_SECONDS, only
 * its SHA-256 stored) that the enrolment routes alone take. No session opens.
 */
export async function enrolmentRequired(deps: SignInDeps, user: User, client: ClientInfo): Promise<AppError> {
  const now = deps.clock.now();
  const payload = { credentials: credentialStamp(user) };
  const { token } = await issueOneTimeToken(deps.db, { type: 'mfa_enrollment', userId: user.id, now, ttlSeconds: ENROLMENT_TOKEN_TTL_SECONDS, supersede: true, payload });
  await recordAuditEvent(deps.db, deps.clock, { type: 'mfa_required', userId: user.id, email: user.email, client, details: { enrolment: true } });
  return new AppError('mfa_enrollment_required', { fields: { enrollment_token: token } });
}

/**
 * Opens the session of a user who has proved who they are (`amr`: how), audits it as a successful sign-in, and
 * looks after the answer whether the device and network are new to the account (the new sign-in email).
 */
export async function startSession(
  deps: SignInDeps,
  user: User,
  client: ClientInfo,
  amr: readonly AuthMethod[],
  details?: Record<string, unknown>,
): Promise<{ user: User; tokens: TokenPair }> {
  const tokens = await createSession(
    deps,
    user,
    client,
    (tx, sessionId) => recordAuditEvent(tx, deps.clock, signinSucceeded(user, sessionId, client, details)),
    amr,
  );
  if (!tokens) throw await credentialsChanged(deps, user, client);
  signedIn(deps, user, tokens.sessionId, client);
  return { user, tokens };
}

/** The audit event of a sign-in whose session opened. */
export const signinSucceeded = (user: User, sessionId: string, client: ClientInfo, details?: Record<string, unknown>): AuditEvent => ({
  type: 'signin_succeeded',
  userId: user.id,
  email: user.email,
  sessionId,
  client,
  details,
});

/** A sign-in that was right when checked, but a reset (or a disable) came before its session could open: audited; the error. */
export async function credentialsChanged(deps: SignInDeps, user: User, client: ClientInfo): Promise<AppError> {
  await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'credentials_changed' } });
  return new AppError('invalid_credentials');
}

/**
 * What follows a session's opening, after the answer, as a reset email: the new sign-in email when it comes from a
 * device and network new to the account. The sign-in never waits for the look-up of where the account signed in from.
 */
export function signedIn(deps: SignInDeps, user: User, sessionId: string, client: ClientInfo): void {
  void notifyNewSignin(deps, user, sessionId, client).catch((err: Error) => {
    deps.logger.error({ err: err.message, userId: user.id }, 'could not queue a new sign-in email');
  });
}

/** A sign-in as the lock sees it: who it names, what it brings, and the key of its client's own count. */
interface LockedAttempt {
  user: User | undefined;
  email: string;
  password: string;
  code: string | undefined;
  clientKey: string;
}

// Wrong tries that spend a sign-in code: with 8 characters of 30, five guesses have 1 chance in 10^11.
const CODE_MAX_FAILURES = 5;

/**
 * A sign-in a lock refuses: from a network the account never signed in from while strangers' failures lock
 * it, or from a known network its own failures locked. Its password is checked all the same, within the wide
 * network's RATE_LIMIT_LOCKED_SIGNIN and the global budget, and whatever it proves the answer is the lock's
 * own (`refusal`: 429 too_many_attempts, its Retry-After), so a guesser learns nothing. A right password
 * without a code gets the owner a code by email; with that code (bound to this user and this client network),
 * it opens a session, and the network is known from then on. The strangers' lock stays.
 *
 * A wrong code is answered as a wrong password is: a code is tried only after the right password, so any
 * other answer would tell whoever sends some code whether the password was right, through the lock.
 */
async function signInThroughLock(deps: SignInDeps, attempt: LockedAttempt, client: ClientInfo, refusal: AppError): Promise<{ user: User; tokens: TokenPair }> {
  if (!(await deps.throttle.allowLockedSignin(client.wideNetwork ?? NOT_AN_ADDRESS))) throw refusal;
  const { user, email, code } = attempt;
  const valid = await checkPassword(deps, user, attempt.password, client);
  const network = client.network ?? NOT_AN_ADDRESS;
  const tryCode = (userId: string, typed: string) =>
    consumeOneTimeCode(deps.db, deps.oneTimeCodeKey, { type: 'signin_code', userId, boundTo: network, code: typed, now: deps.clock.now(), maxFailures: CODE_MAX_FAILURES });
  // A disabled account is refused like a wrong password: here, telling it would tell that the password was right.
  if (!user || !valid || user.disabledAt) {
    if (code !== undefined) await tryCode(NO_USER_ID, code);
    const reason = user?.disabledAt && valid ? 'account_disabled' : 'invalid_credentials';
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user?.id, email, client, details: { locked: true, reason } });
    throw refusal;
  }
  if (code === undefined) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_code_requested', userId: user.id, email, client });
    // After the answer, as a reset email: the work that only a right password causes does not delay it.
    void sendSigninCode(deps, user, network).catch((err: Error) => {
      deps.logger.error({ err: err.message, userId: user.id }, 'could not queue a sign-in code email');
    });
    throw refusal;
  }
  if (!(await tryCode(user.id, code))) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email, client, details: { locked: true, reason: 'invalid_signin_code' } });
    throw refusal;
  }
  return openSession(deps, { user, email, password: attempt.password, counted: attempt.clientKey, details: { signinCode: true } }, client);
}

// At most SIGNIN_CODE_MAIL_LIMIT emails per account, whatever the number of right passwords: no mailbox flood.
async function sendSigninCode(deps: SignInDeps, user: User, network: string): Promise<void> {
  if (!(await deps.throttle.allowSigninCodeMail(user.id))) return;
  await queueSigninCodeIntent(deps.db, user.id, network, deps.clock.now(), deps.config.ttl.signinCode);
  deps.outbox.wake();
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
