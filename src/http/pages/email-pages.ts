import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { cancelEmailChange, isCancelTokenUsable } from '../../auth/account/email-change.js';
import { followEmailLink, isEmailLinkUsable } from '../../auth/account/email-links.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { clientOf, limitByAddress } from '../client.js';
import { TokenParam } from '../schemas.js';
import { messagesOf, type PageMessages } from '../../i18n/catalogue.js';
import { html, type Html } from './html.js';
import { linkPageSender } from './layout.js';
import { errorText, wordsOf } from './words.js';

const tags = ['pages'];
const page = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });
const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: Type.Ref('ErrorBody') } } });

const invalidLink = (t: PageMessages) => html`<p class="error">${t.emailLinks.invalidLink}</p><p>${t.emailLinks.askAgain}</p>`;

/** A page whose only content is a button that POSTs back to it: a mail scanner that follows the link consumes nothing. */
const confirmForm = (text: string, button: string) => html`<p>${text}</p>
<form method="post" action="">
<button type="submit">${button}</button>
</form>`;

type Words = PageMessages['emailLinks'];
/** The words of the pages that are text, not a sentence made from values. */
type TextKey = { [K in keyof Words]: Words[K] extends string ? K : never }[keyof Words];

interface EmailPage {
  path: string;
  /** Its words, by key (the OpenAPI summary takes the English title). */
  title: TextKey;
  text: TextKey;
  button: TextKey;
  usable(deps: Deps, token: string): Promise<boolean>;
  /** Acts on the token; the page's answer, or throws an AppError. */
  act(deps: Deps, token: string, t: Words, client: ReturnType<typeof clientOf>): Promise<Html>;
}

const PAGES: EmailPage[] = [
  {
    path: '/verify-email/:token',
    title: 'verifyTitle',
    text: 'verifyText',
    button: 'verifyButton',
    usable: isEmailLinkUsable,
    act: async (deps, token, t, client) => {
      const done = await followEmailLink(deps, token, client);
      return html`<p class="ok">${done.outcome === 'email_changed' ? t.changed(done.user.email) : t.confirmed(done.user.email)}</p>`;
    },
  },
  {
    path: '/cancel-email-change/:token',
    title: 'cancelTitle',
    text: 'cancelText',
    button: 'cancelButton',
    usable: isCancelTokenUsable,
    act: async (deps, token, t, client) => {
      const { reverted } = await cancelEmailChange(deps, token, client);
      return html`<p class="ok">${reverted ? t.reverted : t.cancelled}</p><p>${t.resetNow}</p>`;
    },
  },
];

const ENGLISH = messagesOf('en').pages.emailLinks;

/** The pages the verification and email-change emails link to: plain HTML, no script, a button that POSTs. */
export function emailPages(deps: Deps): FastifyPluginAsyncTypebox {
  const send = linkPageSender(deps.config);
  return async (app) => {
    await app.register(formbody, { bodyLimit: deps.config.bodyLimit });
    for (const p of PAGES) {
      const schema = { tags, params: TokenParam, produces: ['text/html'] };
      app.get(
        p.path,
        {
          config: { html: true },
          schema: { ...schema, summary: `${ENGLISH[p.title]}: the page the email links to (HTML)`, response: { 200: page('the button'), 400: page('the link is invalid, used or expired'), 503: jsonError('the database does not answer') } },
        },
        async (request, reply) => {
          const { locale, t } = wordsOf(request);
          const title = t.emailLinks[p.title];
          if (!(await p.usable(deps, request.params.token))) return send(reply, 400, locale, title, invalidLink(t));
          return send(reply, 200, locale, title, confirmForm(t.emailLinks[p.text], t.emailLinks[p.button]));
        },
      );
      app.post(
        p.path,
        {
          config: { html: true, ignoresBody: true },
          onRequest: limitByAddress(deps, 'verify'),
          schema: {
            ...schema,
            summary: `${ENGLISH[p.title]}: the button (HTML)`,
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
          const { locale, t } = wordsOf(request);
          const title = t.emailLinks[p.title];
          try {
            return send(reply, 200, locale, title, await p.act(deps, request.params.token, t.emailLinks, clientOf(request)));
          } catch (err) {
            if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 409)) throw err;
            return send(reply, err.status, locale, title, err.code === 'invalid_verification_token' ? invalidLink(t) : html`<p class="error">${errorText(t, err)}</p>`);
          }
        },
      );
    }
  };
}
