import { Command } from 'commander';
import type { MigrationState } from '../../db/migrations.js';
import { createPostgresDatabase, dropDataFolder, dropPostgresDatabase } from '../../db/admin.js';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { printJson, printLine, printTable } from '../output.js';
import { addOperationCommand } from '../operation-command.js';
import { serverIsRunning } from '../runner.js';

const summary = (states: MigrationState[]) => {
  const pending = states.filter((s) => !s.applied).length;
  return `${states.length - pending} applied, ${pending} pending`;
};

export function migrateCommand(ctx: CliContext): Command {
  const migrate = new Command('migrate')
    .description('apply the pending migrations (a running server does this at start unless MIGRATE_ON_START=false)')
    .option('--json', 'print every migration and whether it is applied, as JSON')
    .action(async (opts: { json?: boolean }) => {
      const states = await ctx.run('db.migrate', {});
      if (opts.json) printJson(states);
      else printLine(`Migrations: ${summary(states)}`);
    });
  addOperationCommand(migrate, ctx, {
    name: 'status',
    description: 'list the migrations this version ships, applied or pending; changes nothing',
    json: 'print the list as JSON',
    op: 'db.migrationStatus',
    args: () => ({}),
    print: (states) => {
      printTable(states, [
        ['MIGRATION', (s) => s.name],
        ['STATE', (s) => (s.applied ? 'applied' : 'pending')],
      ]);
      printLine(summary(states));
    },
  });
  return migrate;
}

export function dbCommand(ctx: CliContext): Command {
  const db = new Command('db').description('create or drop Latchkey\'s database');
  db.command('create')
    .description('PostgreSQL: create the database DATABASE_URL names if missing; embedded: the data folder. Then migrate')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.config();
      const created = config.databaseUrl ? await createPostgresDatabase(config.databaseUrl) : undefined;
      const states = await ctx.run('db.migrate', {});
      const where = created ? `database "${created.name}"` : `data folder ${config.dataDir}`;
      if (opts.json) printJson({ created: created?.created ?? null, migrations: states });
      else printLine(`${created?.created ? 'Created' : 'Ready:'} ${where}; migrations ${summary(states)}`);
    });
  db.command('drop')
    .description('PostgreSQL: drop the database DATABASE_URL names; embedded: remove the data folder. Refuses while a server uses it')
    .option('--yes', 'really drop: every user, session and signing key is lost')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: { yes?: boolean; json?: boolean }) => {
      if (!opts.yes) throw usageError('db drop deletes every user, session and signing key: add --yes to confirm');
      const config = ctx.config();
      let outcome: { dropped: boolean; name: string };
      if (config.databaseUrl) {
        outcome = await dropPostgresDatabase(config.databaseUrl);
      } else {
        if (await serverIsRunning(config)) throw new CliError(`a Latchkey server is running on the data folder ${config.dataDir}: stop it first`);
        outcome = { ...(await dropDataFolder(config.dataDir)), name: config.dataDir };
      }
      if (opts.json) printJson(outcome);
      else printLine(outcome.dropped ? `Dropped ${outcome.name}` : `Nothing to drop: ${outcome.name} does not exist`);
    });
  return db;
}
