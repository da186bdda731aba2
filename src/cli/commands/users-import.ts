import { createReadStream } from 'node:fs';
import { Command } from 'commander';
import { ImportInterruptedError, importUsers, type ImportSummary } from '../../import/import-users.js';
import { describeSource, openUserSource, sourceKind, type FileFormat } from '../../import/sources.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { printJson, printLine, printNote } from '../output.js';
import { startProgress } from '../progress.js';
import { openRunner } from '../runner.js';

// A batch that crosses the control socket stays well under its message limit (rows are checked, hence bounded, first).
const BATCH_LOCAL = 1_000;
const BATCH_THROUGH_SERVER = 500;
const SHOWN_REJECTIONS = 20;

/** Lines in a file, for the progress bar's total (a CSV's header is not a user). */
async function countRecords(path: string): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return last === 10 ? lines : lines + 1;
}

function printSummary(summary: ImportSummary, source: string) {
  const verb = summary.dryRun ? 'would be imported' : 'imported';
  printLine(`${source}: ${summary.read} read, ${summary.inserted} ${verb}, ${summary.skipped} already there, ${summary.rejected} refused`);
  for (const r of summary.rejections.slice(0, SHOWN_REJECTIONS)) printLine(`  row ${r.row}${r.id ? ` (id ${String(r.id)})` : ''}: ${r.reason}: ${r.detail}`);
  if (summary.rejected > SHOWN_REJECTIONS) printLine(`  … and ${summary.rejected - SHOWN_REJECTIONS} more (--json lists them)`);
  for (const c of summary.conflicts.slice(0, SHOWN_REJECTIONS)) printLine(`  row ${c.row}: ${String(c.email)} already belongs to an account created here: left alone`);
}

export function usersImportCommand(ctx: CliContext): Command {
  return new Command('import')
    .description('import users with their old password hashes (werkzeug pbkdf2/scrypt, bcrypt, argon2id) from a file or the old app\'s database; a rerun skips who is already there')
    .argument('<source>', 'a CSV or JSON lines file, or postgres://… or mysql://… of the old database')
    .option('--table <table>', 'database sources: the table (`users`; MySQL also tries `user`), or schema.table')
    .option('--format <format>', 'file sources: csv or jsonl, when the extension does not tell')
    .option('--dry-run', 'check every row and tell what would happen, writing nothing')
    .option('--verified', 'count every imported address as verified (the old app had them proved); without it, each owner verifies theirs')
    .option('--json', 'print the summary, with every refused row, as JSON')
    .action(async (source: string, opts: { table?: string; format?: string; dryRun?: boolean; verified?: boolean; json?: boolean }) => {
      if (opts.format !== undefined && opts.format !== 'csv' && opts.format !== 'jsonl') throw usageError('--format: expected csv or jsonl');
      const kind = sourceKind(source);
      if (kind === 'file' && opts.table !== undefined) throw usageError('--table is for database sources');
      const config = ctx.config();
      const total = kind === 'file' ? await countRecords(source).catch(() => 0) : 0;
      const runner = await openRunner(config, 'deps');
      const progress = startProgress({ label: 'users', total: kind === 'file' && opts.format !== 'jsonl' && !source.endsWith('.jsonl') ? Math.max(0, total - 1) : total });
      try {
        const summary = await importUsers({
          source: openUserSource(source, { table: opts.table, format: opts.format as FileFormat | undefined }),
          apply: (rows) => runner.call('users.importBatch', { rows, dryRun: opts.dryRun ?? false, verified: opts.verified ?? false }),
          batchSize: runner.via === 'server' ? BATCH_THROUGH_SERVER : BATCH_LOCAL,
          onProgress: (() => {
            let seen = 0;
            return (p) => {
              progress.increment(p.inserted + p.skipped + p.rejected - seen);
              seen = p.inserted + p.skipped + p.rejected;
            };
          })(),
        });
        progress.stop();
        if (opts.json) printJson({ source: describeSource(source), ...summary });
        else printSummary(summary, describeSource(source));
      } catch (err) {
        progress.stop();
        if (err instanceof ImportInterruptedError) {
          printSummary(err.summary, describeSource(source));
          printNote('The import stopped; run the same command again to resume: users already imported are skipped.');
          throw err.cause instanceof Error ? err.cause : err;
        }
        throw err;
      } finally {
        await runner.close();
      }
    });
}
