import { Type } from 'typebox';
import { revokeConsent, type ConsentInfo } from '../../auth/oauth/consents.js';
import { AppError } from '../../errors.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { clientOf } from '../client.js';
import { redirectResponse } from './frame.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, SIGN_IN_HERE, type PageApp, type PageKit, whenUtc } from './page-kit.js';

/**
 * The account page's "Apps with access": the third-party applications the user allowed on the consent page, what each
 * may read and since when, and "Remove access", which withdraws the consent and signs the user out of that
 * application (src/auth/oauth/consents.ts).
 */

const tags = ['pages'];
/** The word in /account's query that says an application's access was removed. */
export const APP_REMOVED = 'removed';

const scopeWords = (t: PageMessages, scopes: readonly string[]) =>
  scopes.map((s) => (Object.hasOwn(t.oauth.scopes, s) ? t.oauth.scopes[s as keyof PageMessages['oauth']['scopes']] : s)).join('; ');

/** The section: each application with its scopes and when it was allowed, and a form to remove its access. */
export function appsSection(t: PageMessages, csrf: string, consents: readonly ConsentInfo[], notice?: string): Html {
  return html`<h2 id="apps">${t.oauth.appsTitle}</h2>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${consents.length === 0 ? html`<p class="hint">${t.oauth.appsNone}</p>` : html`<ul class="sessions">
${consents.map(
  (c, i) => html`<li><strong id="app-${i}">${c.name}</strong> <span class="hint">· ${whenUtc(c.granted_at)}</span><br>
<span class="hint">${t.oauth.appsAllowed(scopeWords(t, c.scopes))}</span>
<form method="post" action="/account/apps/remove" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="client_id" value="${c.client_id}"><button type="submit" class="secondary" aria-describedby="app-${i}">${t.oauth.remove}</button></form></li>`,
)}
</ul>`}`;
}

/** Removing an application's access from the account page. */
export function appsPages(app: PageApp, kit: PageKit) {
  app.post(
    '/account/apps/remove',
    {
      config: { html: true },
      schema: {
        tags,
        summary: "Remove an application's access (HTML form): the consent goes, and the sessions it holds end",
        consumes: FORM_TYPES,
        body: Type.Object({ client_id: FormField(128), csrf: FormField(128) }),
        response: { ...formResponses, 303: redirectResponse('done (or nothing to remove): back to /account; or not signed in: to /login') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, SIGN_IN_HERE);
      if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
      try {
        await revokeConsent(kit.deps, session.user.id, request.body.client_id ?? '', clientOf(request));
      } catch (err) {
        // Removed already (another tab), or never this account's to remove: nothing to say, nothing done.
        if (err instanceof AppError && err.code === 'consent_not_found') return kit.redirect(reply, '/account#apps');
        throw err;
      }
      return kit.redirect(reply, `/account?apps=${APP_REMOVED}#apps`);
    },
  );
}
