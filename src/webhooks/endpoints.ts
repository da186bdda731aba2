import { randomBytes } from 'node:crypto';
import { recordAuditEvent } from '../core/audit.js';
import { deriveKey, open, seal } from '../core/secret-box.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import {
  deleteWebhookEndpoint,
  deliveryCountsByEndpoint,
  insertWebhookEndpoint,
  replayDeadDeliveries,
  selectWebhookDeliveries,
  selectWebhookEndpoints,
  webhookEndpointIdExists,
  type WebhookEndpointRow,
} from '../db/queries/webhooks.js';
import { AppError, type ErrorDetail } from '../errors.js';
import { deniedLiteral, parseNetworks } from './destinations.js';
import { announceEvents, EVENT_TYPES, type EventType } from '../core/events.js';
import { namesAudience } from '../core/audiences.js';
import type { DeliveryStatus, DeliveryView, NewWebhookEndpoint, Replayed, WebhookEndpointView } from '../contracts/webhooks.js';

/** The AES key that seals webhook secrets, derived from SECRET_KEY for this purpose alone. */
export function webhookSecretSealer(secret: string): Buffer {
  return deriveKey(secret, 'latchkey webhook-secrets v1');
}

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** The secret's HMAC key: the bytes after `whsec_`, base64-decoded (Standard Webhooks). */
export function secretKeyBytes(secret: string): Buffer {
  return Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64');
}

// The endpoint id is authenticated with the ciphertext: a sealed secret cannot be moved to another endpoint.
export function openWebhookSecret(sealer: Uint8Array, row: { id: string; secretSealed: string }): string {
  return open(sealer, row.secretSealed, row.id).toString('utf8');
}

export type { DeliveryView, WebhookEndpointView };

const view = (row: WebhookEndpointRow): WebhookEndpointView => ({
  id: row.id,
  url: row.url,
  events: row.eventTypes,
  backchannel_logout_audience: row.backchannelAudience,
  created_at: row.createdAt.toISOString(),
  disabled_at: row.disabledAt?.toISOString() ?? null,
});

interface WebhookDeps {
  db: Db;
  clock: Clock;
  /** The key that seals endpoint secrets (`webhookSecretSealer`). */
  webhookSealer: Uint8Array;
}

/**
 * Registers an endpoint; its secret is returned this once. A back-channel logout endpoint (`audience`,
 * a client id) receives only session.revoked, as OIDC logout tokens.
 */
export async function addWebhookEndpoint(
  deps: WebhookDeps & { config: Config },
  input: { url: string; events: EventType[]; backchannelAudience?: string | undefined },
  actor: string,
): Promise<NewWebhookEndpoint> {
  const url = new URL(input.url);
  // An address that will never be posted to is refused now; a host name is checked at each delivery.
  const refused = deniedLiteral(url, parseNetworks(deps.config.webhooks.denyNetworks));
  if (refused) {
    const message = `${refused.message}: webhooks are never posted there`;
    throw new AppError('invalid_request', `Invalid request: url ${message}.`, [{ field: 'url', message }]);
  }
  if (input.backchannelAudience !== undefined && namesAudience(input.backchannelAudience, deps.config.jwt.audience)) {
    // Logout tokens are signed with the access-token key: with this aud they would pass for access tokens.
    const message = 'must not be the access-token audience (JWT_AUDIENCE): give the client id of the receiver';
    throw new AppError('invalid_request', `Invalid request: audience ${message}.`, [{ field: 'audience', message }]);
  }
  const id = `wh_${randomBytes(12).toString('base64url')}`;
  const secret = `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
  const now = deps.clock.now();
  const row = await deps.db.transaction(async (tx) => {
    const added = await insertWebhookEndpoint(tx, {
      id,
      // As parsed (scheme and host in lower case, the path percent-encoded): what is shown is what is posted to.
      url: url.href,
      eventTypes: input.backchannelAudience ? ['session.revoked'] : [...new Set(input.events)].sort(),
      secretSealed: seal(deps.webhookSealer, secret, id),
      backchannelAudience: input.backchannelAudience ?? null,
      createdAt: now,
    });
    await recordAuditEvent(tx, deps.clock, { type: 'webhook_added', details: { actor, webhookId: id, url: added.url } });
    return added;
  });
  return { ...view(row), secret };
}

export async function listWebhookEndpoints(deps: { db: Db }): Promise<WebhookEndpointView[]> {
  return (await selectWebhookEndpoints(deps.db)).map(view);
}

/** Removes an endpoint and its deliveries, pending ones included: nothing more is sent to it. */
export async function removeWebhookEndpoint(deps: WebhookDeps, id: string, actor: string): Promise<WebhookEndpointView> {
  const row = await deps.db.transaction(async (tx) => {
    const removed = await deleteWebhookEndpoint(tx, id);
    if (!removed) throw new AppError('webhook_not_found');
    await recordAuditEvent(tx, deps.clock, { type: 'webhook_removed', details: { actor, webhookId: id, url: removed.url } });
    return removed;
  });
  return view(row);
}

/** Whether an endpoint with this id is registered. */
export async function webhookEndpointExists(deps: { db: Db }, id: string): Promise<boolean> {
  return webhookEndpointIdExists(deps.db, id);
}

/** Deliveries newest first, at most `limit`; with `before`, those older than the delivery of that id (the next page). */
export async function listWebhookDeliveries(
  deps: { db: Db },
  filter: { status?: DeliveryStatus | undefined; endpoint?: string | undefined; before?: number | undefined; limit: number },
): Promise<DeliveryView[]> {
  const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
  return (await selectWebhookDeliveries(deps.db, filter)).map((r) => ({
    ...r,
    created_at: iso(r.created_at)!,
    next_attempt_at: iso(r.next_attempt_at)!,
    delivered_at: iso(r.delivered_at),
  }));
}

/**
 * Sends dead deliveries again: one by id, or every dead one. Each is pending again with a fresh retry
 * window (WEBHOOK_RETRY_FOR from now); returns how many were replayed.
 */
export async function replayWebhookDeliveries(deps: WebhookDeps, which: { id?: number | undefined; dead?: boolean | undefined }, actor: string): Promise<Replayed> {
  const replayed = await deps.db.transaction(async (tx) => {
    const count = await replayDeadDeliveries(tx, which.id, deps.clock.now());
    if (which.id !== undefined && count === 0) throw new AppError('webhook_delivery_not_found');
    await recordAuditEvent(tx, deps.clock, { type: 'webhook_replayed', details: { actor, deliveryId: which.id ?? null, replayed: count } });
    return count;
  });
  // After the commit: this instance's worker, woken at once, must see the deliveries pending.
  if (replayed > 0) await announceEvents(deps.db);
  return { replayed };
}

export { countPendingDeliveries } from '../db/queries/webhooks.js';

/** Each endpoint's deliveries waiting (pending) and given up (dead), by endpoint id; an endpoint with neither is not there. */
export async function countDeliveriesByEndpoint(deps: { db: Db }): Promise<Map<string, { pending: number; dead: number }>> {
  return new Map((await deliveryCountsByEndpoint(deps.db)).map((r) => [r.endpoint_id, { pending: r.pending, dead: r.dead }]));
}

// C0 and C1 controls, DEL, and every kind of space or line break.
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f\s]/u;
/** Control characters, which a terminal would act on, in a value an operator will see (an audience). */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;

/** A URL webhooks may be posted to: http or https, with a host, and no credentials in it. */
export function checkWebhookUrl(value: string): string | undefined {
  // WHATWG parsing drops or encodes these silently; what an operator's terminal would show is refused instead.
  if (CONTROL_OR_SPACE.test(value)) return 'must not contain spaces or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (!url.hostname) return 'must name a host';
  if (url.username || url.password) return 'must not hold credentials';
  if (url.hash) return 'must not have a #fragment';
  return undefined;
}

/** A registration as the admin API and the console take it, before it is checked. */
export interface WebhookRegistration {
  url: string;
  events: readonly string[];
  backchannelLogout: boolean;
  audience?: string | undefined;
}

export const WEBHOOK_URL_MAX = 2000;
export const WEBHOOK_AUDIENCE_MAX = 200;

/**
 * Every problem of a registration, at once, each with its field: what the admin API's schema and the console's form
 * both check before `addWebhookEndpoint` (which refuses, besides, a URL on a denied network and the access-token
 * audience).
 */
export function webhookRegistrationProblems({ url, events, backchannelLogout: backchannel, audience }: WebhookRegistration): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const urlProblem = url.length > WEBHOOK_URL_MAX ? `must be at most ${WEBHOOK_URL_MAX} characters` : checkWebhookUrl(url);
  if (urlProblem) problems.push({ field: 'url', message: urlProblem });
  const unknown = events.filter((e) => !(EVENT_TYPES as readonly string[]).includes(e));
  if (unknown.length > 0) problems.push({ field: 'events', message: `must be among ${EVENT_TYPES.join(', ')}` });
  if (audience !== undefined && (audience.trim() === '' || audience.length > WEBHOOK_AUDIENCE_MAX))
    problems.push({ field: 'audience', message: `must be 1 to ${WEBHOOK_AUDIENCE_MAX} characters, not only spaces` });
  else if (audience !== undefined && CONTROL_CHARACTERS.test(audience)) problems.push({ field: 'audience', message: 'must not contain control characters' });
  if (backchannel && audience === undefined) problems.push({ field: 'audience', message: 'is required with backchannel_logout' });
  if (!backchannel && audience !== undefined) problems.push({ field: 'audience', message: 'goes with backchannel_logout: true' });
  if (!backchannel && events.length === 0) problems.push({ field: 'events', message: 'must name at least one event type' });
  if (backchannel && events.some((e) => e !== 'session.revoked')) problems.push({ field: 'events', message: 'a back-channel logout endpoint receives session.revoked only' });
  return problems;
}

export { EVENT_TYPES };
