import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { RevocationEntry } from '../auth/sessions/revocations.js';
import { currentServiceClients, type AuthenticatedServiceClient } from '../auth/service-clients/service-clients.js';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';

/**
 * The revocation feed's open streams (GET /api/revocations/stream, Server-Sent Events): each replays the
 * revocation list, says `ready`, then gets every new entry as the list learns it (from this instance or,
 * through NOTIFY, from any other), with a heartbeat in between. Bounded: a consumer that does not read is
 * cut off once its buffer stays past `maxBufferedBytes` (it reconnects with Last-Event-ID), streams are capped
 * per client and in all, and a client rotated or removed has its streams closed.
 */
export interface StreamLimits {
  heartbeatMs: number;
  perClient: number;
  total: number;
  /** Bytes written to one stream and not yet taken by its consumer, past which it is closed. */
  maxBufferedBytes: number;
}

/**
 * A Last-Event-ID may come from another instance, whose clock differs a little and which may have learned an
 * entry a little earlier: a resume replays what this instance learned from this much before it on.
 */
export const RESUME_MARGIN_MS = 60_000;
// Events replayed per write; the next waits for the consumer to take them.
const REPLAY_BATCH = 256;
// Live events held for a stream still replaying; past this it is closed, and resumes.
const MAX_PENDING = 10_000;
// How long a stream may stay over its bound before it is cut.
const BACKLOG_GRACE_MS = 1_000;
// A stream ended (shutdown, client removed) whose consumer does not take its last bytes is cut after this.
const END_GRACE_MS = 1_000;

interface OpenStream {
  client: AuthenticatedServiceClient;
  out: PassThrough;
  res: ServerResponse;
  /** False while replaying: live events wait in `pending`. */
  live: boolean;
  pending: string[];
  closed: boolean;
  /** Since when (ms) more than the bound has waited for the consumer. */
  overSince?: number | undefined;
}

export interface RevocationStreams {
  /** Opens a stream for an authenticated client; `since`: its Last-Event-ID, to replay only what was learned after it (ms). */
  open(client: AuthenticatedServiceClient, since: number | undefined, res: ServerResponse): PassThrough;
  /** How many streams are open now. */
  size(): number;
  /** Ends every stream and stops; new ones are refused. */
  close(): void;
}

/**
 * The frame of one revocation: its id is when this instance learned it (ms, never less than the id before
 * it), never a time the revocation carries: a not-before or a revocation time written by another instance
 * or an older version, ahead of the clock, would otherwise move every consumer's Last-Event-ID ahead too.
 */
export function revocationFrame(entry: RevocationEntry): string {
  const [event, data] =
    entry.kind === 'session'
      ? ['session.revoked', { sid: entry.sessionId, revoked_at: entry.at }]
      : entry.kind === 'user'
        ? ['user.not_before', { sub: entry.userId, not_before: entry.at }]
        : ['key.revoked', { kid: entry.kid, revoked_at: entry.at }];
  return `id: ${entry.seen}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * What a stream opened with Last-Event-ID `since` replays, oldest first: every entry learned from
 * RESUME_MARGIN_MS before it on. An id later than this instance's clock was not sent by it, nor by an
 * instance whose clock is near it (a forged or stale id, or one from a server that sent future ids): the
 * whole list is replayed then, as with no id at all, rather than skipping what came since.
 */
export function entriesToReplay(entries: RevocationEntry[], since: number | undefined, now: number): RevocationEntry[] {
  const from = since === undefined || since > now ? -Infinity : since - RESUME_MARGIN_MS;
  return entries.filter((e) => e.seen >= from).sort((a, b) => a.seen - b.seen);
}

const timeFrame = (event: 'heartbeat' | 'ready', now: number) => `event: ${event}\ndata: ${JSON.stringify({ time: now })}\n\n`;

/** A Last-Event-ID as the feed sends them (a time in ms), or undefined for anything else (replayed as no id). */
export function parseLastEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

type StreamDeps = Pick<Deps, 'revocations' | 'clock' | 'db' | 'serviceClientEvents'> & { logger: Logger };

const buffered = (s: OpenStream) => s.out.writableLength + s.out.readableLength + s.res.writableLength;

/** Resolves when the consumer has taken what was written, or the stream closed. */
function drained(s: OpenStream) {
  return new Promise<void>((resolve) => {
    const done = () => {
      s.out.off('drain', done);
      s.res.off('close', done);
      resolve();
    };
    s.out.on('drain', done);
    s.res.on('close', done);
  });
}

class StreamSet implements RevocationStreams {
  private readonly streams = new Set<OpenStream>();
  private readonly perClient = new Map<string, number>();
  private closing = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly unsubscribeList: () => void;
  private readonly unsubscribeClients: () => void;

  constructor(
    private readonly deps: StreamDeps,
    private readonly limits: StreamLimits,
  ) {
    this.unsubscribeList = deps.revocations.subscribe((entry) => {
      if (this.streams.size === 0) return;
      const text = revocationFrame(entry);
      for (const s of [...this.streams]) this.send(s, text);
    });
    this.unsubscribeClients = deps.serviceClientEvents.subscribe((clientId) => void this.recheck(clientId));
  }

  open(client: AuthenticatedServiceClient, since: number | undefined, res: ServerResponse): PassThrough {
    if (this.closing) throw new AppError('server_busy', 'The server is stopping; reconnect to another instance.');
    if (this.streams.size >= this.limits.total || (this.perClient.get(client.clientId) ?? 0) >= this.limits.perClient) {
      const err = new AppError('too_many_streams');
      err.retryAfter = 5;
      throw err;
    }
    const s: OpenStream = { client, out: new PassThrough(), res, live: false, pending: [], closed: false };
    this.streams.add(s);
    this.perClient.set(client.clientId, (this.perClient.get(client.clientId) ?? 0) + 1);
    res.on('close', () => this.drop(s));
    this.heartbeat ??= setInterval(() => this.tick(), this.limits.heartbeatMs).unref();
    s.out.write('retry: 1000\n\n');
    void this.replay(s, since).catch((err: Error) => {
      this.deps.logger.warn({ err: err.message }, 'revocation stream replay failed');
      this.cut(s);
    });
    return s.out;
  }

  size(): number {
    return this.streams.size;
  }

  close(): void {
    this.closing = true;
    this.unsubscribeList();
    this.unsubscribeClients();
    for (const s of [...this.streams]) this.end(s);
  }

  private drop(s: OpenStream) {
    if (s.closed) return;
    s.closed = true;
    s.pending = [];
    this.streams.delete(s);
    const left = (this.perClient.get(s.client.clientId) ?? 1) - 1;
    if (left > 0) this.perClient.set(s.client.clientId, left);
    else this.perClient.delete(s.client.clientId);
    if (this.streams.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  /** Ends a stream gracefully; one whose consumer does not take the rest is cut soon after. */
  private end(s: OpenStream) {
    this.drop(s);
    s.out.end();
    setTimeout(() => {
      if (!s.res.writableFinished) s.res.destroy();
    }, END_GRACE_MS).unref();
  }

  /** Cuts a stream at once, dropping what it buffered. */
  private cut(s: OpenStream) {
    this.drop(s);
    s.out.destroy();
    s.res.destroy();
  }

  private send(s: OpenStream, text: string) {
    if (s.closed) return;
    if (!s.live) {
      s.pending.push(text);
      if (s.pending.length > MAX_PENDING) this.cut(s);
      return;
    }
    s.out.write(text);
    this.checkBacklog(s);
  }

  /**
   * A burst (a mass revocation) can put more than the bound in every stream's buffer within one tick; a
   * consumer that reads takes it within moments. One still over the bound a second later is not keeping
   * up: it is cut, and resumes with Last-Event-ID. Its buffer only grows with writes, each of which checks.
   */
  private checkBacklog(s: OpenStream) {
    if (buffered(s) <= this.limits.maxBufferedBytes) {
      s.overSince = undefined;
      return;
    }
    const now = Date.now();
    s.overSince ??= now;
    if (now - s.overSince < BACKLOG_GRACE_MS) return;
    this.deps.logger.info({ clientId: s.client.clientId, bytes: buffered(s) }, 'revocation stream closed: its consumer is not keeping up');
    this.cut(s);
  }

  /** Closes the streams of clients removed, rotated or stripped of the scope since they opened (one query). */
  private async recheck(clientId: string | undefined) {
    const open = [...this.streams].filter((s) => clientId === undefined || s.client.clientId === clientId);
    if (open.length === 0) return;
    try {
      const current = await currentServiceClients(this.deps.db, [...new Set(open.map((s) => s.client.clientId))], 'revocations:read');
      for (const s of open) if (current.get(s.client.clientId) !== s.client.secretHash) this.end(s);
    } catch (err) {
      // The database is away: the streams stay; the next heartbeat checks again.
      this.deps.logger.warn({ err: (err as Error).message }, 'could not check the service clients of open revocation streams');
    }
  }

  private tick() {
    const text = timeFrame('heartbeat', this.deps.clock.now().getTime());
    // No heartbeat while this instance may be missing revocations made elsewhere (RevocationList.isStale):
    // its consumers then stop trusting what they hold, as they do when the stream itself goes quiet.
    if (!this.deps.revocations.isStale()) for (const s of [...this.streams]) if (s.live) this.send(s, text);
    // Notices can be lost (a cut listening connection): each heartbeat also checks every client, in one query.
    if (this.checking) return;
    this.checking = true;
    void this.recheck(undefined).finally(() => (this.checking = false));
  }

  private async replay(s: OpenStream, since: number | undefined) {
    const entries = entriesToReplay(this.deps.revocations.entries(), since, this.deps.clock.now().getTime());
    for (let i = 0; i < entries.length && !s.closed; i += REPLAY_BATCH) {
      const text = entries.slice(i, i + REPLAY_BATCH).map(revocationFrame).join('');
      if (!s.out.write(text)) await drained(s);
    }
    if (s.closed) return;
    s.out.write(timeFrame('ready', this.deps.clock.now().getTime()));
    s.live = true;
    const pending = s.pending;
    s.pending = [];
    for (const text of pending) this.send(s, text);
  }
}

export function createRevocationStreams(deps: StreamDeps, limits: StreamLimits): RevocationStreams {
  return new StreamSet(deps, limits);
}
