import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { LatchkeyFeedError, type Logger } from './errors.js';

export interface FeedOptions {
  /** The stream, e.g. `https://auth.example.com/api/revocations/stream`. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Longest wait between two reconnection attempts, in seconds (default 30). */
  maxBackoff?: number;
}

interface FeedSettings extends Required<FeedOptions> {
  /** Seconds without any event (heartbeats included) after which the feed is stale. */
  maxStaleness: number;
  /** Seconds a revocation is kept after its time: the longest a token it blocks can still be valid. */
  keepFor: number;
  now: () => number;
  logger: Logger;
  /** Called with the kid of each signing key Latchkey revokes (`key.revoked`). */
  onKeyRevoked?: (kid: string) => void;
}

/**
 * What Latchkey has revoked: sessions (by `sid`), users' not-befores (by `sub`, in milliseconds) and signing keys
 * (by `kid`). Each entry is dropped once every token it could block has expired.
 */
export class Revocations {
  readonly sessions = new Map<string, number>();
  readonly notBefore = new Map<string, number>();
  readonly keys = new Map<string, number>();

  revokeSession(sid: string, at: number): void {
    const known = this.sessions.get(sid);
    if (known === undefined || at > known) this.sessions.set(sid, at);
  }

  setNotBefore(sub: string, at: number): void {
    const known = this.notBefore.get(sub);
    if (known === undefined || at > known) this.notBefore.set(sub, at);
  }

  revokeKey(kid: string, at: number): void {
    if (!this.keys.has(kid)) this.keys.set(kid, at);
  }

  /** Whether tokens signed by the key `kid` are revoked. */
  isKeyRevoked(kid: string): boolean {
    return this.keys.size > 0 && this.keys.has(kid);
  }

  /** Whether a token of session `sid`, user `sub`, whose session opened at `authTime` (seconds), is revoked. */
  isRevoked(sid: string, sub: string, authTime: number): boolean {
    if (this.sessions.size > 0 && this.sessions.has(sid)) return true;
    if (this.notBefore.size > 0) {
      const notBefore = this.notBefore.get(sub);
      if (notBefore !== undefined && authTime * 1000 < notBefore) return true;
    }
    return false;
  }

  /** Drops the entries older than `before` (milliseconds). */
  prune(before: number): void {
    for (const [sid, at] of this.sessions) if (at < before) this.sessions.delete(sid);
    for (const [sub, at] of this.notBefore) if (at < before) this.notBefore.delete(sub);
    for (const [kid, at] of this.keys) if (at < before) this.keys.delete(kid);
  }

  get size(): number {
    return this.sessions.size + this.notBefore.size + this.keys.size;
  }
}

const delay = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * The client of Latchkey's revocation stream (Server-Sent Events): replays what is still relevant at the
 * first connection, then follows; reconnects with exponential backoff and resumes with Last-Event-ID.
 */
export class RevocationFeed {
  readonly revocations = new Revocations();
  /** When the last event (of any type, heartbeats included) arrived; undefined before the first. */
  lastEventAt: number | undefined;
  /** Whether the initial replay has been received (a `ready` event), once. */
  caughtUp = false;
  /** The `id` of the last event that had one: sent back as Last-Event-ID on reconnection. */
  lastEventId: string | undefined;
  /** Connections opened so far (for tests and diagnostics). */
  connections = 0;

  private readonly stopper = new AbortController();
  private connection: AbortController | undefined;
  private retryMs = 1000;
  private failures = 0;
  private lastPrune = 0;
  /** The last event, or the opening of the current connection if later: what the watchdog measures. */
  private lastActivity = 0;
  private readonly watchdog: NodeJS.Timeout;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private readySettled = false;

  constructor(private readonly settings: FeedSettings) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody may be waiting on ready(): a rejection must not become an unhandled one.
    this.readyPromise.catch(() => undefined);
    // A connection that went quiet (a half-open socket) is dropped and opened again.
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(50, Math.min(1000, (settings.maxStaleness * 1000) / 4)));
    this.watchdog.unref();
    void this.run();
  }

  /** Resolves at the first `ready` event; rejects when Latchkey refuses the client (401, 403, other 4xx). */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Whether no event arrived within maxStaleness (or the first replay is not complete yet). */
  isStale(now: number): boolean {
    return !this.caughtUp || this.lastEventAt === undefined || now - this.lastEventAt > this.settings.maxStaleness * 1000;
  }

  close(): void {
    this.stopper.abort();
    clearInterval(this.watchdog);
    if (!this.readySettled) this.settleReady(new LatchkeyFeedError('the verifier was closed before the revocation feed was ready', undefined, undefined));
  }

  private settleReady(err?: Error) {
    if (this.readySettled) return;
    this.readySettled = true;
    if (err) this.rejectReady(err);
    else this.resolveReady();
  }

  private checkSilence() {
    const now = this.settings.now();
    if (this.connection && now - this.lastActivity > this.settings.maxStaleness * 1000) {
      this.settings.logger.warn('the revocation feed has been silent too long; reconnecting', {
        url: this.settings.url,
        silentForMs: now - this.lastActivity,
      });
      this.connection.abort();
    }
  }

  private async run() {
    const { signal } = this.stopper;
    while (!signal.aborted) {
      let healthy = false;
      try {
        healthy = await this.connectOnce();
      } catch (err) {
        if (signal.aborted) break;
        this.report(err as Error);
      }
      if (signal.aborted) break;
      this.failures = healthy ? 0 : this.failures + 1;
      // Exponential from the server's `retry`, capped; jittered so that a fleet does not reconnect in step.
      const ceiling = Math.min(this.settings.maxBackoff * 1000, this.retryMs * 2 ** Math.min(this.failures, 20));
      const wait = this.failures === 0 ? this.retryMs : ceiling / 2 + (Math.random() * ceiling) / 2;
      await delay(wait, signal);
    }
  }

  private report(err: Error) {
    if (err instanceof LatchkeyFeedError && err.status !== undefined && (err.status < 300 || (err.status >= 400 && err.status < 500))) {
      // Wrong credentials, scope or URL (a 4xx, or an answer that is not a stream): it will not mend
      // itself, so say it loudly, and fail ready().
      this.settings.logger.error(err.message, { url: this.settings.url, status: err.status, code: err.code });
      this.settleReady(err);
    } else {
      this.settings.logger.warn('the revocation feed connection failed; reconnecting', { url: this.settings.url, error: err.message });
    }
  }

  /** One connection, until it ends. Resolves with whether it delivered events (then the backoff starts over). */
  private async connectOnce(): Promise<boolean> {
    const connection = new AbortController();
    this.connection = connection;
    this.lastActivity = this.settings.now();
    const onStop = () => connection.abort();
    this.stopper.signal.addEventListener('abort', onStop, { once: true });
    let received = false;
    try {
      const { url, clientId, clientSecret } = this.settings;
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      };
      if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
      this.connections += 1;
      const res = await fetch(url, { headers, signal: connection.signal, redirect: 'error' });
      if (res.status !== 200) throw await this.refusal(res);
      const type = res.headers.get('content-type') ?? '';
      if (!/^text\/event-stream\b/i.test(type)) throw await this.notAStream(res, type);
      if (!res.body) throw new LatchkeyFeedError('the revocation feed answered no body', 200, undefined);
      const parser = createParser({
        onEvent: (event) => {
          received = true;
          this.onEvent(event);
        },
        onRetry: (ms) => {
          if (Number.isFinite(ms) && ms >= 0) this.retryMs = ms;
        },
        onError: (err) => this.settings.logger.warn('the revocation feed sent a line that is not Server-Sent Events', { error: err.message }),
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      return received;
    } catch (err) {
      // Dropped by the watchdog, or by close(): a reconnection, not a failure of the server.
      if (connection.signal.aborted) return received;
      throw err;
    } finally {
      this.stopper.signal.removeEventListener('abort', onStop);
      if (this.connection === connection) this.connection = undefined;
    }
  }

  /** A 200 that is not an event stream: the URL names another page (the server's root, the JWKS...). */
  private async notAStream(res: Response, type: string): Promise<LatchkeyFeedError> {
    const { code } = await errorOf(res);
    return new LatchkeyFeedError(
      `revocation feed ${this.settings.url}: the server answered ${res.status} ${type || 'with no content type'}${code ? ` (${code})` : ''}, ` +
        `not text/event-stream: not the revocation stream${suggestion(this.settings.url)}`,
      res.status,
      code,
    );
  }

  private async refusal(res: Response): Promise<LatchkeyFeedError> {
    const { code, message } = await errorOf(res);
    const why =
      res.status === 401
        ? 'the client id or secret was refused'
        : res.status === 403
          ? 'this client may not read revocations'
          : `the server answered ${res.status}`;
    return new LatchkeyFeedError(
      `revocation feed ${this.settings.url}: ${why} (${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''})${suggestion(this.settings.url)}`,
      res.status,
      code,
    );
  }

  private onEvent(event: EventSourceMessage) {
    const now = this.settings.now();
    this.lastEventAt = now;
    this.lastActivity = now;
    if (event.id !== undefined && event.id !== '') this.lastEventId = event.id;
    try {
      switch (event.event) {
        case 'session.revoked': {
          const data = JSON.parse(event.data) as { sid?: unknown; revoked_at?: unknown };
          if (typeof data.sid !== 'string' || typeof data.revoked_at !== 'number') throw new Error('needs sid and revoked_at');
          this.revocations.revokeSession(data.sid, data.revoked_at);
          break;
        }
        case 'user.not_before': {
          const data = JSON.parse(event.data) as { sub?: unknown; not_before?: unknown };
          if (typeof data.sub !== 'string' || typeof data.not_before !== 'number') throw new Error('needs sub and not_before');
          this.revocations.setNotBefore(data.sub, data.not_before);
          break;
        }
        case 'key.revoked': {
          const data = JSON.parse(event.data) as { kid?: unknown; revoked_at?: unknown };
          if (typeof data.kid !== 'string' || typeof data.revoked_at !== 'number') throw new Error('needs kid and revoked_at');
          this.revocations.revokeKey(data.kid, data.revoked_at);
          this.settings.onKeyRevoked?.(data.kid);
          break;
        }
        case 'ready':
          this.caughtUp = true;
          this.settleReady();
          break;
        default:
        // heartbeat, and event types this version does not know: signs of life only.
      }
    } catch (err) {
      this.settings.logger.warn('the revocation feed sent an event that could not be read; ignored', {
        event: event.event,
        error: (err as Error).message,
      });
    }
    if (now - this.lastPrune > 10_000) {
      this.lastPrune = now;
      this.revocations.prune(now - this.settings.keepFor * 1000);
    }
  }
}

/** The `error` code and message of an answer's JSON body, if it has them (the first 4 KB are read). */
async function errorOf(res: Response): Promise<{ code: string | undefined; message: string | undefined }> {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const text = (await res.text()).slice(0, 4096);
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    // Latchkey's shape is {"error": "<code>", "message": "..."}; {"error": {"code", "message"}} is read too.
    if (typeof body.error === 'string') code = body.error;
    else if (body.error && typeof body.error === 'object') {
      const nested = body.error as { code?: unknown; message?: unknown };
      if (typeof nested.code === 'string') code = nested.code;
      if (typeof nested.message === 'string') message = nested.message;
    }
    if (typeof body.message === 'string') message ??= body.message;
  } catch {
    // Not JSON: the status says enough.
  }
  return { code, message };
}

/** For a URL that names a server's root, the stream's own address: the usual slip. */
function suggestion(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.pathname === '/' || parsed.pathname === '') return `; did you mean ${parsed.origin}/api/revocations/stream?`;
  } catch {
    // fetch would have refused it first.
  }
  return '';
}
