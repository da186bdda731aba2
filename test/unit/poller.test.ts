import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { backoffMs, createBatchWriter, leaseUntil, LEASE_MS, startPoller, type Poller } from '../../src/core/poller.js';
import { createTestClock } from '../helpers/clock.js';

// The poller skeleton alone, with work a test controls; test/unit/poller-queries.test.ts runs it against the
// real engines through the mail outbox and webhook queries.

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise and the functions that settle it. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('back-off', () => {
  it('doubles from 1 s up to its cap, spread from 80 % to 120 % by the jitter', () => {
    const middle = () => 0.5;
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, 3_600_000, middle))).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(backoffMs(30, 3_600_000, middle)).toBe(3_600_000);
    expect(backoffMs(3, 5_000, middle)).toBe(4000);
    expect(backoffMs(4, 5_000, middle)).toBe(5000);
    expect(backoffMs(1, 3_600_000, () => 0)).toBe(800);
    expect(backoffMs(2, 3_600_000, () => 0.75)).toBeCloseTo(2200, 9);
    expect(backoffMs(30, 60_000, () => 0.999_999)).toBeCloseTo(72_000, 0);
  });

  it('leases for a minute from the claim', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(leaseUntil(now).getTime() - now.getTime()).toBe(LEASE_MS);
    expect(LEASE_MS).toBe(60_000);
  });
});

describe('batch writer', () => {
  it('writes the first mark alone, then every mark added meanwhile in one write', async () => {
    const writes: number[][] = [];
    const gates = [deferred(), deferred(), deferred()];
    const write = createBatchWriter<number>(async (marks) => {
      writes.push(marks);
      await gates[writes.length - 1]!.promise;
    });
    const first = write(1);
    await sleep(0);
    const rest = [write(2), write(3), write(4)];
    expect(writes).toEqual([[1]]);
    gates[0]!.resolve();
    await first;
    await sleep(0);
    expect(writes).toEqual([[1], [2, 3, 4]]);
    const last = write(5);
    gates[1]!.resolve();
    await Promise.all(rest);
    gates[2]!.resolve();
    await last;
    expect(writes).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('fails the marks of a write that failed, and writes the next ones all the same', async () => {
    let calls = 0;
    const write = createBatchWriter<number>(async () => {
      calls += 1;
      if (calls === 1) throw new Error('database away');
    });
    await expect(write(1)).rejects.toThrow('database away');
    await expect(write(2)).resolves.toBeUndefined();
  });
});

describe('streaming work', () => {
  /** Lanes with rows a test feeds; each delivery waits until the test answers it. */
  function streamingHarness(perLane: number) {
    const queued = new Map<string, number[]>();
    const answers = new Map<number, ReturnType<typeof deferred<void>>>();
    const recorded: number[] = [];
    const claims: { lane: string; limit: number }[] = [];
    const poller = startPoller<{ lane: string; id: number }>({
      name: 'test',
      clock: createTestClock(),
      logger: silent,
      pollMs: 60_000,
      firstPollMs: 60_000,
      work: {
        mode: 'streaming',
        lanes: async () => [...queued].filter(([, ids]) => ids.length > 0).map(([lane]) => lane),
        claim: async (lane, limit) => {
          claims.push({ lane, limit });
          return queued.get(lane)!.splice(0, limit).map((id) => ({ lane, id }));
        },
        laneOf: (row) => row.lane,
        perLane,
        deliver: async (row, answered) => {
          const answer = deferred();
          answers.set(row.id, answer);
          await answer.promise;
          answered();
          recorded.push(row.id);
        },
        unrecorded: () => {},
      },
    });
    return { poller, queued, answers, recorded, claims };
  }

  it('keeps at most perLane rows of a lane in flight, and claims more as each is answered', async () => {
    const h = streamingHarness(2);
    h.queued.set('a', [1, 2, 3, 4, 5]);
    h.queued.set('b', [6]);
    await h.poller.runOnce();
    expect([...h.answers.keys()].sort()).toEqual([1, 2, 6]);
    expect(h.claims).toEqual([{ lane: 'a', limit: 2 }, { lane: 'b', limit: 2 }]);
    h.answers.get(1)!.resolve();
    await sleep(10);
    expect([...h.answers.keys()].sort()).toEqual([1, 2, 3, 6]);
    expect(h.claims.at(-1)).toEqual({ lane: 'a', limit: 1 });
    for (const id of [2, 3, 6]) h.answers.get(id)!.resolve();
    await sleep(10);
    for (const id of [4, 5]) h.answers.get(id)!.resolve();
    await h.poller.idle();
    expect(h.recorded.sort()).toEqual([1, 2, 3, 4, 5, 6]);
    await h.poller.close();
  });

  it('on close, starts nothing more and waits for the deliveries in flight', async () => {
    const h = streamingHarness(1);
    h.queued.set('a', [1, 2]);
    await h.poller.runOnce();
    let closed = false;
    const closing = h.poller.close().then(() => (closed = true));
    await sleep(10);
    expect(closed).toBe(false);
    h.answers.get(1)!.resolve();
    await closing;
    expect(h.recorded).toEqual([1]);
    expect(h.answers.has(2)).toBe(false);
    expect(await h.poller.runOnce()).toBe(0);
  });

  it('reports a delivery that could not be recorded, and frees its slot', async () => {
    const unrecorded: number[] = [];
    let fail = true;
    const rows = [1, 2];
    const poller: Poller = startPoller<number>({
      name: 'test',
      clock: createTestClock(),
      logger: silent,
      pollMs: 60_000,
      firstPollMs: 60_000,
      work: {
        mode: 'streaming',
        lanes: async () => (rows.length > 0 ? ['a'] : []),
        claim: async (_lane, limit) => rows.splice(0, limit),
        laneOf: () => 'a',
        perLane: 1,
        deliver: async (row, answered) => {
          answered();
          if (fail) {
            fail = false;
            throw new Error(`row ${row}: database away`);
          }
        },
        unrecorded: (row) => unrecorded.push(row),
      },
    });
    await poller.runOnce();
    await poller.idle();
    expect(unrecorded).toEqual([1]);
    expect(rows).toEqual([]);
    await poller.close();
  });
});

describe('batch work', () => {
  it('claims again while a claim comes back full, and counts what was delivered', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => i + 1);
    const claims: number[] = [];
    const delivered: number[] = [];
    const poller = startPoller<number>({
      name: 'test',
      clock: createTestClock(),
      logger: silent,
      pollMs: 60_000,
      firstPollMs: 60_000,
      work: {
        mode: 'batch',
        batch: 10,
        claim: async (limit) => {
          const batch = rows.splice(0, limit);
          claims.push(batch.length);
          return batch;
        },
        // One after another, never two at once.
        deliver: async (row) => {
          delivered.push(row);
          await sleep(1);
          expect(delivered.at(-1)).toBe(row);
          return row % 5 !== 0;
        },
      },
    });
    expect(await poller.runOnce()).toBe(20);
    expect(claims).toEqual([10, 10, 5]);
    expect(delivered).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    await poller.close();
  });

  it('joins the pass running and runs one more after it; a failed pass is logged and the next one runs', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    let passes = 0;
    const gate = deferred();
    const poller = startPoller<number>({
      name: 'test',
      clock: createTestClock(),
      logger,
      pollMs: 60_000,
      firstPollMs: 60_000,
      work: {
        mode: 'batch',
        batch: 10,
        claim: async () => {
          passes += 1;
          if (passes === 1) {
            await gate.promise;
            throw new Error('database away');
          }
          return [];
        },
        deliver: async () => true,
      },
    });
    const first = poller.runOnce();
    const joined = poller.runOnce();
    gate.resolve();
    expect(await first).toBe(0);
    expect(await joined).toBe(0);
    await sleep(10);
    expect(passes).toBe(2);
    expect(lines.some((l) => l.includes('test pass failed; will retry') && l.includes('database away'))).toBe(true);
    await poller.close();
  });

  it('polls on its own and when its subscription wakes it', async () => {
    let passes = 0;
    let wake: () => void = () => {};
    let unsubscribed = false;
    const poller = startPoller<number>({
      name: 'test',
      clock: createTestClock(),
      logger: silent,
      pollMs: 20,
      firstPollMs: 0,
      subscribe: (fn) => {
        wake = fn;
        return () => (unsubscribed = true);
      },
      work: {
        mode: 'batch',
        batch: 1,
        claim: async () => {
          passes += 1;
          return [];
        },
        deliver: async () => true,
      },
    });
    await sleep(100);
    expect(passes).toBeGreaterThanOrEqual(3);
    await poller.close();
    const after = passes;
    wake();
    await sleep(50);
    expect(passes).toBe(after);
    expect(unsubscribed).toBe(true);
  });
});
