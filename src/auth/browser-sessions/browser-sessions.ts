import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { deriveKey } from '../../core/secret-box.js';
import type { Db } from '../../db/client.js';
import { selectLiveSessionOf } from '../../db/queries/sessions.js';
import { isUuid } from '../../contracts/ids.js';
import { assuranceLevel, PASSWORD_AMR } from '../sessions/access-tokens.js';
import type { User } from '../users/users.js';
import type { UserCache } from '../../core/user-cache.js';
import type { RevocationList } from '../sessions/revocations.js';

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
  /** How the user proved who they were (RFC 8176), and when they signed in (seconds since the epoch). */
  amr: readonly string[];
  authTime: number;
  /** When the session ends, in milliseconds since the epoch. */
  expiresAt: number;
}

/** The session a cookie names, if this server made the cookie and the session lives now (as a refresh would find it). */
export async function liveBrowserSession(
  deps: { db: Db; clock: Clock; pageKey: Buffer; knownSessions?: KnownBrowserSessions },
  cookie: string | undefined,
): Promise<BrowserSession | undefined> {
  const named = openBrowserSession(deps.pageKey, cookie);
  if (!named) return undefined;
  // Taken before the read: a change of the user committed meanwhile makes what it reads stale.
  const now = deps.clock.now();
  const live = await selectLiveSessionOf(deps.db, named.sessionId, named.userId, now);
  if (!live) return undefined;
  const amr = live.amr ?? PASSWORD_AMR;
  const session = {
    sessionId: named.sessionId,
    user: live.user,
    aal: assuranceLevel(amr),
    amr,
    authTime: Math.floor(live.createdAt.getTime() / 1000),
    expiresAt: live.expiresAt.getTime(),
  };
  deps.knownSessions?.cache.set(session.user.id, session.sessionId, session, now.getTime());
  return session;
}

/**
 * Browser sessions this instance read in the last USER_CACHE_MS, for the authorization endpoint alone, which answers a
 * signed-in browser with a code and nothing else: a code is worth nothing until its exchange asks the database whether
 * the session lives. An entry is not served once the revocation list says the session ended (a sign-out, and every
 * credential change: a reset, a password changed, a disabled account, on any instance), as an access token of the
 * session would not be, nor while that list may be missing revocations, nor past the session's end. Other changes of
 * the user (a session opened, an address changed) leave it: the code carries none of them, and its exchange reads the
 * user again.
 */
export interface KnownBrowserSessions {
  cache: UserCache<BrowserSession>;
  revocations: Pick<RevocationList, 'isRevoked' | 'isStale'>;
}

/** The session a cookie names, from memory (`KnownBrowserSessions`); undefined when it is not there: read it. */
export function knownBrowserSession(deps: { clock: Clock; pageKey: Buffer; knownSessions: KnownBrowserSessions }, cookie: string | undefined): BrowserSession | undefined {
  const { cache, revocations } = deps.knownSessions;
  if (revocations.isStale()) return undefined;
  const named = openBrowserSession(deps.pageKey, cookie);
  const known = named && cache.get(named.userId, named.sessionId);
  if (!known || known.expiresAt <= deps.clock.now().getTime()) return undefined;
  return revocations.isRevoked({ sessionId: known.sessionId, userId: known.user.id, authTime: known.authTime }) ? undefined : known;
}

/** What a signed-out browser's nonce cookie holds: 33 random bytes, base64url (44 characters; an HMAC's token has 43). */
const NONCE_BYTES = 33;
const NONCE = /^[A-Za-z0-9_-]{44}$/;

/** Whether a value has the form of a nonce this server makes (never of a session's id, nor of a session's form token). */
export const isFormNonce = (value: string) => NONCE.test(value);

const nonces = Buffer.allocUnsafeSlow(NONCE_BYTES * 128);
let noncesAt = nonces.length;

/**
 * A signed-out browser's new nonce, from the CSPRNG: a buffer of them refilled 128 at a time, as node:crypto's own
 * randomUUID does, since a synchronous randomBytes per nonce took 7% of the server's time answering /login under
 * load (bench/results/README.md, Hosted pages). Each byte is handed out once.
 */
export function newFormNonce(): string {
  if (noncesAt === nonces.length) {
    randomFillSync(nonces);
    noncesAt = 0;
  }
  const nonce = nonces.toString('base64url', noncesAt, noncesAt + NONCE_BYTES);
  noncesAt += NONCE_BYTES;
  return nonce;
}

/**
 * The token a form carries, bound to what it is for. A signed-in browser's forms: an HMAC of its session's id, so
 * that no one without the key makes one. A signed-out browser's forms: its nonce itself, the value of its nonce cookie
 * (a double submit), so that a sign-in page costs no HMAC (nor an HMAC object for the garbage collector to finalise).
 * That is as strong as an HMAC of the nonce was: a nonce is no secret of the server's (anyone gets one, with its page's
 * token, by opening /login), so its HMAC proved nothing a forger lacks. What stops a forged post is that another site
 * can neither read the browser's nonce (an HttpOnly cookie, in a page of another origin) nor set it (`__Host-` over
 * https, SameSite=Lax), and that the post must come from this origin (../../http/pages/page-kit.ts, fromOwnForm):
 * the same whether the page holds the nonce or its HMAC. A session's token never has a nonce's form (43 characters to
 * 44), so neither ever stands for the other.
 */
export const formToken = (key: Buffer, boundTo: string) => (isFormNonce(boundTo) ? boundTo : mac(key, 'form', boundTo));

/** Whether a form's token is the one bound to `boundTo`. */
export const isFormToken = (key: Buffer, boundTo: string, token: string | undefined) => token !== undefined && sameMac(token, formToken(key, boundTo));
