import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { cancelEmailChange, isCancelTokenUsable } from '../../auth/account/email-change.js';
import { followEmailLink, isEmailLinkUsable } from '../../auth/account/email-links.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { clientOf, limitByAddress } from '../client.js';
import { TokenParam } from '../schemas.js';
import { escapeHtml, sendPage } from './layout.js';

const tags = ['pages'];
const page = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });
const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: Type.Ref('ErrorBody') } } });

const INVALID_LINK = '<p class="error">This link is invalid, has been used, or has expired.</p><p>Ask for a new one from the app.</p>';

/** A page whose only content is a button that POSTs back to it: a mail scanner that follows the link consumes nothing. */
const confirmForm = (text: string, button: string) => `<p>${escapeHtml(text)}</p>
<form method="post" action="">
<button type="submit">${escapeHtml(button)}</button>
</form>`;

interface EmailPage {
  path: string;
  title: string;
  text: string;
  button: string;
  usable(deps: Deps, token: string): Promise<boolean>;
  /** Acts on the token; the page's answer (HTML), or throws an AppError. */
  act(deps: Deps, token: string, reply: FastifyReply, client: ReturnType<typeof clientOf>): Promise<string>;
}

const PAGES: EmailPage[] = [
  {
    path: '/verify-email/:token',
    title: 'Confirm your email address',
    text: 'Press the button to confirm that this email address is yours.',
    button: 'Confirm my email address',
    usable: isEmailLinkUsable,
    act: async (deps, token, _reply, client) => {
      const done = await followEmailLink(deps, token, client);
      const what = done.outcome === 'email_changed' ? 'Your email address has been changed to' : 'Thank you: your email address is confirmed:';
      return `<p class="ok">${escapeHtml(what)} ${escapeHtml(done.user.email)}.</p>`;
    },
  },
  {
    path: '/cancel-email-change/:token',
    title: 'This was not me',
    text: 'Press the button to stop the change of your account\'s email address and sign out every device signed in to your account.',
    button: 'Stop the change and sign out everywhere',
    usable: isCancelTokenUsable,
    act: async (deps, token, _reply, client) => {
      const { reverted } = await cancelEmailChange(deps, token, client);
      const what = reverted ? 'The change was undone: your account has its previous address again.' : 'The change was cancelled.';
      return `<p class="ok">${escapeHtml(what)} Every device was signed out.</p><p>Now reset your password from the sign-in screen: someone else knows it.</p>`;
    },
  },
];

/** The pages the verification and email-change emails link to: plain HTML, no script, a button that POSTs. */
export function emailPages(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    await app.register(formbody, { bodyLimit: deps.config.bodyLimit });
    for (const p of PAGES) {
      const schema = { tags, params: TokenParam, produces: ['text/html'] };
      app.get(
        p.path,
        {
          config: { html: true },
          schema: { ...schema, summary: `${p.title}: the page the email links to (HTML)`, response: { 200: page('the button'), 400: page('the link is invalid, used or expired'), 503: jsonError('the database does not answer') } },
        },
        async (request, reply) => {
          if (!(await p.usable(deps, request.params.token))) return sendPage(reply, 400, p.title, INVALID_LINK);
          return sendPage(reply, 200, p.title, confirmForm(p.text, p.button));
        },
      );
      app.post(
        p.path,
        {
          config: { html: true, ignoresBody: true },
          onRequest: limitByAddress(deps, 'verify'),
          schema: {
            ...schema,
            summary: `${p.title}: the button (HTML)`,
            response: {
              200: page('done'),
              400: page('the link is invalid, used or expired'),
              409: page('the new address belongs to another account now'),
              429: jsonError('too many attempts from this address (Retry-After)'),
              503: jsonError('the database does not answer'),
            },
          },
        },
        async (request, reply) => {
          try {
            return sendPage(reply, 200, p.title, await p.act(deps, request.params.token, reply, clientOf(request)));
          } catch (err) {
            if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 409)) throw err;
            return sendPage(reply, err.status, p.title, err.code === 'invalid_verification_token' ? INVALID_LINK : `<p class="error">${escapeHtml(err.message)}</p>`);
          }
        },
      );
    }
  };
}
