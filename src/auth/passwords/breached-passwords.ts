import { createHash } from 'node:crypto';
import type { Logger } from 'pino';

export type BreachCheck = (normalizedPassword: string) => Promise<boolean>;

/**
 * Asks a Pwned Passwords range API whether a password has been in a breach. Only the first five hex
 * digits of its SHA-1 leave the server (k-anonymity), with padding requested. Any failure or a slow
 * answer lets the password through (fail-open) and is logged: an outage must not block sign-ups.
 */
export function createBreachCheck(opts: { url: string; timeoutMs: number }, logger: Logger): BreachCheck {
  return async (password) => {
    const sha1 = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
    const prefix = sha1.slice(0, 5);
    const suffix = sha1.slice(5);
    try {
      const res = await fetch(`${opts.url}/range/${prefix}`, {
        headers: { 'add-padding': 'true', 'user-agent': 'latchkey' },
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      if (!res.ok) throw new Error(`status ${res.status}`);
      for (const line of (await res.text()).split('\n')) {
        const [candidate, count] = line.trim().split(':');
        if (candidate === suffix) return Number(count) > 0;
      }
      return false;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'breached-password check unavailable; password accepted without it');
      return false;
    }
  };
}
