import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { decodeClientDataJSON, decodeCredentialPublicKey, parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import { createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { addSeconds } from '../../core/clock.js';
import { generateOpaqueToken, hashToken } from '../../core/secrets.js';
import type { Db } from '../../db/client.js';
import { deleteUserChallenges, insertChallenge, takeChallenge, type PasskeyRow } from '../../db/queries/passkeys.js';

/**
 * WebAuthn (passkeys) on @simplewebauthn/server: the relying party of WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS,
 * attestation `none`, user verification required. A signed-in user's challenge is 256 random bits, stored as its
 * SHA-256 with the ceremony it was made for and its user, for CHALLENGE_TTL_SECONDS, and taken once (the statement
 * that takes it deletes it): a replayed answer, or one made for another ceremony or another user, finds nothing to
 * take. A passkey sign-in's challenge, for nobody yet, is signed instead (./signin-challenges.ts).
 */

export interface RelyingParty {
  rpId: string;
  origins: readonly string[];
}

/**
 * What a stored challenge is for: registering a passkey, the second step of a password sign-in, or confirming a
 * signed-in user (a sensitive change, a step-up).
 */
export type Ceremony = 'register' | 'second_step' | 'confirm';

export const CHALLENGE_TTL_SECONDS = 300;
const RP_NAME = 'Latchkey';
// ES256, EdDSA, RS256: what authenticators make.
const ALGORITHMS = [-7, -8, -257];
// Longer than any credential id or challenge an authenticator sends (1,023 bytes at most for an id).
const MAX_ID_LENGTH = 1400;

/**
 * A new challenge for `ceremony` and `userId`, stored as its hash; the challenge. A user's new challenge replaces
 * their earlier one of the ceremony: a signed-in user cannot pile rows up.
 */
export async function issueChallenge(db: Db, ceremony: Ceremony, userId: string, now: Date): Promise<string> {
  const challenge = generateOpaqueToken();
  await deleteUserChallenges(db, userId, ceremony);
  await insertChallenge(db, { challengeHash: hashToken(challenge), ceremony, userId, createdAt: now, expiresAt: addSeconds(now, CHALLENGE_TTL_SECONDS) });
  return challenge;
}

/**
 * The challenge an answer signed, as its client data says; undefined when that is not readable, or when the
 * browser says the page that asked was framed by another origin (`crossOrigin`): Latchkey's ceremonies are never.
 */
export function challengeAnswered(response: { response: { clientDataJSON: string } }): string | undefined {
  try {
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown; crossOrigin?: unknown };
    if (clientData.crossOrigin === true) return undefined;
    return typeof clientData.challenge === 'string' && clientData.challenge.length <= MAX_ID_LENGTH ? clientData.challenge : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the challenge an answer signed, if it was made for `ceremony` and `userId` and is unexpired and unused: the
 * challenge, or undefined. A challenge of another user is spent all the same.
 */
export async function takeAnsweredChallenge(
  db: Db,
  response: { response: { clientDataJSON: string } },
  ceremony: Ceremony,
  userId: string,
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

/** A stored passkey as options name it to the browser: its id, and how its authenticator is reached. */
const descriptorOf = (p: PasskeyRow) => ({ id: p.credentialId, transports: (p.transports ?? undefined) as AuthenticatorTransportFuture[] | undefined });

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
    excludeCredentials: existing.map(descriptorOf),
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
    allowCredentials: allowed.map(descriptorOf),
  });
}

/** A verified new passkey: what is stored of it. */
export type NewPasskey = Pick<PasskeyRow, 'credentialId' | 'publicKey' | 'counter' | 'transports' | 'multiDevice' | 'backedUp'>;

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
    if (!result.verified || !usableKey(result.registrationInfo.credential.publicKey)) return undefined;
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
 * Verifies an assertion of `passkey` answering `challenge`, as the library's verifyAuthenticationResponse does, on
 * the calling thread: the library hashes, imports the key and checks the signature through WebCrypto, four jobs on
 * libuv's pool per assertion, behind any argon2 hash queued there (a password flood would hold passkey sign-ins
 * up), and 0.6 ms of the 2.1 a passkey sign-in cost on the benchmark's machine. The library's own parsers read the
 * client data and the authenticator data; node:crypto hashes and verifies. Checked: the credential is the passkey
 * (`id` and `rawId`), the client data is a `webauthn.get` for `challenge` from one of the origins and not framed by
 * another (and its token binding, when there is one, readable), the RP ID hash is WEBAUTHN_RP_ID's, the user was
 * present and verified, the backup flags possible (backed up only if eligible), the user handle (when sent) is
 * the passkey's user's, and the signature over the authenticator data and the client data's hash is the passkey's.
 * The counter is the caller's to take (takePasskeyCounter): the check here alone would race. Undefined when
 * anything fails.
 */
export function verifyAssertion(rp: RelyingParty, response: AuthenticationResponseJSON, challenge: string, passkey: PasskeyRow): Assertion | undefined {
  const { id, rawId, type, response: answer } = response;
  if (id !== passkey.credentialId || rawId !== id || type !== 'public-key') return undefined;
  if (answer.userHandle !== undefined && answer.userHandle !== userHandleOf(passkey.userId).toString('base64url')) return undefined;
  try {
    const clientData = decodeClientDataJSON(answer.clientDataJSON);
    if (clientData.type !== 'webauthn.get' || clientData.challenge !== challenge || !rp.origins.includes(clientData.origin) || clientData.crossOrigin === true) {
      return undefined;
    }
    if (!tokenBindingReadable(clientData.tokenBinding)) return undefined;
    const authData = Buffer.from(answer.authenticatorData, 'base64url');
    const { rpIdHash, flags, counter } = parseAuthenticatorData(authData);
    if (!sha256(rp.rpId).equals(rpIdHash) || !flags.up || !flags.uv) return undefined;
    // Backed up (BS) but not eligible for backup (BE) is a state no authenticator is in (WebAuthn §6.1.3).
    if (flags.bs && !flags.be) return undefined;
    const key = verifierOf(passkey.publicKey);
    const signed = Buffer.concat([authData, sha256(Buffer.from(answer.clientDataJSON, 'base64url'))]);
    if (!key || !verify(key.hash, signed, key.key, Buffer.from(answer.signature, 'base64url'))) return undefined;
    return { counter, backedUp: flags.bs };
  } catch {
    return undefined;
  }
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

/** Client data's `tokenBinding`, when there is one, as the library took it: an object with one of the statuses. */
const tokenBindingReadable = (tokenBinding: unknown) =>
  !tokenBinding ||
  (typeof tokenBinding === 'object' && tokenBinding !== null && ['present', 'supported', 'notSupported', 'not-supported'].includes((tokenBinding as { status?: unknown }).status as string));

/**
 * The key a stored passkey's signatures are checked with, and their hash (none for EdDSA); undefined when the COSE key
 * is not one of ALGORITHMS (usableKey refused such keys at registration). ECDSA signatures come DER-encoded, node's
 * default.
 */
function verifierOf(publicKey: string): { key: KeyObject; hash: 'sha256' | null } | undefined {
  const cose = decodeCredentialPublicKey(Buffer.from(publicKey, 'base64url')) as unknown as Map<number, unknown>;
  const jwk = jwkOf(cose);
  return jwk && { key: createPublicKey({ key: jwk, format: 'jwk' }), hash: cose.get(3) === -8 ? null : 'sha256' };
}

const b64 = (v: unknown, length?: number) =>
  v instanceof Uint8Array && (length === undefined || v.length === length) ? Buffer.from(v).toString('base64url') : undefined;

/** The key a COSE public key is, as a JWK, when its type, algorithm, curve and sizes agree (ES256, EdDSA, RS256). */
function jwkOf(key: Map<number, unknown>): JsonWebKey | undefined {
  const [kty, alg] = [key.get(1), key.get(3)];
  if (kty === 2 && alg === -7 && key.get(-1) === 1) {
    const [x, y] = [b64(key.get(-2), 32), b64(key.get(-3), 32)];
    return x && y ? { kty: 'EC', crv: 'P-256', x, y } : undefined;
  }
  if (kty === 1 && alg === -8 && key.get(-1) === 6) {
    const x = b64(key.get(-2), 32);
    return x ? { kty: 'OKP', crv: 'Ed25519', x } : undefined;
  }
  if (kty === 3 && alg === -257) {
    const [n, e] = [key.get(-1), key.get(-2)];
    return n instanceof Uint8Array && n.length >= 256 ? { kty: 'RSA', n: b64(n), e: b64(e) } : undefined;
  }
  return undefined;
}

/**
 * Whether a new passkey's public key is one its signatures could ever be checked against: the library checks the
 * algorithm alone, and a malformed key would stand as a second factor that no assertion can answer.
 */
function usableKey(cose: Uint8Array<ArrayBuffer>): boolean {
  try {
    const jwk = jwkOf(decodeCredentialPublicKey(cose) as unknown as Map<number, unknown>);
    if (!jwk) return false;
    createPublicKey({ key: jwk, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}
