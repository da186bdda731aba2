import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { epochSeconds } from '../core/clock.js';
import type { ClaimedDelivery } from '../db/queries/webhooks.js';
import { deniedLiteral, guardedLookup, type DeniedNetworks } from './destinations.js';
import { openWebhookSecret, secretKeyBytes } from './endpoints.js';

/** Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` under the secret's bytes. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretKeyBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export interface WebhookSenderOptions {
  /** Signs the back-channel logout token posted to an endpoint registered for it (the domain's signer, wired in src/jobs.ts). */
  signLogoutToken: (claims: { audience: string; sub: unknown; sid: unknown }, now: Date) => string;
  sealer: Uint8Array;
  timeoutMs: number;
  /** WEBHOOK_DENY_NETWORKS, parsed. */
  denyNetworks: DeniedNetworks;
}

export interface WebhookSender {
  /** Posts one delivery; resolves with the receiver's status, throws when it could not be reached in time. */
  post(row: ClaimedDelivery, now: Date): Promise<number>;
  close(): void;
}

/** Posts deliveries over connections kept open between them; each new one checks where its host resolves (guardedLookup). */
export function createWebhookSender(opts: WebhookSenderOptions): WebhookSender {
  const denied = opts.denyNetworks;
  const lookup = guardedLookup(denied);
  const agents = { http: new HttpAgent({ keepAlive: true, lookup }), https: new HttpsAgent({ keepAlive: true, lookup }) };

  /**
   * One POST, its answer's status (redirects are not followed: a 3xx is a failed delivery). Every address the
   * host resolves to is checked against WEBHOOK_DENY_NETWORKS when the socket connects; an IP literal, which
   * is not looked up, before.
   */
  function send(url: URL, body: string, headers: Record<string, string>): Promise<number> {
    const refused = deniedLiteral(url, denied);
    if (refused) return Promise.reject(refused);
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: secure ? agents.https : agents.http,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          signal: AbortSignal.timeout(opts.timeoutMs),
        },
        (res) => {
          // Read to its end, so that the connection serves the next delivery.
          res.resume();
          res.on('error', () => {});
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  return {
    post(row, now) {
      const { body, contentType } = bodyOf(row, now, opts.signLogoutToken);
      const headers = { 'content-type': contentType, 'user-agent': 'Latchkey-Webhooks' };
      // An OAuth client's back-channel logout endpoint has no secret: the logout token, signed, is all it is sent.
      if (row.secret_sealed === null) return send(new URL(row.url), body, headers);
      const webhookId = `evt_${row.event_id}`;
      const timestamp = epochSeconds(now);
      const secret = openWebhookSecret(opts.sealer, { id: row.endpoint_id, secretSealed: row.secret_sealed });
      return send(new URL(row.url), body, {
        ...headers,
        'webhook-id': webhookId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(secret, webhookId, timestamp, body),
      });
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/**
 * The event as JSON, or for a back-channel logout endpoint an OIDC logout token, form-encoded. An OAuth client's own
 * endpoint is told the `sid` its ID tokens carry: the browser session that authorised the session that ended.
 */
function bodyOf(row: ClaimedDelivery, now: Date, signLogoutToken: WebhookSenderOptions['signLogoutToken']): { body: string; contentType: string } {
  if (row.backchannel_audience) {
    // Never told of another client's session, or of one of Latchkey's: made so (src/db/queries/events.ts), checked again.
    if (row.oauth_client_id && row.data.client_id !== row.oauth_client_id) throw new Error('not a session of this endpoint\'s client: no logout token sent');
    const sid = row.oauth_client_id ? row.data.parent_sid : row.data.sid;
    const logoutToken = signLogoutToken({ audience: row.backchannel_audience, sub: row.data.sub, sid }, now);
    return { body: new URLSearchParams({ logout_token: logoutToken }).toString(), contentType: 'application/x-www-form-urlencoded' };
  }
  const body = JSON.stringify({ type: row.type, timestamp: new Date(row.event_created_at).toISOString(), data: row.data });
  return { body, contentType: 'application/json' };
}
