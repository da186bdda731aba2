import ipaddr from 'ipaddr.js';
import { parseDuration } from '../duration.js';

// Each parser reads one variable's text and returns its value, or throws an InvalidSetting that says
// what was expected. Defaults are not here: a setting declares its default as the text it would be
// written as (src/config/settings.ts), so that the docs show exactly what is parsed.

/** Reads one variable's text. */
export type Parser<T> = (text: string) => T;

/** What a variable's text should have been; the loader lists each one against its variable. */
export class InvalidSetting extends Error {}

const invalid = (message: string): never => {
  throw new InvalidSetting(message);
};

/** Any text of at least `min` characters. */
export const text =
  (min = 0, message = `expected at least ${min} character${min === 1 ? '' : 's'}`): Parser<string> =>
  (value) =>
    value.length >= min ? value : invalid(message);

/** Durations are given as seconds (`900`) or with a unit (`30s`, `15m`, `12h`, `7d`); stored in seconds. */
export const duration =
  (min = 1): Parser<number> =>
  (value) => {
    const seconds = parseDuration(value);
    if (seconds !== undefined && seconds >= min) return seconds;
    return invalid(`expected ${min > 0 ? 'a positive duration' : 'a duration'} such as 900, 15m or 7d, got "${value}"`);
  };

export const integer =
  (min: number, max: number): Parser<number> =>
  (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    return invalid(`expected a whole number from ${min} to ${max}, got "${value}"`);
  };

export const boolean = (): Parser<boolean> => (value) => {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return invalid(`expected true or false, got "${value}"`);
};

export const url =
  (protocols: string[], what: string): Parser<string> =>
  (value) =>
    URL.canParse(value) && protocols.includes(new URL(value).protocol) ? value : invalid(`expected ${what}`);

export const oneOf =
  <const T extends readonly [string, ...string[]]>(values: T): Parser<T[number]> =>
  (value) =>
    values.includes(value) ? (value as T[number]) : invalid(`expected one of ${values.join(', ')}`);

/** `N/duration`: at most N within the duration, such as `30/1m` or `3/1h`. */
export const rate = (): Parser<{ points: number; seconds: number }> => (value) => {
  const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value.trim());
  const seconds = match ? parseDuration(match[2]!) : undefined;
  const points = match ? Number(match[1]) : 0;
  if (match && seconds !== undefined && seconds > 0 && points >= 1) return { points, seconds };
  return invalid(`expected a count per duration such as 30/1m or 3/1h, got "${value}"`);
};

/**
 * `false`, `true`, or a comma-separated list of proxy addresses or CIDR ranges (`loopback` for a proxy on this
 * machine). A number of hops is refused: Fastify no longer believes X-Forwarded-For on a hop count alone (it
 * cannot tell that the peer is a proxy), so every client would silently look like the proxy.
 */
export const trustProxy = (): Parser<boolean | string[]> => (value) => {
  const v = value.trim().toLowerCase();
  if (v === 'false' || v === '') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) {
    return invalid(
      `a number of hops (${v}) is not believed: name the proxies' addresses or ranges instead (loopback for a proxy on this machine), or true`,
    );
  }
  return list()(v);
};

/** A comma-separated list; empty items are dropped. */
export const list = (): Parser<string[]> => (value) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** A comma-separated list of web origins (`https://app.example.com`, a port allowed, no path); empty: none. */
export const origins = (): Parser<string[]> => (value) => {
  const entries = list()(value);
  const wrong = entries.filter((entry) => {
    try {
      const url = new URL(entry);
      return !['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/+$/, '');
    } catch {
      return true;
    }
  });
  if (wrong.length > 0) invalid(wrong.map((entry) => `expected origins such as https://auth.example.com separated by commas, got "${entry}"`).join('; '));
  return entries.map((entry) => entry.replace(/\/+$/, ''));
};

/** A comma-separated list of IP addresses and CIDR ranges (`169.254.0.0/16`, `fd00:ec2::254`); empty: none. */
export const networks = (): Parser<string[]> => (value) => {
  const entries = list()(value);
  const wrong = entries.filter((entry) => !(entry.includes('/') ? ipaddr.isValidCIDR(entry) : ipaddr.isValid(entry)));
  if (wrong.length > 0) invalid(wrong.map((entry) => `expected IP addresses or CIDR ranges separated by commas, got "${entry}"`).join('; '));
  return entries;
};

/** `auto` or a whole number from 1. */
export const autoOrCount =
  (message: string): Parser<string> =>
  (value) =>
    /^(auto|[1-9]\d*)$/.test(value) ? value : invalid(message);

/** A colour as CSS writes it in six hex digits, `#1f5fbf`; stored lower-cased. */
export const hexColour = (): Parser<string> => (value) =>
  /^#[0-9a-f]{6}$/i.test(value.trim()) ? value.trim().toLowerCase() : invalid(`expected a colour as #rrggbb, such as #1f5fbf, got "${value}"`);

/**
 * An image a page may show: an https URL (its origin is added to the pages' CSP `img-src`), or a path on this
 * server (`/brand/logo.svg`, served by whatever serves this origin). Never http (mixed content), `//host` or a
 * `data:` or `javascript:` URL.
 */
export const imageUrl = (): Parser<string> => (value) => {
  const v = value.trim();
  const path = v.startsWith('/') && !v.startsWith('//') && !/[\p{Cc}\\\s]/u.test(v);
  const https = URL.canParse(v) && new URL(v).protocol === 'https:' && !new URL(v).username && !new URL(v).password;
  return path || https ? v : invalid(`expected an https:// URL or a path on this server such as /brand/logo.svg, got "${value}"`);
};
