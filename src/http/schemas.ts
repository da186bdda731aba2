import { Type, type Static, type TSchema } from 'typebox';
import { PublicUser } from '../contracts/users.js';
import { MfaCodeField, RecoveryCodeField } from '../contracts/fields.js';
import { PasskeyAssertion, PasskeyRegistration } from '../contracts/mfa.js';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { AppError } from '../errors.js';

export { EmailField, MfaCodeField, NameField, OneTimeTokenField, PasswordField, RecoveryCodeField, SigninCodeField, VerificationCodeField } from '../contracts/fields.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable snake_case error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    request_id: Type.Optional(Type.String()),
    error_description: Type.Optional(Type.String({ description: 'the OAuth endpoints (`/oauth/*`) only: `message` again, under the name OAuth clients read' })),
    mfa_token: Type.Optional(Type.String({ description: '`mfa_required` only: the second step\'s token (POST /api/signin/mfa), single use, 5 minutes' })),
    methods: Type.Optional(Type.Array(Type.String(), { description: '`mfa_required` only: the second factors the account can finish with (`totp`, `recovery_code`, `passkey`)' })),
    enrollment_token: Type.Optional(
      Type.String({ description: '`mfa_enrollment_required` only: a bearer token that the enrolment routes alone take (TOTP and passkey), 15 minutes' }),
    ),
  },
  { $id: 'ErrorBody', description: 'An error: match on `error`, show `message`.' },
);

/** The error answers a route can give, each with the shared error body. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]));
}

export const MessageBody = Type.Object({ message: Type.String() });

/**
 * A second factor in a body: a code from the authenticator app, a recovery code, or a passkey's assertion (spread
 * into a body's properties).
 */
export const SecondFactorFields = { code: Type.Optional(MfaCodeField), recovery_code: Type.Optional(RecoveryCodeField), passkey: Type.Optional(PasskeyAssertion) };
/** Those fields as the domain takes them (`SecondFactor` of src/auth/mfa/factors.ts). */
export const secondFactorOf = (body: { code?: string; recovery_code?: string; passkey?: Static<typeof PasskeyAssertion> }) => ({
  code: body.code,
  recoveryCode: body.recovery_code,
  passkey: body.passkey && asAssertion(body.passkey),
});
/** The one second factor a body must bring (a second step, a step-up): `400 invalid_request` for none or several. */
export function oneSecondFactorOf(body: Parameters<typeof secondFactorOf>[0]) {
  const factor = secondFactorOf(body);
  if ([factor.code, factor.recoveryCode, factor.passkey].filter((f) => f !== undefined).length !== 1) {
    throw new AppError('invalid_request', 'Send one of code, recovery_code and passkey.');
  }
  return factor;
}
/** A passkey assertion checked by PasskeyAssertion, as @simplewebauthn/server takes it. */
export const asAssertion = (passkey: Static<typeof PasskeyAssertion>) =>
  ({ ...passkey, clientExtensionResults: passkey.clientExtensionResults ?? {} }) as AuthenticationResponseJSON;
/** A new passkey checked by PasskeyRegistration, as @simplewebauthn/server takes it. */
export const asRegistration = (passkey: Static<typeof PasskeyRegistration>) =>
  ({ ...passkey, clientExtensionResults: passkey.clientExtensionResults ?? {} }) as RegistrationResponseJSON;

/** The public user, registered once under `User` (src/contracts/users.ts declares it). */
export const PublicUserSchema = Type.Object(PublicUser.properties, { $id: 'User' });
/** A reference to the registered public user. */
export const UserRef = Type.Ref('User');

export const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });

export const bearerAuth = [{ bearerAuth: [] }];

/**
 * WebAuthn options as the browser takes them (PublicKeyCredentialRequestOptionsJSON, ...CreationOptionsJSON): handed
 * to navigator.credentials.get() or .create() as they are. Only their first fields are declared: the rest pass.
 */
export const RequestOptions = Type.Object(
  { challenge: Type.String(), rpId: Type.Optional(Type.String()), timeout: Type.Optional(Type.Integer()), userVerification: Type.Optional(Type.String()) },
  { additionalProperties: true, description: "the browser's PublicKeyCredentialRequestOptionsJSON (allowCredentials and the rest pass as they are)" },
);
export const CreationOptions = Type.Object(
  { challenge: Type.String(), rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }), user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }) },
  { additionalProperties: true, description: "the browser's PublicKeyCredentialCreationOptionsJSON (pubKeyCredParams, authenticatorSelection and the rest pass as they are)" },
);
