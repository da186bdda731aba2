/** A Server-Sent Events consumer for tests: fetch with a streaming body and a small parser. */

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
  /** The data parsed as JSON (every event of the revocation feed carries JSON). */
  json: Record<string, unknown>;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** The raw text received so far. */
  text(): string;
  /** Every event received so far, in order. */
  events: SseEvent[];
  /** Resolves with the first event (already received or to come) that matches, or rejects after `ms`. */
  next(match: (e: SseEvent) => boolean, ms?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream (or it breaks). */
  ended: Promise<void>;
  close(): void;
}

export const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

/** The secret with its last character changed: always another one (a fixed replacement would be the same 1 time in 16). */
export const alteredSecret = (secret: string) => `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;

/** Opens `url` and parses its body as Server-Sent Events as it arrives. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let raw = '';
  let pending = '';
  let done = false;
  const parse = () => {
    // Events end with a blank line; fields are `name: value` lines.
    let start = 0;
    for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n', start)) {
      const block = pending.slice(start, end);
      start = end + 2;
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
      }
      if (fields.data === undefined) continue;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(fields.data) as Record<string, unknown>;
      } catch {
        // not JSON: left empty
      }
      events.push({ ...(fields.id !== undefined ? { id: fields.id } : {}), event: fields.event ?? 'message', data: fields.data, json });
    }
    pending = pending.slice(start);
    for (const wake of waiters) wake();
  };
  const ended = (async () => {
    if (!res.body) {
      done = true;
      return;
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        raw += text;
        pending += text;
        parse();
      }
    } catch {
      // aborted or cut
    }
    done = true;
    for (const wake of waiters) wake();
  })();
  return {
    status: res.status,
    headers: res.headers,
    text: () => raw,
    events,
    ended,
    next(match, ms = 3_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (done) {
            cleanup();
            reject(new Error(`stream ended without the event; got ${events.map((e) => e.event).join(', ')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no such event within ${ms} ms; got ${events.map((e) => e.event).join(', ')}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => abort.abort(),
  };
}
