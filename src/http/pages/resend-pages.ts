import { Type } from 'typebox';
import { resendVerificationToAddress } from '../../auth/verification/email-verification.js';
import { clientOf } from '../client.js';
import { emailProblem } from './form-checks.js';
import { jsonErrorResponse, pageResponse } from './frame.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { wordsOf } from './words.js';

/**
 * A sign-in refused because the address is not verified yet (REQUIRE_EMAIL_VERIFICATION): the sign-in page says a
 * link was sent, and offers to send it again, through the function `POST /api/verify-email/resend` calls with an
 * address (VERIFICATION_MAIL_LIMIT, RATE_LIMIT_VERIFY; the same answer whether or not the address has an account).
 */

const tags = ['pages'];

/** The sign-in page's button that sends the verification link again, to the address typed (a form of its own). */
export const resendVerificationForm = (t: PageMessages, csrf: string, email: string): Html => html`<form method="post" action="/login/resend-verification" novalidate>
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="email" value="${email}">
<p class="hint">${t.resend.noEmail}</p>
<button type="submit" class="secondary">${t.resend.button}</button></form>`;

export function resendPages(app: PageApp, kit: PageKit) {
  app.post(
    '/login/resend-verification',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Send the verification link again, from the sign-in page (HTML form): the same answer whether or not the address has an account',
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ email: FormField(1024), csrf: FormField(128) }),
        response: {
          ...formResponses,
          200: pageResponse('the link is on its way, if the address has an account not verified yet'),
          422: pageResponse('not an email address'),
          429: jsonErrorResponse('too many requests from this address (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const nonce = kit.signedOutForm(request, request.body.csrf);
      if (!nonce) return kit.refusedForm(reply);
      const { locale, t } = wordsOf(request);
      const email = (request.body.email ?? '').trim();
      const problem = emailProblem(email, t);
      const back = html`<p><a href="/login">${t.common.backToSignIn}</a></p>`;
      if (problem) return kit.send(reply, 422, { title: t.resend.title, locale, body: html`<div class="alert" role="alert">${problem}</div>${back}` });
      await kit.deps.throttle.limitAddress('verify', request.network);
      await resendVerificationToAddress(kit.deps, email, clientOf(request));
      return kit.send(reply, 200, { title: t.resend.title, locale, body: html`<p class="notice" role="status">${t.resend.sent}</p>${back}` });
    },
  );
}
