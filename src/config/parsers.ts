import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { parseDuration } from '../duration.js';

// Each parser reads one variable's text. Defaults are not here: a setting declares its default as the
// text it would be written as (src/config/settings.ts), so that the docs show exactly what is parsed.

/** Durations are given as seconds (`900`) or with a unit (`30s`, `15m`, `12h`, `7d`); stored in seconds. */
export const duration = (min = 1) =>
  z.string().transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined || seconds < min) {
      const kind = min > 0 ? 'a positive duration' : 'a duration';
      ctx.addIssue({ code: 'custom', message: `expected ${kind} such as 900, 15m or 7d, got "${value}"` });
      return z.NEVER;
    }
    return seconds;
  });

export const integer = (min: number, max: number) =>
  z.string().transform((value, ctx) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${value}"` });
      return z.NEVER;
    }
    return n;
  });

export const boolean = () =>
  z.string().transform((value, ctx) => {
    const v = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
    return z.NEVER;
  });

export const url = (protocols: string[], what: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected ${what}` },
  );

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `expected one of ${values.join(', ')}` });

/** `N/duration`: at most N within the duration, such as `30/1m` or `3/1h`. */
export const rate = () =>
  z.string().transform((value, ctx) => {
    const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value.trim());
    const seconds = match ? parseDuration(match[2]!) : undefined;
    const points = match ? Number(match[1]) : 0;
    if (!match || seconds === undefined || seconds <= 0 || points < 1) {
      ctx.addIssue({ code: 'custom', message: `expected a count per duration such as 30/1m or 3/1h, got "${value}"` });
      return z.NEVER;
    }
    return { points, seconds };
  });

/**
 * `false`, `true`, or a comma-separated list of proxy addresses or CIDR ranges (`loopback` for a proxy on this
 * machine). A number of hops is refused: Fastify no longer believes X-Forwarded-For on a hop count alone (it
 * cannot tell that the peer is a proxy), so every client would silently look like the proxy.
 */
export const trustProxy = () =>
  z.string().transform((value, ctx): boolean | string[] => {
    const v = value.trim().toLowerCase();
    if (v === 'false' || v === '') return false;
    if (v === 'true') return true;
    if (/^\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `a number of hops (${v}) is not believed: name the proxies' addresses or ranges instead (loopback for a proxy on this machine), or true` });
      return z.NEVER;
    }
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  });

/** A comma-separated list; empty items are dropped. */
export const list = () => z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

/** A comma-separated list of IP addresses and CIDR ranges (`169.254.0.0/16`, `fd00:ec2::254`); empty: none. */
export const networks = () =>
  list().superRefine((entries, ctx) => {
    for (const entry of entries) {
      const ok = entry.includes('/') ? ipaddr.isValidCIDR(entry) : ipaddr.isValid(entry);
      if (!ok) ctx.addIssue({ code: 'custom', message: `expected IP addresses or CIDR ranges separated by commas, got "${entry}"` });
    }
  });

/** `auto` or a whole number from 1. */
export const autoOrCount = (message: string) => z.string().regex(/^(auto|[1-9]\d*)$/, { message });
