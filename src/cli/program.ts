import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { rootPath } from '../paths.js';
import { clientsCommand } from './commands/clients.js';
import { dbCommand, migrateCommand } from './commands/database.js';
import { keysCommand } from './commands/keys.js';
import { serveCommand } from './commands/serve.js';
import { servicesCommand } from './commands/services.js';
import { providersCommand } from './commands/providers.js';
import { webhooksCommand } from './commands/webhooks.js';
import { sessionsCommand } from './commands/sessions.js';
import { usersCommand } from './commands/users.js';
import { CliContext } from './context.js';
import { describeFailure, EXIT, usageError } from './errors.js';

const { version } = JSON.parse(readFileSync(rootPath('package.json'), 'utf8')) as { version: string };

const EXIT_CODES_HELP = `
Exit codes:
  0   done
  1   the operation failed or was refused (no such user, a weak password, the database is down)
  2   usage error: unknown command or option, a missing or invalid argument or value
  78  invalid configuration (environment or .env)

Configuration comes from the environment and .env, as for the server. With the embedded engine, a
command reaches a running server through DATA_DIR/control.sock; otherwise it opens the database itself.`;

// Passwords are never arguments: `ps` and shell history would keep them.
const PASSWORD_OPTION = /^(--password|--pass|-p)(=|$)/;

function program(ctx: CliContext): Command {
  const root = new Command('latchkey')
    .description('Latchkey, a self-hosted JWT authentication server: run it and administer it')
    .version(version, '-v, --version')
    .showSuggestionAfterError(true)
    // An option after a subcommand is that subcommand's: `migrate status --json` is not `migrate --json`.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  // The settings above are copied to each command when it is added, so each must come after them.
  for (const make of [serveCommand, migrateCommand, dbCommand, keysCommand, usersCommand, sessionsCommand, servicesCommand, clientsCommand, webhooksCommand, providersCommand]) {
    const command = make(ctx);
    applySettings(command);
    root.addCommand(command);
  }
  root.addHelpText('after', EXIT_CODES_HELP);
  return root;
}

function applySettings(command: Command) {
  command.exitOverride().configureOutput({ outputError: () => {} }).showSuggestionAfterError(true).enablePositionalOptions();
  // A command with subcommands and no action of its own: `latchkey users` shows its help, as a usage error.
  for (const sub of command.commands) applySettings(sub);
}

/** Runs one command line; sets the exit code and writes one line on standard error on failure. */
export async function runCli(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const ctx = new CliContext(env);
  let exitCode: number = EXIT.ok;
  try {
    const misplaced = argv.find((a) => PASSWORD_OPTION.test(a));
    if (misplaced)
      throw usageError(`${misplaced.split('=')[0]} is not accepted: a password is never a command-line argument; pipe it on standard input or type it at the prompt`);
    await program(ctx).parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) exitCode = EXIT.ok;
    else if (err instanceof CommanderError && err.code === 'commander.help') exitCode = EXIT.usage;
    else {
      const failure = describeFailure(err, ctx.configIfLoaded);
      exitCode = failure.exitCode;
      process.stderr.write(`latchkey: ${failure.line}\n`);
    }
  }
  process.exitCode = exitCode;
  if (ctx.serving && exitCode === EXIT.ok) return;
  // Everything was closed: the process ends by itself. Should something still hold it, say so and end anyway.
  setTimeout(() => {
    process.stderr.write('latchkey: something was still open after the command finished; exiting\n');
    process.exit(exitCode);
  }, 3_000).unref();
}
