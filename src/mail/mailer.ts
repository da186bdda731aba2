import type { Logger } from 'pino';
import { escapeHtml } from '../core/email-text.js';
import type { Mailer, MailMessage } from '../core/mail-queue.js';

export type { MailMessage, Mailer } from '../core/mail-queue.js';

/**
 * Every email as it leaves, whoever rendered it and when (an intent now, a notice when it was queued): signed
 * with the brand's name (BRAND_NAME) on a last line, the same in every language.
 */
export function signed(message: MailMessage, brand: string): MailMessage {
  return { ...message, text: `${message.text}\n\n— ${brand}`, html: `${message.html}\n<p>— ${escapeHtml(brand)}</p>` };
}

/** MAIL_FROM as nodemailer takes it: an address alone is shown under the brand's name; `Name <address>` as it is. */
export function senderOf(from: string, brand: string): string | { name: string; address: string } {
  return from.includes('<') ? from : { name: brand, address: from.trim() };
}

/**
 * SMTP through nodemailer when SMTP_URL is set. Otherwise each email goes to the log instead: whole in
 * development (so a reset link can be followed with no mail server), only its recipient and subject in
 * any other NODE_ENV, since a reset link is a secret that logs must not keep.
 */
export async function createMailer(
  opts: { smtpUrl: string | undefined; from: string; brand: string; logBodies: boolean },
  logger: Logger,
): Promise<Mailer> {
  if (!opts.smtpUrl) {
    logger.warn('SMTP_URL is unset: emails are written to the log instead of being sent');
    return {
      async send(message) {
        const mail = { to: message.to, subject: message.subject, ...(opts.logBodies ? { text: signed(message, opts.brand).text } : {}) };
        logger.info({ mail }, 'email (not sent: SMTP_URL is unset)');
      },
      close() {},
    };
  }
  const { default: nodemailer } = await import('nodemailer');
  // Short timeouts: a hung SMTP server must fail the attempt (the outbox retries), not hold it for minutes.
  const transport = nodemailer.createTransport({
    url: opts.smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  const from = senderOf(opts.from, opts.brand);
  return {
    async send(message) {
      await transport.sendMail({ from, ...signed(message, opts.brand) });
    },
    close: () => transport.close(),
  };
}
