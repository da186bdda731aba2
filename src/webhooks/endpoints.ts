import { randomBytes } from 'node:crypto';
import { asc, eq, sql } from 'drizzle-orm';
import { recordAuditEvent } from '../core/audit.js';
import { deriveKey, open, seal } from '../core/secret-box.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../config.js';
import { rowsOf, type Db } from '../db/client.js';
import { webhookEndpoints } from '../db/schema.js';
import { AppError } from '../errors.js';
import { deniedLiteral, parseNetworks } from './destinations.js';
import { announceEvents, EVENT_TYPES, type EventType } from '../core/events.js';
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

const view = (row: typeof webhookEndpoints.$inferSelect): WebhookEndpointView => ({
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
  const id = `wh_${randomBytes(12).toString('base64url')}`;
  const secret = `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
  const now = deps.clock.now();
  const [row] = await deps.db
    .insert(webhookEndpoints)
    .values({
      id,
      // As parsed (scheme and host in lower case, the path percent-encoded): what is shown is what is posted to.
      url: url.href,
      eventTypes: input.backchannelAudience ? ['session.revoked'] : [...new Set(input.events)].sort(),
      secretSealed: seal(deps.webhookSealer, secret, id),
      backchannelAudience: input.backchannelAudience ?? null,
      createdAt: now,
    })
    .returning();
  await recordAuditEvent(deps.db, deps.clock, { type: 'webhook_added', details: { actor, webhookId: id, url: row!.url } });
  return { ...view(row!), secret };
}

export async function listWebhookEndpoints(deps: { db: Db }): Promise<WebhookEndpointView[]> {
  const rows = await deps.db.select().from(webhookEndpoints).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
  return rows.map(view);
}

/** Removes an endpoint and its deliveries, pending ones included: nothing more is sent to it. */
export async function removeWebhookEndpoint(deps: WebhookDeps, id: string, actor: string): Promise<WebhookEndpointView> {
  const [row] = await deps.db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).returning();
  if (!row) throw new AppError('webhook_not_found');
  await recordAuditEvent(deps.db, deps.clock, { type: 'webhook_removed', details: { actor, webhookId: id, url: row.url } });
  return view(row);
}

/** Whether an endpoint with this id is registered. */
export async function webhookEndpointExists(deps: { db: Db }, id: string): Promise<boolean> {
  const [endpoint] = await deps.db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  return endpoint !== undefined;
}

export async function listWebhookDeliveries(
  deps: { db: Db },
  filter: { status?: DeliveryStatus | undefined; endpoint?: string | undefined; limit: number },
): Promise<DeliveryView[]> {
  const result = await deps.db.execute(sql`
    SELECT d.id::int AS id, d.endpoint_id, d.event_id::int AS event_id, e.type AS event_type, d.status, d.attempts, d.last_status, d.last_error,
      d.created_at, d.next_attempt_at, d.delivered_at
    FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
    WHERE (${filter.status ?? null}::text IS NULL OR d.status = ${filter.status ?? null})
      AND (${filter.endpoint ?? null}::text IS NULL OR d.endpoint_id = ${filter.endpoint ?? null})
    ORDER BY d.id DESC LIMIT ${filter.limit}`);
  const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
  return rowsOf<DeliveryView & { created_at: Date | string; next_attempt_at: Date | string; delivered_at: Date | string | null }>(result).map((r) => ({
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
  const now = deps.clock.now();
  const rows = await deps.db.execute(sql`
    UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ${now}::timestamptz, created_at = ${now}::timestamptz,
      locked_until = NULL, last_error = NULL, last_status = NULL
    WHERE status = 'dead' AND (${which.id ?? null}::bigint IS NULL OR id = ${which.id ?? null})
    RETURNING id`);
  const replayed = rowsOf(rows).length;
  if (which.id !== undefined && replayed === 0) throw new AppError('webhook_delivery_not_found');
  if (replayed > 0) await announceEvents(deps.db);
  await recordAuditEvent(deps.db, deps.clock, { type: 'webhook_replayed', details: { actor, deliveryId: which.id ?? null, replayed } });
  return { replayed };
}

/** Deliveries not yet made, of every instance (the partial index on pending deliveries serves it). */
export async function countPendingDeliveries(db: Db): Promise<number> {
  const result = await db.execute(sql`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`);
  return rowsOf<{ n: number }>(result)[0]?.n ?? 0;
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

export { EVENT_TYPES };
