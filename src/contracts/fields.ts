import { Type, type TUnsafe } from 'typebox';
import { PASSWORD_MAX_LENGTH } from '../config.js';

/** Input fields that the HTTP routes and the command line's operations check alike. */

export const EmailField = Type.String({ format: 'email', maxLength: 254 });
// Some visible character, and no control character (a NUL cannot be stored, a newline forges log lines and emails).
// C1 controls too (U+0085 breaks lines, U+009B starts terminal sequences), and the bidi overrides and
// isolates (U+202A-U+202E, U+2066-U+2069) that make text read otherwise than it is stored.
export const NameField = Type.String({ minLength: 1, maxLength: 100, pattern: '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$' });
/** What a name must not contain (NameField's pattern, for checks outside a schema: imports). */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
export const UNSAFE_NAME_CHARACTERS = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/u;
// The schema only stops absurd input early; the password policy (length after NFKC, common list) says why.
export const PasswordField = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });
// Two halves of four characters of CODE_ALPHABET (src/core/secrets.ts), in any letter case, with or without the hyphen.
const CODE_CHARACTER = '[2-9A-HJKMNP-TV-Za-hjkmnp-tv-z]';
export const SigninCodeField = Type.String({
  pattern: `^${CODE_CHARACTER}{4}-?${CODE_CHARACTER}{4}$`,
  description: 'the sign-in code emailed during an account lock (`ABCD-EFGH`), sent with the same email and password',
});

// Six digits, as the verification email shows them; a space or a hyphen in the middle is forgiven.
export const VerificationCodeField = Type.String({ pattern: '^[0-9]{3}[ -]?[0-9]{3}$', description: 'the 6-digit code of the verification email' });
export const OneTimeTokenField = Type.String({ minLength: 1, maxLength: 512, description: 'the token at the end of the emailed link' });

/** One of a closed list of strings. */
export function oneOf<const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), options));
}

// Second factors (src/auth/mfa/): an authenticator app's six digits, or a recovery code (`ABCD-EFGH-JKLM`, any case).
export const MfaCodeField = Type.String({ pattern: '^[0-9]{3} ?[0-9]{3}$', description: 'the 6-digit code the authenticator app shows now' });
export const RecoveryCodeField = Type.String({
  pattern: '^([A-Za-z2-7]{4}[ -]?){2}[A-Za-z2-7]{4}$',
  description: 'one of the recovery codes shown when the authenticator app was set up (`ABCD-EFGH-JKLM`), each working once',
});
