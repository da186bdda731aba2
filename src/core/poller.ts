import type { Logger } from 'pino';
import type { Clock } from './clock.js';

// The loop every outbox worker runs (the mail outbox, webhook deliveries): look for due rows at each poll or
// when woken, claim them with FOR UPDATE SKIP LOCKED under a lease, deliver them, retry failures with an
// exponential back-off, and on close let the deliveries in flight finish. The channel brings the SQL (in
// src/db/queries/) and the delivery; the loop, its timers and its bookkeeping are here.

/** A random source in [0, 1): Math.random in production, a fixed one where a test needs a known back-off. */
export type Jitter = () => number;

/** How long a claim holds a row: a crashed instance's claims expire after it and another instance takes them over. */
export const LEASE_MS = 60_000;

/** The end of a lease taken now. */
export const leaseUntil = (now: Date, leaseMs = LEASE_MS): Date => new Date(now.getTime() + leaseMs);

/**
 * The wait before the next attempt: 1 s after the first, doubling with each, at most `maxMs`; spread
 * between 80 % and 120 % by the jitter, so that rows that failed together are not retried together.
 */
export function backoffMs(attempt: number, maxMs: number, jitter: Jitter): number {
  return Math.min(2 ** (attempt - 1) * 1000, maxMs) * (0.8 + jitter() * 0.4);
}

/**
 * Writes marks in batches: one `write` with every mark added while the previous write ran. Each mark's
 * promise settles with the write that holds it. A statement per delivered row, on a pool the whole server
 * shares, bounded the webhook delivery rate; batched, it is what reaches 600 deliveries a second.
 */
export function createBatchWriter<M>(write: (marks: M[]) => Promise<void>): (mark: M) => Promise<void> {
  let waiting: M[] = [];
  let writing: Promise<void> = Promise.resolve();
  let next: Promise<void> | undefined;
  const flush = async () => {
    const marks = waiting;
    waiting = [];
    next = undefined;
    await write(marks);
  };
  return (mark) => {
    waiting.push(mark);
    // After the write in progress, whether it failed or not.
    next ??= writing = writing.then(flush, flush);
    return next;
  };
}

/**
 * Rows delivered each as soon as claimed, concurrently, with at most `perLane` of one lane in flight (a
 * webhook endpoint: a slow receiver holds up only its own). A lane's slot is free again once `deliver`
 * calls `answered`; the poller then looks again, and again when the delivery is recorded.
 */
export interface StreamingWork<Row> {
  mode: 'streaming';
  /** The lanes with due work now. */
  lanes(now: Date): Promise<string[]>;
  claim(lane: string, limit: number, now: Date): Promise<Row[]>;
  laneOf(row: Row): string;
  perLane: number;
  /** Delivers a row and records its outcome; calls `answered` as soon as the lane's slot can be freed. */
  deliver(row: Row, answered: () => void): Promise<void>;
  /** A delivery whose outcome could not be recorded: its lease will expire and it will be claimed again. */
  unrecorded(row: Row, err: Error): void;
}

/**
 * Rows claimed `batch` at a time and delivered one after another; a pass claims again while a claim came
 * back full, and counts what `deliver` reports delivered. A failure to record ends the pass.
 */
export interface BatchWork<Row> {
  mode: 'batch';
  batch: number;
  claim(limit: number, now: Date): Promise<Row[]>;
  deliver(row: Row): Promise<boolean>;
}

export interface PollerOptions<Row> {
  /** Names the worker in its log lines ('webhook', 'outbox'). */
  name: string;
  clock: Clock;
  logger: Logger;
  /** The wait between passes (from the end of one to the start of the next). */
  pollMs: number;
  /** The wait before the first pass. */
  firstPollMs: number;
  /** Calls its argument when there may be work (a NOTIFY, a change recorded here); returns how to stop. */
  subscribe?: (wake: () => void) => () => void;
  work: StreamingWork<Row> | BatchWork<Row>;
}

export interface Poller {
  /** Looks for work now rather than at the next poll. */
  wake(): void;
  /** Looks again after `ms` (when a retry falls due) rather than at the next poll. */
  wakeAfter(ms: number): void;
  /** Runs a pass (or joins the one running, and runs another after it); resolves with how many rows the pass delivered (batch) or started (streaming). */
  runOnce(): Promise<number>;
  /** Resolves once no delivery is in flight and a pass found nothing more to start. */
  idle(): Promise<void>;
  /** Stops polling, then waits for the pass running and the deliveries in flight. */
  close(): Promise<void>;
}

/** Starts the loop: its first pass after `firstPollMs`. */
export function startPoller<Row>(opts: PollerOptions<Row>): Poller {
  const { work, logger } = opts;
  const deliveries = new Set<Promise<void>>();
  let closed = false;
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  const pass = work.mode === 'batch' ? () => batchPass(work, opts.clock) : streamingPass(work, opts.clock, deliveries, () => closed, () => void runOnce());

  function runOnce(): Promise<number> {
    if (closed) return Promise.resolve(0);
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .catch((err: Error) => {
        logger.warn({ err: err.message }, `${opts.name} pass failed; will retry`);
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !closed) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const tick = () => {
    if (closed) return;
    void runOnce().finally(() => {
      if (!closed) timer = setTimeout(tick, opts.pollMs).unref();
    });
  };
  timer = setTimeout(tick, opts.firstPollMs).unref();
  const unsubscribe = opts.subscribe?.(() => void runOnce());

  return {
    wake: () => void runOnce(),
    wakeAfter(ms) {
      if (!closed) setTimeout(() => void runOnce(), ms).unref();
    },
    runOnce,
    async idle() {
      while (running || deliveries.size > 0) await Promise.all([running, ...deliveries]);
    },
    async close() {
      closed = true;
      unsubscribe?.();
      if (timer) clearTimeout(timer);
      await running;
      await Promise.allSettled([...deliveries]);
    },
  };
}

async function batchPass<Row>(work: BatchWork<Row>, clock: Clock): Promise<number> {
  let delivered = 0;
  for (;;) {
    const rows = await work.claim(work.batch, clock.now());
    for (const row of rows) if (await work.deliver(row)) delivered += 1;
    if (rows.length < work.batch) return delivered;
  }
}

/** A pass of streaming work: claims what each lane has room for and starts it; the deliveries run on after the pass. */
function streamingPass<Row>(work: StreamingWork<Row>, clock: Clock, deliveries: Set<Promise<void>>, closed: () => boolean, look: () => void) {
  const inFlight = new Map<string, number>();

  function start(row: Row) {
    const lane = work.laneOf(row);
    inFlight.set(lane, (inFlight.get(lane) ?? 0) + 1);
    // The lane's slot is free once the receiver has answered: recording the outcome can take a while under
    // load, and holding the slot meanwhile held the endpoint's rate down. The row's successor (a user's next
    // delivery) still waits for the record: until then it is not due.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (inFlight.get(lane) ?? 1) - 1;
      if (left > 0) inFlight.set(lane, left);
      else inFlight.delete(lane);
      if (!closed()) look();
    };
    const delivery: Promise<void> = work
      .deliver(row, release)
      .catch((err: Error) => work.unrecorded(row, err))
      .finally(() => {
        release();
        deliveries.delete(delivery);
        // The row's successor may be due now.
        if (!closed()) look();
      });
    deliveries.add(delivery);
  }

  return async (): Promise<number> => {
    const now = clock.now();
    let started = 0;
    for (const lane of await work.lanes(now)) {
      const free = work.perLane - (inFlight.get(lane) ?? 0);
      if (free <= 0 || closed()) continue;
      for (const row of await work.claim(lane, free, now)) {
        start(row);
        started += 1;
      }
    }
    return started;
  };
}
