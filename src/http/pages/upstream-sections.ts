import type { BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { listIdentities } from '../../auth/upstream/identities.js';
import { upstreamProviderNames } from '../../auth/upstream/providers.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { html, type Html } from './html.js';
import { whenUtc, type PageKit } from './page-kit.js';

/**
 * What the sign-in page and the account page show of upstream providers: a button per provider on /login (a link
 * that starts its flow, ./upstream-pages.ts), and on /account the identities linked to the account, each with its
 * unlink button, and a button per provider to link one more.
 */

/** The providers' names, for the sign-in page (a few seconds old at most). */
export const signinProviders = (kit: PageKit) => upstreamProviderNames(kit.deps);

/** The sign-in page's buttons: one per provider, each carrying where to go after. */
export function providerButtons(t: PageMessages, names: readonly string[], to: string): Html | '' {
  if (names.length === 0) return '';
  return html`<ul class="providers">
${names.map((name) => html`<li><a class="button secondary" href="/api/signin/${name}?return_to=${encodeURIComponent(to)}">${t.upstream.continueWith(name)}</a></li>`)}
</ul>`;
}

/** The account page's section: the linked identities, and a link button per provider. */
export async function identitySection(kit: PageKit, t: PageMessages, session: BrowserSession, csrf: string): Promise<Html | ''> {
  const [identities, names] = await Promise.all([listIdentities(kit.deps, session.user.id), upstreamProviderNames(kit.deps)]);
  if (identities.length === 0 && names.length === 0) return '';
  const field = (name: string, value: string) => html`<input type="hidden" name="${name}" value="${value}">`;
  return html`<h2 id="identities">${t.upstream.title}</h2>
${identities.length === 0 ? html`<p class="hint">${t.upstream.none}</p>` : ''}<ul class="identities">
${identities.map(
  (i) => html`<li><strong>${i.provider}</strong>${i.email ? html` · ${i.email}` : ''}<br>
<span class="hint">${t.upstream.linked(whenUtc(i.created_at), i.last_used_at ? whenUtc(i.last_used_at) : t.upstream.never)}</span>
<form method="post" action="/account/identities/unlink" class="inline">${field('csrf', csrf)}${field('provider', i.provider)}${field('subject', i.subject)}<button type="submit" class="secondary">${t.upstream.unlinkOne(i.provider)}</button></form></li>`,
)}
</ul>
${names.map((name) => html`<form method="post" action="/account/identities/link" class="inline">${field('csrf', csrf)}${field('provider', name)}<button type="submit" class="secondary">${t.upstream.link(name)}</button></form>`)}`;
}
