import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { deriveKey } from '../../core/secret-box.js';
import type { Db } from '../../db/client.js';
import { selectLiveSessionOf } from '../../db/queries/sessions.js';
import { isUuid } from '../../contracts/ids.js';
import { assuranceLevel, PASSWORD_AMR } from '../sessions/access-tokens.js';
import type { User } from '../users/users.js';

/**
 * Browser sessions of Latchkey's own pages. A person who signs in on `/login` gets a session like any other (a
 * row, listed, revocable, ended by a reset or a disable), opened the way the API opens one; the browser holds its
 * id and its user's id in a cookie with an HMAC under a key derived from SECRET_KEY for this use alone, so no
 * cookie can be made without the key (a copy of the database is not enough), and every page asks the database
 * whether the session still lives. Forms carry a token bound to the session (or, before sign-in, to a nonce
 * cookie), under the same key.
 */

export function pageKey(secretKey: string | Uint8Array): Buffer {
  return deriveKey(secretKey, 'latchkey browser sessions v1');
}

const mac = (key: Buffer, purpose: string, value: string) => createHmac('sha256', key).update(`${purpose}\n${value}`).digest('base64url');

const sameMac = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The cookie's value for a session: its id, its user's, and their HMAC. */
export function sealBrowserSession(key: Buffer, session: { sessionId: string; userId: string }): string {
  const named = `${session.sessionId}.${session.userId}`;
  return `${named}.${mac(key, 'session', named)}`;
}

/** The session a cookie names, when this server made the cookie; undefined otherwise (nothing is read). */
export function openBrowserSession(key: Buffer, cookie: string | undefined): { sessionId: string; userId: string } | undefined {
  const [sessionId, userId, signature, ...rest] = (cookie ?? '').split('.');
  if (!sessionId || !userId || !signature || rest.length > 0 || !isUuid(sessionId) || !isUuid(userId)) return undefined;
  return sameMac(signature, mac(key, 'session', `${sessionId}.${userId}`)) ? { sessionId, userId } : undefined;
}

/** A signed-in browser: its session and user, read now. */
export interface BrowserSession {
  sessionId: string;
  user: User;
  /** The session's assurance level: `aal2` when it was opened or stepped up with a second factor. */
  aal: 'aal1' | 'aal2';
}

/** The session a cookie names, if this server made the cookie and the session lives now (as a refresh would find it). */
export async function liveBrowserSession(deps: { db: Db; clock: Clock; pageKey: Buffer }, cookie: string | undefined): Promise<BrowserSession | undefined> {
  const named = openBrowserSession(deps.pageKey, cookie);
  const live = named && (await selectLiveSessionOf(deps.db, named.sessionId, named.userId, deps.clock.now()));
  return live ? { sessionId: named!.sessionId, user: live.user, aal: assuranceLevel(live.amr ?? PASSWORD_AMR) } : undefined;
}

/** The token a form carries, bound to what it is for (a session's id, or the nonce cookie of a signed-out browser). */
export const formToken = (key: Buffer, boundTo: string) => mac(key, 'form', boundTo);

/** Whether a form's token is the one bound to `boundTo`. */
export const isFormToken = (key: Buffer, boundTo: string, token: string | undefined) => token !== undefined && sameMac(token, formToken(key, boundTo));
