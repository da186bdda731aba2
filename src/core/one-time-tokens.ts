import type { Db } from '../db/client.js';
import * as queries from '../db/queries/one-time-tokens.js';
import { addSeconds } from './clock.js';
import { deriveKey } from './secret-box.js';
import { generateCode, generateDigits, generateOpaqueToken, hashToken, hmacToken } from './secrets.js';

/**
 * Hashed, expiring, single-use tokens of every kind, in one table told apart by type. Only the SHA-256
 * of a token is stored: the raw token exists in the issuer's memory and in whatever carries it to the
 * user (an email), so a copy of the database holds nothing usable. A token is consumed by one
 * `UPDATE ... RETURNING`, so it works once however many use it at the same moment, and only as the
 * type it was issued as.
 *
 * Token rows are written under their user's row lock: issuing (when superseding) and consuming take it
 * first, as any change of the user row does, so a transaction that consumes a token and then changes its
 * user cannot deadlock with one that issues a token to that user (the lock order of src/db/queries/sessions.ts).
 */

/**
 * Each type of token and the payload its rows carry. A new type is a line here; the table stays as it is.
 * The payload is stored in clear: what the type needs beside the user (the new address of an email
 * change), never a secret.
 */
export interface OneTimeTokenPayloads {
  /** A reset link; `invitation` for the first password of an account an admin created (src/auth/reset/operator.ts). */
  password_reset: { invitation: true } | null;
  /** A sign-in code (src/auth/sessions/signin-code-mail.ts): the client network that asked for it, the only one it works from. */
  signin_code: { network: string };
  /** A link that proves an address (src/auth/verification/): the address it proves, which must still be the user's. */
  email_verification: { email: string };
  /** The 6-digit code of the same email, for apps where a link is awkward; bound to the address too. */
  email_verification_code: { email: string };
  /** A link sent to the new address of an email change: the address becomes the user's when it is followed. */
  email_change: { email: string };
  /** The "this wasn't me" link sent to the old address of an email change: which change it undoes. */
  email_change_cancel: { old_email: string; new_email: string };
  /**
   * The second step of a sign-in whose password proved right, for an account with a second factor (src/auth/mfa/):
   * the credentials' stamp read with that password's hash, which must still be the user's.
   */
  mfa_signin: { credentials: string };
  /** A bearer token for the enrolment routes alone, for a user whose role must have a second factor and has none; the same stamp. */
  mfa_enrollment: { credentials: string };
  /**
   * An OAuth authorization code spent (src/auth/oauth/codes.ts: codes are sealed, not stored; this row, written by the
   * exchange, makes each work once): the client it was issued to, and the session its exchange opened.
   */
  oauth_code: { client_id: string; session_id: string };
}
export type OneTimeTokenType = keyof OneTimeTokenPayloads;

/** What to issue. `supersede` deletes the user's unused tokens of the type first: only the new one works. */
export type IssueTokenOptions<T extends OneTimeTokenType> = {
  type: T;
  userId: string;
  now: Date;
  ttlSeconds: number;
  supersede?: boolean;
} & (null extends OneTimeTokenPayloads[T] ? { payload?: OneTimeTokenPayloads[T] } : { payload: OneTimeTokenPayloads[T] });

export interface IssuedToken {
  /** The raw token: hand it to the user, never store or log it. */
  token: string;
  expiresAt: Date;
}

/** A usable (or just consumed) token: whose it is and what it carries. */
export interface OneTimeToken<T extends OneTimeTokenType> {
  userId: string;
  payload: OneTimeTokenPayloads[T];
  createdAt: Date;
  expiresAt: Date;
}

/** Issues a token of the type for the user, valid `ttlSeconds` from `now`; stores only its hash. */
export async function issueOneTimeToken<T extends OneTimeTokenType>(db: Db, opts: IssueTokenOptions<T>): Promise<IssuedToken> {
  const token = generateOpaqueToken();
  return { token, expiresAt: await storeToken(db, opts, hashToken(token)) };
}

async function storeToken<T extends OneTimeTokenType>(db: Db, opts: IssueTokenOptions<T>, tokenHash: string): Promise<Date> {
  const expiresAt = addSeconds(opts.now, opts.ttlSeconds);
  const row = { tokenHash, type: opts.type, userId: opts.userId, payload: opts.payload ?? null, createdAt: opts.now, expiresAt };
  if (!opts.supersede) {
    await queries.insertToken(db, row);
    return expiresAt;
  }
  // A savepoint when the caller is in a transaction already: the delete and the insert stand or fall together,
  // and the user's lock makes concurrent issuers take turns, so one unused token survives them.
  await db.transaction(async (tx) => {
    await queries.lockUser(tx, opts.userId);
    await queries.deleteUnusedTokens(tx, opts.userId, opts.type);
    await queries.insertToken(tx, row);
  });
  return expiresAt;
}

/*
 * Codes: short tokens a person reads in an email and types (`ABCD-EFGH`), rows of the same table. Eight
 * characters of CODE_ALPHABET are about 39 bits: too few for a SHA-256 (a copy of the table would give each
 * code away by trying them all), so a code is stored as an HMAC under a key derived from SECRET_KEY, which
 * the database never holds, over its type, its user and what it is bound to (the client network that asked
 * for it). It then works only for that user and from there, and guessing it online is stopped by the count
 * of wrong tries: `maxFailures` of them spend the user's live code of the type.
 */

export const CODE_LENGTH = 8;
/** Codes of digits only (an email verification code): six of them, as every app's number pad expects. */
export const DIGITS_LENGTH = 6;

/** The key codes are HMACed under, derived from SECRET_KEY for this purpose alone. */
export function oneTimeCodeKey(secret: string): Buffer {
  return deriveKey(secret, 'latchkey one-time codes v1');
}

/** A code as typed (any letter case, a hyphen or spaces between its halves) in the form it was issued in. */
export function normalizeCode(code: string): string {
  return code.replace(/[\s-]/g, '').toUpperCase();
}

/** A code as an email shows it: two halves of four. */
export function formatCode(code: string): string {
  return `${code.slice(0, CODE_LENGTH / 2)}-${code.slice(CODE_LENGTH / 2)}`;
}

const codeHash = (key: Uint8Array, type: string, userId: string, boundTo: string, code: string) =>
  hmacToken(key, [type, userId, boundTo, normalizeCode(code)].join('\n'));

/**
 * Issues a code of the type for the user, bound to `boundTo`; stores only its HMAC. `token` is the code: eight
 * characters of CODE_ALPHABET, or six digits with `digits`.
 */
export async function issueOneTimeCode<T extends OneTimeTokenType>(
  db: Db,
  key: Uint8Array,
  opts: IssueTokenOptions<T> & { boundTo: string; digits?: boolean },
): Promise<IssuedToken> {
  const code = opts.digits ? generateDigits(DIGITS_LENGTH) : generateCode(CODE_LENGTH);
  return { token: code, expiresAt: await storeToken(db, opts, codeHash(key, opts.type, opts.userId, opts.boundTo, code)) };
}

/**
 * Consumes the user's code if it is of this type, bound to `boundTo`, unused and unexpired, and returns it.
 * Otherwise counts a wrong try against the user's live code of the type (the one that reaches `maxFailures`
 * is spent) and returns undefined. It runs in a transaction of its own, under the user's lock: call it before
 * the transaction that acts on the code, not inside it, so that a wrong try stays counted (should that act
 * fail, the code is spent all the same).
 */
export async function consumeOneTimeCode<T extends OneTimeTokenType>(
  db: Db,
  key: Uint8Array,
  opts: { type: T; userId: string; boundTo: string; code: string; now: Date; maxFailures: number },
): Promise<OneTimeToken<T> | undefined> {
  const tokenHash = codeHash(key, opts.type, opts.userId, opts.boundTo, opts.code);
  return db.transaction(async (tx) => {
    await queries.lockUser(tx, opts.userId);
    const consumed = await queries.markTokenUsed(tx, opts.type, tokenHash, opts.now);
    if (!consumed) await queries.countFailedAttempt(tx, opts.userId, opts.type, opts.now, opts.maxFailures);
    return consumed as OneTimeToken<T> | undefined;
  });
}

/** The token if it is of this type, unused and unexpired, without consuming it (a page that shows a form first). */
export async function findUsableToken<T extends OneTimeTokenType>(db: Db, type: T, token: string, now: Date): Promise<OneTimeToken<T> | undefined> {
  return (await queries.selectLiveToken(db, type, hashToken(token), now)) as OneTimeToken<T> | undefined;
}

/**
 * Consumes the token if it is of this type, unused and unexpired, and returns it; undefined otherwise.
 * Call it in the transaction that acts on the token: should that fail, the token is usable again.
 */
export async function consumeOneTimeToken<T extends OneTimeTokenType>(db: Db, type: T, token: string, now: Date): Promise<OneTimeToken<T> | undefined> {
  const tokenHash = hashToken(token);
  await queries.lockTokenOwner(db, type, tokenHash);
  return (await queries.markTokenUsed(db, type, tokenHash, now)) as OneTimeToken<T> | undefined;
}

/** A token of the type that was spent already (a second use of a single-use code), or undefined. */
export async function findSpentToken<T extends OneTimeTokenType>(db: Db, type: T, token: string): Promise<OneTimeToken<T> | undefined> {
  return (await queries.selectSpentToken(db, type, hashToken(token))) as OneTimeToken<T> | undefined;
}

/**
 * Counts a wrong try against the user's live tokens of the type (a wrong code sent with a sign-in's MFA token):
 * the one that reaches `maxFailures` is spent.
 */
export async function countWrongTry(db: Db, userId: string, type: OneTimeTokenType, now: Date, maxFailures: number): Promise<void> {
  await queries.countFailedAttempt(db, userId, type, now, maxFailures);
}

/** Spends every unused token of the user, of the types given or (without `types`) of all; returns how many. */
export async function revokeUserTokens(db: Db, userId: string, now: Date, types?: OneTimeTokenType | readonly OneTimeTokenType[]): Promise<number> {
  return queries.markUserTokensUsed(db, userId, now, typeof types === 'string' ? [types] : types);
}
