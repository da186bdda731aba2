import { Type } from 'typebox';
import { resendVerificationToAddress } from '../../auth/verification/email-verification.js';
import { clientOf } from '../client.js';
import { RESEND_MESSAGE } from '../routes/account/verify-email.js';
import { emailProblem } from './form-checks.js';
import { jsonErrorResponse, pageResponse } from './frame.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';

/**
 * A sign-in refused because the address is not verified yet (REQUIRE_EMAIL_VERIFICATION): the sign-in page says a
 * link was sent, and offers to send it again, through the function `POST /api/verify-email/resend` calls with an
 * address (VERIFICATION_MAIL_LIMIT, RATE_LIMIT_VERIFY; the same answer whether or not the address has an account).
 */

const tags = ['pages'];
const TITLE = 'Verify your email address';

/** The sign-in page's button that sends the verification link again, to the address typed (a form of its own). */
export const resendVerificationForm = (csrf: string, email: string): Html => html`<form method="post" action="/login/resend-verification" novalidate>
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="email" value="${email}">
<p class="hint">No email from us? Look in your spam folder, or:</p>
<button type="submit" class="secondary">Send the verification link again</button></form>`;

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
      const nonce = kit.postedNonce(request);
      if (!nonce || !kit.fromOwnForm(request, nonce, request.body.csrf)) return kit.refusedForm(reply);
      const email = (request.body.email ?? '').trim();
      const problem = emailProblem(email);
      const back = html`<p><a href="/login">Back to sign in</a></p>`;
      if (problem) return kit.send(reply, 422, { title: TITLE, body: html`<div class="alert" role="alert">${problem}</div>${back}` });
      await kit.deps.throttle.limitAddress('verify', request.network);
      await resendVerificationToAddress(kit.deps, email, clientOf(request));
      return kit.send(reply, 200, { title: TITLE, body: html`<p class="notice" role="status">${RESEND_MESSAGE} Open the link it holds, then sign in.</p>${back}` });
    },
  );
}
