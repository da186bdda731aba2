import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLine, latchkey } from '../helpers/cli.js';
import { entry, ROOT } from '../helpers/server-process.js';

// The command line's usage: help, usage errors and configuration errors, all refused or answered before any
// database is opened. It does not depend on the engine: when both run, it runs once (vitest.config.ts).
const PASSWORD = 'correct horse battery staple';
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-cli-usage-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('usage', () => {
  const env = () => ({ DATA_DIR: join(root, 'usage') });

  it('--help on every command, exit 0; a bare group shows its help as a usage error', async () => {
    for (const args of [[], ['users'], ['users', 'create'], ['migrate', 'status'], ['db', 'drop'], ['keys', 'rotate'], ['sessions', 'revoke'], ['serve']]) {
      const run = await latchkey(env(), [...args, '--help']);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^Usage: latchkey/);
    }
    expect((await latchkey(env(), ['--help'])).stdout).toContain('78  invalid configuration');
    expect((await latchkey(env(), ['users'])).code).toBe(2);
  }, 120_000);

  it('exits 2 with one line on an unknown command or option, or a bad value', async () => {
    expectOneLine(await latchkey(env(), ['nope']), 2, /unknown command 'nope'/);
    expectOneLine(await latchkey(env(), ['users', 'list', '--limit', 'ten']), 2, /expected a whole number/);
    expectOneLine(await latchkey(env(), ['users', 'list', '--limit', '0']), 2, /invalid arguments: limit/);
    expectOneLine(await latchkey(env(), ['users', 'list', '--offset', '1', '--after', 'x']), 2, /--offset or --after/);
    expectOneLine(await latchkey(env(), ['users', 'create', '--email', 'not-an-email', '--name', 'X'], PASSWORD), 2, /email: must be an email/);
    expectOneLine(await latchkey(env(), ['users', 'create', '--name', 'X'], PASSWORD), 2, /required option '--email <email>'/);
    expectOneLine(await latchkey(env(), ['users', 'show']), 2, /missing required argument 'user'/);
  }, 120_000);

  it('never takes a password as an argument', async () => {
    for (const flag of [['--password', PASSWORD], [`--password=${PASSWORD}`], ['-p', PASSWORD]]) {
      const run = await latchkey(env(), ['users', 'create', '--email', 'a@example.com', '--name', 'A', ...flag]);
      expectOneLine(run, 2, /never a command-line argument/);
      expect(run.stderr).not.toContain(PASSWORD);
    }
  }, 60_000);

  it('refuses db drop without --yes', async () => {
    expectOneLine(await latchkey(env(), ['db', 'drop']), 2, /add --yes/);
  });

  it('ends quietly when its reader has stopped (latchkey --help | true)', async () => {
    // `true` reads nothing and exits long before the command line has started: its writes meet a closed pipe.
    const run = spawnSync('bash', ['-o', 'pipefail', '-c', `${process.execPath} ${entry('cli/main').join(' ')} --help | true`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env() },
      encoding: 'utf8',
    });
    expect(run.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(run.status).toBe(0);
  });

  it('exits 78 on an invalid configuration, naming every problem on one line', async () => {
    expectOneLine(await latchkey({ ...env(), PORT: 'eighty', JWT_ALGORITHM: 'nope' }, ['users', 'list']), 78, /PORT: .*; JWT_ALGORITHM: /);
  });
});
