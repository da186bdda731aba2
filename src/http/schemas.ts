import { Type, type TSchema } from 'typebox';
import { PublicUser } from '../contracts/users.js';

export { EmailField, NameField, OneTimeTokenField, PasswordField, SigninCodeField, VerificationCodeField } from '../contracts/fields.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable snake_case error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    request_id: Type.Optional(Type.String()),
  },
  { $id: 'ErrorBody', description: 'An error: match on `error`, show `message`.' },
);

/** The error answers a route can give, each with the shared error body. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]));
}

export const MessageBody = Type.Object({ message: Type.String() });

/** The public user, registered once under `User` (src/contracts/users.ts declares it). */
export const PublicUserSchema = Type.Object(PublicUser.properties, { $id: 'User' });
/** A reference to the registered public user. */
export const UserRef = Type.Ref('User');

export const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });

export const bearerAuth = [{ bearerAuth: [] }];
