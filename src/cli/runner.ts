import { pino } from 'pino';
import type { Config } from '../config.js';
import { connectControl, type ControlClient } from '../control/client.js';
import { OPERATIONS, parseOperation, runOperation, type DatabaseDeps, type OperationArgs, type OperationDeps, type OperationName, type OperationResult } from '../control/operations.js';
import { controlSocketPath } from '../control/protocol.js';
import { openDatabase } from '../db/client.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { openDeps } from '../deps.js';
import { createLogger } from '../logging.js';
import { CliError } from './errors.js';

/** Runs the registry's operations, here or in the server that owns the embedded data folder. */
export interface Runner {
  /** `local`: this process opened the database; `server`: a running server ran the operation. */
  readonly via: 'local' | 'server';
  call<N extends OperationName>(op: N, args: OperationArgs<N>): Promise<OperationResult<N>>;
  close(): Promise<void>;
}

const CONTEXT = { actor: 'cli' };
// A server that is starting holds the data folder before its control socket listens.
const SERVER_STARTING_WAIT_MS = 10_000;

/** Checks arguments as the side that runs the operation will: an invalid one is a usage error before anything opens. */
export function checkArgs<N extends OperationName>(op: N, args: OperationArgs<N>): void {
  parseOperation(op, args);
}

/**
 * PostgreSQL: this process opens the database (no background work; changes reach running servers through
 * their NOTIFY listeners). Embedded engine: the running server that owns the data folder runs the
 * operation, through its control socket; with no server, this process opens the folder itself.
 */
export async function openRunner(config: Config, needs: 'deps' | 'database'): Promise<Runner> {
  if (config.databaseUrl) return openLocal(config, needs);
  const path = controlSocketPath(config.dataDir);
  const deadline = Date.now() + SERVER_STARTING_WAIT_MS;
  for (;;) {
    const client = await connectControl(path);
    if (client) return serverRunner(client);
    try {
      return await openLocal(config, needs);
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      if (Date.now() > deadline)
        throw new CliError(`${err.message.replace(/\.? Stop that process.*$/, '')}, and it does not answer on ${path} (a server still starting, or one older than this command line)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Whether a server answers on the embedded data folder's control socket. */
export async function serverIsRunning(config: Config): Promise<boolean> {
  if (config.databaseUrl) return false;
  const client = await connectControl(controlSocketPath(config.dataDir));
  client?.close();
  return client !== undefined;
}

function serverRunner(client: ControlClient): Runner {
  return {
    via: 'server',
    call: async (op, args) => (await client.call(op, args)) as never,
    close: async () => client.close(),
  };
}

async function openLocal(config: Config, needs: 'deps' | 'database'): Promise<Runner> {
  // Warnings go to standard error as JSON lines; standard output stays for the command's data.
  const logger = createLogger({ logLevel: 'warn' }, pino.destination({ fd: 2, sync: true }));
  let deps: OperationDeps | DatabaseDeps;
  let close: () => Promise<void>;
  if (needs === 'database') {
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
    deps = { database, db: database.db };
    close = () => database.close();
  } else {
    const full = await openDeps(
      // No operation throttles, so no Redis to wait for; two connections are plenty for one command.
      { ...config, databasePoolSize: 2, redis: { ...config.redis, url: undefined } },
      { logger, mailer: { send: () => Promise.reject(new Error('the command line sends no email')), close() {} } },
    );
    deps = full;
    close = () => full.close();
  }
  return {
    via: 'local',
    async call(op, args) {
      if (OPERATIONS[op].needs === 'deps' && needs !== 'deps') throw new Error(`${op} was asked of a runner opened for the database only`);
      return (await runOperation(deps, op, args, CONTEXT)) as never;
    },
    close,
  };
}
