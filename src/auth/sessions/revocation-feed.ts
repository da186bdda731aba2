import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import { loadRecentRevocations, type RevocationList } from './revocations.js';

const CHANNEL = 'latchkey_revocations';
// Each instance's proof that its listening connection still hears: a notice it sends itself and must hear back.
const PROBE_CHANNEL = 'latchkey_listen_probe';
// A NOTIFY payload must stay under 8,000 bytes: 150 session ids of 36 characters fit with room to spare.
const IDS_PER_NOTICE = 150;

/**
 * Tells every instance listening on the database that sessions were revoked. Sent inside the revoking
 * transaction, PostgreSQL delivers it only if that transaction commits.
 */
export async function announceRevocations(tx: Db, sessionIds: string[], revokedAt: Date): Promise<void> {
  for (let i = 0; i < sessionIds.length; i += IDS_PER_NOTICE) {
    const payload = JSON.stringify({ t: revokedAt.getTime(), s: sessionIds.slice(i, i + IDS_PER_NOTICE) });
    await notify(tx, CHANNEL, payload);
  }
}

/** Tells every instance that the sessions a user opened before `notBefore` are dead (sent inside the changing transaction). */
export async function announceNotBefore(tx: Db, userId: string, notBefore: Date): Promise<void> {
  await notify(tx, CHANNEL, JSON.stringify({ t: notBefore.getTime(), u: [userId] }));
}

/** A revocation notice: {t, s: session ids} revoked at t, or {t, u: user ids} whose sessions opened before t are dead. */
function applyNotice(list: RevocationList, logger: Logger, payload: string) {
  try {
    const { t, s, u } = JSON.parse(payload) as { t: number; s?: string[]; u?: string[] };
    for (const sid of s ?? []) list.add(sid, new Date(t));
    for (const uid of u ?? []) list.addNotBefore(uid, new Date(t));
  } catch {
    logger.warn('ignored a malformed revocation notice');
  }
}

export interface RevocationListener {
  close(): Promise<void>;
}

/**
 * Keeps this instance's revocation list in step with every other instance: LISTENs on a connection of
 * its own and, each time that connection is (re)established, reloads recent revocations from the
 * database so that nothing revoked while it was away is missed.
 */
export async function startRevocationListener(opts: {
  databaseUrl: string;
  db: Db;
  clock: Clock;
  logger: Logger;
  accessTokenTtl: number;
  list: RevocationList;
  /** Other channels to listen to on the same connection, each with its handler (given the payload). */
  channels?: Record<string, (payload: string) => void>;
  /** Run after each (re)connection, once listening: to catch up on what the other channels missed. */
  onConnected?: () => Promise<void>;
  /** How often the connection proves it still hears (ms); two probes unheard and it is replaced. */
  probeMs: number;
}): Promise<RevocationListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 250;
  let timer: NodeJS.Timeout | undefined;
  const probe = createProbe(opts.db);

  /** The connection is gone or deaf: until a new one has listened and caught up, the list may miss revocations. */
  const lose = (c: pg.Client, why: string) => {
    if (closed || client !== c) return;
    opts.logger.warn(`revocation feed ${why}; reconnecting (until then, access tokens are checked against the database)`);
    client = undefined;
    opts.list.setStale(true);
    // A connection that went quiet may never answer a goodbye: its socket is destroyed, not ended.
    (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    void c.end().catch(() => {});
    schedule();
  };

  const connect = async () => {
    const c = new pg.Client({ connectionString: opts.databaseUrl, keepAlive: true, connectionTimeoutMillis: 5_000 });
    c.on('notification', (msg) => {
      if (msg.channel === CHANNEL) applyNotice(opts.list, opts.logger, msg.payload ?? '');
      else if (msg.channel === PROBE_CHANNEL) probe.heard(msg.payload ?? '');
      else opts.channels?.[msg.channel]?.(msg.payload ?? '');
    });
    c.on('error', () => {});
    c.on('end', () => lose(c, 'lost its database connection'));
    try {
      await c.connect();
      for (const channel of [CHANNEL, PROBE_CHANNEL, ...Object.keys(opts.channels ?? {})]) await c.query(`LISTEN ${channel}`);
      client = c;
      // Listening first, then catching up: a revocation made in between is seen twice, never missed.
      await loadRecentRevocations(opts.db, opts.clock, opts.accessTokenTtl, opts.list);
      probe.reset();
      if (opts.list.isStale()) opts.logger.info('revocation feed listening again: revocations from every instance reach this one');
      opts.list.setStale(false);
      await opts.onConnected?.();
    } catch (err) {
      // A half-made connection is closed here; the caller schedules the next try.
      if (client === c) client = undefined;
      await c.end().catch(() => {});
      throw err;
    }
    retryMs = 250;
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().catch((err: Error) => {
        opts.logger.warn({ err: err.message, retryMs }, 'revocation feed could not reconnect yet');
        retryMs = Math.min(retryMs * 2, 5_000);
        schedule();
      });
    }, retryMs);
    timer.unref();
  };

  const probes = setInterval(() => {
    const c = client;
    if (c) void probe.tick().then((deaf) => deaf && lose(c, 'stopped hearing its own notices'));
  }, opts.probeMs).unref();

  await connect();
  return {
    async close() {
      closed = true;
      clearInterval(probes);
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}

/**
 * A connection cut quietly (a dropped NAT entry, a proxy's idle timeout) raises no error and hears nothing:
 * each tick sends this instance a notice through the pool, and `tick` answers true (deaf) once two in a row
 * went unheard on the listening connection.
 */
function createProbe(db: Db) {
  const id = randomUUID();
  let sent = 0;
  let heard = 0;
  let unheard = 0;
  return {
    heard(payload: string) {
      const [from, n] = payload.split(':');
      if (from === id) heard = Math.max(heard, Number(n));
    },
    /** A new connection listens: nothing sent before counts against it. */
    reset() {
      heard = sent;
      unheard = 0;
    },
    async tick(): Promise<boolean> {
      unheard = heard < sent ? unheard + 1 : 0;
      if (unheard >= 2) return true;
      if (heard < sent) return false;
      try {
        await notify(db, PROBE_CHANNEL, `${id}:${sent + 1}`);
        sent += 1;
      } catch {
        // PostgreSQL is away for the pool too: nothing can be revoked meanwhile, and the listening connection
        // fails and reconnects on its own once it is back.
      }
      return false;
    },
  };
}
