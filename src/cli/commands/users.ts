import { Command } from 'commander';
import type { AdminUser, AdminUserWithSessions } from '../../contracts/users.js';
import { USERS_PAGE_DEFAULT } from '../../contracts/users.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { addOperationCommand } from '../operation-command.js';
import { wholeNumber } from '../options.js';
import { printLine, printNote, printRecord, printTable } from '../output.js';
import { readNewPassword } from '../password-input.js';
import { checkArgs } from '../runner.js';
import { usersImportCommand } from './users-import.js';

const status = (u: AdminUser) => (u.disabled_at ? 'disabled' : 'active');
const USER_ARGUMENT: [string, string] = ['<user>', 'email or id'];
const OUTCOME = 'print the outcome as JSON';

function addCreate(users: Command, ctx: CliContext) {
  addOperationCommand(users, ctx, {
    name: 'create',
    description: 'create a user; the password is read from standard input when piped, or asked for (hidden) on a terminal',
    json: 'print the user as JSON',
    options: (command) =>
      command
        .requiredOption('--email <email>', 'the user\'s email address')
        .requiredOption('--name <name>', 'the user\'s name')
        .option('--admin', 'give the user the admin role')
        .option('--verified', 'count the address as verified (you know it is theirs); without it, no mail is sent: `users send-verification`'),
    op: 'users.create',
    args: async (_argument, opts: { email: string; name: string; admin?: boolean; verified?: boolean }) => {
      const args = { email: opts.email, name: opts.name, admin: opts.admin ?? false, verified: opts.verified ?? false };
      // The rest is checked before the password is asked for; the password itself by the policy.
      checkArgs('users.create', { ...args, password: 'unchecked' });
      return { ...args, password: await readNewPassword() };
    },
    print: (user) => printLine(`Created ${user.role === 'admin' ? 'admin' : 'user'} ${user.email} (${user.id})`),
  });
}

function addList(users: Command, ctx: CliContext) {
  addOperationCommand(users, ctx, {
    name: 'list',
    description: 'list users in creation order, a page at a time',
    json: 'print {users, next_after} as JSON',
    options: (command) =>
      command
        .option('--limit <n>', 'users per page (1 to 1000)', wholeNumber, USERS_PAGE_DEFAULT)
        .option('--offset <n>', 'skip this many users', wholeNumber)
        .option('--after <id>', 'start after this user id (the last of the previous page)'),
    op: 'users.list',
    args: (_argument, opts: { limit: number; offset?: number; after?: string }) => {
      if (opts.offset !== undefined && opts.after !== undefined) throw usageError('give --offset or --after, not both');
      return { limit: opts.limit, offset: opts.offset, after: opts.after };
    },
    print: (page, opts) => {
      printTable(page.users, [
        ['ID', (u) => u.id],
        ['EMAIL', (u) => u.email],
        ['NAME', (u) => u.name],
        ['ROLE', (u) => u.role],
        ['STATUS', status],
        ['CREATED', (u) => u.created_at],
      ]);
      if (page.next_after) printNote(`more: latchkey users list --limit ${opts.limit} --after ${page.next_after}`);
    },
  });
}

/** show, disable, enable, delete: one user by email or id, and a line about what was done. */
function addUserChanges(users: Command, ctx: CliContext) {
  const byRef = (user: string | undefined) => ({ user: user! });
  addOperationCommand(users, ctx, {
    name: 'show',
    description: 'show one user, how many live sessions they have, and their second factors',
    argument: USER_ARGUMENT,
    json: 'print the user as JSON',
    op: 'users.show',
    args: byRef,
    print: ({ mfa, ...user }: AdminUserWithSessions) =>
      printRecord({
        ...user,
        status: status(user),
        mfa: `authenticator app: ${mfa.totp ? 'yes' : 'no'}, passkeys: ${mfa.passkeys}, recovery codes left: ${mfa.recovery_codes_left}`,
      }),
  });
  addOperationCommand(users, ctx, {
    name: 'disable',
    description: 'disable a user: no sign-in, refresh or password reset; every session ends now',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.disable',
    args: byRef,
    print: (r) => printLine(r.changed ? `Disabled ${r.user.email}; ${r.sessions_ended} session(s) ended` : `${r.user.email} was already disabled`),
  });
  addOperationCommand(users, ctx, {
    name: 'enable',
    description: 'let a disabled user sign in again',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.enable',
    args: byRef,
    print: (r) => printLine(r.changed ? `Enabled ${r.user.email}` : `${r.user.email} was not disabled`),
  });
  addOperationCommand(users, ctx, {
    name: 'grant-admin',
    description: 'give a user the role admin: the console (/admin) opens to them once they sign in with a second factor, which their next sign-in asks them to set up',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.grant-admin',
    args: byRef,
    print: (r) => printLine(r.changed ? `${r.user.email} is an admin now` : `${r.user.email} was an admin already`),
  });
  addOperationCommand(users, ctx, {
    name: 'revoke-admin',
    description: 'take the role admin back from a user: the console refuses them at once',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.revoke-admin',
    args: byRef,
    print: (r) => printLine(r.changed ? `${r.user.email} is no longer an admin` : `${r.user.email} was not an admin`),
  });
  addOperationCommand(users, ctx, {
    name: 'delete',
    description: 'delete a user and everything of theirs, ending their sessions first',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    options: (command) => command.option('--yes', 'yes, delete them'),
    op: 'users.delete',
    // As db drop and services remove: a destructive command is confirmed on its command line.
    args: (user, opts: { yes?: boolean }) => {
      if (!opts.yes) throw usageError(`deleting ${user} ends their sessions and deletes their account for good: add --yes`);
      return byRef(user);
    },
    print: (r) => printLine(`Deleted ${r.user.email} (${r.user.id}); ${r.sessions_ended} session(s) ended`),
  });
}

/** verify-email, send-verification: what an operator does about a user's address; mfa-reset, about their second factor. */
function addVerification(users: Command, ctx: CliContext) {
  const byRef = (user: string | undefined) => ({ user: user! });
  addOperationCommand(users, ctx, {
    name: 'verify-email',
    description: 'mark a user\'s email address verified (you know it is theirs)',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.verifyEmail',
    args: byRef,
    print: (r) => printLine(r.changed ? `Marked ${r.user.email} verified` : `${r.user.email} was already verified`),
  });
  addOperationCommand(users, ctx, {
    name: 'send-verification',
    description: 'email a user a new verification link and code (a running server\'s outbox sends it)',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.sendVerification',
    args: byRef,
    print: (r) => printLine(r.sent ? `Queued a verification email to ${r.user.email}` : `Nothing sent: ${r.user.email} is ${r.user.disabled_at ? 'disabled' : 'verified already'}`),
  });
  addOperationCommand(users, ctx, {
    name: 'mfa-reset',
    description: 'remove a user\'s second factors (authenticator app, passkeys) and recovery codes (they lost them): they sign in with the password alone until they set up another',
    argument: USER_ARGUMENT,
    json: OUTCOME,
    op: 'users.mfaReset',
    args: byRef,
    print: (r) => printLine(r.removed ? `Removed the second factors and recovery codes of ${r.user.email}` : `${r.user.email} had no second factor`),
  });
}

export function usersCommand(ctx: CliContext): Command {
  const users = new Command('users').description('create, list, show, disable, enable, delete and import users; verify their addresses; reset their second factors');
  addCreate(users, ctx);
  addList(users, ctx);
  addUserChanges(users, ctx);
  addVerification(users, ctx);
  users.addCommand(usersImportCommand(ctx));
  return users;
}
