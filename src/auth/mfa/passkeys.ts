import { randomUUID } from 'node:crypto';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { recordAuditEvent } from '../../core/audit.js';
import type { ClientInfo } from '../../core/client-address.js';
import { hasSecondFactor } from '../../db/queries/mfa.js';
import { deletePasskey, insertPasskey, renamePasskey, selectPasskeyByCredentialId, selectUserPasskeys, type PasskeyRow } from '../../db/queries/passkeys.js';
import { AppError } from '../../errors.js';
import type { Passkey } from '../../contracts/mfa.js';
import { startSession, refuseUnverified, type SignInDeps } from '../sessions/sign-in.js';
import type { TokenPair } from '../sessions/sessions.js';
import { findUserById, type User } from '../users/users.js';
import { lockUserRow } from '../../db/queries/users.js';
import { confirmIdentity, factorAdded, removeFactor, type MfaDeps, type SecondFactor } from './factors.js';
import { spendPasskeyAssertion } from './passkey-assertion.js';
import { newRecoveryCodes } from './recovery-codes.js';
import { challengeAnswered, creationOptions, issueChallenge, requestOptions, takeAnsweredChallenge, verifyNewPasskey } from './webauthn.js';

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
 * for a passkey sign-in, for nobody yet. `challenge_id` names it (it is the challenge itself).
 */
export async function passkeySigninOptions(deps: Pick<MfaDeps, 'db' | 'clock' | 'config'>): Promise<PublicKeyCredentialRequestOptionsJSON & { challenge_id: string }> {
  const challenge = await issueChallenge(deps.db, 'signin', null, deps.clock.now());
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
 * Signs in with a passkey alone: the assertion must answer `challengeId` (a passkey sign-in's challenge, once) and
 * check out (./passkey-assertion.ts). The session is at aal2, no password hashed. A disabled account, or an unverified
 * address where verification is required, is refused as a password sign-in would be.
 */
export async function signInWithPasskey(
  deps: SignInDeps & MfaDeps,
  input: { challengeId: string; response: AuthenticationResponseJSON },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  const answers = challengeAnswered(input.response) === input.challengeId;
  const used = answers ? await spendPasskeyAssertion(deps, input.response, { ceremony: 'signin', userId: null }) : undefined;
  if (!used) {
    deps.metrics.signin('invalid_passkey');
    // Audited for the passkey's owner when the credential is one of theirs: an answer that names an unknown one has no user.
    const named = await selectPasskeyByCredentialId(deps.db, input.response.id);
    if (named) await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: named.userId, client, details: { reason: 'invalid_passkey', passkey_id: named.id } });
    throw new AppError('invalid_passkey');
  }
  const user = await findUserById(deps.db, used.passkey.userId);
  if (!user) throw new AppError('invalid_passkey');
  if (user.disabledAt) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'account_disabled' } });
    throw new AppError('account_disabled');
  }
  await refuseUnverified(deps, user, client);
  const opened = await startSession(deps, user, client, used.amr, { passkey_id: used.passkey.id });
  deps.metrics.signin('success');
  return opened;
}
