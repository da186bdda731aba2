import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { resetLinkKind, resetPassword } from '../../auth/reset/password-reset.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { clientOf, limitByAddress } from '../client.js';
import { TokenParam } from '../schemas.js';
import { html } from './html.js';
import { linkPageSender } from './layout.js';
import { errorText, wordsOf } from './words.js';

const tags = ['pages'];

/** A response documented as an HTML page (the page itself is a string, not serialised through a schema). */
const page = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });
const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: Type.Ref('ErrorBody') } } });
const invalidLink = (t: PageMessages) => html`<p class="error">${t.reset.invalidLink}</p><p><a href="/forgot-password">${t.reset.askAgain}</a>.</p>`;
/** An invitation's link (an account an admin created) opens the same form, in its own words. */
const titleOf = (t: PageMessages, invited: boolean) => (invited ? t.reset.invitedTitle : t.reset.title);

function resetForm(t: PageMessages, minLength: number, maxLength: number, error?: string, invited = false) {
  return html`${invited ? html`<p>${t.reset.invitedIntro}</p>` : ''}${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="">
<label for="password">${t.reset.newPassword}</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="${maxLength}">
<label for="password_confirm">${t.reset.repeat}</label>
<input id="password_confirm" name="password_confirm" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="${maxLength}">
<button type="submit">${invited ? t.reset.invitedSubmit : t.reset.submit}</button>
</form>`;
}

/** The page the reset email links to: a plain HTML form, no script, posting back to its own URL. */
export function resetPages(deps: Deps): FastifyPluginAsyncTypebox {
  const { minLength, maxLength } = deps.config.password;
  const send = linkPageSender(deps.config);
  return async (app) => {
    // Form posts are accepted on these pages only; the JSON API keeps refusing them with 415.
    await app.register(formbody, { bodyLimit: deps.config.bodyLimit });

    app.get(
      '/reset-password/:token',
      {
        config: { html: true },
        schema: {
          tags,
          summary: 'The reset form the email links to (HTML)',
          params: TokenParam,
          produces: ['text/html'],
          response: {
            200: page('the form'),
            400: page('the link is invalid, used or expired'),
            503: jsonError('the database does not answer'),
          },
        },
      },
      async (request, reply) => {
        const { locale, t } = wordsOf(request);
        const kind = await resetLinkKind(deps, request.params.token);
        if (!kind) return send(reply, 400, locale, t.reset.title, invalidLink(t));
        const invited = kind === 'invitation';
        return send(reply, 200, locale, titleOf(t, invited), resetForm(t, minLength, maxLength, undefined, invited));
      },
    );

    app.post(
      '/reset-password/:token',
      {
        config: { html: true },
        onRequest: limitByAddress(deps, 'reset'),
        schema: {
          tags,
          summary: 'Submit the reset form (HTML)',
          params: TokenParam,
          consumes: ['application/x-www-form-urlencoded'],
          produces: ['text/html'],
          body: Type.Object({
            password: Type.String({ maxLength: maxLength * 4 }),
            password_confirm: Type.Optional(Type.String({ maxLength: maxLength * 4 })),
          }),
          response: {
            200: page('the password was changed'),
            400: {
              description: 'the link is invalid, used or expired (a page), or the form is malformed (an error body)',
              content: { ...page('').content, ...jsonError('').content },
            },
            413: jsonError('the form is too large'),
            415: jsonError('not a form post'),
            422: page('the form again, saying why the password was refused'),
            429: jsonError('too many attempts from this address (Retry-After)'),
            503: jsonError('the database does not answer'),
          },
        },
      },
      async (request, reply) => {
        const { locale, t } = wordsOf(request);
        const { password, password_confirm } = request.body;
        // Only the page's words depend on it: the reset itself reads the link again as it consumes it.
        const invited = (await resetLinkKind(deps, request.params.token)) === 'invitation';
        try {
          if (password_confirm !== undefined && password_confirm !== password) throw new AppError('passwords_do_not_match');
          await resetPassword(deps, request.params.token, password, clientOf(request));
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          if (err.code === 'invalid_reset_token') return send(reply, err.status, locale, t.reset.title, invalidLink(t));
          return send(reply, err.status, locale, titleOf(t, invited), resetForm(t, minLength, maxLength, errorText(t, err), invited));
        }
        const signIn = html`<a href="/login">${t.common.signIn}</a>`;
        if (invited) return send(reply, 200, locale, t.reset.invitedDoneTitle, html`<p class="ok">${t.reset.invitedDone}</p><p>${t.reset.invitedSignIn(signIn)}</p>`);
        return send(reply, 200, locale, t.reset.doneTitle, html`<p class="ok">${t.reset.done}</p><p>${t.reset.signInWithNew(signIn)}</p>`);
      },
    );
  };
}
