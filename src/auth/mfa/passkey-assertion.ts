import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { recordAuditEvent } from '../../core/audit.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { selectPasskeyByCredentialId, selectPasskeyById, takePasskeyCounter, type PasskeyRow } from '../../db/queries/passkeys.js';
import type { AuthMethod } from '../sessions/access-tokens.js';
import { findUserById } from '../users/users.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import { passkeyCloneEmail } from './emails.js';
import { takeAnsweredChallenge, verifyAssertion, type Ceremony, type RelyingParty } from './webauthn.js';

/** A passkey assertion that checked out: the passkey, and the methods it proves (RFC 8176). */
export interface UsedPasskey {
  passkey: PasskeyRow;
  amr: readonly AuthMethod[];
}

/**
 * The methods a passkey proves: a key (`hwk` bound to its device, `swk` when it syncs to others), with the user
 * verified by the authenticator (`user`): two factors in one, `mfa`, at aal2.
 */
export const passkeyAmr = (multiDevice: boolean): readonly AuthMethod[] => [multiDevice ? 'swk' : 'hwk', 'user', 'mfa'];

/**
 * Checks a signed-in user's passkey assertion and records its use. The challenge it signed must be unused, unexpired
 * and made for `ceremony` and `userId`; it is taken whatever follows, so an answer works once. The passkey must be
 * `userId`'s; its signature, origin, RP ID hash and user verification must check out; and its counter must grow (or
 * stay 0, as synced passkeys send), in the statement that stores it: a counter that goes back is refused, audited
 * as a possible clone and mailed to the owner. Undefined when anything fails. (A passkey sign-in does the same in
 * one statement with its session: ./passkeys.ts.)
 */
export async function spendPasskeyAssertion(
  deps: { db: Db; clock: Clock; config: { mfa: { webauthn: RelyingParty } }; outbox: { wake(): void } },
  response: AuthenticationResponseJSON,
  expected: { ceremony: Ceremony; userId: string },
): Promise<UsedPasskey | undefined> {
  const now = deps.clock.now();
  const challenge = await takeAnsweredChallenge(deps.db, response, expected.ceremony, expected.userId, now);
  if (challenge === undefined) return undefined;
  const passkey = await selectPasskeyByCredentialId(deps.db, response.id);
  if (!passkey || passkey.userId !== expected.userId) return undefined;
  const assertion = verifyAssertion(deps.config.mfa.webauthn, response, challenge, passkey);
  if (!assertion) return undefined;
  if (!(await takePasskeyCounter(deps.db, passkey.id, assertion.counter, now, assertion.backedUp))) {
    await suspectClone(deps, passkey, assertion.counter);
    return undefined;
  }
  return { passkey, amr: passkeyAmr(passkey.multiDevice) };
}

/**
 * A passkey whose counter was not taken: audited as a possible clone, and its owner mailed, if it is still there. A
 * counter is not taken either when the passkey was removed while its assertion was being checked (its owner removing
 * it, an operator resetting the account's factors): that is no clone, and the owner, who just removed it, is not told
 * that it was copied.
 */
export async function suspectClone(deps: { db: Db; clock: Clock; outbox: { wake(): void } }, passkey: PasskeyRow, counter: number): Promise<void> {
  const current = await selectPasskeyById(deps.db, passkey.id);
  if (!current) return;
  const details = { passkey_id: passkey.id, counter, stored_counter: current.counter };
  await recordAuditEvent(deps.db, deps.clock, { type: 'passkey_clone_suspected', userId: passkey.userId, details });
  const owner = await findUserById(deps.db, passkey.userId);
  if (owner) {
    await enqueueNotice(deps.db, passkeyCloneEmail(owner), deps.clock.now());
    deps.outbox.wake();
  }
}
