import { Type, type Static } from 'typebox';

/** What a user's account shows of its second factors (`GET /api/me`'s `user.mfa`): never a secret. */
export const MfaSummary = Type.Object({
  totp: Type.Boolean({ description: 'whether an authenticator app is set up (and confirmed)' }),
  passkeys: Type.Integer({ description: 'how many passkeys are registered' }),
  recovery_codes_left: Type.Integer({ description: 'how many recovery codes are still unused' }),
});
export type MfaSummary = Static<typeof MfaSummary>;

/** A new authenticator app's setup (`POST /api/me/mfa/totp`): shown once. */
export const TotpSetup = Type.Object({
  secret: Type.String({ description: 'the shared secret in base32, for typing into the app' }),
  otpauth_uri: Type.String({ description: 'the otpauth:// URI (SHA-1, 6 digits, 30 s) an app reads from the QR code' }),
  qr_svg: Type.String({ description: 'the URI as a QR code, an SVG document' }),
});

/** Recovery codes, shown once. */
export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { description: 'ten codes, each signing in once; shown this once' }),
});
