import { pino, type Logger } from 'pino';
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js';
import { loadKeySet, type KeySet } from './auth/keys.js';
import { createRevocationList, loadRecentRevocations, type RevocationList } from './auth/revocations.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { openDatabase, type Database, type Db } from './db/client.js';
import { createMailer, type Mailer } from './mail/mailer.js';

/** Everything the domain needs from the outside world, built in one place. */
export interface Deps {
  readonly config: Config;
  readonly database: Database;
  readonly db: Db;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly mailer: Mailer;
  readonly keys: KeySet;
  readonly revocations: RevocationList;
  readonly passwords: PasswordHasher;
}

export interface DepsOverrides {
  clock?: Clock;
  logger?: Logger;
  mailer?: Mailer;
}

// Never log a secret, even by accident: these paths are blanked wherever they appear in a log line.
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  'refresh_token',
  'access_token',
  '*.password',
  '*.refresh_token',
  '*.access_token',
];

// Reset tokens travel in the path of their links; logged URLs keep the route but not the token.
export function redactUrl(url: string): string {
  return url.replace(/(\/reset-password\/)[^/?#]+/g, '$1[redacted]').replace(/\?.*$/, (q) => (q ? '?[redacted]' : q));
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url), ip: req.ip }),
      },
    },
    destination,
  );
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(config);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
  });
  try {
    if (config.migrateOnStart) await database.migrate();
    const keys = await loadKeySet(database.db, clock, {
      algorithm: config.jwt.algorithm,
      secretKey: config.jwt.secretKey,
    });
    const revocations = createRevocationList(clock, config.ttl.accessToken);
    await loadRecentRevocations(database.db, clock, config.ttl.accessToken, revocations);
    return {
      config,
      database,
      db: database.db,
      clock,
      logger,
      mailer: overrides.mailer ?? createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from }, logger),
      keys,
      revocations,
      passwords: createPasswordHasher(config.password.argon2),
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

export async function closeDeps(deps: Deps): Promise<void> {
  deps.mailer.close();
  await deps.database.close();
}
