import type { Db } from '../../db/client.js';
import type { OAuthClientRow } from '../../db/queries/oauth.js';
import { setClientLogoutEndpoint } from '../../db/queries/webhooks.js';

/**
 * OpenID Connect Back-Channel Logout 1.0 to the clients that registered a `backchannel_logout_uri`: when a session a
 * client holds ends, whatever ended it, the client is posted a logout token (`aud` its client id, `sub` the user, `sid`
 * the browser session its ID tokens name). Each such client has a webhook endpoint of its own, not listed among the
 * operator's webhooks, that the webhook worker delivers to as it does every endpoint (retries, dead deliveries,
 * WEBHOOK_DENY_NETWORKS); its deliveries are made for that client's own sessions only
 * (src/db/queries/events.ts). A removed client's endpoint goes with it, and its pending deliveries with that.
 */

/**
 * Makes a client's back-channel logout endpoint follow its `backchannel_logout_uri`: created, moved to a new address,
 * or removed when it has none. Call it in the transaction that writes the client.
 */
export async function syncBackchannelLogoutEndpoint(tx: Db, client: Pick<OAuthClientRow, 'clientId' | 'backchannelLogoutUri'>, now: Date): Promise<void> {
  // As parsed, as an operator's webhook URL is stored: what is posted to is what the list of deliveries shows.
  const url = client.backchannelLogoutUri ? new URL(client.backchannelLogoutUri).href : null;
  await setClientLogoutEndpoint(tx, client.clientId, url, now);
}
