import { CommanderError } from 'commander';
import { ConfigError, type Config } from '../config.js';
import { ControlError } from '../control/protocol.js';
import { DatabaseAdminError } from '../db/admin.js';
import { sqlState } from '../db/client.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { DamagedDataDirError } from '../db/embedded-template.js';
import { AppError } from '../errors.js';
import { describeDatabaseFailure } from '../start-failure.js';

/** The command line's exit codes (sysexits' EX_USAGE is 64; 2 is what most tools use for usage). */
export const EXIT = {
  ok: 0,
  /** The operation was refused or failed: no such user, a weak password, a database that is down. */
  failed: 1,
  /** The command line itself is wrong: unknown command or option, a missing or invalid argument. */
  usage: 2,
  /** The configuration is invalid (sysexits' EX_CONFIG, as a server worker uses). */
  config: 78,
  /** Ctrl-C at a prompt. */
  interrupted: 130,
} as const;

/** A failure the command line reports in one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

/** The exit code and the one line (never a stack) to write for a failure. */
export function describeFailure(err: unknown, config: Config | undefined): { exitCode: number; line: string } {
  if (err instanceof CommanderError) return { exitCode: EXIT.usage, line: err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ') };
  if (err instanceof CliError) return { exitCode: err.exitCode, line: err.message };
  if (err instanceof ConfigError) return { exitCode: EXIT.config, line: `invalid configuration: ${err.problems.join('; ')}` };
  if (err instanceof ControlError) {
    const usage = err.code === 'invalid_arguments' || err.code === 'unknown_operation';
    if (usage) return { exitCode: EXIT.usage, line: `invalid arguments: ${err.message}` };
    return { exitCode: err.code === 'invalid_request' ? EXIT.usage : EXIT.failed, line: `${err.message} (${err.code})` };
  }
  // A value the domain refuses (invalid_request: a webhook URL in WEBHOOK_DENY_NETWORKS) is a usage error too.
  if (err instanceof AppError) return { exitCode: err.code === 'invalid_request' ? EXIT.usage : EXIT.failed, line: `${err.message} (${err.code})` };
  if (err instanceof DataDirLockedError || err instanceof DamagedDataDirError || err instanceof DatabaseAdminError) return { exitCode: EXIT.failed, line: err.message };
  const database = config ? describeDatabaseFailure(err, config) : undefined;
  if (database) return { exitCode: EXIT.failed, line: database };
  if (sqlState(err) === '42P01') return { exitCode: EXIT.failed, line: 'the database has no Latchkey tables yet: run `latchkey migrate` (or `latchkey db create`) first' };
  const message = err instanceof Error ? err.message.split('\nparams:')[0]!.replace(/\s*\n\s*/g, ' ') : String(err);
  return { exitCode: EXIT.failed, line: message };
}
