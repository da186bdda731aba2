import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.js';
import { accountPages } from './account-pages.js';
import { loginPages } from './login-pages.js';
import { FORM_TYPES, pageKit } from './page-kit.js';
import { sendError } from '../error-handler.js';
import { signupPages } from './signup-pages.js';
import { mfaPages } from './mfa-pages.js';
import { credentialPages } from './credentials-pages.js';
import { SCRIPT, SCRIPT_PATH } from './script.js';
import { siteOf } from './site.js';
import { passkeyPages } from './passkey-pages.js';
import { adminPages } from './admin/admin-pages.js';
import { enrolmentPages } from './enrolment-pages.js';
import { resendPages } from './resend-pages.js';
import { oauthPages } from './oauth-pages.js';
import { oauthLogoutPages } from './oauth-logout-pages.js';
import { upstreamPages } from './upstream-pages.js';

/**
 * Latchkey's own pages for people: sign in (./login-pages.ts, and with a passkey: ./passkey-pages.ts; the second factor
 * a role must have, set up on the way in: ./enrolment-pages.ts; the verification link sent again: ./resend-pages.ts), the account page and signing out
 * (./account-pages.ts), creating an account and asking for a reset link (./signup-pages.ts), two-step sign-in
 * with an authenticator app (./mfa-pages.ts), the address, the password, the account's data and its deletion
 * (./credentials-pages.ts). Plain HTML forms, one stylesheet (built at start-up with the brand's colour: ./site.ts), and
 * one script for passkeys and copying alone (./script.ts), under a strict CSP (./frame.ts), in the language the
 * browser asks for (./words.ts); a browser session of Latchkey's own, and forms checked as ./page-kit.ts says.
 */

const ONE_YEAR_S = 31_536_000;

export function hostedPages(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    // Form posts and cookies are read on these pages only; the JSON API keeps refusing forms with 415.
    await app.register(formbody, { bodyLimit: deps.config.bodyLimit });
    await app.register(cookie);
    // The pages' posts are forms, and only forms: a JSON or multipart body, which the app's parsers would read, is
    // refused before it is read (as the API refuses a form), whatever its token and origin.
    app.addHook('onRequest', (request, reply, done) => {
      if (request.method !== 'POST') return done();
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (FORM_TYPES.includes(type)) return done();
      sendError(reply, 'unsupported_media_type', `Content-Type must be ${FORM_TYPES.join(' or ')}.`);
    });
    const { stylesheet, notes } = siteOf(deps.config);
    for (const note of notes) deps.logger.warn(note);
    for (const [path, type, text] of [[stylesheet.path, 'text/css', stylesheet.text], [SCRIPT_PATH, 'text/javascript', SCRIPT]] as const) {
      app.get(path, { schema: { hide: true } }, async (_request, reply) =>
        reply.header('content-type', `${type}; charset=utf-8`).header('cache-control', `public, max-age=${ONE_YEAR_S}, immutable`).send(text),
      );
    }
    const kit = pageKit(deps);
    loginPages(app, kit);
    enrolmentPages(app, kit);
    resendPages(app, kit);
    accountPages(app, kit);
    signupPages(app, kit);
    mfaPages(app, kit);
    credentialPages(app, kit);
    passkeyPages(app, kit);
    adminPages(app, kit);
    oauthPages(app, kit);
    oauthLogoutPages(app, kit);
    upstreamPages(app, kit);
  };
}
