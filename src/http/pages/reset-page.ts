import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { resetLinkKind, resetPassword } from '../../auth/reset/password-reset.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { clientOf, limitByAddress } from '../client.js';
import { TokenParam } from '../schemas.js';
import { escapeHtml, sendPage } from './layout.js';

const tags = ['pages'];

/** A response documented as an HTML page (the page itself is a string, not serialised through a schema). */
const page = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });
const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: Type.Ref('ErrorBody') } } });
const TITLE = 'Choose a new password';
/** An invitation's link (an account an admin created) opens the same form, in its own words. */
const INVITED_TITLE = 'Choose your password';
const INVITED_INTRO = '<p>An account was created for you. Choose its password: you will then sign in with your email address and it.</p>';
const INVALID_LINK =
  '<p class="error">This reset link is invalid, has been used, or has expired.</p><p><a href="/forgot-password">Ask for a new one</a>.</p>';

function resetForm(minLength: number, maxLength: number, error?: string, invited = false) {
  return `${invited ? INVITED_INTRO : ''}${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="${maxLength}">
<label for="password_confirm">Repeat the new password</label>
<input id="password_confirm" name="password_confirm" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="${maxLength}">
<button type="submit">${invited ? 'Set password' : 'Set new password'}</button>
</form>`;
}

/** The page the reset email links to: a plain HTML form, no script, posting back to its own URL. */
export function resetPages(deps: Deps): FastifyPluginAsyncTypebox {
  const { minLength, maxLength } = deps.config.password;
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
        const kind = await resetLinkKind(deps, request.params.token);
        if (!kind) return sendPage(reply, 400, TITLE, INVALID_LINK);
        const invited = kind === 'invitation';
        return sendPage(reply, 200, invited ? INVITED_TITLE : TITLE, resetForm(minLength, maxLength, undefined, invited));
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
        const { password, password_confirm } = request.body;
        // Only the page's words depend on it: the reset itself reads the link again as it consumes it.
        const invited = (await resetLinkKind(deps, request.params.token)) === 'invitation';
        try {
          if (password_confirm !== undefined && password_confirm !== password) throw new AppError('passwords_do_not_match');
          await resetPassword(deps, request.params.token, password, clientOf(request));
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          if (err.code === 'invalid_reset_token') return sendPage(reply, err.status, TITLE, INVALID_LINK);
          return sendPage(reply, err.status, invited ? INVITED_TITLE : TITLE, resetForm(minLength, maxLength, err.message, invited));
        }
        if (invited) return sendPage(reply, 200, 'Password set', '<p class="ok">Your password is set, and your email address is verified.</p><p><a href="/login">Sign in</a> with your email address and your new password.</p>');
        return sendPage(
          reply,
          200,
          'Password changed',
          '<p class="ok">Your password has been changed, and every device signed in to your account was signed out.</p><p><a href="/login">Sign in</a> with your new password.</p>',
        );
      },
    );
  };
}
