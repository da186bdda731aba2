import { setFlagsFromString } from 'node:v8';
import { loadConfig, type Config } from '../config.js';
import { OPERATIONS, type OperationArgs, type OperationName, type OperationResult } from '../control/operations.js';
import { checkArgs, openRunner } from './runner.js';

/** What every command gets: the environment, the configuration when it needs it, and a way to run operations. */
export class CliContext {
  private loaded: Config | undefined;
  /** Set by `serve`: the process then lives on as the server. */
  serving = false;

  constructor(readonly env: Record<string, string | undefined>) {}

  /** The configuration, parsed on first use: `--help` works whatever the environment holds. */
  config(): Config {
    this.loaded ??= loadConfig(this.env);
    return this.loaded;
  }

  /** Parsed already, for describing a failure (undefined if it never was, or did not parse). */
  get configIfLoaded(): Config | undefined {
    return this.loaded;
  }

  /** Checks the arguments, opens a runner for this one operation, runs it, and closes what it opened. */
  async run<N extends OperationName>(op: N, args: OperationArgs<N>): Promise<OperationResult<N>> {
    checkArgs(op, args);
    const config = this.config();
    if (!config.databaseUrl) compileForOneOperation();
    const runner = await openRunner(config, OPERATIONS[op].needs);
    try {
      return await runner.call(op, args);
    } finally {
      await runner.close();
    }
  }
}

/**
 * A command that runs one operation on the embedded engine opens it, runs a few queries and exits: V8's optimizing
 * compiler would spend more on the engine's WebAssembly (about a second of CPU, in threads the exit then waits
 * for) than those queries take. Its baseline compiler alone starts the engine a third faster. Set before the engine
 * is compiled, once per process; `serve` and `users import`, which live on, never come here and keep both tiers.
 */
function compileForOneOperation(): void {
  setFlagsFromString('--liftoff-only');
}
