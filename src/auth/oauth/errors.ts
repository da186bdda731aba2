import { AppError, type ErrorCode } from '../../errors.js';

/** The OAuth errors of the token, revocation and introspection endpoints (RFC 6749 §5.2), in the body's `error`. */
export type OAuthErrorCode = Extract<ErrorCode, 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope'>;

/**
 * An OAuth error: the answer carries `error` and `error_description` (what OAuth clients read) besides `message`.
 * `invalid_client` carries `WWW-Authenticate: Basic`, as RFC 6749 asks of a 401.
 */
export function oauthError(code: OAuthErrorCode, description: string): AppError {
  const err = new AppError(code, { message: description, fields: { error_description: description } });
  if (code === 'invalid_client') err.headers = { 'www-authenticate': 'Basic realm="latchkey"' };
  return err;
}
