import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { deriveKey, open, seal } from '../../core/secret-box.js';

/**
 * Authenticator apps (TOTP, RFC 6238): what every one of them reads, SHA-1, 6 digits, 30-second steps. The shared
 * secret is sealed at rest under a key derived from SECRET_KEY, with the user's id as its context.
 */

const PERIOD = 30;
const DIGITS = 6;
// A code is taken for its own step and one either side: a phone's clock a little off, a code typed as it turns.
const WINDOW = 1;
const SECRET_BYTES = 20;
const ISSUER = 'Latchkey';

/** The key TOTP secrets are sealed under, derived from SECRET_KEY for this purpose alone. */
export function totpSealKey(secretKey: string | Uint8Array): Buffer {
  return deriveKey(secretKey, 'latchkey totp secrets v1');
}

/** A new secret, in base32 (what an authenticator app takes typed in). */
export const newTotpSecret = (): string => new Secret({ size: SECRET_BYTES }).base32;

export const sealTotpSecret = (key: Uint8Array, userId: string, base32: string): string => seal(key, base32, `totp ${userId}`);
export const openTotpSecret = (key: Uint8Array, userId: string, sealed: string): string => open(key, sealed, `totp ${userId}`).toString('utf8');

const totpOf = (base32: string, email = '') =>
  new TOTP({ issuer: ISSUER, label: email, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret: Secret.fromBase32(base32) });

/** The `otpauth://` URI an authenticator app scans, naming Latchkey and the user's address, and its QR code as SVG. */
export async function totpEnrolment(base32: string, email: string): Promise<{ otpauthUri: string; qrSvg: string }> {
  const otpauthUri = totpOf(base32, email).toString();
  return { otpauthUri, qrSvg: await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }) };
}

/** Six digits, as typed (spaces allowed between them). */
const CODE = /^\d{6}$/;

/**
 * The time step a code belongs to at `now`, if it is the secret's code for that step or one either side; undefined
 * otherwise. Whether the step may still be used (not already, nor an earlier one) is the caller's to decide.
 */
export function totpStep(base32: string, code: string, now: Date): number | undefined {
  const typed = code.replace(/\s/g, '');
  if (!CODE.test(typed)) return undefined;
  const timestamp = now.getTime();
  const delta = totpOf(base32).validate({ token: typed, timestamp, window: WINDOW });
  return delta === null ? undefined : Math.floor(timestamp / 1000 / PERIOD) + delta;
}
