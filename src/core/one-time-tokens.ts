import type { Db } from '../db/client.js';
import * as queries from '../db/queries/one-time-tokens.js';
import { addSeconds } from './clock.js';
import { generateOpaqueToken, hashToken } from './secrets.js';

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
  password_reset: null;
}
export type OneTimeTokenType = keyof OneTimeTokenPayloads;

/** What to issue. `supersede` deletes the user's unused tokens of the type first: only the new one works. */
export type IssueTokenOptions<T extends OneTimeTokenType> = {
  type: T;
  userId: string;
  now: Date;
  ttlSeconds: number;
  supersede?: boolean;
} & (OneTimeTokenPayloads[T] extends null ? { payload?: null } : { payload: OneTimeTokenPayloads[T] });

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
  const expiresAt = addSeconds(opts.now, opts.ttlSeconds);
  const row = { tokenHash: hashToken(token), type: opts.type, userId: opts.userId, payload: opts.payload ?? null, createdAt: opts.now, expiresAt };
  if (!opts.supersede) {
    await queries.insertToken(db, row);
    return { token, expiresAt };
  }
  // A savepoint when the caller is in a transaction already: the delete and the insert stand or fall together,
  // and the user's lock makes concurrent issuers take turns, so one unused token survives them.
  await db.transaction(async (tx) => {
    await queries.lockUser(tx, opts.userId);
    await queries.deleteUnusedTokens(tx, opts.userId, opts.type);
    await queries.insertToken(tx, row);
  });
  return { token, expiresAt };
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

/** Spends every unused token of the user, of one type or (without `type`) of all; returns how many. */
export async function revokeUserTokens(db: Db, userId: string, now: Date, type?: OneTimeTokenType): Promise<number> {
  return queries.markUserTokensUsed(db, userId, now, type);
}
