import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DataDirLockedError } from './db/data-dir-lock.js';
import { DamagedDataDirError } from './db/embedded-template.js';
import { describeDatabaseFailure } from './start-failure.js';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

async function serve(config: Config) {
  // Loaded here, not at the top: a supervising process never needs them, and forks sooner without them.
  const [{ buildApp }, { createServerDeps }] = await Promise.all([import('./app.js'), import('./jobs.js')]);
  const deps = await createServerDeps(config);
  const { lowerHelperThreadPriority } = await import('./thread-priority.js');
  const lowered = await lowerHelperThreadPriority(config.password.hashing.nice);
  const app = await buildApp(deps);
  // The embedded engine's data folder has one owner: commands reach the database through this process.
  // Started before listening: once the server answers, nothing awaits before the stop signals are handled.
  if (!config.databaseUrl && !config.dataDir.startsWith('memory://')) {
    const { startControlServer, controlSocketPath } = await import('./control/server.js');
    const control = await startControlServer({ path: controlSocketPath(config.dataDir), deps, logger: deps.logger });
    deps.onClose(() => control.close());
  }
  await app.listen({ port: config.port, host: config.host });
  const signing = deps.keys.current;
  deps.logger.info({ engine: deps.database.engine, helperThreadsLowered: lowered, algorithm: signing.alg, kid: signing.kid, publicUrl: config.publicUrl }, 'Latchkey is ready');

  let closing = false;
  const shutdown = async (reason: string) => {
    if (closing) return;
    closing = true;
    deps.logger.info({ reason }, 'shutting down: draining requests');
    // A client that never finishes its request must not hold the stop forever.
    const cut = setTimeout(() => {
      deps.logger.warn({ seconds: config.shutdownTimeout }, 'requests still in flight at the shutdown timeout: closing their connections');
      app.server.closeAllConnections();
    }, config.shutdownTimeout * 1000).unref();
    setTimeout(() => process.exit(1), (config.shutdownTimeout + 5) * 1000).unref();
    try {
      // Refuses new connections, closes idle keep-alive ones and waits for requests in flight.
      await app.close();
      clearTimeout(cut);
      // Then the database (and the embedded data folder's lock).
      await deps.close();
      process.exit(0);
    } catch (err) {
      deps.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => void shutdown(signal));
}

/**
 * With WORKERS > 1, this process forks the servers (they share the port), replaces any that dies,
 * keeps the throttling counters they share when there is no Redis, and serves their metrics summed.
 */
// The exit code of a server process stopped by its configuration (sysexits' EX_CONFIG): not worth a restart.
const EXIT_SETTING = 78;

async function supervise(config: Config) {
  // CommonJS packages imported when needed: module.exports is `default` (the bundle has no other names).
  const [{ default: pino }, { default: limiters }] = await Promise.all([import('pino'), import('rate-limiter-flexible')]);
  const { RateLimiterClusterMaster } = limiters;
  const logger = pino({ level: config.logLevel });
  new RateLimiterClusterMaster();
  if (config.metrics.port !== undefined) {
    const [{ startMetricsListener }, { clusterScrapeSource }] = await Promise.all([import('./metrics/server.js'), import('./metrics/cluster.js')]);
    await startMetricsListener({ ...config.metrics, port: config.metrics.port, source: clusterScrapeSource(), logger });
  }
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code) => {
    if (stopping) return;
    // A setting at fault (such as a SECRET_KEY that does not open the stored keys) fails every new process alike.
    if (code === EXIT_SETTING) {
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exit(1);
    }
    logger.error({ pid: worker.process.pid, code }, 'a server process exited; starting another');
    setTimeout(fork, 1000);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    let left = Object.keys(cluster.workers ?? {}).length;
    if (left === 0) process.exit(0);
    cluster.on('exit', () => {
      left -= 1;
      if (left === 0) process.exit(0);
    });
    // Each server bounds its own drain; this bounds a server that hangs anyway.
    setTimeout(() => process.exit(1), (config.shutdownTimeout + 10) * 1000).unref();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => stop(signal));
  logger.info({ workers: config.workers }, 'starting server processes');
}

/**
 * Runs Latchkey as `npm start` and `latchkey serve` do: a supervisor of several server processes
 * (WORKERS > 1), or the server itself, in this process (the memory settings of bin/latchkey-server are
 * node's arguments). A failed start writes one line and exits 1.
 */
export async function startLatchkey(env: Record<string, string | undefined>): Promise<void> {
  let config: Config | undefined;
  try {
    config = loadConfig(env);
    if (config.workers > 1 && cluster.isPrimary) await supervise(config);
    else await serve(config);
  } catch (err) {
    failedStart(err, config);
  }
}

function failedStart(err: unknown, config: Config | undefined): never {
  const database = config && describeDatabaseFailure(err, config);
  if (err instanceof ConfigError) {
    process.stderr.write(`Latchkey cannot start.\n${err.message}\n`);
  } else if (err instanceof DataDirLockedError || err instanceof DamagedDataDirError) {
    process.stderr.write(`Latchkey cannot start: ${err.message}\n`);
  } else if (database) {
    process.stderr.write(`Latchkey cannot start: ${database}\n`);
  } else {
    process.stderr.write(`Latchkey failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  // A worker that cannot start for a setting or its database stops the supervisor instead of being re-forked forever.
  process.exit((err instanceof ConfigError || database) && cluster.isWorker ? EXIT_SETTING : 1);
}
