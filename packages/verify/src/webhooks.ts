import { createHmac, timingSafeEqual } from 'node:crypto';
import { numberOption } from './options.js';

/**
 * Webhooks as the Standard Webhooks specification has them (https://www.standardwebhooks.com):
 * `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`: space-separated `v1,<base64>`
 * signatures, each an HMAC-SHA256 of `${id}.${timestamp}.${body}` under the secret (`whsec_` + base64).
 */

export type WebhookErrorCode =
  | 'webhook_missing_headers'
  | 'webhook_invalid_secret'
  | 'webhook_invalid_signature'
  | 'webhook_timestamp_out_of_range'
  | 'webhook_invalid_payload';

export class WebhookVerificationError extends Error {
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface WebhookEvent<T = unknown> {
  type: string;
  /** As the payload has it (an ISO 8601 date in the specification's examples). */
  timestamp: string;
  data: T;
  readonly [field: string]: unknown;
}

/**
 * The `data` of Latchkey's `user.*` events: the user as an operator sees it, without when the password
 * changed. Dates are ISO 8601 strings. (Latchkey declares this shape once, as `EventUser`; its tests check
 * that this copy, which the published package carries, is the same type.)
 */
export interface LatchkeyEventUser {
  id: string;
  email: string;
  name: string;
  /** `user` or `admin`. */
  role: string;
  created_at: string;
  disabled_at: string | null;
  /** Whether the owner proved the address. */
  email_verified: boolean;
  email_verified_at: string | null;
  /** The id the user had in the system it was imported from. */
  legacy_id: string | null;
}

/** Node's IncomingHttpHeaders, a Fetch API Headers, or any map of lower-case names. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** `whsec_` followed by the base64 key (the prefix may be left out). */
  secret: string;
  headers: WebhookHeaders;
  /** The raw body, exactly as received: a parsed and re-serialised body will not match. */
  body: string | Uint8Array;
  /** How far the timestamp may be from now, either way; default 300 s. */
  toleranceSeconds?: number;
  /** The current time in milliseconds; default Date.now. */
  now?: number;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value.join(' ') : value;
}

function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!encoded || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new WebhookVerificationError('webhook_invalid_secret', 'The webhook secret is not whsec_ followed by base64.');
  return Buffer.from(encoded, 'base64');
}

/** The `v1,<base64>` signature of a message, as a sender computes it. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * Checks a webhook's signature and timestamp, then parses its body. Throws a WebhookVerificationError
 * whose `code` says why. Signatures are compared in constant time.
 */
export function verifyWebhook<T = unknown>(options: VerifyWebhookOptions): WebhookEvent<T> {
  const id = header(options.headers, 'webhook-id');
  const timestamp = header(options.headers, 'webhook-timestamp');
  const signatures = header(options.headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new WebhookVerificationError('webhook_missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are all required.');
  const key = secretKey(options.secret);
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('webhook_timestamp_out_of_range', 'webhook-timestamp is not a time in seconds.');
  const seconds = Number(timestamp);
  const now = (options.now ?? Date.now()) / 1000;
  const tolerance = numberOption('toleranceSeconds', options.toleranceSeconds, 300);
  if (Math.abs(now - seconds) > tolerance)
    throw new WebhookVerificationError('webhook_timestamp_out_of_range', `webhook-timestamp is more than ${tolerance} s from now: a replay, or a clock far off.`);

  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(options.body).digest();
  let matched = false;
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(candidate.slice(comma + 1), 'base64');
    // Every candidate is compared (no early exit on a match), each in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('webhook_invalid_signature', 'No webhook-signature matches the body under this secret.');

  let event: unknown;
  try {
    event = JSON.parse(typeof options.body === 'string' ? options.body : Buffer.from(options.body).toString('utf8'));
  } catch {
    throw new WebhookVerificationError('webhook_invalid_payload', 'The webhook body is not JSON.');
  }
  const e = event as Partial<WebhookEvent<T>> | null;
  if (!e || typeof e !== 'object' || typeof e.type !== 'string' || !('data' in e))
    throw new WebhookVerificationError('webhook_invalid_payload', 'The webhook body is not {type, timestamp, data}.');
  return e as WebhookEvent<T>;
}

/** Which webhook ids were handled already; a database table in production (several processes, restarts). */
export interface SeenStore {
  has(id: string): boolean | Promise<boolean>;
  add(id: string): void | Promise<void>;
}

/** The default SeenStore: the last `max` ids in memory (one process, lost at restart). */
export function memorySeenStore(max = 10_000): SeenStore {
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    add(id) {
      ids.delete(id);
      ids.add(id);
      if (ids.size > max) ids.delete(ids.values().next().value as string);
    },
  };
}

export interface WebhookReceiverOptions<T = unknown> {
  secret: string;
  /** Called once per webhook-id; when it throws, the id is not recorded, so a redelivery runs it again. */
  handle(event: WebhookEvent<T>, id: string): unknown;
  seen?: SeenStore;
  toleranceSeconds?: number;
}

export interface WebhookReceiver {
  /**
   * Verifies a delivery and runs `handle` unless its webhook-id was handled already. Resolves with
   * `handled` or `duplicate` (answer 2xx to both); rejects with a WebhookVerificationError (answer 400 or 401),
   * or with what `handle` threw (answer 5xx: the sender retries).
   */
  receive(delivery: { headers: WebhookHeaders; body: string | Uint8Array }): Promise<'handled' | 'duplicate'>;
}

/** An idempotent receiver: each webhook-id is handled once, however often it is delivered. */
export function createWebhookReceiver<T = unknown>(options: WebhookReceiverOptions<T>): WebhookReceiver {
  // A bad tolerance is told at start-up, not at the first delivery.
  numberOption('toleranceSeconds', options.toleranceSeconds, 300);
  const seen = options.seen ?? memorySeenStore();
  // Deliveries of one id arriving together: the later ones wait for the first and count as duplicates.
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    async receive({ headers, body }) {
      const event = verifyWebhook<T>({ secret: options.secret, headers, body, toleranceSeconds: options.toleranceSeconds });
      const id = header(headers, 'webhook-id')!;
      const running = inFlight.get(id);
      if (running) {
        await running;
        return 'duplicate';
      }
      const work = (async () => {
        if (await seen.has(id)) return 'duplicate' as const;
        await options.handle(event, id);
        await seen.add(id);
        return 'handled' as const;
      })();
      inFlight.set(id, work);
      try {
        return await work;
      } finally {
        inFlight.delete(id);
      }
    },
  };
}
