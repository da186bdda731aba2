import type { Clock } from '../../src/core/clock.js';

export interface TestClock extends Clock {
  advance(seconds: number): void;
}

/** A clock that stands still until a test moves it. */
export function createTestClock(start = new Date()): TestClock {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(seconds) {
      now += seconds * 1000;
    },
  };
}
