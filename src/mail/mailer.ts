import nodemailer from 'nodemailer';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** SMTP through nodemailer when SMTP_URL is set; otherwise each email is written to the log for development. */
export function createMailer(opts: { smtpUrl: string | undefined; from: string }, logger: Logger): Mailer {
  if (!opts.smtpUrl) {
    logger.warn('SMTP_URL is unset: emails are written to the log instead of being sent (development only)');
    return {
      async send(message) {
        logger.info({ mail: { to: message.to, subject: message.subject, text: message.text } }, 'email (not sent: SMTP_URL is unset)');
      },
      close() {},
    };
  }
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
