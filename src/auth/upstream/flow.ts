import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open, seal, SealOpenError } from '../../core/secret-box.js';
import { hashToken } from '../../core/secrets.js';
import type { Db } from '../../db/client.js';
import { spendState } from '../../db/queries/upstream.js';
import { AppError } from '../../errors.js';

/**
 * A sign-in through an upstream provider while it is in progress: its `state`, `nonce` and PKCE verifier, what it is
 * for and where it goes after. It lives in one cookie of the browser that started it (HttpOnly, sealed under a key
 * derived from SECRET_KEY, so the browser can neither read nor change it), for FLOW_TTL_SECONDS; the callback must
 * bring the same state in its query as in that cookie, so a callback opened in another browser, or with another
 * flow's state, is refused. Its state is then spent in the database: a second callback with it is refused too.
 */

/** `browser`: the hosted pages' sign-in; `api`: an app's, which gets a code at `to`; `link`: a signed-in user's new link. */
export type FlowKind = 'browser' | 'api' | 'link';

export interface UpstreamFlow {
  provider: string;
  state: string;
  nonce: string;
  verifier: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  kind: FlowKind;
  /** `browser` and `link`: a safe `return_to`; `api`: the app's `redirect_to`, on an allowed origin. */
  to: string;
  /** `api`: the app's own PKCE challenge (S256), which the code's exchange must answer. */
  challenge?: string | undefined;
  /** `link`: the signed-in user and their browser session, which must still be theirs at the callback. */
  userId?: string | undefined;
  sessionId?: string | undefined;
}

export const FLOW_TTL_SECONDS = 600;
const CONTEXT = 'upstream flow';
const random = () => randomBytes(32).toString('base64url');

export function newFlow(now: Date, input: Pick<UpstreamFlow, 'provider' | 'kind' | 'to' | 'challenge' | 'userId' | 'sessionId'>): UpstreamFlow {
  return { ...input, state: random(), nonce: random(), verifier: random(), expiresAt: now.getTime() + FLOW_TTL_SECONDS * 1000 };
}

export const sealFlow = (key: Buffer, flow: UpstreamFlow) => seal(key, JSON.stringify(flow), CONTEXT);

/** The flow a cookie holds, if this server sealed it and it has not expired. */
export function openFlow(key: Buffer, cookie: string | undefined, now: Date): UpstreamFlow | undefined {
  if (!cookie || cookie.length > 4096) return undefined;
  try {
    const flow = JSON.parse(open(key, cookie, CONTEXT).toString('utf8')) as UpstreamFlow;
    return flow.expiresAt > now.getTime() ? flow : undefined;
  } catch (err) {
    if (err instanceof SealOpenError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The flow a callback finishes: the cookie's, for this provider, with the state the query brings, spent now (once,
 * whoever races with it). `upstream_flow_invalid` otherwise: expired, from another browser, or used already.
 */
export async function takeFlow(deps: { db: Db; key: Buffer; now: Date }, cookie: string | undefined, provider: string, state: string | undefined): Promise<UpstreamFlow> {
  const flow = openFlow(deps.key, cookie, deps.now);
  if (!flow || flow.provider !== provider || state === undefined || !sameText(flow.state, state)) throw new AppError('upstream_flow_invalid');
  if (!(await spendState(deps.db, hashToken(flow.state), new Date(flow.expiresAt), deps.now))) throw new AppError('upstream_flow_invalid');
  return flow;
}
