import { RateLimiterRes } from 'rate-limiter-flexible';

/** What the throttle uses of a limiter: rate-limiter-flexible's, or a LocalLimiter. */
export interface Limiter {
  /** Resolves while the key is within its points; past them, rejects with a RateLimiterRes. */
  consume(key: string): Promise<unknown>;
  penalty(key: string, points: number): Promise<RateLimiterRes>;
  reward(key: string, points: number): Promise<unknown>;
  /** Sets the key past its points for `seconds`. */
  block(key: string, seconds: number): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

export interface LocalLimiterOptions {
  points: number;
  /** Length of a window, in seconds. */
  duration: number;
  /** Keys kept at most; when full, a new key replaces the one whose window started first. */
  maxKeys?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

/** Past this many keys a limiter forgets its oldest: about 16 MB of heap with emails as keys. */
export const LOCAL_LIMITER_MAX_KEYS = 100_000;
const SWEEP_EVERY_MS = 60_000;

interface Window {
  points: number;
  expiresAt: number;
}

/**
 * Fixed-window counters in this process, answering as rate-limiter-flexible's RateLimiterMemory does,
 * without its timer per key: RateLimiterMemory keeps a record and a setTimeout for each key for its
 * whole window (an hour for the per-email ones): 486 bytes of heap a key, against 156 here (measured
 * with 30,000 email keys), where a key is one small object in a Map. Expired keys are dropped when
 * read, and by a sweep that the writes run at most once a minute (no timer to stop); the number of
 * keys is bounded.
 */
export class LocalLimiter implements Limiter {
  private readonly windows = new Map<string, Window>();
  private readonly points: number;
  private readonly durationMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private nextSweep: number;
  /** Keys forgotten before their window ended, because the limiter was full. */
  evicted = 0;

  constructor(opts: LocalLimiterOptions) {
    if (!(opts.duration > 0) || !(opts.points > 0)) throw new RangeError('LocalLimiter: points and duration must be positive');
    this.points = opts.points;
    this.durationMs = opts.duration * 1000;
    this.maxKeys = Math.max(1, opts.maxKeys ?? LOCAL_LIMITER_MAX_KEYS);
    this.now = opts.now ?? Date.now;
    this.nextSweep = this.now() + Math.min(this.durationMs, SWEEP_EVERY_MS);
  }

  get size(): number {
    return this.windows.size;
  }

  consume(key: string): Promise<RateLimiterRes> {
    const res = this.add(key, 1);
    return res.consumedPoints > this.points ? Promise.reject(res) : Promise.resolve(res);
  }

  penalty(key: string, points: number): Promise<RateLimiterRes> {
    return Promise.resolve(this.add(key, points));
  }

  /** As RateLimiterMemory: a key without a window gets one starting below zero. */
  reward(key: string, points: number): Promise<RateLimiterRes> {
    return Promise.resolve(this.add(key, -points));
  }

  block(key: string, seconds: number): Promise<RateLimiterRes> {
    const now = this.now();
    this.start(key, this.points + 1, now + seconds * 1000, now);
    return Promise.resolve(new RateLimiterRes(0, seconds * 1000, this.points + 1, false));
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.windows.delete(key));
  }

  /** Drops every expired key. */
  sweep(now = this.now()): void {
    for (const [key, w] of this.windows) if (w.expiresAt <= now) this.windows.delete(key);
    this.nextSweep = now + Math.min(this.durationMs, SWEEP_EVERY_MS);
  }

  private add(key: string, points: number): RateLimiterRes {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const w = this.windows.get(key);
    if (w && w.expiresAt > now) {
      w.points += points;
      return new RateLimiterRes(Math.max(this.points - w.points, 0), w.expiresAt - now, w.points, false);
    }
    this.start(key, points, now + this.durationMs, now);
    return new RateLimiterRes(Math.max(this.points - points, 0), this.durationMs, points, true);
  }

  private start(key: string, points: number, expiresAt: number, now: number) {
    // Deleted first, so that the Map's order stays the order windows started: the oldest come first.
    if (!this.windows.delete(key) && this.windows.size >= this.maxKeys) {
      // Full: the window that started first goes (it ends first, unless a block outlasts it).
      const [oldest, w] = this.windows.entries().next().value!;
      this.windows.delete(oldest);
      if (w.expiresAt > now) this.evicted += 1;
    }
    this.windows.set(key, { points, expiresAt });
  }
}
