import { Type, type TUnsafe } from 'typebox';
import { PASSWORD_MAX_LENGTH } from '../config.js';

/** Input fields that the HTTP routes and the command line's operations check alike. */

export const EmailField = Type.String({ format: 'email', maxLength: 254 });
// Some visible character, and no control character (a NUL cannot be stored, a newline forges log lines and emails).
export const NameField = Type.String({ minLength: 1, maxLength: 100, pattern: '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001F\\u007F]*$' });
// The schema only stops absurd input early; the password policy (length after NFKC, common list) says why.
export const PasswordField = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });

/** One of a closed list of strings. */
export function oneOf<const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), options));
}
