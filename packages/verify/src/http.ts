import { LatchkeyVerifyError } from './errors.js';
import type { LatchkeyClaims, Verifier } from './verifier.js';

export interface AuthenticateOptions {
  verifier: Verifier;
  /** Whether a request without a token is refused (401 `missing_token`); default true. Without, `latchkey` is null. */
  required?: boolean;
  /** The realm of the WWW-Authenticate challenge; default `latchkey`. */
  realm?: string;
  /**
   * The assurance level every request must have been signed in at. With `'aal2'`, a token of a password alone
   * (`aal1`, or a token without `aal`) is refused 401 `insufficient_user_authentication`, with the RFC 9470
   * challenge that tells the client to step up (a second factor); a request without a token is refused even when
   * `required` is false. Default: any.
   */
  requireAal?: AssuranceLevel;
}

/** An assurance level, as Latchkey's access tokens carry it (`aal`). */
export type AssuranceLevel = 'aal1' | 'aal2';
const LEVELS: Record<AssuranceLevel, number> = { aal1: 1, aal2: 2 };

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: { error: string; message: string };
}

const MISSING_TOKEN = 'An access token is required: send "Authorization: Bearer <token>".';
const INSUFFICIENT = 'This needs a stronger sign-in: sign in again, or step up, with a second factor.';

/** Whether the claims were signed in at `level` or above (a token without `aal` is `aal1`). */
export function meetsAal(claims: LatchkeyClaims, level: AssuranceLevel | undefined): boolean {
  if (!level) return true;
  const aal = claims.aal === 'aal2' ? 'aal2' : 'aal1';
  return LEVELS[aal] >= LEVELS[level];
}

/** The answer to a token signed in at too low a level: 401 insufficient_user_authentication, as RFC 9470 words it. */
export function insufficientAnswer(realm: string, level: AssuranceLevel): ErrorAnswer {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'www-authenticate': `Bearer realm="${realm}", error="insufficient_user_authentication", error_description="${level} is required"`,
  };
  return { status: 401, headers, body: { error: 'insufficient_user_authentication', message: INSUFFICIENT } };
}

/** The bearer token of an Authorization header, read as Latchkey reads it; never from the query string. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer[ ]+(\S+)\s*$/i.exec(header)?.[1];
}

/** Latchkey's error body (`{error, message}`), with an RFC 6750 challenge on 401. */
export function errorAnswer(err: LatchkeyVerifyError | 'missing_token', realm: string): ErrorAnswer {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (err === 'missing_token') {
    headers['www-authenticate'] = `Bearer realm="${realm}"`;
    return { status: 401, headers, body: { error: 'missing_token', message: MISSING_TOKEN } };
  }
  if (err.status === 401) {
    headers['www-authenticate'] = `Bearer realm="${realm}", error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`;
  } else {
    headers['retry-after'] = '5';
  }
  return { status: err.status, headers, body: { error: err.code, message: err.message } };
}

/**
 * The answer to a request whose claims (null: no token) fall short of `level`: 401 missing_token, or 401
 * insufficient_user_authentication with the RFC 9470 challenge; undefined when they meet it.
 */
export function aalRefusal(claims: LatchkeyClaims | null | undefined, level: AssuranceLevel, realm: string): ErrorAnswer | undefined {
  if (!claims) return errorAnswer('missing_token', realm);
  return meetsAal(claims, level) ? undefined : insufficientAnswer(realm, level);
}

/**
 * What a request's Authorization header comes to: its claims, null (no token, not required), or the
 * answer to send. Errors other than a LatchkeyVerifyError are thrown.
 */
export async function authenticateHeader(
  header: string | undefined,
  options: AuthenticateOptions,
): Promise<{ claims: LatchkeyClaims | null } | { answer: ErrorAnswer }> {
  const realm = options.realm ?? 'latchkey';
  const token = bearerToken(header);
  if (!token) {
    if (header) return { answer: errorAnswer(new LatchkeyVerifyError('invalid_token'), realm) };
    if ((options.required ?? true) || options.requireAal) return { answer: errorAnswer('missing_token', realm) };
    return { claims: null };
  }
  try {
    const claims = await options.verifier.verify(token);
    const refusal = options.requireAal && aalRefusal(claims, options.requireAal, realm);
    return refusal ? { answer: refusal } : { claims };
  } catch (err) {
    if (err instanceof LatchkeyVerifyError) return { answer: errorAnswer(err, realm) };
    throw err;
  }
}
