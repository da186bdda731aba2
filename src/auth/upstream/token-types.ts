/**
 * The one-time token types of upstream sign-in, as lines of OneTimeTokenPayloads (src/core/one-time-tokens.ts) added
 * by declaration merging: the table and its code stay as they are.
 */
declare module '../../core/one-time-tokens.js' {
  interface OneTimeTokenPayloads {
    /**
     * The code an app gets at its `redirect_to` after an upstream sign-in, exchanged once for the session's tokens
     * (POST /api/signin/<provider>/exchange): the provider, the app's PKCE challenge it must answer, and the
     * credentials' stamp read when the user was identified.
     */
    upstream_signin: { provider: string; challenge: string; credentials: string };
    /** The second step of an upstream sign-in for an account with a second factor (src/auth/mfa/second-step.ts): as `mfa_signin`, with the provider. */
    mfa_signin_upstream: { provider: string; credentials: string };
  }
}
export {};
