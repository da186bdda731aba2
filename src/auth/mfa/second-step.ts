import { consumeOneTimeToken, countWrongTry, findUsableToken } from '../../core/one-time-tokens.js';
import { recordAuditEvent } from '../../core/audit.js';
import type { ClientInfo } from '../../core/client-address.js';
import { AppError } from '../../errors.js';
import { startSession, type SignInDeps } from '../sessions/sign-in.js';
import type { TokenPair } from '../sessions/sessions.js';
import { PASSWORD_AMR, type AuthMethod } from '../sessions/access-tokens.js';
import '../upstream/token-types.js';
import { credentialStamp, findUserById, type User } from '../users/users.js';
import { recoveryCodeSpent, spendSecondFactor, type MfaDeps, type SecondFactor } from './factors.js';
import { passkeyAssertionOptions } from './passkeys.js';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';

// Wrong codes that end an MFA token: the account's own limit (RATE_LIMIT_MFA) bounds the tries across tokens.
const MFA_TOKEN_MAX_FAILURES = 5;

/**
 * The user an MFA token waits for, while it may still finish: none once it is used or expired, the user disabled, or
 * their credentials changed since the ones read with the verified password (a reset, a password change, a sign-out
 * everywhere ends the second steps it left waiting, as it ends sessions, even one that landed during the check).
 */
async function waitingUser(deps: Pick<MfaDeps, 'db'>, mfaToken: string, now: Date): Promise<Waiting> {
  const afterPassword = await findUsableToken(deps.db, 'mfa_signin', mfaToken, now);
  // The second step of a sign-in through an upstream provider (src/auth/upstream/): the same, but not after a password.
  const afterUpstream = afterPassword ? undefined : await findUsableToken(deps.db, 'mfa_signin_upstream', mfaToken, now);
  const pending = afterPassword ?? afterUpstream;
  const user = pending && (await findUserById(deps.db, pending.userId));
  if (!user || user.disabledAt || credentialStamp(user) !== pending.payload?.credentials) throw new AppError('invalid_mfa_token');
  if (afterUpstream) return { user, type: 'mfa_signin_upstream', first: ['fed'], details: { upstream: afterUpstream.payload.provider } };
  return { user, type: 'mfa_signin', first: PASSWORD_AMR, details: {} };
}

/** The user a second step waits for, the token's type, and how the first step proved who they are. */
interface Waiting {
  user: User;
  type: 'mfa_signin' | 'mfa_signin_upstream';
  first: readonly AuthMethod[];
  details: Record<string, unknown>;
}

/** Options for finishing a sign-in with one of the account's passkeys (`POST /api/signin/mfa/passkey-options`). */
export async function passkeyChallengeFor(deps: MfaDeps, mfaToken: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { user } = await waitingUser(deps, mfaToken, deps.clock.now());
  return passkeyAssertionOptions(deps, user.id, 'second_step');
}

/**
 * The second step of a sign-in (`POST /api/signin/mfa`): the `mfa_token` of a right password, with a code from the
 * account's authenticator app, a recovery code, or an assertion of one of its passkeys (answering the challenge of
 * `passkeyChallengeFor`). The code is tried within RATE_LIMIT_MFA for the account; a wrong
 * one is audited, counted in the metrics and against the token (five end it), and answered `401 invalid_mfa_code`.
 * A right one spends the token (once, however many present it at the same moment) and opens the session, at
 * `aal2`. A recovery code used emails the owner.
 */
export async function completeMfaSignIn(
  deps: SignInDeps & MfaDeps,
  input: { mfaToken: string } & SecondFactor,
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  const now = deps.clock.now();
  const { user, type, first, details } = await waitingUser(deps, input.mfaToken, now);
  await deps.throttle.limitAccount('mfaCode', user.id);
  const spent = await spendSecondFactor(deps, user.id, input, now, 'second_step');
  if (!spent) {
    await countWrongTry(deps.db, user.id, type, now, MFA_TOKEN_MAX_FAILURES);
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'invalid_mfa_code' } });
    deps.metrics.signin('invalid_mfa_code');
    throw new AppError('invalid_mfa_code');
  }
  // A second request with the same token and another right code (a recovery code) lost the race: it opens nothing.
  if (!(await consumeOneTimeToken(deps.db, type, input.mfaToken, now))) throw new AppError('invalid_mfa_token');
  const opened = await startSession(deps, user, client, [...first, ...spent.amr], { mfa: spent.method, ...details });
  deps.metrics.signin('success');
  if (spent.method === 'recovery_code') await recoveryCodeSpent(deps, user);
  return opened;
}
