import {
  EMAIL_CHANGE,
  EMAIL_CHANGE_NOTICE,
  EMAIL_VERIFICATION,
  sendEmailChangeEmail,
  sendEmailChangeNotice,
  sendVerificationEmail,
} from './auth/verification/verification-mail.js';
import { USER_CHANGES_CHANNEL } from './core/user-cache.js';
import cluster from 'node:cluster';
import { purgeAuditEvents } from './core/audit.js';
import { KEYS_CHANNEL, parseKeyRevocation } from './auth/keys/key-store.js';
import { startPurgeSchedule } from './auth/maintenance/purge.js';
import { PASSWORD_RESET, sendResetEmail } from './auth/reset/reset-mail.js';
import { createLogoutTokenSigner } from './auth/sessions/logout-tokens.js';
import { SIGNIN_CODE, sendSigninCodeEmail } from './auth/sessions/signin-code-mail.js';
import { startRevocationListener } from './auth/sessions/revocation-feed.js';
import { SERVICE_CLIENTS_CHANNEL } from './auth/service-clients/service-clients.js';
import { OAUTH_CLIENTS_CHANNEL } from './auth/oauth/client-cache.js';
import type { Config } from './config.js';
import { openDeps, type Deps, type DepsOverrides } from './deps.js';
import { mailHandlers } from './mail/mail-channel.js';
import { startOutboxWorker, type OutboxWorker } from './mail/outbox.js';
import { startMetricsListener } from './metrics/server.js';
import { EVENTS_CHANNEL, purgeEvents } from './core/events.js';
import { parseNetworks } from './webhooks/destinations.js';
import { startWebhookWorker, type WebhookWorker } from './webhooks/worker.js';

/** A server's dependencies with its background work running. */
export interface ServerDeps extends Deps {
  readonly outbox: OutboxWorker;
  readonly webhooks: WebhookWorker;
}

export interface JobOptions {
  /** How often the outbox looks for due emails (ms). */
  outboxPollMs?: number;
  /** How often the webhook worker looks for due deliveries without being told of new events (ms). */
  webhookPollMs?: number;
}

/**
 * Starts what a server runs in the background: the metrics listener (METRICS_PORT), the revocation and
 * key listener (PostgreSQL), the outbox worker, key rotation and the purges. Each is stopped by
 * `deps.close()`, before what it uses.
 */
/** The metrics listener (METRICS_PORT), or this worker's answers to its supervisor's scrapes. */
async function startMetrics(deps: Deps) {
  const { config, logger } = deps;
  if (!deps.metricsRegistry || config.metrics.port === undefined) return;
  const { registry } = deps.metricsRegistry;
  // Processes of a cluster answer their supervisor, which serves METRICS_PORT for them all (src/main.ts).
  if (cluster.isWorker) return (await import('./metrics/cluster.js')).answerClusterScrapes(registry);
  const source = { contentType: registry.contentType, collect: () => registry.metrics() };
  const listener = await startMetricsListener({ ...config.metrics, port: config.metrics.port, source, logger });
  deps.onClose(() => listener.close());
}

export async function startJobs(deps: Deps, opts: JobOptions = {}): Promise<ServerDeps> {
  const { config, database, clock, logger, keys, revocations } = deps;
  try {
    await startMetrics(deps);
    keys.startSchedule();
    // Webhook deliveries, woken by events recorded here, by NOTIFY from other instances, or by its poll.
    const webhooks = startWebhookWorker({
      db: database.db,
      clock,
      logger,
      signLogoutToken: createLogoutTokenSigner(keys, config.jwt.issuer, config.jwt.audience),
      sealer: deps.webhookSealer,
      pollMs: opts.webhookPollMs ?? 5_000,
      retryForSeconds: config.webhooks.retryFor,
      perEndpoint: config.webhooks.concurrency,
      denyNetworks: parseNetworks(config.webhooks.denyNetworks),
      metrics: deps.metrics,
    });
    deps.onClose(() => webhooks.close());
    if (config.databaseUrl) await listenForNotices(deps, config.databaseUrl, webhooks);

    // Without new revocations nothing would trigger a prune: a timer keeps the list to live tokens only.
    const pruneTimer = setInterval(() => revocations.prune(), 60_000).unref();
    deps.onClose(() => clearInterval(pruneTimer));

    const mailing = { db: database.db, mailer: deps.mailer, config, oneTimeCodeKey: deps.oneTimeCodeKey };
    const outbox = startOutboxWorker({
      db: database.db,
      handlers: mailHandlers(deps, {
        [PASSWORD_RESET]: (payload, now) => sendResetEmail({ db: database.db, mailer: deps.mailer, config }, payload, now),
        [SIGNIN_CODE]: (payload, now) => sendSigninCodeEmail(mailing, payload, now),
        [EMAIL_VERIFICATION]: (payload, now) => sendVerificationEmail(mailing, payload, now),
        [EMAIL_CHANGE]: (payload, now) => sendEmailChangeEmail(mailing, payload, now),
        [EMAIL_CHANGE_NOTICE]: (payload, now) => sendEmailChangeNotice(mailing, payload, now),
      }),
      clock,
      logger,
      pollMs: opts.outboxPollMs ?? 1_000,
      retryMaxDelaySeconds: config.mail.retryMaxDelay,
    });
    deps.onClose(() => outbox.close());


    const purge = () =>
      Promise.all([
        purgeAuditEvents(database.db, clock, config.auditRetention).catch((err: Error) =>
          logger.warn({ err: err.message }, 'audit log purge failed'),
        ),
        purgeEvents(database.db, clock.now(), config.webhooks.eventRetention).catch((err: Error) =>
          logger.warn({ err: err.message }, 'event purge failed'),
        ),
      ]);
    void purge();
    const purgeTimer = setInterval(purge, 3_600_000).unref();
    deps.onClose(() => clearInterval(purgeTimer));
    // Spent tokens, ended sessions and sent emails, in small batches (src/auth/maintenance/purge.ts).
    const expiredRows = startPurgeSchedule({ db: database.db, clock, config, logger, intervalSeconds: config.purgeInterval });
    deps.onClose(() => expiredRows.close());

    return Object.assign(deps, { outbox, webhooks });
  } catch (err) {
    await deps.close();
    throw err;
  }
}

/** A key was made, retired or revoked on some instance: this one reads the keys again. */
function onKeyNotice(deps: Pick<Deps, 'keys' | 'revocations'>, payload: string): void {
  const revoked = parseKeyRevocation(payload);
  // The list (and so the revocation feed's key.revoked) learns once this instance's JWKS has the new key: a service
  // that fetches the JWKS on that event finds the key that replaced it. reload() never rejects.
  void deps.keys.reload().then(() => revoked && deps.revocations.addKey(revoked.kid, revoked.at));
}

/** Drops what this instance keeps in memory of a user who changed, or of every user (notices may have been missed). */
function forgetUsers(deps: Pick<ServerDeps, 'profiles' | 'sessionLists' | 'mfaSummaries'>, userId?: string): void {
  for (const cache of [deps.profiles, deps.sessionLists, deps.mfaSummaries]) {
    if (userId === undefined) cache.forgetAll();
    else cache.forget(userId);
  }
}

/**
 * What other instances announce through PostgreSQL's NOTIFY, on the revocation feed's connection: revocations, key
 * changes, service and OAuth clients changed, events recorded, users changed; and, on each (re)connection, everything
 * that may have been missed meanwhile.
 */
async function listenForNotices(deps: Deps, databaseUrl: string, webhooks: Pick<WebhookWorker, 'wake'>): Promise<void> {
  const { config, database, clock, logger, keys, revocations } = deps;
  const listener = await startRevocationListener({
    databaseUrl,
    db: database.db,
    clock,
    logger,
    accessTokenTtl: config.ttl.accessToken,
    list: revocations,
    probeMs: config.revocationFeed.heartbeat * 1000,
    channels: {
      [KEYS_CHANNEL]: (payload) => onKeyNotice(deps, payload),
      // A client rotated or removed on any instance: the streams it opened here close.
      [SERVICE_CLIENTS_CHANNEL]: (clientId) => deps.serviceClientEvents.changed(clientId || undefined),
      // Events recorded on any instance: every worker looks (one claims each delivery).
      [EVENTS_CHANNEL]: () => webhooks.wake(),
      // A user's name, address, verification or sessions changed on any instance: what this one keeps of it is stale.
      [USER_CHANGES_CHANNEL]: (userId) => forgetUsers(deps, userId),
      // An OAuth client's secret rotated or the client removed on any instance: what this one keeps of it is stale.
      [OAUTH_CLIENTS_CHANNEL]: (clientId) => deps.oauthClients.forget(clientId || undefined),
    },
    onConnected: async () => {
      forgetUsers(deps);
      deps.oauthClients.forget();
      // Notices may have been missed while the connection was away: check every client with an open stream.
      deps.serviceClientEvents.changed(undefined);
      await keys.reload();
    },
  });
  deps.onClose(() => listener.close());
}

/** Opens the dependencies and starts a server's background work. */
export async function createServerDeps(config: Config, overrides: DepsOverrides & JobOptions = {}): Promise<ServerDeps> {
  return startJobs(await openDeps(config, overrides), overrides);
}
