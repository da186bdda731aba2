import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { addSeconds } from '../../core/clock.js';
import { generateOpaqueToken, hashToken } from '../../core/secrets.js';
import type { Db } from '../../db/client.js';
import { insertChallenge, takeChallenge, type PasskeyRow } from '../../db/queries/passkeys.js';

/**
 * WebAuthn (passkeys) on @simplewebauthn/server: the relying party of WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS,
 * attestation `none`, user verification required. Each challenge is 256 random bits, stored as its SHA-256 with
 * the ceremony it was made for and its user, for CHALLENGE_TTL_SECONDS, and taken once (the statement that takes it
 * deletes it): a replayed answer, or one made for another ceremony or another user, finds nothing to take.
 */

export interface RelyingParty {
  rpId: string;
  origins: readonly string[];
}

/**
 * What a challenge is for: registering a passkey, signing in with one alone, the second step of a password sign-in,
 * or confirming a signed-in user (a sensitive change, a step-up).
 */
export type Ceremony = 'register' | 'signin' | 'second_step' | 'confirm';

const CHALLENGE_TTL_SECONDS = 300;
const RP_NAME = 'Latchkey';
// ES256, EdDSA, RS256: what authenticators make.
const ALGORITHMS = [-7, -8, -257];
// Longer than any credential id or challenge an authenticator sends (1,023 bytes at most for an id).
const MAX_ID_LENGTH = 1400;

/** A new challenge for `ceremony` (and `userId`, or none for a passkey sign-in), stored as its hash; the challenge. */
export async function issueChallenge(db: Db, ceremony: Ceremony, userId: string | null, now: Date): Promise<string> {
  const challenge = generateOpaqueToken();
  await insertChallenge(db, { challengeHash: hashToken(challenge), ceremony, userId, createdAt: now, expiresAt: addSeconds(now, CHALLENGE_TTL_SECONDS) });
  return challenge;
}

/** The challenge an answer signed, as its client data says; undefined when that is not readable. */
export function challengeAnswered(response: { response: { clientDataJSON: string } }): string | undefined {
  try {
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof clientData.challenge === 'string' && clientData.challenge.length <= MAX_ID_LENGTH ? clientData.challenge : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the challenge an answer signed, if it was made for `ceremony` and `userId` (null: for nobody yet) and is
 * unexpired and unused: the challenge, or undefined. A challenge of another user is spent all the same.
 */
export async function takeAnsweredChallenge(
  db: Db,
  response: { response: { clientDataJSON: string } },
  ceremony: Ceremony,
  userId: string | null,
  now: Date,
): Promise<string | undefined> {
  const challenge = challengeAnswered(response);
  if (challenge === undefined) return undefined;
  const taken = await takeChallenge(db, hashToken(challenge), ceremony, now);
  return taken && taken.userId === userId ? challenge : undefined;
}

const challengeBytes = (challenge: string) => Buffer.from(challenge, 'base64url');
/** The user handle of a user's passkeys: their id, never an address. */
export const userHandleOf = (userId: string) => Buffer.from(userId, 'utf8');

/** Options for a new passkey (the browser's PublicKeyCredentialCreationOptionsJSON): discoverable, user verification required. */
export function creationOptions(
  rp: RelyingParty,
  user: { id: string; email: string; name: string },
  challenge: string,
  existing: readonly PasskeyRow[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: RP_NAME,
    rpID: rp.rpId,
    userID: userHandleOf(user.id),
    userName: user.email,
    userDisplayName: user.name,
    challenge: challengeBytes(challenge),
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: (p.transports ?? undefined) as never })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
  });
}

/** Options for an assertion: any discoverable passkey (none listed), or one of `allowed`. */
export function requestOptions(rp: RelyingParty, challenge: string, allowed: readonly PasskeyRow[] = []): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: rp.rpId,
    challenge: challengeBytes(challenge),
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    userVerification: 'required',
    allowCredentials: allowed.map((p) => ({ id: p.credentialId, transports: (p.transports ?? undefined) as never })),
  });
}

/** A verified new passkey: what is stored of it. */
export interface NewPasskey {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[] | null;
  multiDevice: boolean;
  backedUp: boolean;
}

/**
 * Verifies a registration answer to `challenge`: origin, RP ID hash, user presence and verification, a supported
 * key. Undefined when anything fails.
 */
export async function verifyNewPasskey(rp: RelyingParty, response: RegistrationResponseJSON, challenge: string): Promise<NewPasskey | undefined> {
  try {
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.rpId,
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    });
    if (!result.verified) return undefined;
    const { credential, credentialDeviceType, credentialBackedUp } = result.registrationInfo;
    return {
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: credential.transports ?? null,
      multiDevice: credentialDeviceType === 'multiDevice',
      backedUp: credentialBackedUp,
    };
  } catch {
    return undefined;
  }
}

/** A verified assertion: the counter it carried, and whether the passkey is backed up now. */
export interface Assertion {
  counter: number;
  backedUp: boolean;
}

/**
 * Verifies an assertion of `passkey` answering `challenge`: origin, RP ID hash, user presence and verification, the
 * signature, and a user handle (when sent) that is the passkey's user's. The counter is the caller's to take
 * (takePasskeyCounter): the check here alone would race. Undefined when anything fails.
 */
export async function verifyAssertion(rp: RelyingParty, response: AuthenticationResponseJSON, challenge: string, passkey: PasskeyRow): Promise<Assertion | undefined> {
  const handle = response.response.userHandle;
  if (handle !== undefined && handle !== userHandleOf(passkey.userId).toString('base64url')) return undefined;
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.rpId,
      requireUserVerification: true,
      // The counter is checked by the statement that stores it; here only the signature and the flags.
      credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0 },
    });
    if (!result.verified || !result.authenticationInfo.userVerified) return undefined;
    return { counter: result.authenticationInfo.newCounter, backedUp: result.authenticationInfo.credentialBackedUp };
  } catch {
    return undefined;
  }
}
