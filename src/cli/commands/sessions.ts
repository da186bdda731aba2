import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { printLine, printNote, printTable } from '../output.js';

export function sessionsCommand(ctx: CliContext): Command {
  const sessions = new Command('sessions').description('see and end users\' sessions');
  addOperationCommand(sessions, ctx, {
    name: 'list',
    description: 'list a user\'s live sessions: id, opened, last refreshed, end, address and user agent (never a token)',
    json: 'print {user, sessions} as JSON',
    options: (command) => command.requiredOption('--user <user>', 'email or id'),
    op: 'sessions.list',
    args: (_argument, opts: { user: string }) => ({ user: opts.user }),
    print: (result) => {
      printTable(result.sessions, [
        ['ID', (s) => s.id],
        ['CREATED', (s) => s.created_at],
        ['LAST_REFRESHED', (s) => s.last_refreshed_at],
        ['EXPIRES', (s) => s.expires_at],
        ['ADDRESS', (s) => s.ip_address],
        ['USER_AGENT', (s) => s.user_agent],
      ]);
      printNote(`${result.sessions.length} live session(s) of ${result.user.email}`);
    },
  });
  addOperationCommand(sessions, ctx, {
    name: 'revoke',
    description: 'end one session by its id (as its logout would), or with --user every session of a user: refresh and access tokens end now',
    argument: ['[session]', 'the id of the session to end (see `sessions list`)'],
    json: 'print the outcome as JSON',
    options: (command) => command.option('--user <user>', 'end every session of this user (email or id)'),
    op: 'sessions.revoke',
    args: (session, opts: { user?: string }) => {
      if ((session === undefined) === (opts.user === undefined)) throw usageError('give a session id or --user <user>, not both');
      return session !== undefined ? { session } : { user: opts.user };
    },
    print: (result) =>
      printLine('sessions_ended' in result ? `Ended ${result.sessions_ended} session(s) of ${result.user.email}` : `Ended session ${result.session_id} of ${result.user.email}`),
  });
  return sessions;
}
