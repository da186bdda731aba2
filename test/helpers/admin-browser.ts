import type { LightMyRequestResponse } from 'fastify';
import { sealBrowserSession } from '../../src/auth/browser-sessions/browser-sessions.js';
import { createSession } from '../../src/auth/sessions/sessions.js';
import { findUserById } from '../../src/auth/users/users.js';
import { createUserByOperator } from '../../src/auth/users/user-admin.js';
import { GOOD_PASSWORD, uniqueEmail, type TestApp } from './app.js';

/**
 * A browser of the hosted pages and of the console (`/admin`), driven through inject: a cookie jar, GETs, and form
 * posts from this origin. `signInBrowser` opens a session the way a sign-in does (the domain's createSession, with
 * the `amr` asked for) and gives the browser its cookie, so that a test of a page need not go through /login and
 * /login/mfa first; `adminBrowser` does so for a new admin at `aal2`, as the console requires.
 *
 *   const admin = await adminBrowser(t);
 *   const page = await admin.get('/admin/keys');
 *   const res = await admin.post('/admin/keys/rotate', { csrf: csrfOf(page.body) });
 */

const FORM = 'application/x-www-form-urlencoded';
/** How a session opened with an authenticator app is described (aal2). */
export const MFA_AMR: readonly string[] = ['pwd', 'otp', 'mfa'];
/** A password alone (aal1). */
export const PASSWORD_ONLY_AMR: readonly string[] = ['pwd'];

/** The form token of the first form of a page. */
export const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';

export class Browser {
  readonly jar = new Map<string, string>();
  /** Every answer it got, in order (to look for what must never be in one). */
  readonly answers: LightMyRequestResponse[] = [];
  /** The origin of this server's pages (PUBLIC_URL's), sent with every form post unless told otherwise. */
  readonly origin: string;

  constructor(readonly t: TestApp) {
    this.origin = new URL(t.deps.config.publicUrl).origin;
  }

  /** The name of the cookie that holds the browser's session (`__Host-` prefixed over https). */
  get sessionCookie(): string {
    return this.t.deps.config.publicUrl.startsWith('https:') ? '__Host-latchkey_session' : 'latchkey_session';
  }

  get cookie(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private take(res: LightMyRequestResponse) {
    this.answers.push(res);
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() <= Date.now())) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return res;
  }

  async get(url: string) {
    return this.take(await this.t.inject({ method: 'GET', url, headers: this.jar.size ? { cookie: this.cookie } : {} }));
  }

  /** A form post; from this origin unless `headers` says otherwise (`{}` sends no Origin at all). */
  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = { origin: this.origin }) {
    const payload = new URLSearchParams(fields).toString();
    return this.take(
      await this.t.inject({ method: 'POST', url, payload, headers: { 'content-type': FORM, ...(this.jar.size ? { cookie: this.cookie } : {}), ...headers } }),
    );
  }
}

export interface SignedInBrowser extends Browser {
  user: { id: string; email: string; password: string };
  sessionId: string;
}

/** A browser signed in as `userId` with a new session opened by `amr` (MFA_AMR: aal2 by default). */
export async function signInBrowser(t: TestApp, userId: string, password: string, amr: readonly string[] = MFA_AMR): Promise<SignedInBrowser> {
  const user = await findUserById(t.deps.db, userId);
  if (!user) throw new Error(`no user ${userId}`);
  const tokens = await createSession(t.deps, user, { userAgent: 'test browser' }, undefined, amr);
  if (!tokens) throw new Error('the session did not open');
  const browser = new Browser(t) as SignedInBrowser;
  browser.jar.set(browser.sessionCookie, sealBrowserSession(t.deps.pageKey, { sessionId: tokens.sessionId, userId }));
  browser.user = { id: user.id, email: user.email, password };
  browser.sessionId = tokens.sessionId;
  return browser;
}

/**
 * A browser signed in as a new user, made by the operator's own function (verified); `admin` (default true) gives
 * it the role admin, `amr` (default MFA_AMR) how its session was opened.
 */
export async function adminBrowser(t: TestApp, opts: { admin?: boolean; amr?: readonly string[]; email?: string } = {}): Promise<SignedInBrowser> {
  const created = await createUserByOperator(
    t.deps,
    { email: opts.email ?? uniqueEmail('admin'), name: 'Test Admin', password: GOOD_PASSWORD, admin: opts.admin ?? true, verified: true },
    'test',
  );
  return signInBrowser(t, created.id, GOOD_PASSWORD, opts.amr ?? MFA_AMR);
}
