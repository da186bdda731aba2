import pg from 'pg';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import { loadRecentRevocations, type RevocationList } from './revocations.js';

const CHANNEL = 'latchkey_revocations';
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
}): Promise<RevocationListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 250;
  let timer: NodeJS.Timeout | undefined;

  const onNotice = (msg: pg.Notification) => {
    try {
      // {t, s: session ids} revoked at t, or {t, u: user ids} whose sessions opened before t are dead.
      const { t, s, u } = JSON.parse(msg.payload ?? '') as { t: number; s?: string[]; u?: string[] };
      for (const sid of s ?? []) opts.list.add(sid, new Date(t));
      for (const uid of u ?? []) opts.list.addNotBefore(uid, new Date(t));
    } catch {
      opts.logger.warn('ignored a malformed revocation notice');
    }
  };

  const connect = async () => {
    const c = new pg.Client({ connectionString: opts.databaseUrl, keepAlive: true, connectionTimeoutMillis: 5_000 });
    c.on('notification', (msg) => (msg.channel === CHANNEL ? onNotice(msg) : opts.channels?.[msg.channel]?.(msg.payload ?? '')));
    c.on('error', () => {});
    c.on('end', () => {
      if (closed || client !== c) return;
      opts.logger.warn('revocation feed lost its database connection; reconnecting');
      client = undefined;
      schedule();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      for (const channel of Object.keys(opts.channels ?? {})) await c.query(`LISTEN ${channel}`);
      client = c;
      // Listening first, then catching up: a revocation made in between is seen twice, never missed.
      await loadRecentRevocations(opts.db, opts.clock, opts.accessTokenTtl, opts.list);
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

  await connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}
