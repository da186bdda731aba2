import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import { selectOAuthClientById, type OAuthClientRow } from '../../db/queries/oauth.js';
import { UserCache } from '../../core/user-cache.js';

const CLIENT_ID_PATTERN = /^lko_[A-Za-z0-9_-]{22}$/;

/** Whether a string has the form of a client id this server makes (anything else is not looked up). */
export const isOAuthClientId = (value: string) => CLIENT_ID_PATTERN.test(value);

/** The NOTIFY channel on which a client's change (secret rotated, client removed) reaches every instance. */
export const OAUTH_CLIENTS_CHANNEL = 'latchkey_oauth_clients';

/**
 * The registered OAuth clients each instance keeps in memory: every authorization request and token request names
 * its client, and reading the row each time was a third of their round trips to the database. A client changed on
 * any instance is dropped on every other one by OAUTH_CLIENTS_CHANNEL (`announceOAuthClientChange`), and every entry
 * when the notices may have been missed; an entry lives USER_CACHE_MS at most whatever happens. Unknown ids are not
 * kept, so made-up ones fill nothing. The one decision that must see a change at once, a code exchanged after its
 * client's secret was rotated or the client removed, checks the row again in the statement that opens the session.
 */
export class OAuthClientCache {
  // Kept as a user cache keeps a user's entries: under the client's id, each read dropped by a change after it.
  private readonly rows: UserCache<OAuthClientRow>;

  constructor(
    maxEntries: number,
    private readonly now: () => number,
  ) {
    this.rows = new UserCache(maxEntries, now);
  }

  /** The client with this id, from memory or read now; undefined for an id of another form, or no such client. */
  async get(db: Db, clientId: string | undefined): Promise<OAuthClientRow | undefined> {
    if (!clientId || !isOAuthClientId(clientId)) return undefined;
    const kept = this.rows.get(clientId);
    if (kept) return kept;
    // Taken before the read: a change committed meanwhile makes what it reads stale.
    const readAt = this.now();
    const row = await selectOAuthClientById(db, clientId);
    if (row) this.rows.set(clientId, '', row, readAt);
    return row;
  }

  /** A client changed (undefined: any may have): what was read of it until now is read again. */
  forget(clientId?: string): void {
    if (clientId === undefined) this.rows.forgetAll();
    else this.rows.forget(clientId);
  }
}

/** Tells every instance that a client changed (inside the changing transaction: only if it commits). */
export async function announceOAuthClientChange(tx: Db, clientId: string): Promise<void> {
  await notify(tx, OAUTH_CLIENTS_CHANNEL, clientId);
}
