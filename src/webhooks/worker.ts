import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { epochSeconds, type Clock } from '../core/clock.js';
import { rowsOf, type Db } from '../db/client.js';
import type { Metrics } from '../core/metrics.js';
import { deniedLiteral, guardedLookup, type DeniedNetworks } from './destinations.js';
import { onEventsRecorded } from '../core/events.js';
import { openWebhookSecret, secretKeyBytes } from './endpoints.js';

const LEASE_MS = 60_000;
const MAX_DELAY_MS = 3_600_000;

/** Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` under the secret's bytes. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretKeyBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export interface WebhookWorker {
  /** Looks for work now rather than at the next poll. */
  wake(): void;
  /** Resolves once no delivery of this instance is in flight and a pass found nothing more to start. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

interface Claimed {
  id: number;
  endpoint_id: string;
  event_id: number;
  attempts: number;
  created_at: Date | string;
  lease: Date | string;
  type: string;
  user_id: string | null;
  data: Record<string, unknown>;
  event_created_at: Date | string;
  url: string;
  secret_sealed: string;
  backchannel_audience: string | null;
}

/**
 * Delivers events to webhook endpoints, at least once and in order per user per endpoint: a delivery is
 * claimed only when no earlier one of its user for its endpoint is still pending. Claims take rows FOR
 * UPDATE SKIP LOCKED and set a lease (locked_until), so instances never send one delivery at the same
 * time and a crashed instance's claims expire. Each endpoint has at most `perEndpoint` requests in flight
 * here (WEBHOOK_CONCURRENCY), each bounded by `timeoutMs`, so a slow receiver holds up only its own endpoint.
 */
export function startWebhookWorker(opts: {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Signs the back-channel logout token posted to an endpoint registered for it (the domain's signer, wired in src/jobs.ts). */
  signLogoutToken: (claims: { audience: string; sub: unknown; sid: unknown }, now: Date) => string;
  sealer: Uint8Array;
  pollMs: number;
  retryForSeconds: number;
  timeoutMs?: number;
  perEndpoint: number;
  metrics: Metrics;
  /** WEBHOOK_DENY_NETWORKS, parsed. */
  denyNetworks: DeniedNetworks;
}): WebhookWorker {
  const { db, clock, logger } = opts;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const { perEndpoint } = opts;
  const inFlight = new Map<string, number>();
  const deliveries = new Set<Promise<void>>();
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const denied = opts.denyNetworks;
  // Connections kept open between deliveries; each new one checks where its host resolves (guardedLookup).
  const lookup = guardedLookup(denied);
  const agents = { http: new HttpAgent({ keepAlive: true, lookup }), https: new HttpsAgent({ keepAlive: true, lookup }) };
  // Successful deliveries are marked together: one UPDATE for all that succeeded while the previous one
  // ran. A statement per delivery, on a pool the whole server shares, bounded the delivery rate.
  let unmarked: { id: number; lease: string; at: string; status: number }[] = [];
  let marking: Promise<void> = Promise.resolve();
  let nextMarking: Promise<void> | undefined;

  async function claim(endpointId: string, limit: number, now: Date): Promise<Claimed[]> {
    const lease = new Date(now.getTime() + LEASE_MS);
    // Due: the earliest pending delivery of each user (its head), oldest first. The heads are found in one
    // pass over the endpoint's pending deliveries, then locked by id, a plan that stays linear in the backlog
    // whatever the statistics say. Checked per candidate instead (NOT EXISTS an earlier one pending), the
    // planner rescanned the backlog for every candidate when its statistics predated a burst of events: a
    // claim took 4 s at 12,000 pending (27 s before any statistics). The locked row is checked again: another
    // instance may have claimed it, or failed it to a later attempt, since the heads were read.
    const result = await db.execute(sql`
      WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.id = ANY(ARRAY(
            SELECT h.id FROM (
              SELECT DISTINCT ON (p.user_id) p.id, p.next_attempt_at, p.locked_until FROM webhook_deliveries p
              WHERE p.endpoint_id = ${endpointId} AND p.status = 'pending'
              ORDER BY p.user_id, p.id
            ) h
            WHERE h.next_attempt_at <= ${now}::timestamptz AND (h.locked_until IS NULL OR h.locked_until < ${now}::timestamptz)
            ORDER BY h.id LIMIT ${limit}))
          AND d.status = 'pending' AND d.next_attempt_at <= ${now}::timestamptz
          AND (d.locked_until IS NULL OR d.locked_until < ${now}::timestamptz)
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_deliveries w SET locked_until = ${lease}::timestamptz, attempts = w.attempts + 1
        FROM due WHERE w.id = due.id
        RETURNING w.id, w.endpoint_id, w.event_id, w.attempts, w.created_at, w.locked_until AS lease
      )
      SELECT c.id::int AS id, c.endpoint_id, c.event_id::int AS event_id, c.attempts, c.created_at, c.lease,
        e.type, e.user_id, e.data, e.created_at AS event_created_at, ep.url, ep.secret_sealed, ep.backchannel_audience
      FROM claimed c JOIN events e ON e.id = c.event_id JOIN webhook_endpoints ep ON ep.id = c.endpoint_id
      ORDER BY c.id`);
    return rowsOf<Claimed>(result);
  }

  /** Posts one delivery; resolves with the receiver's status, throws when it could not be reached in time. */
  async function post(row: Claimed, now: Date): Promise<number> {
    const webhookId = `evt_${row.event_id}`;
    const timestamp = epochSeconds(now);
    let body: string;
    let contentType: string;
    if (row.backchannel_audience) {
      body = new URLSearchParams({ logout_token: opts.signLogoutToken({ audience: row.backchannel_audience, sub: row.data.sub, sid: row.data.sid }, now) }).toString();
      contentType = 'application/x-www-form-urlencoded';
    } else {
      body = JSON.stringify({ type: row.type, timestamp: new Date(row.event_created_at).toISOString(), data: row.data });
      contentType = 'application/json';
    }
    const secret = openWebhookSecret(opts.sealer, { id: row.endpoint_id, secretSealed: row.secret_sealed });
    return send(new URL(row.url), body, {
      'content-type': contentType,
      'user-agent': 'Latchkey-Webhooks',
      'webhook-id': webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(secret, webhookId, timestamp, body),
    });
  }

  /**
   * One POST, its answer's status (redirects are not followed: a 3xx is a failed delivery). Every address the
   * host resolves to is checked against WEBHOOK_DENY_NETWORKS when the socket connects; an IP literal, which
   * is not looked up, before.
   */
  function send(url: URL, body: string, headers: Record<string, string>): Promise<number> {
    const refused = deniedLiteral(url, denied);
    if (refused) return Promise.reject(refused);
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: secure ? agents.https : agents.http,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          // Read to its end, so that the connection serves the next delivery.
          res.resume();
          res.on('error', () => {});
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Posts one delivery, calls `answered` once the receiver has answered (or has not in time), then records the outcome. */
  async function deliver(row: Claimed, answered: () => void): Promise<void> {
    const now = clock.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await post(row, now);
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      const name = (err as Error).name;
      error = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : String((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
    }
    answered();
    const done = clock.now();
    // Only while this instance still holds the claim: after its lease, another instance owns the row.
    const mine = sql`id = ${row.id} AND status = 'pending' AND locked_until = ${new Date(row.lease)}::timestamptz`;
    if (!error) {
      opts.metrics.webhookDelivery('delivered');
      return markDelivered(row, done, status!);
    }
    const deadline = new Date(row.created_at).getTime() + opts.retryForSeconds * 1000;
    const delay = Math.min(2 ** (row.attempts - 1) * 1000, MAX_DELAY_MS) * (0.8 + Math.random() * 0.4);
    if (done.getTime() >= deadline) {
      opts.metrics.webhookDelivery('dead');
      await db.execute(sql`UPDATE webhook_deliveries SET status = 'dead', locked_until = NULL, last_status = ${status}, last_error = ${error.slice(0, 500)} WHERE ${mine}`);
      logger.warn({ deliveryId: row.id, endpointId: row.endpoint_id, attempts: row.attempts, err: error }, 'webhook delivery is dead: retried for WEBHOOK_RETRY_FOR');
      return;
    }
    opts.metrics.webhookDelivery('failed');
    // The last try falls on the deadline, so that a delivery is retried for the whole of WEBHOOK_RETRY_FOR.
    const next = new Date(Math.min(done.getTime() + delay, deadline));
    await db.execute(sql`UPDATE webhook_deliveries SET next_attempt_at = ${next}::timestamptz, locked_until = NULL, last_status = ${status}, last_error = ${error.slice(0, 500)} WHERE ${mine}`);
    logger.info({ deliveryId: row.id, endpointId: row.endpoint_id, attempt: row.attempts, err: error }, 'webhook delivery failed; will retry');
    // Looked for again when due, rather than at the next poll.
    if (!closed) setTimeout(runOnce, next.getTime() - done.getTime() + 50).unref();
  }

  /** Resolves once the delivery is marked, with those that succeeded meanwhile (only where the claim still holds). */
  function markDelivered(row: Claimed, at: Date, status: number): Promise<void> {
    unmarked.push({ id: row.id, lease: new Date(row.lease).toISOString(), at: at.toISOString(), status });
    if (!nextMarking) {
      const writeMarks = async () => {
        const marks = unmarked;
        unmarked = [];
        nextMarking = undefined;
        await db.execute(sql`
          UPDATE webhook_deliveries w SET status = 'delivered', delivered_at = m.at, locked_until = NULL, last_status = m.status, last_error = NULL
          FROM jsonb_to_recordset(${JSON.stringify(marks)}::jsonb) AS m(id bigint, lease timestamptz, at timestamptz, status int)
          WHERE w.id = m.id AND w.status = 'pending' AND w.locked_until = m.lease`);
      };
      nextMarking = marking = marking.then(writeMarks, writeMarks);
    }
    return nextMarking;
  }

  function start(row: Claimed) {
    inFlight.set(row.endpoint_id, (inFlight.get(row.endpoint_id) ?? 0) + 1);
    // The endpoint's slot is free once its receiver has answered: recording the outcome can take a while under
    // load, and holding the slot meanwhile held the endpoint's rate down. The user's next delivery still
    // waits for the record (until then it is not the user's earliest pending one).
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight.set(row.endpoint_id, (inFlight.get(row.endpoint_id) ?? 1) - 1);
      if (!closed) runOnce();
    };
    const p: Promise<void> = deliver(row, release)
      .catch((err: Error) => logger.warn({ deliveryId: row.id, err: err.message }, 'webhook delivery could not be recorded; its lease will expire'))
      .finally(() => {
        release();
        deliveries.delete(p);
        // The next of this user's deliveries may be due now.
        if (!closed) runOnce();
      });
    deliveries.add(p);
  }

  async function pass(): Promise<void> {
    const now = clock.now();
    const result = await db.execute(sql`
      SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints ep ON ep.id = d.endpoint_id AND ep.disabled_at IS NULL
      WHERE d.status = 'pending' AND d.next_attempt_at <= ${now}::timestamptz AND (d.locked_until IS NULL OR d.locked_until < ${now}::timestamptz)`);
    for (const { endpoint_id: endpointId } of rowsOf<{ endpoint_id: string }>(result)) {
      const free = perEndpoint - (inFlight.get(endpointId) ?? 0);
      if (free <= 0 || closed) continue;
      for (const row of await claim(endpointId, free, now)) start(row);
    }
  }

  function runOnce(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((err: Error) => logger.warn({ err: err.message }, 'webhook pass failed; will retry'))
      .finally(() => {
        running = undefined;
        if (again && !closed) {
          again = false;
          runOnce();
        }
      });
  }

  const tick = () => {
    if (closed) return;
    runOnce();
    timer = setTimeout(tick, opts.pollMs).unref();
  };
  timer = setTimeout(tick, 0).unref();
  const unsubscribe = onEventsRecorded(runOnce);

  return {
    wake: runOnce,
    async idle() {
      while (running || deliveries.size > 0) await Promise.all([running, ...deliveries]);
    },
    async close() {
      closed = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      await running;
      await Promise.allSettled([...deliveries]);
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
