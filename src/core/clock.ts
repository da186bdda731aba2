/** The time source every domain function reads; tests pass one they can move forward. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export const addSeconds = (d: Date, seconds: number) => new Date(d.getTime() + seconds * 1000);
export const earliest = (a: Date, b: Date) => (a < b ? a : b);
export const latest = (a: Date, b: Date) => (a > b ? a : b);
/** Seconds since the epoch, as JWT claims count them. */
export const epochSeconds = (d: Date) => Math.floor(d.getTime() / 1000);
