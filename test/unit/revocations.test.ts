import { describe, expect, it } from 'vitest';
import { createRevocationList } from '../../src/auth/sessions/revocations.js';
import { BoundedCache } from '../../src/core/cache.js';
import { createTestClock } from '../helpers/clock.js';

describe('the revocation list', () => {
  it('holds a session only while one of its access tokens can still be alive', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    list.add('a', clock.now());
    clock.advance(600);
    list.add('b', clock.now());
    expect(list.isSessionRevoked('a')).toBe(true);
    expect(list.size()).toBe(2);
    // 15 minutes of token life plus a minute of clock skew after "a" was revoked:
    clock.advance(361);
    list.prune();
    expect(list.isSessionRevoked('a')).toBe(false);
    expect(list.isSessionRevoked('b')).toBe(true);
    clock.advance(600);
    list.prune();
    expect(list.size()).toBe(0);
  });

  it('stays bounded through 100,000 revocations: old ones leave as new ones come', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    for (let i = 0; i < 100_000; i++) {
      list.add(`s${i}`, clock.now());
      if (i % 1000 === 999) clock.advance(60);
    }
    // 100 minutes of revocations, of which only the last 16 (900 s + 60 s) can matter.
    expect(list.size()).toBeLessThanOrEqual(17_000);
    expect(list.isSessionRevoked('s99999')).toBe(true);
    expect(list.isSessionRevoked('s0')).toBe(false);
  });

  it('refuses the tokens of sessions opened before a user\'s not-before, and only those', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    const nowSeconds = Math.floor(clock.now().getTime() / 1000);
    list.addNotBefore('u1', new Date((nowSeconds + 1) * 1000));
    expect(list.isRevoked({ userId: 'u1', sessionId: 's1', authTime: nowSeconds })).toBe(true);
    expect(list.isRevoked({ userId: 'u1', sessionId: 's2', authTime: nowSeconds + 1 })).toBe(false);
    expect(list.isRevoked({ userId: 'u2', sessionId: 's3', authTime: nowSeconds })).toBe(false);
    // A not-before within a second (a change's own time): a session opened in that second, before it, is dead;
    // one opened after it starts at the next whole second (src/auth/sessions/sessions.ts) and lives.
    list.addNotBefore('u3', new Date(nowSeconds * 1000 + 300));
    expect(list.isRevoked({ userId: 'u3', sessionId: 's4', authTime: nowSeconds })).toBe(true);
    expect(list.isRevoked({ userId: 'u3', sessionId: 's5', authTime: nowSeconds + 1 })).toBe(false);
    // An older not-before never replaces a newer one.
    list.addNotBefore('u1', new Date((nowSeconds - 100) * 1000));
    expect(list.isRevoked({ userId: 'u1', sessionId: 's1', authTime: nowSeconds })).toBe(true);
    // Kept while a token of the old sessions can be alive (TTL plus a minute), then dropped.
    clock.advance(962);
    list.prune();
    expect(list.size()).toBe(0);
  });

  it('lists its entries with their times, and tells subscribers of each new one only', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    const t0 = clock.now().getTime();
    list.add('s1', clock.now());
    const seen: unknown[] = [];
    const stop = list.subscribe((entry) => seen.push(entry));
    clock.advance(5);
    list.add('s2', clock.now());
    // Known already (a reload, a notice heard twice): nothing new to tell.
    list.add('s1', new Date(t0));
    list.addNotBefore('u1', new Date(t0 + 6000));
    list.addNotBefore('u1', new Date(t0 + 1000));
    list.addNotBefore('u1', new Date(t0 + 9000));
    // Each learned now (t0 + 5 s): `seen`, the feed's id, is this clock's, whatever time the entry carries.
    expect(seen).toEqual([
      { kind: 'session', sessionId: 's2', at: t0 + 5000, seen: t0 + 5000 },
      { kind: 'user', userId: 'u1', at: t0 + 6000, seen: t0 + 5000 },
      { kind: 'user', userId: 'u1', at: t0 + 9000, seen: t0 + 5000 },
    ]);
    expect(list.entries()).toEqual([
      { kind: 'session', sessionId: 's1', at: t0, seen: t0 },
      { kind: 'session', sessionId: 's2', at: t0 + 5000, seen: t0 + 5000 },
      { kind: 'user', userId: 'u1', at: t0 + 9000, seen: t0 + 5000 },
    ]);
    stop();
    list.add('s3', clock.now());
    expect(seen).toHaveLength(3);
    // A subscriber that throws stops neither the revocation nor the other subscribers.
    const after: unknown[] = [];
    list.subscribe(() => {
      throw new Error('boom');
    });
    list.subscribe((entry) => after.push(entry));
    list.add('s4', clock.now());
    expect(list.isSessionRevoked('s4')).toBe(true);
    expect(after).toHaveLength(1);
  });

  it('stamps each entry with when it was learned, never before the one learned last, whatever time it carries', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    const t0 = clock.now().getTime();
    // A not-before far ahead (written by a server that ratcheted it): learned now, all the same.
    list.addNotBefore('u1', new Date(t0 + 150_000));
    list.add('s1', new Date(t0 - 30_000));
    clock.advance(-10);
    list.add('s2', clock.now());
    expect(list.entries().map((e) => e.seen)).toEqual([t0, t0, t0]);
    clock.advance(20);
    list.add('s3', clock.now());
    expect(list.entries().find((e) => e.kind === 'session' && e.sessionId === 's3')?.seen).toBe(t0 + 10_000);
  });

  it('ignores a revocation too old to matter', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    list.add('old', new Date(clock.now().getTime() - 2_000_000));
    expect(list.size()).toBe(0);
  });
});

describe('the bounded cache', () => {
  it('forgets entries at their expiry and the oldest when full', () => {
    const clock = createTestClock();
    const cache = new BoundedCache<number>(2, () => clock.now().getTime());
    const in10s = () => clock.now().getTime() + 10_000;
    cache.set('a', 1, in10s());
    cache.set('b', 2, in10s());
    cache.set('c', 3, in10s());
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe(2);
    expect(cache.size).toBe(2);
    clock.advance(10);
    expect(cache.get('c')).toBeUndefined();
  });

  it('drops the expired entries at its front on each set, though nobody reads them again', () => {
    const clock = createTestClock();
    const cache = new BoundedCache<number>(100, () => clock.now().getTime());
    const in30s = () => clock.now().getTime() + 30_000;
    for (let i = 0; i < 10; i++) cache.set(`profile ${i}`, i, in30s());
    clock.advance(15);
    cache.set('later', 10, in30s());
    clock.advance(15);
    cache.set('last', 11, in30s());
    expect(cache.size).toBe(2);
    // Set again for longer, a key moves to the back: it does not hold the expired ones behind it.
    cache.set('later', 12, in30s() + 30_000);
    clock.advance(30);
    cache.set('next', 13, in30s());
    expect(cache.size).toBe(2);
    expect(cache.get('later')).toBe(12);
  });
});
