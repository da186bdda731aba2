import { describe, expect, it } from 'vitest';
import { createRevocationList } from '../src/auth/revocations.js';
import { BoundedCache } from '../src/cache.js';
import { createTestClock } from './helpers/clock.js';

describe('the revocation list', () => {
  it('holds a session only while one of its access tokens can still be alive', () => {
    const clock = createTestClock();
    const list = createRevocationList(clock, 900);
    list.add('a', clock.now());
    clock.advance(600);
    list.add('b', clock.now());
    expect(list.isRevoked('a')).toBe(true);
    expect(list.size()).toBe(2);
    // 15 minutes of token life plus a minute of clock skew after "a" was revoked:
    clock.advance(361);
    list.prune();
    expect(list.isRevoked('a')).toBe(false);
    expect(list.isRevoked('b')).toBe(true);
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
    expect(list.isRevoked('s99999')).toBe(true);
    expect(list.isRevoked('s0')).toBe(false);
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
});
