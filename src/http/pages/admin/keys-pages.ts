import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import { listSigningKeys, revokeSigningKey, rotateSigningKeys } from '../../../auth/keys/key-admin.js';
import { JWKS_MAX_AGE_SECONDS } from '../../../auth/keys/keys.js';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import type { SigningKeyView } from '../../../contracts/keys.js';
import { AppError } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, whenUtc } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/**
 * The console's signing keys (`/admin/keys`): the stored keys as `latchkey keys list` shows them, "Rotate now", and
 * for each key not revoked yet a form that revokes it once its kid is typed again. Both do what `keys rotate` and
 * `keys revoke` do (src/auth/keys/key-admin.ts), with the admin as the audit's actor.
 */

const tags = ['pages'];
const TITLE = 'Signing keys';
const DAY_MS = 86_400_000;

const DONE: Record<string, string> = {
  rotated: `A new signing key was published. It signs in ${JWKS_MAX_AGE_SECONDS / 60} minutes, once verifiers have had time to fetch it; the current key keeps verifying its tokens until they expire.`,
  revoked: 'The key was revoked: it left the JWKS, and every access token it signed is refused on every instance.',
  replaced: 'The key was revoked: it left the JWKS, and every access token it signed is refused on every instance. It was signing: a new key signs from now on.',
  already: 'That key had already been revoked: nothing changed.',
};
/** A notice by its word in the query: one of the table's own, never a property every object has (`constructor`). */
const doneOf = (word: string | undefined) => (word !== undefined && Object.hasOwn(DONE, word) ? DONE[word] : undefined);

interface Problem {
  /** Tied to the revoke form of this key; undefined (or a kid no form has): the page's alert. */
  kid?: string;
  message: string;
}

function keyRow(key: SigningKeyView, now: number): Html {
  const age = Math.floor((now - Date.parse(key.created_at)) / DAY_MS);
  const ended = key.revoked_at ? `revoked ${whenUtc(key.revoked_at)}` : key.retired_at ? `retired ${whenUtc(key.retired_at)}` : '';
  return html`<tr><th scope="row"><code>${key.kid}</code></th><td>${key.alg}</td><td>${key.state === 'revoked' ? html`<strong class="error">revoked</strong>` : key.state}</td>
<td>${whenUtc(key.created_at)}</td><td>${age}</td><td>${whenUtc(key.activates_at)}</td><td>${ended}</td></tr>`;
}

function revokeForm(key: SigningKeyView, n: number, csrf: string, problem: Problem | undefined): Html {
  const id = `confirm-${n}`;
  const error = problem?.kid === key.kid ? problem.message : undefined;
  const described = error ? `revoke-warning ${id}-error` : 'revoke-warning';
  return html`<form method="post" action="/admin/keys/revoke" class="card" novalidate>
<h3>Revoke <code>${key.kid}</code> (${key.state})</h3>
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="kid" value="${key.kid}">
<label for="${id}">Type this key's kid to confirm</label>
<input id="${id}" name="confirm" type="text" autocomplete="off" autocapitalize="off" spellcheck="false" required aria-describedby="${described}"${error ? html` aria-invalid="true"` : ''}>
${error ? html`<p class="field-error" id="${id}-error" role="alert">${error}</p>` : ''}
<button type="submit" class="danger">Revoke ${key.state === 'current' ? 'the current key' : 'this key'}</button>
</form>`;
}

function keysPage(keys: readonly SigningKeyView[], csrf: string, now: number, hs256: boolean, notice: { done?: string | undefined; problem?: Problem | undefined }): Html {
  const revocable = keys.filter((k) => k.state !== 'revoked');
  // A problem of no form on the page (a kid no key has) is the page's own alert.
  const problem = notice.problem;
  const alert = problem && !revocable.some((k) => k.kid === problem.kid) ? problem.message : undefined;
  return html`${notice.done ? html`<p class="notice" role="status">${notice.done}</p>` : ''}${alert ? html`<p class="alert" role="alert">${alert}</p>` : ''}
<p>The keys that sign access tokens. <strong>current</strong> signs now; <strong>next</strong> is published and signs from its activation;
<strong>previous</strong> and <strong>retired</strong> only verify the tokens they signed until those expire; <strong>revoked</strong> verifies nothing.</p>
${hs256 ? html`<p class="hint">JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET_KEY, and the keys below (if any) only verify until their tokens expire.</p>` : ''}
<div class="table-wrap"><table>
<caption class="hint">${keys.length} stored key${keys.length === 1 ? '' : 's'}, oldest activation first</caption>
<thead><tr><th scope="col">Kid</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Age (days)</th><th scope="col">Activates</th><th scope="col">Retired or revoked</th></tr></thead>
<tbody>
${keys.map((k) => keyRow(k, now))}
</tbody></table></div>
${hs256
  ? ''
  : html`<h2>Rotate</h2>
<form method="post" action="/admin/keys/rotate">
<input type="hidden" name="csrf" value="${csrf}">
<p class="hint" id="rotate-hint">Publishes a new key now. It starts signing ${JWKS_MAX_AGE_SECONDS / 60} minutes later, once every verifier has had time to fetch it; the current key keeps verifying its tokens until they expire. Nobody is signed out.</p>
<button type="submit" aria-describedby="rotate-hint">Rotate now</button>
</form>`}
${revocable.length === 0
  ? ''
  : html`<h2>Revoke a key</h2>
<div class="alert" id="revoke-warning"><p><strong>For a key that has leaked.</strong> Revoking a key takes it out of the JWKS and refuses every access token it signed, at once, on every instance; services using @latchkey/verify with the revocation feed drop it too. Every request with such a token fails until its client refreshes. Users stay signed in: refresh tokens are not signed by the key, and the next refresh gets a token of the signing key. If the key is the current one, a new key signs from now on, without the usual ${JWKS_MAX_AGE_SECONDS / 60} minutes of publication: services that cache the JWKS fetch it when they meet the new kid.</p></div>
${revocable.map((k, n) => revokeForm(k, n, csrf, notice.problem))}`}`;
}

type Show = (reply: FastifyReply, status: number, session: BrowserSession, notice: { done?: string | undefined; problem?: Problem | undefined }) => Promise<FastifyReply>;

export function keyPages(app: PageApp, admin: AdminKit): void {
  const { deps } = admin.kit;
  const hs256 = () => deps.config.jwt.algorithm === 'HS256';
  const show: Show = async (reply, status, session, notice) => {
    const keys = await listSigningKeys(deps);
    const body = keysPage(keys, admin.csrfOf(session), deps.clock.now().getTime(), hs256(), notice);
    return admin.send(reply, status, session, { title: TITLE, section: 'keys', body });
  };

  app.get(
    '/admin/keys',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'The console: signing keys, rotation and revocation (HTML)',
        querystring: Type.Object({ done: FormField(32) }),
        produces: ['text/html'],
        response: {
          200: pageResponse('the keys'),
          ...GATE_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      return show(reply, 200, session, { done: doneOf(request.query.done) });
    },
  );

  app.post(
    '/admin/keys/rotate',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Publish a new signing key now (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ csrf: FormField(128) }),
        response: { ...formResponses, 303: redirectResponse('done: back to /admin/keys; or not signed in: to /login'), 409: pageResponse('the keys again: HS256 has no key to rotate') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      if (hs256()) return show(reply, 409, session, { problem: { message: 'JWT_ALGORITHM is HS256: there is no stored key to rotate. Nothing was done.' } });
      await rotateSigningKeys(deps, admin.actorOf(session));
      return admin.kit.redirect(reply, '/admin/keys?done=rotated');
    },
  );
  revokePage(app, admin, show);
}

/** Revoking a key from the console: its kid typed again, or nothing is done. */
function revokePage(app: PageApp, admin: AdminKit, show: Show): void {
  app.post(
    '/admin/keys/revoke',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Revoke a signing key now, its kid typed again to confirm (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ kid: FormField(200), confirm: FormField(200), csrf: FormField(128) }),
        response: {
          ...formResponses,
          303: redirectResponse('done: back to /admin/keys; or not signed in: to /login'),
          404: pageResponse('the keys again: no stored key has this kid'),
          422: pageResponse('the keys again: the kid typed is not the key\'s'),
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const kid = request.body.kid ?? '';
      if ((request.body.confirm ?? '').trim() !== kid || kid === '')
        return show(reply, 422, session, { problem: { kid, message: 'Type the key\'s kid exactly as shown above it. Nothing was revoked.' } });
      try {
        const done = await revokeSigningKey(admin.kit.deps, kid, admin.actorOf(session));
        return admin.kit.redirect(reply, `/admin/keys?done=${done.already_revoked ? 'already' : done.new_key ? 'replaced' : 'revoked'}`);
      } catch (err) {
        if (err instanceof AppError && err.code === 'key_not_found')
          return show(reply, 404, session, { problem: { message: 'No stored key has this kid (a key is deleted once its last token has expired). Nothing was revoked.' } });
        throw err;
      }
    },
  );
}
