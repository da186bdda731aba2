import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addOperationCommand } from '../operation-command.js';
import { printLine } from '../output.js';

export function sessionsCommand(ctx: CliContext): Command {
  const sessions = new Command('sessions').description('end users\' sessions');
  addOperationCommand(sessions, ctx, {
    name: 'revoke',
    description: 'sign a user out everywhere: every session, refresh token and access token ends now',
    json: 'print the outcome as JSON',
    options: (command) => command.requiredOption('--user <user>', 'email or id'),
    op: 'sessions.revoke',
    args: (_argument, opts: { user: string }) => ({ user: opts.user }),
    print: (result) => printLine(`Ended ${result.sessions_ended} session(s) of ${result.user.email}`),
  });
  return sessions;
}
