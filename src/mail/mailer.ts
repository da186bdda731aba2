import type { Logger } from 'pino';
import type { Mailer } from '../core/mail-queue.js';

export type { MailMessage, Mailer } from '../core/mail-queue.js';

/**
 * SMTP through nodemailer when SMTP_URL is set. Otherwise each email goes to the log instead: whole in
 * development (so a reset link can be followed with no mail server), only its recipient and subject in
 * any other NODE_ENV, since a reset link is a secret that logs must not keep.
 */
export async function createMailer(
  opts: { smtpUrl: string | undefined; from: string; logBodies: boolean },
  logger: Logger,
): Promise<Mailer> {
  if (!opts.smtpUrl) {
    logger.warn('SMTP_URL is unset: emails are written to the log instead of being sent');
    return {
      async send(message) {
        const mail = { to: message.to, subject: message.subject, ...(opts.logBodies ? { text: message.text } : {}) };
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
  return {
    async send(message) {
      await transport.sendMail({ from: opts.from, ...message });
    },
    close: () => transport.close(),
  };
}
