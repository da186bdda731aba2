import type { FastifyReply } from 'fastify';
import { escapeHtml } from '../../core/email-text.js';
import { pageCsp, sendFramedPage } from './frame.js';
import { Html } from './html.js';

// The pages the emails link to (a reset, a verification, an email change), in the hosted pages' frame: their
// stylesheet, no script, no Referer (their URL holds the token). Their bodies are built with escapeHtml.
const CSP = pageCsp([]);

export { escapeHtml };

export function sendPage(reply: FastifyReply, status: number, title: string, body: string) {
  return sendFramedPage(reply, CSP, status, { title, body: new Html(body), tokenInUrl: true });
}
