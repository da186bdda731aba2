import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor';

/**
 * A software authenticator, as a browser and a platform authenticator together would answer WebAuthn's ceremonies:
 * keys from node:crypto (P-256 by default; Ed25519 or RSA when asked), attestation `none`, authenticator data and
 * client data signed as the specification says. Every field a hostile client could bend can be bent: the origin, the RP ID, the flags, the counter, the
 * challenge, the credential.
 */

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const FLAG_ED = 0x80;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const uint32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export interface Credential {
  id: Buffer;
  key: KeyObject;
  rpId: string;
  userHandle: Buffer;
  counter: number;
}

/** What a ceremony's answer may be bent by. */
export interface Bend {
  origin?: string;
  rpId?: string;
  /** Leave user verification out (the UV flag). */
  noUserVerification?: boolean;
  /** Leave user presence out (the UP flag). */
  noUserPresence?: boolean;
  /** Answer this challenge instead of the options'. */
  challenge?: string;
  /** The counter to sign, instead of the next one. */
  counter?: number;
  type?: string;
  /** Say that the page was framed by another origin. */
  crossOrigin?: boolean;
  /** The whole flags byte, instead of the one the other bends make. */
  flags?: number;
  /** Bytes after the counter in an assertion's authenticator data (extension CBOR; the ED flag is set for them unless `flags` says otherwise). */
  extensions?: Uint8Array;
  /** An ECDSA signature as r||s (IEEE P1363) instead of DER. */
  rawSignature?: boolean;
  /** Sign with this hash instead of the algorithm's (SHA-256; none for Ed25519). */
  hash?: string | null;
  /** The user handle sent, or none at all (null). */
  userHandle?: string | null;
  /** More members of the client data (a token binding, say). */
  clientData?: Record<string, unknown>;
}

/** The COSE algorithms an authenticator signs with: ES256 (-7), EdDSA with Ed25519 (-8), RS256 (-257). */
export type Algorithm = 'ES256' | 'EdDSA' | 'RS256';

/** A new key pair of `algorithm`, and its public key as a COSE key. */
function keyPair(algorithm: Algorithm): { privateKey: KeyObject; cose: Uint8Array } {
  const bytes = (v: string | undefined) => Buffer.from(v!, 'base64url');
  if (algorithm === 'EdDSA') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    return { privateKey, cose: encodeCBOR(new Map<number, number | Uint8Array>([[1, 1], [3, -8], [-1, 6], [-2, bytes(jwk.x)]])) };
  }
  if (algorithm === 'RS256') {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    return { privateKey, cose: encodeCBOR(new Map<number, number | Uint8Array>([[1, 3], [3, -257], [-1, bytes(jwk.n)], [-2, bytes(jwk.e)]])) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, cose: encodeCBOR(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, bytes(jwk.x)], [-3, bytes(jwk.y)]])) };
}

export class SoftwareAuthenticator {
  readonly credentials: Credential[] = [];

  /** `synced`: a multi-device passkey (backup eligible and backed up), whose counter stays 0. */
  constructor(
    private readonly origin: string,
    private readonly synced = false,
    private readonly algorithm: Algorithm = 'ES256',
  ) {}

  private flags(bend: Bend, extra = 0): number {
    let flags = extra | (bend.noUserPresence ? 0 : FLAG_UP) | (bend.noUserVerification ? 0 : FLAG_UV);
    if (this.synced) flags |= FLAG_BE | FLAG_BS;
    return flags;
  }

  private clientData(type: string, challenge: string, bend: Bend): Buffer {
    return Buffer.from(
      JSON.stringify({ type: bend.type ?? type, challenge: bend.challenge ?? challenge, origin: bend.origin ?? this.origin, crossOrigin: bend.crossOrigin ?? false, ...bend.clientData }),
    );
  }

  /** Makes a new passkey from creation options (PublicKeyCredentialCreationOptionsJSON): the RegistrationResponseJSON. */
  create(options: { challenge: string; rp: { id?: string }; user: { id: string } }, bend: Bend = {}) {
    const { privateKey, cose } = keyPair(this.algorithm);
    const rpId = bend.rpId ?? options.rp.id!;
    const credential: Credential = { id: randomBytes(32), key: privateKey, rpId, userHandle: Buffer.from(options.user.id, 'base64url'), counter: 0 };
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(bend, FLAG_AT)]), uint32(0), Buffer.alloc(16), idLength, credential.id, Buffer.from(cose)]);
    const attestationObject = encodeCBOR(new Map<string, CBORType>([['fmt', 'none'], ['attStmt', new Map<string, CBORType>()], ['authData', authData]]));
    this.credentials.push(credential);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key' as const,
      response: { clientDataJSON: b64url(this.clientData('webauthn.create', options.challenge, bend)), attestationObject: b64url(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * Answers request options (PublicKeyCredentialRequestOptionsJSON) with `credential` (by default the first allowed
   * one, or the first made): the AuthenticationResponseJSON.
   */
  get(options: { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }, bend: Bend = {}, credential?: Credential) {
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
    const used = credential ?? this.credentials.find((c) => allowed.length === 0 || allowed.includes(b64url(c.id)));
    if (!used) throw new Error('no credential for these options');
    if (!this.synced) used.counter += 1;
    const counter = bend.counter ?? used.counter;
    const flags = bend.flags ?? this.flags(bend, bend.extensions ? FLAG_ED : 0);
    const authData = Buffer.concat([sha256(bend.rpId ?? options.rpId ?? used.rpId), Buffer.from([flags]), uint32(counter), bend.extensions ?? Buffer.alloc(0)]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, bend);
    const hash = bend.hash !== undefined ? bend.hash : this.algorithm === 'EdDSA' ? null : 'sha256';
    const key = bend.rawSignature ? { key: used.key, dsaEncoding: 'ieee-p1363' as const } : used.key;
    const signature = sign(hash, Buffer.concat([authData, sha256(clientDataJSON)]), key);
    const userHandle = bend.userHandle === undefined ? b64url(used.userHandle) : (bend.userHandle ?? undefined);
    return {
      id: b64url(used.id),
      rawId: b64url(used.id),
      type: 'public-key' as const,
      response: { clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authData), signature: b64url(signature), ...(userHandle === undefined ? {} : { userHandle }) },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
