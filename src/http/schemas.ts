import { Type, type TSchema } from 'typebox';
import { PASSWORD_MAX_LENGTH } from '../config.js';

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

export const PublicUserSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    email: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'User' },
);

export const TokenFields = {
  access_token: Type.String({ description: 'JWT access token (typ at+jwt)' }),
  refresh_token: Type.String({ description: 'opaque refresh token, single use' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
};

export const EmailField = Type.String({ format: 'email', maxLength: 254 });
// Some visible character, and no control character (a NUL cannot be stored, a newline forges log lines and emails).
export const NameField = Type.String({ minLength: 1, maxLength: 100, pattern: '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001F\\u007F]*$' });
// The schema only stops absurd input early; the password policy (length after NFKC, common list) says why.
export const PasswordField = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });
export const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });

export const bearerAuth = [{ bearerAuth: [] }];
