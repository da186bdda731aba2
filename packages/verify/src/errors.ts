/**
 * Why a token was refused, with Latchkey's own codes (the server answers 401 with the same three), plus
 * the two a verifier adds: it could not load the keys, or it cannot vouch for revocations right now.
 */
export type LatchkeyVerifyErrorCode = 'invalid_token' | 'token_expired' | 'session_revoked' | 'revocation_feed_stale' | 'jwks_unavailable';

const MESSAGES: Record<LatchkeyVerifyErrorCode, string> = {
  // The first three are Latchkey's messages (its src/errors.ts), word for word.
  invalid_token: 'The access token is invalid.',
  token_expired: 'The access token has expired.',
  session_revoked: 'This session has ended; sign in again.',
  revocation_feed_stale:
    'The revocation feed has been silent for too long, so a revoked session could not be told apart; the token is refused (fail closed).',
  jwks_unavailable: "Latchkey's public keys could not be fetched; the token could not be checked.",
};

/** The HTTP status the plugin and middleware answer with: 401 for the token's fault, 503 for ours. */
const STATUS: Record<LatchkeyVerifyErrorCode, number> = {
  invalid_token: 401,
  token_expired: 401,
  session_revoked: 401,
  revocation_feed_stale: 503,
  jwks_unavailable: 503,
};

export class LatchkeyVerifyError extends Error {
  readonly status: number;

  constructor(
    readonly code: LatchkeyVerifyErrorCode,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? MESSAGES[code], options);
    this.name = 'LatchkeyVerifyError';
    this.status = STATUS[code];
  }
}

/** The revocation feed refused this client (401 `invalid_client`, 403 `insufficient_scope`) or answered something else. */
export class LatchkeyFeedError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status: number | undefined,
    /** The server's error code (`error` of its JSON body), when it gave one. */
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'LatchkeyFeedError';
  }
}

export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** The default logger: console.warn and console.error, prefixed. */
export const consoleLogger: Logger = {
  warn: (message, details) => console.warn(`[@latchkey/verify] ${message}`, ...(details ? [details] : [])),
  error: (message, details) => console.error(`[@latchkey/verify] ${message}`, ...(details ? [details] : [])),
};
