import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { purgeAuditEvents } from './auth/audit.js';
import { createBreachCheck, type BreachCheck } from './auth/breached-passwords.js';
import { openKeyRing, type KeyRing } from './auth/key-ring.js';
import { KEYS_CHANNEL, signingKeySealer } from './auth/key-store.js';
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js';
import { startPurgeSchedule } from './auth/purge.js';
import { startRevocationListener, type RevocationListener } from './auth/revocation-feed.js';
import { createRevocationList, loadRecentRevocations, type RevocationList } from './auth/revocations.js';
import type { AccessClaims } from './auth/access-tokens.js';
import { createThrottle, type Throttle } from './auth/throttle.js';
import type { PublicUser } from './auth/users.js';
import { BoundedCache } from './cache.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { openDatabase, type Database, type Db } from './db/client.js';
import { createLogger } from './logging.js';
import { mailHandlers } from './mail/mail-channel.js';
import { resolveSecretKey } from './secret-key.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { startOutboxWorker, type OutboxWorker } from './mail/outbox.js';

/** Everything the domain needs from the outside world, built in one place. */
export interface Deps {
  readonly config: Config;
  readonly database: Database;
  readonly db: Db;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly mailer: Mailer;
  readonly outbox: OutboxWorker;
  /** The signing keys, kept in step with the database, and their rotation schedule. */
  readonly keys: KeyRing;
  readonly revocations: RevocationList;
  /** Access tokens that passed verification, until they expire (bounded). */
  readonly verifiedTokens: BoundedCache<AccessClaims>;
  /** Public profiles recently read (bounded, short-lived). */
  readonly profiles: BoundedCache<PublicUser>;
  readonly passwords: PasswordHasher;
  readonly throttle: Throttle;
  readonly breachCheck: BreachCheck | undefined;
  readonly redis: Redis | undefined;
  /** Stops background work and closes every connection, in order. */
  close(): Promise<void>;
}

const CACHE_ENTRIES = 10_000;

export interface DepsOverrides {
  clock?: Clock;
  logger?: Logger;
  mailer?: Mailer;
  /** How often the outbox looks for due emails (ms). */
  outboxPollMs?: number;
}

const REDIS_READY_TIMEOUT_MS = 3_000;

async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    // Commands fail at once while Redis is away (the throttle falls back to memory) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message }, 'Redis unreachable: throttling falls back to this instance\'s memory');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('Redis is back: throttling is shared again');
    down = false;
  });
  // Serve only once Redis is ready: until then every counter would fall back to this instance's memory,
  // and the first requests of a fresh instance would escape the shared limits. Unreachable at start, the
  // server starts anyway (throttling in memory) rather than not at all.
  if (redis.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, REDIS_READY_TIMEOUT_MS);
      redis.once('ready', done);
    });
  }
  return redis;
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(config);
  const secret = await resolveSecretKey(config, logger);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
  });
  const stops: (() => Promise<void> | void)[] = [() => database.close()];
  const close = async () => {
    // Last started, first stopped: background work ends before the database it uses closes.
    while (stops.length > 0) await stops.pop()!();
  };
  try {
    if (config.migrateOnStart) await database.migrate();
    const keys = await openKeyRing({
      db: database.db,
      clock,
      logger,
      sealingKey: signingKeySealer(secret.value),
      secretSource: secret.source,
      algorithm: config.jwt.algorithm,
      hmacSecret: config.jwt.secretKey,
      accessTokenTtl: config.ttl.accessToken,
      rotationInterval: config.keyRotationInterval,
    });
    stops.push(() => keys.close());

    const revocations = createRevocationList(clock, config.ttl.accessToken);
    if (config.databaseUrl) {
      const listener: RevocationListener = await startRevocationListener({
        databaseUrl: config.databaseUrl,
        db: database.db,
        clock,
        logger,
        accessTokenTtl: config.ttl.accessToken,
        list: revocations,
        channels: { [KEYS_CHANNEL]: () => void keys.reload() },
        onConnected: () => keys.reload(),
      });
      stops.push(() => listener.close());
    } else {
      await loadRecentRevocations(database.db, clock, config.ttl.accessToken, revocations);
    }

    // Without new revocations nothing would trigger a prune: a timer keeps the list to live tokens only.
    const pruneTimer = setInterval(() => revocations.prune(), 60_000).unref();
    stops.push(() => clearInterval(pruneTimer));

    const redis = config.redis.url ? await connectRedis(config.redis.url, logger) : undefined;
    if (redis) stops.push(() => void redis.disconnect());

    const mailer = overrides.mailer ?? await createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, logBodies: config.env === 'development' }, logger);
    stops.push(() => mailer.close());
    const outbox = startOutboxWorker({
      db: database.db,
      handlers: mailHandlers({ db: database.db, mailer, config }),
      clock,
      logger,
      pollMs: overrides.outboxPollMs ?? 1_000,
      retryMaxDelaySeconds: config.mail.retryMaxDelay,
    });
    stops.push(() => outbox.close());

    const purge = () =>
      purgeAuditEvents(database.db, clock, config.auditRetention).catch((err: Error) =>
        logger.warn({ err: err.message }, 'audit log purge failed'),
      );
    void purge();
    const purgeTimer = setInterval(purge, 3_600_000).unref();
    stops.push(() => clearInterval(purgeTimer));
    // Spent tokens, ended sessions and sent emails, in small batches (src/auth/purge.ts).
    const expiredRows = startPurgeSchedule({ db: database.db, clock, config, logger, intervalSeconds: config.purgeInterval });
    stops.push(() => expiredRows.close());

    return {
      config,
      database,
      db: database.db,
      clock,
      logger,
      mailer,
      outbox,
      keys,
      revocations,
      verifiedTokens: new BoundedCache<AccessClaims>(CACHE_ENTRIES, () => clock.now().getTime()),
      profiles: new BoundedCache<PublicUser>(CACHE_ENTRIES, () => clock.now().getTime()),
      passwords: createPasswordHasher(config.password.argon2, config.password.hashing),
      throttle: createThrottle(config, redis, config.redis.keyPrefix),
      breachCheck: config.hibp.url ? createBreachCheck({ url: config.hibp.url, timeoutMs: config.hibp.timeoutMs }, logger) : undefined,
      redis,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
