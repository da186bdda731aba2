import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Db } from '../db/client.js';
import type { Metrics } from '../core/metrics.js';
import { onEventsRecorded } from '../core/events.js';
import { backoffMs, createBatchWriter, leaseUntil, startPoller, type Jitter, type Poller } from '../core/poller.js';
import {
  claimDueDeliveries,
  endpointsWithDueDeliveries,
  markDeliveriesDelivered,
  recordFailedDelivery,
  type ClaimedDelivery,
  type DeliveredMark,
} from '../db/queries/webhooks.js';
import { createWebhookSender, type WebhookSender, type WebhookSenderOptions } from './sender.js';

export { signWebhook } from './sender.js';

const MAX_DELAY_MS = 3_600_000;

export interface WebhookWorker {
  /** Looks for work now rather than at the next poll. */
  wake(): void;
  /** Resolves once no delivery of this instance is in flight and a pass found nothing more to start. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface WebhookWorkerOptions extends Omit<WebhookSenderOptions, 'timeoutMs'> {
  db: Db;
  clock: Clock;
  logger: Logger;
  pollMs: number;
  retryForSeconds: number;
  timeoutMs?: number;
  perEndpoint: number;
  metrics: Metrics;
  /** Spreads retries (Math.random unless a test fixes it). */
  jitter?: Jitter;
}

/**
 * Delivers events to webhook endpoints, at least once and in order per user per endpoint: a delivery is
 * claimed only when no earlier one of its user for its endpoint is still pending. Claims take rows FOR
 * UPDATE SKIP LOCKED and set a lease (locked_until), so instances never send one delivery at the same
 * time and a crashed instance's claims expire. Each endpoint has at most `perEndpoint` requests in flight
 * here (WEBHOOK_CONCURRENCY), each bounded by `timeoutMs`, so a slow receiver holds up only its own endpoint.
 */
export function startWebhookWorker(opts: WebhookWorkerOptions): WebhookWorker {
  const { db } = opts;
  const sender = createWebhookSender({ ...opts, timeoutMs: opts.timeoutMs ?? 10_000 });
  // Successful deliveries are marked together: one UPDATE for all that succeeded while the previous one ran.
  const markDelivered = createBatchWriter<DeliveredMark>((marks) => markDeliveriesDelivered(db, marks));
  const ctx: DeliveryContext = { ...opts, sender, markDelivered, wakeAfter: (ms) => poller.wakeAfter(ms) };
  const poller: Poller = startPoller<ClaimedDelivery>({
    name: 'webhook',
    clock: opts.clock,
    logger: opts.logger,
    pollMs: opts.pollMs,
    firstPollMs: 0,
    subscribe: onEventsRecorded,
    work: {
      mode: 'streaming',
      lanes: (now) => endpointsWithDueDeliveries(db, now),
      claim: (endpointId, limit, now) => claimDueDeliveries(db, endpointId, limit, now, leaseUntil(now)),
      laneOf: (row) => row.endpoint_id,
      perLane: opts.perEndpoint,
      deliver: (row, answered) => deliverWebhook(ctx, row, answered),
      unrecorded: (row, err) => opts.logger.warn({ deliveryId: row.id, err: err.message }, 'webhook delivery could not be recorded; its lease will expire'),
    },
  });
  return {
    wake: poller.wake,
    idle: poller.idle,
    async close() {
      await poller.close();
      sender.close();
    },
  };
}

interface DeliveryContext extends WebhookWorkerOptions {
  sender: WebhookSender;
  markDelivered: (mark: DeliveredMark) => Promise<void>;
  /** Looks for work again after `ms`. */
  wakeAfter: (ms: number) => void;
}

/** Posts one delivery, calls `answered` once the receiver has answered (or has not in time), then records the outcome. */
async function deliverWebhook(ctx: DeliveryContext, row: ClaimedDelivery, answered: () => void): Promise<void> {
  const timeoutMs = ctx.timeoutMs ?? 10_000;
  let status: number | null = null;
  let error: string | null = null;
  try {
    status = await ctx.sender.post(row, ctx.clock.now());
    if (status < 200 || status > 299) error = `HTTP ${status}`;
  } catch (err) {
    const name = (err as Error).name;
    error = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : String((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
  }
  answered();
  const done = ctx.clock.now();
  if (!error) {
    ctx.metrics.webhookDelivery('delivered');
    return ctx.markDelivered({ id: row.id, lease: new Date(row.lease).toISOString(), at: done.toISOString(), status: status! });
  }
  return recordFailure(ctx, row, done, { status, error });
}

/** A failed attempt: dead once WEBHOOK_RETRY_FOR has passed since the delivery was created, else retried with back-off. */
async function recordFailure(ctx: DeliveryContext, row: ClaimedDelivery, done: Date, answer: { status: number | null; error: string }): Promise<void> {
  const claim = { id: row.id, lease: new Date(row.lease) };
  const deadline = new Date(row.created_at).getTime() + ctx.retryForSeconds * 1000;
  const delay = backoffMs(row.attempts, MAX_DELAY_MS, ctx.jitter ?? Math.random);
  if (done.getTime() >= deadline) {
    ctx.metrics.webhookDelivery('dead');
    await recordFailedDelivery(ctx.db, claim, { dead: true }, answer);
    ctx.logger.warn({ deliveryId: row.id, endpointId: row.endpoint_id, attempts: row.attempts, err: answer.error }, 'webhook delivery is dead: retried for WEBHOOK_RETRY_FOR');
    return;
  }
  ctx.metrics.webhookDelivery('failed');
  // The last try falls on the deadline, so that a delivery is retried for the whole of WEBHOOK_RETRY_FOR.
  const next = new Date(Math.min(done.getTime() + delay, deadline));
  await recordFailedDelivery(ctx.db, claim, { retryAt: next }, answer);
  ctx.logger.info({ deliveryId: row.id, endpointId: row.endpoint_id, attempt: row.attempts, err: answer.error }, 'webhook delivery failed; will retry');
  // Looked for again when due, rather than at the next poll.
  ctx.wakeAfter(next.getTime() - done.getTime() + 50);
}
