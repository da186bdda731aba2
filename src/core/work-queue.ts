import { AppError } from '../errors.js';

/** Runs at most `concurrency` jobs at once, queues at most `maxQueued` more, and refuses the rest at once. */
export interface WorkQueue {
  /** Throws AppError('server_busy') without waiting when the queue is full. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Whether a job submitted now would be refused: callers can skip the work they would do before it. */
  readonly full: boolean;
  readonly active: number;
  readonly queued: number;
}

export function createWorkQueue(concurrency: number, maxQueued: number): WorkQueue {
  let active = 0;
  const waiting: (() => void)[] = [];

  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active -= 1;
  };

  return {
    async run(job) {
      if (active >= concurrency) {
        if (waiting.length >= maxQueued) throw busy();
        // The slot is handed over by the job that releases it, so `active` never dips in between.
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else {
        active += 1;
      }
      try {
        return await job();
      } finally {
        release();
      }
    },
    get full() {
      return active >= concurrency && waiting.length >= maxQueued;
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
  };
}

export function busy(): AppError {
  const err = new AppError('server_busy');
  err.retryAfter = 1;
  return err;
}
