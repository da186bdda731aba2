import { Command, InvalidArgumentError } from 'commander';
import type { AdminUser } from '../../auth/users/user-admin.js';
import { checkArgs } from '../runner.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { printJson, printLine, printNote, printRecord, printTable } from '../output.js';
import { readNewPassword } from '../password-input.js';
import { usersImportCommand } from './users-import.js';

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

const status = (u: AdminUser) => (u.disabled_at ? 'disabled' : 'active');

function printUser(user: AdminUser & { active_sessions?: number }) {
  printRecord({ ...user, status: status(user) });
}

export function usersCommand(ctx: CliContext): Command {
  const users = new Command('users').description('create, list, show, disable, enable, delete and import users');

  users
    .command('create')
    .description('create a user; the password is read from standard input when piped, or asked for (hidden) on a terminal')
    .requiredOption('--email <email>', 'the user\'s email address')
    .requiredOption('--name <name>', 'the user\'s name')
    .option('--admin', 'give the user the admin role')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { email: string; name: string; admin?: boolean; json?: boolean }) => {
      const args = { email: opts.email, name: opts.name, admin: opts.admin ?? false };
      // The rest is checked before the password is asked for; the password itself by the policy.
      checkArgs('users.create', { ...args, password: 'unchecked' });
      const password = await readNewPassword();
      const user = await ctx.run('users.create', { ...args, password });
      if (opts.json) printJson(user);
      else printLine(`Created ${user.role === 'admin' ? 'admin' : 'user'} ${user.email} (${user.id})`);
    });

  users
    .command('list')
    .description('list users in creation order, a page at a time')
    .option('--limit <n>', 'users per page (1 to 1000)', wholeNumber, 50)
    .option('--offset <n>', 'skip this many users', wholeNumber)
    .option('--after <id>', 'start after this user id (the last of the previous page)')
    .option('--json', 'print {users, next_after} as JSON')
    .action(async (opts: { limit: number; offset?: number; after?: string; json?: boolean }) => {
      if (opts.offset !== undefined && opts.after !== undefined) throw usageError('give --offset or --after, not both');
      const page = await ctx.run('users.list', { limit: opts.limit, offset: opts.offset, after: opts.after });
      if (opts.json) return printJson(page);
      printTable(page.users, [
        ['ID', (u) => u.id],
        ['EMAIL', (u) => u.email],
        ['NAME', (u) => u.name],
        ['ROLE', (u) => u.role],
        ['STATUS', status],
        ['CREATED', (u) => u.created_at],
      ]);
      if (page.next_after) printNote(`more: latchkey users list --limit ${opts.limit} --after ${page.next_after}`);
    });

  users
    .command('show')
    .description('show one user and how many live sessions they have')
    .argument('<user>', 'email or id')
    .option('--json', 'print the user as JSON')
    .action(async (user: string, opts: { json?: boolean }) => {
      const shown = await ctx.run('users.show', { user });
      if (opts.json) printJson(shown);
      else printUser(shown);
    });

  users
    .command('disable')
    .description('disable a user: no sign-in, refresh or password reset; every session ends now')
    .argument('<user>', 'email or id')
    .option('--json', 'print the outcome as JSON')
    .action(async (user: string, opts: { json?: boolean }) => {
      const result = await ctx.run('users.disable', { user });
      if (opts.json) printJson(result);
      else if (!result.changed) printLine(`${result.user.email} was already disabled`);
      else printLine(`Disabled ${result.user.email}; ${result.sessions_ended} session(s) ended`);
    });

  users
    .command('enable')
    .description('let a disabled user sign in again')
    .argument('<user>', 'email or id')
    .option('--json', 'print the outcome as JSON')
    .action(async (user: string, opts: { json?: boolean }) => {
      const result = await ctx.run('users.enable', { user });
      if (opts.json) printJson(result);
      else printLine(result.changed ? `Enabled ${result.user.email}` : `${result.user.email} was not disabled`);
    });

  users
    .command('delete')
    .description('delete a user and everything of theirs, ending their sessions first')
    .argument('<user>', 'email or id')
    .option('--json', 'print the outcome as JSON')
    .action(async (user: string, opts: { json?: boolean }) => {
      const result = await ctx.run('users.delete', { user });
      if (opts.json) printJson(result);
      else printLine(`Deleted ${result.user.email} (${result.user.id}); ${result.sessions_ended} session(s) ended`);
    });

  users.addCommand(usersImportCommand(ctx));
  return users;
}
