import { replaceBetween } from '../src/config/docs.js';
import { ERRORS, type ErrorCode } from '../src/errors.js';

// The error table of docs/api.md, written from the catalogue in src/errors.ts: every code with its status and
// public message, grouped by status. `npm run docs` (or `docs:errors`) rewrites it; test/docs.test.ts fails
// while it differs. The catalogue says what a client is told; where it is answered, and with which headers,
// is said here, beside the one table that shows it.

export const ERRORS_START = '<!-- errors:start -->';
export const ERRORS_END = '<!-- errors:end -->';

const BEARER = 'with `WWW-Authenticate: Bearer realm="latchkey"`, plus `error="invalid_token"` and `error_description` (RFC 6750, as `@latchkey/verify` answers)';
const NODE_PARSER = "refused by Node's HTTP parser, with the same body as every other error";

/** Where each code is answered, when the code's name does not say it; codes without a note need none. */
export const ERROR_NOTES: Partial<Record<ErrorCode, string>> = {
  invalid_request: 'with `details`: `[{field, message}]`, every problem of the request; also a request Node\'s HTTP parser refuses',
  malformed_json: 'a body labelled `application/json` that is empty or not JSON',
  unsupported_media_type: 'a body of another type (the reset page takes its HTML form too)',
  uri_too_long: 'a path parameter over its length limit',
  invalid_reset_token: 'the reset link is unknown, used, expired, or another link of the user was used',
  invalid_credentials: 'unknown email or wrong password: the same answer after the same argon2 work',
  missing_token: 'with `WWW-Authenticate: Bearer realm="latchkey"`',
  invalid_token: BEARER,
  token_expired: BEARER,
  session_revoked: `${BEARER}; the session ended (logout, reset, reuse) or the token is older than the user's not-before; also \`POST /api/logout\` with \`scope=others\` or \`global\` from a session ended meanwhile`,
  missing_refresh_token: 'neither `Authorization: Bearer` nor a `refresh_token` in the body',
  invalid_refresh_token: 'unknown or expired, or its session has ended (logout, reset, disabled account, `SESSION_MAX_AGE`)',
  refresh_token_reused: 'a spent refresh token outside its retry window (`REFRESH_REUSE_INTERVAL`): the session is revoked',
  invalid_client: 'a service client\'s missing, malformed, unknown, removed or rotated-away HTTP Basic credentials; with `WWW-Authenticate: Basic realm="latchkey"`',
  account_disabled: 'a disabled account, told only after the right password: a guesser learns nothing',
  insufficient_scope: 'a service client without the scope the route needs',
  not_found: 'no route for this method and path',
  user_not_found: 'admin API, command line',
  session_not_found: 'command line (`sessions revoke <session id>`): no session has this id, or it has already ended; `DELETE /api/me/sessions/:id`: the id is not one of the caller\'s live sessions (another user\'s, unknown, malformed or ended alike)',
  service_client_not_found: 'command line',
  upstream_flow_invalid: 'the callback of an upstream sign-in: no flow cookie, another browser\'s, expired (10 minutes), another state, or a state already used',
  upstream_signin_failed: 'the callback of an upstream sign-in: the provider answered an error, or its code, ID token (signature, issuer, audience, nonce, expiry) or user did not check out',
  upstream_account_exists: 'an upstream identity whose address has an account it may not join: the provider did not verify the address, or the account did not',
  upstream_unavailable: "the provider's discovery document could not be fetched when a sign-in started",
  invalid_exchange_code: '`POST /api/signin/<provider>/exchange`: unknown, used or expired (2 minutes), for another provider, or the `code_verifier` does not match (which spends the code)',
  last_sign_in_method: 'unlinking the only identity of an account with no password and no passkey',
  webhook_not_found: 'admin API, command line',
  webhook_delivery_not_found: 'admin API replay, command line: no delivery with this id, or it is not dead',
  key_not_found: 'admin API, command line (`keys revoke`): no stored key has this kid (a key is deleted once its last token has expired)',
  method_not_allowed: 'kept in the catalogue; the API answers a method a path does not serve with `404 not_found`',
  request_timeout: `not whole within \`REQUEST_TIMEOUT\`, or its headers within \`HEADERS_TIMEOUT\`; ${NODE_PARSER}`,
  expectation_failed: NODE_PARSER,
  headers_too_large: NODE_PARSER,
  payload_too_large: 'over `BODY_LIMIT`',
  email_taken: 'in any letter case',
  service_client_exists: 'command line',
  password_too_short: 'under `PASSWORD_MIN_LENGTH` characters after NFKC normalisation',
  password_too_long: 'over 256 characters after NFKC normalisation',
  password_too_common: 'on the list of about 49,000 common passwords (`PASSWORD_CHECK_COMMON`)',
  password_breached: 'in the Pwned Passwords range API, when `HIBP_URL` is set',
  passwords_do_not_match: 'the reset page\'s two fields',
  too_many_requests: 'this client network, or this account key (email, reset token); with `Retry-After`',
  too_many_attempts: 'the account\'s sign-in lock (`LOCKOUT_THRESHOLD`); with `Retry-After`. The same for every attempt the lock refuses, whatever its password, and for a wrong, used or expired sign-in `code` (see [Security](security.md))',
  too_many_streams: 'revocation feed: 10 streams per client and process, or half of `MAX_CONNECTIONS` in all; with `Retry-After`',
  internal_error: 'with `request_id`, the request\'s id in the server\'s log; nothing of the failure itself',
  database_unavailable: 'the database refused the connection or did not answer within 5 s, or a deadlock: try again; with `request_id`',
  server_busy: "the password-hashing queue is full, or the global sign-in or sign-up budget, or the client network's share of it, is spent; with `Retry-After`",
};

/** A message as text in a Markdown table cell: `<token>` stays visible, a `|` ends no cell. */
const plain = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('|', '\\|');

/** The Markdown table (header included) that goes between the markers of docs/api.md. */
export function renderErrorTable(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  // Grouped by status, in the catalogue's order within a status.
  const ordered = codes.map((code, at) => ({ code, at })).sort((a, b) => ERRORS[a.code].status - ERRORS[b.code].status || a.at - b.at);
  const rows = ordered.map(({ code }) => `| ${ERRORS[code].status} | \`${code}\` | ${plain(ERRORS[code].message)} | ${ERROR_NOTES[code] ?? ''} |`);
  return ['| status | error | message | when |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** `doc` (docs/api.md) with the generated table between its markers. */
export function replaceErrorTable(doc: string): string {
  return replaceBetween(doc, { start: ERRORS_START, end: ERRORS_END }, renderErrorTable(), 'docs/api.md');
}
