import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson, printLine } from '../output.js';

export function sessionsCommand(ctx: CliContext): Command {
  const sessions = new Command('sessions').description('end users\' sessions');
  sessions
    .command('revoke')
    .description('sign a user out everywhere: every session, refresh token and access token ends now')
    .requiredOption('--user <user>', 'email or id')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: { user: string; json?: boolean }) => {
      const result = await ctx.run('sessions.revoke', { user: opts.user });
      if (opts.json) printJson(result);
      else printLine(`Ended ${result.sessions_ended} session(s) of ${result.user.email}`);
    });
  return sessions;
}
