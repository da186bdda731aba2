import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import type { Metrics } from '../../core/metrics.js';
import type { ReauthDeps } from '../sessions/reauthenticate.js';
import { confirmPassword } from '../sessions/reauthenticate.js';
import { PASSWORD_AMR, type AuthMethod } from '../sessions/access-tokens.js';
import {
  countRecoveryCodesLeft,
  deleteRecoveryCodes,
  deletePendingTotp,
  deleteTotp,
  hasSecondFactor,
  replaceRecoveryCodes,
  secondFactorsOf,
  selectTotp,
  spendRecoveryCode,
  storePendingTotp,
  takeTotpStep,
} from '../../db/queries/mfa.js';
import { deleteUserPasskeys } from '../../db/queries/passkeys.js';
import { lockUserRow } from '../../db/queries/users.js';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { spendPasskeyAssertion } from './passkey-assertion.js';
import { signinChallengeKey } from './signin-challenges.js';
import type { Ceremony } from './webauthn.js';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { revokeUserTokens } from '../../core/one-time-tokens.js';
import { recordEvents, userEvent } from '../../core/events.js';
import type { ClientInfo } from '../../core/client-address.js';
import { enqueueNotice, type MailMessage } from '../../core/mail-queue.js';
import { announceUserChange, type UserCache } from '../../core/user-cache.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import type { User } from '../users/users.js';
import { newRecoveryCodes, recoveryCodeHash, recoveryCodeKey } from './recovery-codes.js';
import { newTotpSecret, openTotpSecret, sealTotpSecret, totpEnrolment, totpSealKey, totpStep } from './totp.js';
import { factorRemovedEmail, mfaEnabledEmail, recoveryCodeUsedEmail } from './emails.js';

/**
 * A user's second factors: an authenticator app (TOTP), passkeys (./passkeys.ts), and the recovery codes that come
 * with the first of them and go with the last. Enrolment takes the password (an app is pending until a first code
 * confirms it); every later change takes the password and a second factor. Each change writes its webhook event,
 * audit row and notice email in its own transaction. `user.mfa_enabled` and `user.mfa_disabled` tell when the
 * account gains its first factor and loses its last.
 */

export interface MfaKeys {
  /** Seals TOTP secrets at rest. */
  totp: Buffer;
  /** HMACs recovery codes. */
  recovery: Buffer;
  /** Signs passkey sign-in challenges (./signin-challenges.ts). */
  signinChallenges: Buffer;
}

export const mfaKeys = (secretKey: string | Uint8Array): MfaKeys => ({
  totp: totpSealKey(secretKey),
  recovery: recoveryCodeKey(secretKey),
  signinChallenges: signinChallengeKey(secretKey),
});

export interface MfaDeps extends ReauthDeps {
  db: Db;
  clock: Clock;
  mfaKeys: MfaKeys;
  metrics: Metrics;
  outbox: { wake(): void };
  mfaSummaries: Pick<UserCache<MfaSummary>, 'forget'>;
  config: Config;
}

/** A second factor as a request brings it: an authenticator's code, a recovery code, or a passkey's assertion. */
export interface SecondFactor {
  code?: string | undefined;
  recoveryCode?: string | undefined;
  passkey?: AuthenticationResponseJSON | undefined;
}

/**
 * What the user's account shows of its factors (`GET /api/me`), never a secret: from memory when read in the last
 * USER_CACHE_MS and the user has not changed since (every change of a factor, and every sign-in, announces one).
 */
export async function mfaSummaryOf(deps: { db: Db; clock: Clock; mfaSummaries: UserCache<MfaSummary> }, userId: string): Promise<MfaSummary> {
  const cached = deps.mfaSummaries.get(userId);
  if (cached) return cached;
  const readAt = deps.clock.now().getTime();
  const summary = await readMfaSummary(deps.db, userId);
  deps.mfaSummaries.set(userId, '', summary, readAt);
  return summary;
}

/** A user's factors as the database has them now (the operator's view reads them so, with no cache). */
export async function readMfaSummary(db: Db, userId: string): Promise<MfaSummary> {
  const [factors, left] = await Promise.all([secondFactorsOf(db, userId), countRecoveryCodesLeft(db, userId)]);
  return { totp: factors.totp, passkeys: factors.passkeys, recovery_codes_left: left };
}

/** Which factor was used, and the methods it proves (RFC 8176), without the password's: a caller that checked one adds `pwd`. */
export interface SpentFactor {
  method: 'totp' | 'recovery_code' | 'passkey';
  amr: readonly AuthMethod[];
}

/**
 * Spends a second factor of the user, if it is one: the authenticator's code for a step later than the last one
 * used (so a code works once, everywhere at once), an unused recovery code (one statement each, no check then
 * update), or an assertion of one of the user's passkeys answering a challenge of `ceremony` made for this user.
 * Undefined for anything else.
 */
export async function spendSecondFactor(
  deps: Pick<MfaDeps, 'db' | 'mfaKeys' | 'config' | 'clock' | 'outbox'>,
  userId: string,
  factor: SecondFactor,
  now: Date,
  ceremony: Extract<Ceremony, 'second_step' | 'confirm'>,
): Promise<SpentFactor | undefined> {
  if (factor.code !== undefined) {
    const totp = await selectTotp(deps.db, userId);
    if (!totp?.confirmedAt) return undefined;
    const step = totpStep(openTotpSecret(deps.mfaKeys.totp, userId, totp.secretSealed), factor.code, now);
    if (step === undefined || !(await takeTotpStep(deps.db, userId, step, now, false))) return undefined;
    return { method: 'totp', amr: ['otp', 'mfa'] };
  }
  if (factor.recoveryCode !== undefined) {
    const hash = recoveryCodeHash(deps.mfaKeys.recovery, userId, factor.recoveryCode);
    if (hash === undefined || !(await spendRecoveryCode(deps.db, userId, hash, now))) return undefined;
    return { method: 'recovery_code', amr: ['mfa'] };
  }
  if (factor.passkey !== undefined) {
    const used = await spendPasskeyAssertion(deps, factor.passkey, { ceremony, userId });
    return used && { method: 'passkey', amr: used.amr };
  }
  return undefined;
}

/**
 * Spends a second factor the signed-in user sent with a change, within RATE_LIMIT_MFA for the account:
 * `401 invalid_mfa_code`, audited, when it is missing or wrong.
 */
export async function requireSecondFactor(deps: MfaDeps, user: User, factor: SecondFactor, client: ClientInfo): Promise<SpentFactor> {
  await deps.throttle.limitAccount('mfaCode', user.id);
  const spent = await spendSecondFactor(deps, user.id, factor, deps.clock.now(), 'confirm');
  if (spent?.method === 'recovery_code') await recoveryCodeSpent(deps, user);
  if (spent) return spent;
  await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'invalid_mfa_code', reauthentication: true } });
  throw new AppError('invalid_mfa_code');
}

/** After a recovery code is spent, wherever: the owner is mailed how many are left. */
export async function recoveryCodeSpent(deps: Pick<MfaDeps, 'db' | 'clock' | 'mfaSummaries' | 'outbox'>, user: User): Promise<void> {
  deps.mfaSummaries.forget(user.id);
  await enqueueNotice(deps.db, recoveryCodeUsedEmail(user, await countRecoveryCodesLeft(deps.db, user.id)), deps.clock.now());
  deps.outbox.wake();
}

/**
 * Checks who asks for a sensitive change: the password (`confirmPassword`, under the sign-in lockout), and once
 * the user has a second factor, one of its codes as well. The methods they proved themselves with.
 */
export async function confirmIdentity(deps: MfaDeps, user: User, password: string, factor: SecondFactor, client: ClientInfo): Promise<readonly AuthMethod[]> {
  await confirmPassword(deps, user, password, client);
  if (!(await hasSecondFactor(deps.db, user.id))) return PASSWORD_AMR;
  return ['pwd', ...(await requireSecondFactor(deps, user, factor, client)).amr];
}

/** What an authenticator app needs to be set up: the secret (to type in), its URI, and the URI as a QR code. */
export interface TotpEnrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

/**
 * Starts setting up an authenticator app, with the password (and a second factor when the account has one: a
 * passkey): a new secret, pending until `confirmTotp`. It replaces a pending one; `409 mfa_already_enabled` when
 * one is set up already.
 */
export async function beginTotpEnrolment(deps: MfaDeps, user: User, proof: { password: string } & SecondFactor, client: ClientInfo): Promise<TotpEnrolment> {
  if ((await selectTotp(deps.db, user.id))?.confirmedAt) throw new AppError('mfa_already_enabled');
  // With a factor already (a passkey), the password alone would let whoever has it and an older session add one.
  await confirmIdentity(deps, user, proof.password, proof, client);
  const secret = newTotpSecret();
  const stored = await storePendingTotp(deps.db, user.id, sealTotpSecret(deps.mfaKeys.totp, user.id, secret), deps.clock.now());
  if (!stored) throw new AppError('mfa_already_enabled');
  const { otpauthUri, qrSvg } = await totpEnrolment(secret, user.email);
  return { secret, otpauth_uri: otpauthUri, qr_svg: qrSvg };
}

/**
 * Confirms a pending authenticator with a first code from it: from then on, sign-in takes a second step. Returns
 * the ten recovery codes, shown this once, when the app is the account's first factor; none when the account had
 * passkeys already (their recovery codes stay).
 */
export async function confirmTotp(deps: MfaDeps, user: User, code: string, client: ClientInfo): Promise<string[]> {
  await deps.throttle.limitAccount('mfaCode', user.id);
  const now = deps.clock.now();
  const pending = await selectTotp(deps.db, user.id);
  if (!pending || pending.confirmedAt) throw new AppError('mfa_not_enrolled');
  const step = totpStep(openTotpSecret(deps.mfaKeys.totp, user.id, pending.secretSealed), code, now);
  const recovery = newRecoveryCodes(deps.mfaKeys.recovery, user.id);
  const confirmed = await deps.db.transaction(async (tx) => {
    // The user's row first, as every change of their factors takes it: two changes racing take turns, and each sees
    // what the other left (the first factor's recovery codes, the last one's clean-up).
    await lockUserRow(tx, user.id);
    const first = !(await hasSecondFactor(tx, user.id));
    // A second confirmation racing this one finds it confirmed, and the step taken.
    if (step === undefined || !(await takeTotpStep(tx, user.id, step, now, true))) return undefined;
    await factorAdded(deps, tx, user, { factor: 'totp', first, recoveryHashes: recovery.hashes, client });
    return { first };
  });
  if (!confirmed) throw new AppError('invalid_mfa_code');
  deps.mfaSummaries.forget(user.id);
  deps.outbox.wake();
  return confirmed.first ? recovery.codes : [];
}

/**
 * What a new factor writes in its transaction: the recovery codes, the webhook event and `first` when it is the
 * account's first factor; the audit row, the notice email and the change announced, always.
 */
export async function factorAdded(
  deps: { clock: Clock },
  tx: Db,
  user: User,
  added: { factor: 'totp' | 'passkey'; first: boolean; recoveryHashes: string[]; client: ClientInfo; details?: Record<string, unknown> },
): Promise<void> {
  const now = deps.clock.now();
  if (added.first) {
    await replaceRecoveryCodes(tx, user.id, added.recoveryHashes, now);
    await recordEvents(tx, [userEvent('user.mfa_enabled', user)], now);
    // An enrolment a role required is done: its token opens nothing more.
    await revokeUserTokens(tx, user.id, now, 'mfa_enrollment');
  }
  // An app set up but not confirmed before this factor was proved without it: it must start again, with a factor.
  if (added.factor === 'passkey') await deletePendingTotp(tx, user.id);
  const details = { factor: added.factor, ...added.details };
  await recordAuditEvent(tx, deps.clock, { type: 'mfa_enabled', userId: user.id, email: user.email, client: added.client, details });
  await enqueueNotice(tx, mfaEnabledEmail(user, added.factor), now);
  await announceUserChange(tx, user.id);
}

/** Removes the authenticator app, with the password and a second factor; the recovery codes go when it was the last factor. */
export async function removeTotp(deps: MfaDeps, user: User, password: string, factor: SecondFactor, client: ClientInfo): Promise<void> {
  await confirmIdentity(deps, user, password, factor, client);
  const removed = await removeFactor(deps, user, { factor: 'totp', client }, (tx) => deleteTotp(tx, user.id));
  if (!removed) throw new AppError('mfa_not_enrolled', 'No authenticator app is set up for this account.');
  deps.mfaSummaries.forget(user.id);
  deps.outbox.wake();
}

/**
 * Removes one factor (`remove`: whether it was there), in one transaction with what goes with it: when no factor is
 * left, the recovery codes and `user.mfa_disabled`; the audit row and the notice email always. Whether it was there.
 */
export async function removeFactor(
  deps: { db: Db; clock: Clock },
  user: User,
  what: { factor: 'totp' | 'passkey'; client: ClientInfo; details?: Record<string, unknown> },
  remove: (tx: Db) => Promise<boolean>,
): Promise<boolean> {
  const now = deps.clock.now();
  return deps.db.transaction(async (tx) => {
    await lockUserRow(tx, user.id);
    if (!(await remove(tx))) return false;
    const last = !(await hasSecondFactor(tx, user.id));
    if (last) {
      await deleteRecoveryCodes(tx, user.id);
      await recordEvents(tx, [userEvent('user.mfa_disabled', user)], now);
    }
    const details = { factor: what.factor, actor: 'user', last, ...what.details };
    await recordAuditEvent(tx, deps.clock, { type: 'mfa_disabled', userId: user.id, email: user.email, client: what.client, details });
    await enqueueNotice(tx, factorRemovedEmail(user, what.factor, last), now);
    await announceUserChange(tx, user.id);
    return true;
  });
}

/**
 * Removes every second factor of the user (an authenticator app, pending or confirmed; passkeys; recovery codes),
 * in one transaction; when there was one, sends `user.mfa_disabled`, audits it under `actor` and mails `notice`.
 * Whether there was one.
 */
export async function removeSecondFactors(
  deps: { db: Db; clock: Clock },
  user: User,
  why: { actor: string; notice: MailMessage; client?: ClientInfo },
): Promise<boolean> {
  const now = deps.clock.now();
  return deps.db.transaction(async (tx) => {
    await lockUserRow(tx, user.id);
    const totp = await deleteTotp(tx, user.id);
    const passkeys = await deleteUserPasskeys(tx, user.id);
    await deleteRecoveryCodes(tx, user.id);
    if (!totp && passkeys === 0) return false;
    await recordEvents(tx, [userEvent('user.mfa_disabled', user)], now);
    const details = { factor: 'all', totp, passkeys, actor: why.actor };
    await recordAuditEvent(tx, deps.clock, { type: 'mfa_disabled', userId: user.id, email: user.email, client: why.client, details });
    await enqueueNotice(tx, why.notice, now);
    await announceUserChange(tx, user.id);
    return true;
  });
}

/** Replaces the recovery codes with ten new ones, with the password and a code; the old ones stop working. */
export async function regenerateRecoveryCodes(deps: MfaDeps, user: User, password: string, factor: SecondFactor, client: ClientInfo): Promise<string[]> {
  const amr = await confirmIdentity(deps, user, password, factor, client);
  if (!amr.includes('mfa')) throw new AppError('mfa_not_enrolled');
  const now = deps.clock.now();
  const recovery = newRecoveryCodes(deps.mfaKeys.recovery, user.id);
  await deps.db.transaction(async (tx) => {
    await replaceRecoveryCodes(tx, user.id, recovery.hashes, now);
    await recordAuditEvent(tx, deps.clock, { type: 'recovery_codes_regenerated', userId: user.id, email: user.email, client });
    await announceUserChange(tx, user.id);
  });
  deps.mfaSummaries.forget(user.id);
  return recovery.codes;
}
