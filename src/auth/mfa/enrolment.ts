import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { ClientInfo } from '../../core/client-address.js';
import type { Clock } from '../../core/clock.js';
import { findUsableToken } from '../../core/one-time-tokens.js';
import type { Db } from '../../db/client.js';
import { selectTotp } from '../../db/queries/mfa.js';
import { AppError } from '../../errors.js';
import type { AuthMethod } from '../sessions/access-tokens.js';
import { startSession, type SignInDeps } from '../sessions/sign-in.js';
import type { TokenPair } from '../sessions/sessions.js';
import { credentialStamp, findUserById, type User } from '../users/users.js';
import { beginTotpEnrolment, confirmTotp, type MfaDeps, type TotpEnrolment } from './factors.js';
import { passkeyAmr } from './passkey-assertion.js';
import { passkeyCreationOptions, registerPasskey } from './passkeys.js';
import { openTotpSecret, totpEnrolment } from './totp.js';

/**
 * The enrolment a role requires (REQUIRE_MFA_FOR_ROLES): the `enrollment_token` a right password gets when the user
 * has no factor yet, the user it stands for, and, for the hosted pages, the same enrolment through the factors' own
 * functions followed by the sign-in it was for. The API's enrolment routes take the token as a bearer token
 * (src/http/authenticate.ts); a client of theirs signs in again afterwards.
 */

/**
 * The user an `enrollment_token` stands for, while it may still serve: unexpired, the user enabled, their credentials
 * those read with the verified password, and no factor enrolled with it yet (enrolling one revokes it). Undefined
 * otherwise.
 */
export async function enrollingAccount(deps: { db: Db; clock: Clock }, token: string): Promise<User | undefined> {
  const pending = await findUsableToken(deps.db, 'mfa_enrollment', token, deps.clock.now());
  const user = pending && (await findUserById(deps.db, pending.userId));
  if (!user || user.disabledAt || credentialStamp(user) !== pending.payload?.credentials) return undefined;
  return user;
}

/** The id of `enrollingAccount`'s user. Only the enrolment routes ask (src/http/authenticate.ts). */
export async function enrollingUser(deps: { db: Db; clock: Clock }, token: string): Promise<string | undefined> {
  return (await enrollingAccount(deps, token))?.id;
}

export type EnrolmentDeps = SignInDeps & MfaDeps;

/** What an enrolment that signs in ends with: the recovery codes (shown once), and the session it opened. */
export interface Enrolled {
  user: User;
  recoveryCodes: string[];
  /** The session, at aal2; none when this factor was not the account's first (another got there first: sign in with it). */
  tokens?: TokenPair | undefined;
}

async function enrolling(deps: EnrolmentDeps, token: string): Promise<User> {
  const user = await enrollingAccount(deps, token);
  if (!user) throw new AppError('invalid_mfa_token', 'The setup of a second factor expired, or it is done already: sign in again.');
  return user;
}

/** Starts setting up an authenticator app for the token's user: `beginTotpEnrolment`, with the password again. */
export async function beginEnrolmentTotp(deps: EnrolmentDeps, token: string, password: string, client: ClientInfo): Promise<TotpEnrolment> {
  return beginTotpEnrolment(deps, await enrolling(deps, token), { password }, client);
}

/**
 * The authenticator app the token's user began setting up and has not confirmed, shown again (after a wrong code);
 * undefined when none waits. The secret is no factor until a code confirms it.
 */
export async function pendingEnrolmentTotp(deps: EnrolmentDeps, token: string): Promise<TotpEnrolment | undefined> {
  const user = await enrolling(deps, token);
  const pending = await selectTotp(deps.db, user.id);
  if (!pending || pending.confirmedAt) return undefined;
  const secret = openTotpSecret(deps.mfaKeys.totp, user.id, pending.secretSealed);
  const { otpauthUri, qrSvg } = await totpEnrolment(secret, user.email);
  return { secret, otpauth_uri: otpauthUri, qr_svg: qrSvg };
}

/**
 * Confirms the token's user's authenticator app (`confirmTotp`: RATE_LIMIT_MFA, the event, audit row and email), and
 * signs them in with it: the password the token stands for and the code just typed, `['pwd', 'otp', 'mfa']`, aal2.
 */
export async function confirmEnrolmentTotp(deps: EnrolmentDeps, token: string, code: string, client: ClientInfo): Promise<Enrolled> {
  const user = await enrolling(deps, token);
  const recoveryCodes = await confirmTotp(deps, user, code, client);
  return signInEnrolled(deps, user, recoveryCodes, { amr: ['pwd', 'otp', 'mfa'], factor: 'totp' }, client);
}

/** A new passkey's creation options for the token's user: `passkeyCreationOptions`, with the password again. */
export async function enrolmentPasskeyOptions(deps: EnrolmentDeps, token: string, password: string, client: ClientInfo): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return passkeyCreationOptions(deps, await enrolling(deps, token), { password }, client);
}

/**
 * Registers the token's user's new passkey (`registerPasskey`), and signs them in with it: the password and the
 * passkey the authenticator made with the user verified, aal2.
 */
export async function registerEnrolmentPasskey(
  deps: EnrolmentDeps,
  token: string,
  input: { response: RegistrationResponseJSON; name?: string | undefined },
  client: ClientInfo,
): Promise<Enrolled> {
  const user = await enrolling(deps, token);
  const added = await registerPasskey(deps, user, input, client);
  return signInEnrolled(deps, user, added.recovery_codes ?? [], { amr: ['pwd', ...passkeyAmr(added.passkey.synced)], factor: 'passkey' }, client);
}

/**
 * The sign-in an enrolment was for. Only the account's first factor opens it (its recovery codes say so): that is
 * the enrolment that spent the token, so one token opens one session however many enrolments race on it.
 */
async function signInEnrolled(
  deps: EnrolmentDeps,
  user: User,
  recoveryCodes: string[],
  how: { amr: readonly AuthMethod[]; factor: 'totp' | 'passkey' },
  client: ClientInfo,
): Promise<Enrolled> {
  if (recoveryCodes.length === 0) return { user, recoveryCodes };
  const { tokens } = await startSession(deps, user, client, how.amr, { enrolment: how.factor });
  deps.metrics.signin('success');
  return { user, recoveryCodes, tokens };
}
