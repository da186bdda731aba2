import { expect } from 'vitest';
import { SoftwareAuthenticator } from './authenticator.js';
import { bearer, PUBLIC_URL, signIn, signUp, type SignedUp, type TestApp } from './app.js';

/** A user signed in with the password (`token`, aal1) who then registered a passkey of `authenticator`. */
export interface WithPasskey extends SignedUp {
  token: string;
  authenticator: SoftwareAuthenticator;
  passkeyId: string;
  recoveryCodes: string[];
}

/** Creation options for the signed-in user, asked with the password (and `extra`, a second factor); the answer. */
export async function creationOptions(t: TestApp, user: SignedUp, token: string, extra: Record<string, unknown> = {}) {
  const res = await t.inject({ method: 'POST', url: '/api/me/passkeys/options', payload: { password: user.password, ...extra }, headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** A new user, signed in with the password, who registered a passkey of `authenticator` named "Laptop". */
export async function withPasskey(t: TestApp, authenticator = new SoftwareAuthenticator(PUBLIC_URL)): Promise<WithPasskey> {
  const user = await signUp(t);
  const { access_token: token } = await signIn(t, user.email);
  const response = authenticator.create(await creationOptions(t, user, token));
  const registered = await t.inject({ method: 'POST', url: '/api/me/passkeys', payload: { response, name: 'Laptop' }, headers: bearer(token) });
  expect(registered.statusCode, registered.body).toBe(201);
  return { ...user, token, authenticator, passkeyId: registered.json().passkey.id, recoveryCodes: registered.json().recovery_codes };
}
