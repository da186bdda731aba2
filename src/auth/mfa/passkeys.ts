import { randomUUID } from 'node:crypto';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { auditRow, recordAuditEvent } from '../../core/audit.js';
import { hashToken } from '../../core/secrets.js';
import { userChangeMessage } from '../../core/user-cache.js';
import type { ClientInfo } from '../../core/client-address.js';
import { hasSecondFactor } from '../../db/queries/mfa.js';
import { deletePasskey, insertPasskey, openPasskeySession, renamePasskey, selectPasskeyWithUser, selectUserPasskeys, type PasskeyRow } from '../../db/queries/passkeys.js';
import { AppError } from '../../errors.js';
import type { Passkey } from '../../contracts/mfa.js';
import { credentialsChanged, refuseUnverified, signedIn, signinSucceeded, type SignInDeps } from '../sessions/sign-in.js';
import { prepareSession, sessionOpened, type TokenPair } from '../sessions/sessions.js';
import type { User } from '../users/users.js';
import { lockUserRow } from '../../db/queries/users.js';
import { confirmIdentity, factorAdded, removeFactor, type MfaDeps, type SecondFactor } from './factors.js';
import { passkeyAmr, suspectClone } from './passkey-assertion.js';
import { makeSigninChallenge, openSigninChallenge } from './signin-challenges.js';
import { newRecoveryCodes } from './recovery-codes.js';
import { CHALLENGE_TTL_SECONDS, challengeAnswered, creationOptions, issueChallenge, requestOptions, takeAnsweredChallenge, verifyAssertion, verifyNewPasskey } from './webauthn.js';

/**
 * Passkeys (WebAuthn): registered by a signed-in user who proves who they are again, listed, renamed and removed;
 * a sign-in on their own, and a second factor after a password (./factors.ts, ./second-step.ts).
 */

export const toPasskey = (row: PasskeyRow): Passkey => ({
  id: row.id,
  name: row.name,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
  synced: row.multiDevice,
});

const DEFAULT_NAME = 'Passkey';

/**
 * The options for registering a new passkey, once the user proved who they are (the password, and a second factor
 * when the account has one): a challenge for this user's registration alone, and their passkeys excluded.
 */
export async function passkeyCreationOptions(
  deps: MfaDeps,
  user: User,
  proof: { password: string } & SecondFactor,
  client: ClientInfo,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  await confirmIdentity(deps, user, proof.password, proof, client);
  const challenge = await issueChallenge(deps.db, 'register', user.id, deps.clock.now());
  return creationOptions(deps.config.mfa.webauthn, user, challenge, await selectUserPasskeys(deps.db, user.id));
}

/**
 * Registers the passkey a browser made from those options. With the account's first factor come its ten recovery
 * codes (shown this once) and `user.mfa_enabled`; the owner is mailed either way.
 */
export async function registerPasskey(
  deps: MfaDeps,
  user: User,
  input: { response: RegistrationResponseJSON; name?: string | undefined },
  client: ClientInfo,
): Promise<{ passkey: Passkey; recovery_codes?: string[] }> {
  const now = deps.clock.now();
  const challenge = await takeAnsweredChallenge(deps.db, input.response, 'register', user.id, now);
  const verified = challenge && (await verifyNewPasskey(deps.config.mfa.webauthn, input.response, challenge));
  if (!verified) throw new AppError('invalid_passkey_registration');
  const row = { id: randomUUID(), userId: user.id, ...verified, name: input.name?.trim() || DEFAULT_NAME, createdAt: now };
  const recovery = newRecoveryCodes(deps.mfaKeys.recovery, user.id);
  const first = await deps.db.transaction(async (tx) => {
    // The user's row first, as every change of their factors takes it (./factors.ts).
    await lockUserRow(tx, user.id);
    const isFirst = !(await hasSecondFactor(tx, user.id));
    if (!(await insertPasskey(tx, row))) throw new AppError('passkey_already_registered');
    await factorAdded(deps, tx, user, { factor: 'passkey', first: isFirst, recoveryHashes: recovery.hashes, client, details: { passkey_id: row.id } });
    return isFirst;
  });
  deps.mfaSummaries.forget(user.id);
  deps.outbox.wake();
  return { passkey: toPasskey({ ...row, lastUsedAt: null }), ...(first ? { recovery_codes: recovery.codes } : {}) };
}

export async function listPasskeys(deps: Pick<MfaDeps, 'db'>, user: User): Promise<Passkey[]> {
  return (await selectUserPasskeys(deps.db, user.id)).map(toPasskey);
}

export async function renameOwnPasskey(deps: Pick<MfaDeps, 'db' | 'clock'>, user: User, id: string, name: string, client: ClientInfo): Promise<Passkey> {
  const row = await renamePasskey(deps.db, user.id, id, name.trim());
  if (!row) throw new AppError('passkey_not_found');
  await recordAuditEvent(deps.db, deps.clock, { type: 'passkey_renamed', userId: user.id, email: user.email, client, details: { passkey_id: id } });
  return toPasskey(row);
}

/**
 * Removes one of the user's passkeys, with the password and a second factor (that passkey itself will do); the
 * recovery codes go with the last factor.
 */
export async function removeOwnPasskey(deps: MfaDeps, user: User, id: string, proof: { password: string } & SecondFactor, client: ClientInfo): Promise<void> {
  if (!(await selectUserPasskeys(deps.db, user.id)).some((p) => p.id === id)) throw new AppError('passkey_not_found');
  await confirmIdentity(deps, user, proof.password, proof, client);
  const removed = await removeFactor(deps, user, { factor: 'passkey', client, details: { passkey_id: id } }, (tx) => deletePasskey(tx, user.id, id));
  if (!removed) throw new AppError('passkey_not_found');
  deps.mfaSummaries.forget(user.id);
  deps.outbox.wake();
}

/**
 * Options for signing in with a passkey alone: any discoverable passkey of this relying party, and a challenge made
 * for a passkey sign-in, for nobody yet, signed rather than stored (./signin-challenges.ts). `challenge_id` names it
 * (it is the challenge itself).
 */
export async function passkeySigninOptions(deps: Pick<MfaDeps, 'clock' | 'config' | 'mfaKeys'>): Promise<PublicKeyCredentialRequestOptionsJSON & { challenge_id: string }> {
  const challenge = makeSigninChallenge(deps.mfaKeys.signinChallenges, deps.clock.now(), CHALLENGE_TTL_SECONDS);
  return { challenge_id: challenge, ...(await requestOptions(deps.config.mfa.webauthn, challenge)) };
}

/** Options for a signed-in user's assertion with one of their passkeys, for `ceremony`. */
export async function passkeyAssertionOptions(
  deps: Pick<MfaDeps, 'db' | 'clock' | 'config'>,
  userId: string,
  ceremony: 'second_step' | 'confirm',
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const passkeys = await selectUserPasskeys(deps.db, userId);
  if (passkeys.length === 0) throw new AppError('passkey_not_found', 'The account has no passkey.');
  const challenge = await issueChallenge(deps.db, ceremony, userId, deps.clock.now());
  return requestOptions(deps.config.mfa.webauthn, challenge, passkeys);
}

/**
 * Signs in with a passkey alone: the assertion must answer `challengeId`, a passkey sign-in's challenge that has not
 * expired, and check out (signature, origin, RP ID hash, user verification, user handle: ./webauthn.ts); then one
 * statement spends the challenge, takes the counter and opens the session (openPasskeySession), so that an answer
 * signs in once and a counter that did not grow is refused as a clone's (./passkey-assertion.ts). The session is at
 * aal2, no password hashed. A disabled account, or an unverified address where verification is required, is refused
 * as a password sign-in would be.
 */
export async function signInWithPasskey(
  deps: SignInDeps & MfaDeps,
  input: { challengeId: string; response: AuthenticationResponseJSON },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  const challenge = challengeAnswered(input.response);
  const expiresAt = challenge === input.challengeId ? openSigninChallenge(deps.mfaKeys.signinChallenges, input.challengeId, deps.clock.now()) : undefined;
  const found = await selectPasskeyWithUser(deps.db, input.response.id);
  const assertion = expiresAt && found ? verifyAssertion(deps.config.mfa.webauthn, input.response, input.challengeId, found.passkey) : undefined;
  if (!expiresAt || !found || !assertion) throw await refusedPasskey(deps, found?.passkey, client);
  const { passkey, user } = found;
  if (user.disabledAt) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'account_disabled' } });
    throw new AppError('account_disabled');
  }
  await refuseUnverified(deps, user, client);
  const opening = prepareSession(deps, user, client, passkeyAmr(passkey.multiDevice));
  const outcome = await openPasskeySession(deps.db, {
    challengeHash: hashToken(input.challengeId),
    challengeExpiresAt: expiresAt,
    passkeyId: passkey.id,
    counter: assertion.counter,
    backedUp: assertion.backedUp,
    session: opening.row,
    audit: auditRow(deps.clock, signinSucceeded(user, opening.row.sessionId, client, { passkey_id: passkey.id })),
    announce: userChangeMessage(user.id),
  });
  // Another answer to this challenge spent it first: a replay.
  if (!outcome.spent) throw await refusedPasskey(deps, passkey, client);
  if (!outcome.owner) throw await credentialsChanged(deps, user, client);
  if (!outcome.counted) {
    await suspectClone(deps, passkey, assertion.counter);
    throw await refusedPasskey(deps, passkey, client);
  }
  const tokens = await sessionOpened(deps, opening);
  signedIn(deps, user, tokens.sessionId, client);
  deps.metrics.signin('success');
  return { user, tokens };
}

/** A refused passkey sign-in: counted, audited for the passkey's owner when it names a registered passkey (an unknown one has no user); the error. */
async function refusedPasskey(deps: SignInDeps, passkey: PasskeyRow | undefined, client: ClientInfo): Promise<AppError> {
  deps.metrics.signin('invalid_passkey');
  if (passkey) await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: passkey.userId, client, details: { reason: 'invalid_passkey', passkey_id: passkey.id } });
  return new AppError('invalid_passkey');
}
