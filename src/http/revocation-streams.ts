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

/** Entries from other instances can arrive late: a resume replays this much before its Last-Event-ID. */
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
  /** Opens a stream for an authenticated client; `since`: replay only entries from then on (ms). */
  open(client: AuthenticatedServiceClient, since: number | undefined, res: ServerResponse): PassThrough;
  /** How many streams are open now. */
  size(): number;
  /** Ends every stream and stops; new ones are refused. */
  close(): void;
}

/** The frame of one revocation: its id is its time in ms. */
export function revocationFrame(entry: RevocationEntry): string {
  const data = entry.kind === 'session' ? { sid: entry.sessionId, revoked_at: entry.at } : { sub: entry.userId, not_before: entry.at };
  const event = entry.kind === 'session' ? 'session.revoked' : 'user.not_before';
  return `id: ${entry.at}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const timeFrame = (event: 'heartbeat' | 'ready', now: number) => `event: ${event}\ndata: ${JSON.stringify({ time: now })}\n\n`;

/** A Last-Event-ID as the feed sent it (a time in ms), or undefined for anything else. */
export function parseLastEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

export function createRevocationStreams(deps: Pick<Deps, 'revocations' | 'clock' | 'db' | 'serviceClientEvents'> & { logger: Logger }, limits: StreamLimits): RevocationStreams {
  const streams = new Set<OpenStream>();
  const perClient = new Map<string, number>();
  let closing = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let checking = false;

  const buffered = (s: OpenStream) => s.out.writableLength + s.out.readableLength + s.res.writableLength;

  function drop(s: OpenStream) {
    if (s.closed) return;
    s.closed = true;
    s.pending = [];
    streams.delete(s);
    const left = (perClient.get(s.client.clientId) ?? 1) - 1;
    if (left > 0) perClient.set(s.client.clientId, left);
    else perClient.delete(s.client.clientId);
    if (streams.size === 0 && heartbeat) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  }

  /** Ends a stream gracefully; one whose consumer does not take the rest is cut soon after. */
  function end(s: OpenStream) {
    drop(s);
    s.out.end();
    setTimeout(() => {
      if (!s.res.writableFinished) s.res.destroy();
    }, END_GRACE_MS).unref();
  }

  /** Cuts a stream at once, dropping what it buffered. */
  function cut(s: OpenStream) {
    drop(s);
    s.out.destroy();
    s.res.destroy();
  }

  function send(s: OpenStream, text: string) {
    if (s.closed) return;
    if (!s.live) {
      s.pending.push(text);
      if (s.pending.length > MAX_PENDING) cut(s);
      return;
    }
    s.out.write(text);
    checkBacklog(s);
  }

  /**
   * A burst (a mass revocation) can put more than the bound in every stream's buffer within one tick; a
   * consumer that reads takes it within moments. One still over the bound a second later is not keeping
   * up: it is cut, and resumes with Last-Event-ID. Its buffer only grows with writes, each of which checks.
   */
  function checkBacklog(s: OpenStream) {
    if (buffered(s) <= limits.maxBufferedBytes) {
      s.overSince = undefined;
      return;
    }
    const now = Date.now();
    s.overSince ??= now;
    if (now - s.overSince < BACKLOG_GRACE_MS) return;
    deps.logger.info({ clientId: s.client.clientId, bytes: buffered(s) }, 'revocation stream closed: its consumer is not keeping up');
    cut(s);
  }

  const unsubscribeList = deps.revocations.subscribe((entry) => {
    if (streams.size === 0) return;
    const text = revocationFrame(entry);
    for (const s of [...streams]) send(s, text);
  });

  /** Closes the streams of clients removed, rotated or stripped of the scope since they opened (one query). */
  async function recheck(clientId: string | undefined) {
    const open = [...streams].filter((s) => clientId === undefined || s.client.clientId === clientId);
    if (open.length === 0) return;
    try {
      const current = await currentServiceClients(deps.db, [...new Set(open.map((s) => s.client.clientId))], 'revocations:read');
      for (const s of open) if (current.get(s.client.clientId) !== s.client.secretHash) end(s);
    } catch (err) {
      // The database is away: the streams stay; the next heartbeat checks again.
      deps.logger.warn({ err: (err as Error).message }, 'could not check the service clients of open revocation streams');
    }
  }
  const unsubscribeClients = deps.serviceClientEvents.subscribe((clientId) => void recheck(clientId));

  function tick() {
    const text = timeFrame('heartbeat', deps.clock.now().getTime());
    for (const s of [...streams]) if (s.live) send(s, text);
    // Notices can be lost (a cut listening connection): each heartbeat also checks every client, in one query.
    if (checking) return;
    checking = true;
    void recheck(undefined).finally(() => (checking = false));
  }

  async function replay(s: OpenStream, since: number | undefined) {
    const entries = deps.revocations
      .entries()
      .filter((e) => since === undefined || e.at >= since - RESUME_MARGIN_MS)
      .sort((a, b) => a.at - b.at);
    for (let i = 0; i < entries.length && !s.closed; i += REPLAY_BATCH) {
      const text = entries.slice(i, i + REPLAY_BATCH).map(revocationFrame).join('');
      if (!s.out.write(text)) await drained(s);
    }
    if (s.closed) return;
    s.out.write(timeFrame('ready', deps.clock.now().getTime()));
    s.live = true;
    const pending = s.pending;
    s.pending = [];
    for (const text of pending) send(s, text);
  }

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

  return {
    open(client, since, res) {
      if (closing) throw new AppError('server_busy', 'The server is stopping; reconnect to another instance.');
      if (streams.size >= limits.total || (perClient.get(client.clientId) ?? 0) >= limits.perClient) {
        const err = new AppError('too_many_streams');
        err.retryAfter = 5;
        throw err;
      }
      const s: OpenStream = { client, out: new PassThrough(), res, live: false, pending: [], closed: false };
      streams.add(s);
      perClient.set(client.clientId, (perClient.get(client.clientId) ?? 0) + 1);
      res.on('close', () => drop(s));
      heartbeat ??= setInterval(tick, limits.heartbeatMs).unref();
      s.out.write('retry: 1000\n\n');
      void replay(s, since).catch((err: Error) => {
        deps.logger.warn({ err: err.message }, 'revocation stream replay failed');
        cut(s);
      });
      return s.out;
    },
    size: () => streams.size,
    close() {
      closing = true;
      unsubscribeList();
      unsubscribeClients();
      for (const s of [...streams]) end(s);
    },
  };
}
