import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { LocalLimiter } from '../../src/auth/throttle/local-limiter.js';
import { createTestClock } from '../helpers/clock.js';

const limiter = (points: number, duration: number, maxKeys?: number) => {
  const clock = createTestClock();
  const l = new LocalLimiter({ points, duration, maxKeys, now: () => clock.now().getTime() });
  return { l, clock };
};

/** The answer of a consume: the RateLimiterRes it resolved or rejected with, and which. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    (res) => ({ ok: true, res: res as RateLimiterRes }),
    (res: unknown) => {
      if (!(res instanceof RateLimiterRes)) throw res;
      return { ok: false, res };
    },
  );

describe('LocalLimiter', () => {
  it('counts a key within its window and refuses past its points with a RateLimiterRes', async () => {
    const { l, clock } = limiter(3, 60);
    const first = await outcome(l.consume('a'));
    expect(first).toMatchObject({ ok: true, res: { consumedPoints: 1, remainingPoints: 2, msBeforeNext: 60_000, isFirstInDuration: true } });
    clock.advance(10);
    await l.consume('a');
    const third = await outcome(l.consume('a'));
    expect(third).toMatchObject({ ok: true, res: { consumedPoints: 3, remainingPoints: 0, msBeforeNext: 50_000, isFirstInDuration: false } });
    const over = await outcome(l.consume('a'));
    expect(over).toMatchObject({ ok: false, res: { consumedPoints: 4, remainingPoints: 0, msBeforeNext: 50_000 } });
    // Another key has its own budget.
    expect(await outcome(l.consume('b'))).toMatchObject({ ok: true, res: { consumedPoints: 1 } });
  });

  it('starts a new window once the last one ended', async () => {
    const { l, clock } = limiter(1, 60);
    await l.consume('a');
    expect((await outcome(l.consume('a'))).ok).toBe(false);
    clock.advance(59.999);
    expect((await outcome(l.consume('a'))).ok).toBe(false);
    clock.advance(0.001);
    expect(await outcome(l.consume('a'))).toMatchObject({ ok: true, res: { consumedPoints: 1, msBeforeNext: 60_000, isFirstInDuration: true } });
  });

  it('gives points back, adds penalties and forgets a deleted key', async () => {
    const { l } = limiter(2, 60);
    await l.consume('a');
    await l.consume('a');
    await l.reward('a', 1);
    expect((await outcome(l.consume('a'))).ok).toBe(true);
    expect((await l.penalty('a', 3)).consumedPoints).toBe(5);
    expect(await l.delete('a')).toBe(true);
    expect(await l.delete('a')).toBe(false);
    expect(await outcome(l.consume('a'))).toMatchObject({ ok: true, res: { consumedPoints: 1 } });
    // As RateLimiterMemory: a reward for a key without a window opens one below zero.
    await l.reward('b', 1);
    expect((await l.penalty('b', 1)).consumedPoints).toBe(0);
  });

  it('blocks a key for the given seconds, longer than its window, then lets it start over', async () => {
    const { l, clock } = limiter(5, 60);
    const blocked = await l.block('a', 600);
    expect(blocked).toMatchObject({ consumedPoints: 6, msBeforeNext: 600_000 });
    clock.advance(300);
    expect(await outcome(l.consume('a'))).toMatchObject({ ok: false, res: { consumedPoints: 7, msBeforeNext: 300_000 } });
    clock.advance(300);
    expect(await outcome(l.consume('a'))).toMatchObject({ ok: true, res: { consumedPoints: 1, isFirstInDuration: true } });
  });

  it('drops expired keys without their being read: by a sweep that writes run at most once a minute', async () => {
    const { l, clock } = limiter(10, 3_600);
    for (let i = 0; i < 50; i++) await l.consume(`old ${i}`);
    clock.advance(1_800);
    for (let i = 0; i < 50; i++) await l.consume(`new ${i}`);
    clock.advance(1_800);
    expect(l.size).toBe(100);
    // The first write after a minute sweeps: the old keys ended; the new ones still have 30 minutes.
    await l.consume('another');
    expect(l.size).toBe(51);
    clock.advance(3_600);
    l.sweep();
    expect(l.size).toBe(0);
    expect(l.evicted).toBe(0);
  });

  it('keeps at most maxKeys: a new key replaces the one whose window started first', async () => {
    const { l, clock } = limiter(2, 3_600, 3);
    await l.block('z', 1);
    await l.consume('a');
    await l.consume('b');
    clock.advance(2);
    // Full: z goes first, and as its block had ended, nothing live is lost.
    await l.consume('c');
    expect(l.size).toBe(3);
    expect(l.evicted).toBe(0);
    // a starts again, so it becomes the newest; then b, now the oldest, goes for d.
    await l.block('a', 600);
    await l.consume('d');
    expect(l.size).toBe(3);
    expect(l.evicted).toBe(1);
    expect((await outcome(l.consume('a'))).ok).toBe(false);
    expect(await outcome(l.consume('b'))).toMatchObject({ ok: true, res: { consumedPoints: 1, isFirstInDuration: true } });
    expect(l.evicted).toBe(2);
  });

  it('answers the same sequence of operations as RateLimiterMemory, within one window', async () => {
    const local = new LocalLimiter({ points: 3, duration: 3_600 });
    const memory = new RateLimiterMemory({ points: 3, duration: 3_600 });
    const ops: [string, 'consume' | 'reward' | 'penalty' | 'delete', number?][] = [
      ['x', 'consume'], ['x', 'consume'], ['x', 'reward', 1], ['x', 'consume'], ['x', 'consume'], ['x', 'consume'],
      ['x', 'penalty', 2], ['x', 'consume'], ['x', 'delete'], ['x', 'consume'], ['y', 'reward', 2], ['y', 'consume'],
      ['y', 'penalty', 1], ['y', 'consume'], ['y', 'consume'], ['y', 'consume'], ['y', 'consume'],
    ];
    const view = (r: { ok: boolean; res: RateLimiterRes } | boolean) =>
      typeof r === 'boolean' ? r : { ok: r.ok, consumed: r.res.consumedPoints, remaining: r.res.remainingPoints, first: r.res.isFirstInDuration };
    for (const [key, op, points] of ops) {
      const run = async (l: LocalLimiter | RateLimiterMemory) => {
        if (op === 'delete') return l.delete(key);
        if (op === 'consume') return outcome(l.consume(key));
        return { ok: true, res: await l[op](key, points!) };
      };
      expect(view(await run(local)), `${op} ${key}`).toEqual(view(await run(memory)));
    }
  });
});
