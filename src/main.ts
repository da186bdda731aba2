import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';

async function serve(config: Config) {
  // Loaded here, not at the top: a supervising process never needs them, and forks sooner without them.
  const [{ buildApp }, { createDeps }] = await Promise.all([import('./app.js'), import('./deps.js')]);
  const deps = await createDeps(config);
  const app = await buildApp(deps);
  await app.listen({ port: config.port, host: config.host });
  const signing = deps.keys.current;
  deps.logger.info({ engine: deps.database.engine, algorithm: signing.alg, kid: signing.kid, publicUrl: config.publicUrl }, 'Latchkey is ready');

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    deps.logger.info({ signal }, 'shutting down: draining requests');
    // Stops accepting connections and waits for requests in flight before closing the database.
    await app.close();
    await deps.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/**
 * With WORKERS > 1, this process forks the servers (they share the port), replaces any that dies, and
 * keeps the throttling counters they share when there is no Redis.
 */
// The exit code of a server process stopped by its configuration (sysexits' EX_CONFIG): not worth a restart.
const EXIT_SETTING = 78;

async function supervise(config: Config) {
  const logger = pino({ level: config.logLevel });
  const { RateLimiterClusterMaster } = await import('rate-limiter-flexible');
  new RateLimiterClusterMaster();
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
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    let left = Object.keys(cluster.workers ?? {}).length;
    if (left === 0) process.exit(0);
    cluster.on('exit', () => {
      left -= 1;
      if (left === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  logger.info({ workers: config.workers }, 'starting server processes');
}

async function main() {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig(process.env);
  if (config.workers > 1 && cluster.isPrimary) await supervise(config);
  else await serve(config);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`Latchkey cannot start.\n${err.message}\n`);
  } else {
    process.stderr.write(`Latchkey failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(err instanceof ConfigError && cluster.isWorker ? EXIT_SETTING : 1);
});
