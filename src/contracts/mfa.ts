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

/** A passkey as its owner sees it (`GET /api/me/passkeys`): never its key. */
export const Passkey = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  synced: Type.Boolean({ description: 'whether the authenticator may sync it to other devices (a multi-device passkey)' }),
});
export type Passkey = Static<typeof Passkey>;

// WebAuthn's binary fields travel in base64url (the browser's PublicKeyCredential.toJSON()).
const base64url = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$', ...(description ? { description } : {}) });
const credentialFields = {
  id: base64url(1400, 'the credential id'),
  rawId: base64url(1400),
  type: Type.Literal('public-key'),
  clientExtensionResults: Type.Optional(Type.Object({})),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
};

/** A new passkey, as the browser's `navigator.credentials.create()` gives it (`.toJSON()`, RegistrationResponseJSON). */
export const PasskeyRegistration = Type.Object(
  {
    ...credentialFields,
    response: Type.Object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(16384),
      transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10 })),
    }),
  },
  { description: "the browser's answer to the creation options (RegistrationResponseJSON)" },
);

/** A passkey's assertion, as the browser's `navigator.credentials.get()` gives it (`.toJSON()`, AuthenticationResponseJSON). */
export const PasskeyAssertion = Type.Object(
  {
    ...credentialFields,
    response: Type.Object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(4096),
      signature: base64url(1024),
      userHandle: Type.Optional(base64url(256)),
    }),
  },
  { description: "the browser's answer to the request options (AuthenticationResponseJSON)" },
);
