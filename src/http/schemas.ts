import { Type, type TSchema } from 'typebox';
import { PublicUser } from '../contracts/users.js';
import { MfaCodeField, RecoveryCodeField } from '../contracts/fields.js';

export { EmailField, MfaCodeField, NameField, OneTimeTokenField, PasswordField, RecoveryCodeField, SigninCodeField, VerificationCodeField } from '../contracts/fields.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable snake_case error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    request_id: Type.Optional(Type.String()),
    mfa_token: Type.Optional(Type.String({ description: '`mfa_required` only: the second step\'s token (POST /api/signin/mfa), single use, 5 minutes' })),
    methods: Type.Optional(Type.Array(Type.String(), { description: '`mfa_required` only: the second factors the account can finish with' })),
  },
  { $id: 'ErrorBody', description: 'An error: match on `error`, show `message`.' },
);

/** The error answers a route can give, each with the shared error body. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]));
}

export const MessageBody = Type.Object({ message: Type.String() });

/** A second factor in a body: a code from the authenticator app, or a recovery code (spread into a body's properties). */
export const SecondFactorFields = { code: Type.Optional(MfaCodeField), recovery_code: Type.Optional(RecoveryCodeField) };
/** Those fields as the domain takes them (`SecondFactor` of src/auth/mfa/factors.ts). */
export const secondFactorOf = (body: { code?: string; recovery_code?: string }) => ({ code: body.code, recoveryCode: body.recovery_code });

/** The public user, registered once under `User` (src/contracts/users.ts declares it). */
export const PublicUserSchema = Type.Object(PublicUser.properties, { $id: 'User' });
/** A reference to the registered public user. */
export const UserRef = Type.Ref('User');

export const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });

export const bearerAuth = [{ bearerAuth: [] }];
