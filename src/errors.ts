/**
 * Every error a client can receive: a stable snake_case code, its HTTP status and the public message.
 * Clients match on `error`; `message` is for humans and may change.
 */
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid.' },
  malformed_json: { status: 400, message: 'The request body is not valid JSON.' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  uri_too_long: { status: 414, message: 'The request path is too long.' },
  not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  expectation_failed: { status: 417, message: 'The Expect header is not supported.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },

  password_too_short: { status: 422, message: 'The password is too short.' },
  password_too_long: { status: 422, message: 'The password is too long.' },
  password_too_common: { status: 422, message: 'This password is too common; choose one that is harder to guess.' },
  passwords_do_not_match: { status: 422, message: 'The two passwords do not match.' },
  email_taken: { status: 409, message: 'An account with this email already exists.' },

  too_many_requests: { status: 429, message: 'Too many requests from this address; try again later.' },
  // The same for every attempt a lock refuses, right password or not (src/auth/sessions/sign-in.ts).
  too_many_attempts: {
    status: 429,
    message:
      'Too many sign-in attempts for this account; try again later, or reset the password. If this was you with the right password, a sign-in code has been emailed to you: send it as "code" with your email and password.',
  },
  password_breached: {
    status: 422,
    message: 'This password has appeared in a data breach; choose another one.',
  },

  invalid_credentials: { status: 401, message: 'Invalid email or password.' },
  missing_token: { status: 401, message: 'An access token is required: send "Authorization: Bearer <token>".' },
  invalid_token: { status: 401, message: 'The access token is invalid.' },
  token_expired: { status: 401, message: 'The access token has expired.' },
  session_revoked: { status: 401, message: 'This session has ended; sign in again.' },
  missing_refresh_token: { status: 401, message: 'A refresh token is required.' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is invalid or has expired.' },
  refresh_token_reused: {
    status: 401,
    message: 'This refresh token was already used; the session has been revoked. Sign in again.',
  },
  invalid_reset_token: { status: 400, message: 'The reset link is invalid, used or expired; request a new one.' },
  invalid_verification_token: {
    status: 400,
    message: 'The verification link or code is invalid, used, superseded or expired; request a new one.',
  },
  // Only ever answered after the right password, as account_disabled (src/auth/sessions/sign-in.ts).
  email_not_verified: {
    status: 403,
    message: 'This email address is not verified yet; a new verification link has been sent to it.',
  },
  // Only ever answered after the right password: a guesser learns nothing from it (src/auth/sessions/sign-in.ts).
  account_disabled: { status: 403, message: 'This account has been disabled; contact the administrator.' },
  // Only ever answered after the right password (src/auth/mfa/second-step.ts): the answer carries `mfa_token` and `methods`.
  mfa_required: {
    status: 403,
    message: 'This account has a second factor: send the mfa_token with a code from its authenticator app, a recovery code or a passkey to POST /api/signin/mfa.',
  },
  // Only ever answered after the right password: the answer carries `enrollment_token`.
  mfa_enrollment_required: {
    status: 403,
    message:
      'This account must have a second factor before it signs in: with the enrollment_token as its bearer token, set up an authenticator app (POST /api/me/mfa/totp) or a passkey (POST /api/me/passkeys/options), then sign in again.',
  },
  // The hosted pages' script asks for JSON with the page's form token (src/http/pages/passkey-pages.ts).
  form_refused: { status: 403, message: "The form was not sent from this site's own page, or it expired: reload the page." },
  not_signed_in: { status: 401, message: 'This browser is not signed in: sign in again.' },
  invalid_mfa_token: { status: 401, message: 'The MFA token is invalid, used or expired; sign in again.' },
  invalid_mfa_code: { status: 401, message: 'The code is wrong, already used or missing.' },
  mfa_already_enabled: { status: 409, message: 'An authenticator app is already set up for this account; remove it first.' },
  mfa_not_enrolled: { status: 409, message: 'No authenticator app is waiting for confirmation: start with POST /api/me/mfa/totp.' },
  invalid_passkey: { status: 401, message: 'The passkey could not be verified: its challenge is unknown, used or expired, or the answer does not check out.' },
  invalid_passkey_registration: { status: 400, message: 'The new passkey could not be verified: its challenge is unknown, used or expired, or the answer does not check out.' },
  passkey_already_registered: { status: 409, message: 'This passkey is registered already.' },
  passkey_not_found: { status: 404, message: 'The account has no passkey with this id.' },
  user_not_found: { status: 404, message: 'No user has this email or id.' },
  session_not_found: { status: 404, message: 'No live session has this id.' },

  // Service clients (other services calling Latchkey with HTTP Basic: client id and secret).
  invalid_client: {
    status: 401,
    message: 'Client authentication failed: send "Authorization: Basic" with a service client\'s id and secret.',
  },
  insufficient_scope: { status: 403, message: 'This service client lacks the scope this needs.' },
  service_client_not_found: { status: 404, message: 'No service client has this name or client id.' },
  service_client_exists: { status: 409, message: 'A service client with this name already exists.' },
  // OAuth 2 and OpenID Connect (src/auth/oauth/): the token endpoint's errors, as RFC 6749 §5.2 names them.
  invalid_grant: { status: 400, message: 'The authorization code or refresh token is invalid, used, expired or not this client\'s.' },
  unauthorized_client: { status: 400, message: 'This client may not use this grant type.' },
  unsupported_grant_type: { status: 400, message: 'The grant type is not supported.' },
  invalid_scope: { status: 400, message: 'The scope is invalid or unknown.' },
  oauth_client_not_found: { status: 404, message: 'No OAuth client has this name or client id.' },
  oauth_client_exists: { status: 409, message: 'An OAuth client with this name already exists.' },
  consent_not_found: { status: 404, message: 'This account has given no consent to this client.' },
  webhook_not_found: { status: 404, message: 'No webhook endpoint has this id.' },
  webhook_delivery_not_found: { status: 404, message: 'No dead webhook delivery has this id.' },
  key_not_found: { status: 404, message: 'No stored signing key has this kid.' },
  // Sign-in through an upstream provider (src/auth/upstream/).
  upstream_provider_not_found: { status: 404, message: 'No sign-in provider has this name.' },
  upstream_provider_exists: { status: 409, message: 'A sign-in provider with this name already exists.' },
  upstream_unavailable: { status: 502, message: 'The sign-in provider could not be reached; try again later.' },
  upstream_flow_invalid: {
    status: 400,
    message: 'This sign-in with the provider expired, was already used, or was started in another browser: start again.',
  },
  upstream_signin_failed: { status: 401, message: "The sign-in provider refused, or its answer could not be verified: start again." },
  // Only after the provider proved the identity: the address has an account this identity may not join by itself.
  upstream_account_exists: {
    status: 409,
    message: 'An account with this email already exists: sign in to it, then link this provider from your account page.',
  },
  upstream_email_required: { status: 403, message: 'The sign-in provider did not give an email address, which an account needs.' },
  identity_linked_elsewhere: { status: 409, message: 'This account at the provider is already linked to another account.' },
  identity_not_found: { status: 404, message: 'The account has no linked identity with this provider and subject.' },
  last_sign_in_method: {
    status: 409,
    message: 'This is the last way this account can sign in: set a password (a reset link) or add a passkey before unlinking it.',
  },
  invalid_exchange_code: { status: 400, message: 'The sign-in code is invalid, used or expired, or the code_verifier does not match: start again.' },
  too_many_streams: { status: 429, message: 'Too many revocation streams are open; close one, or try again later.' },

  database_unavailable: { status: 503, message: 'The service is temporarily unavailable; try again shortly.' },
  server_busy: { status: 503, message: 'The server is busy checking passwords; try again in a moment.' },
  internal_error: { status: 500, message: 'An unexpected error occurred.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetail {
  field: string;
  message: string;
}

export interface AppErrorOptions {
  /** The public message, instead of the code's. */
  message?: string;
  details?: ErrorDetail[];
  /** What went wrong inside: logged with the answer, never sent to the client. */
  cause?: unknown;
  /** What the answer's body carries besides `error` and `message` (the `mfa_token` of `mfa_required`). */
  fields?: Record<string, unknown>;
}

/** A failure the client is told about: the code picks the status and public message. */
export class AppError extends Error {
  readonly status: number;
  readonly details?: ErrorDetail[];
  /** Seconds the client should wait before trying again (sent as Retry-After). */
  retryAfter?: number;
  /** Headers the answer carries besides the body (WWW-Authenticate of a 401 invalid_client). */
  headers?: Record<string, string>;
  readonly fields?: Record<string, unknown>;

  constructor(code: ErrorCode, options?: AppErrorOptions);
  constructor(code: ErrorCode, message?: string, details?: ErrorDetail[]);
  constructor(
    readonly code: ErrorCode,
    messageOrOptions?: string | AppErrorOptions,
    details?: ErrorDetail[],
  ) {
    const options = typeof messageOrOptions === 'object' ? messageOrOptions : { message: messageOrOptions, details };
    super(options.message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = ERRORS[code].status;
    if (options.details) this.details = options.details;
    if (options.fields) this.fields = options.fields;
  }
}

/** A 429 telling the client how long to wait. */
export function throttled(code: 'too_many_requests' | 'too_many_attempts', retryAfterMs: number): AppError {
  const err = new AppError(code);
  err.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return err;
}
