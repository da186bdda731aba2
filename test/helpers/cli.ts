import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { entry, ROOT, startServerProcess, type ServerProcess } from './server-process.js';
import { TEST_DATABASE_URL } from './services.js';
import { describeUnless, type SkipReason } from './skip.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command line as a process of its own: `latchkey <args>`, with `input` on its standard input. */
export function latchkey(env: Record<string, string>, args: string[], input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...entry('cli/main'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input);
    // A command that does not end by itself (something left open) fails the test on its timeout.
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export const json = (run: Run) => {
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr}`);
  // Everything it opened was closed: the process ended by itself, not by the command line's safety net.
  expect(run.stderr).not.toContain('still open');
  return JSON.parse(run.stdout);
};

/** A failure is one line on standard error, without a stack, and nothing on standard output. */
export function expectOneLine(run: Run, code: number, text: string | RegExp) {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(/^latchkey: /);
  expect(run.stderr).toMatch(text);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

/**
 * On PostgreSQL the command line opens the database itself whether a server runs or not (src/cli/runner.ts):
 * a group of commands run with no server there runs nothing the group beside a server does not, and sees less.
 * It runs on the embedded engine, where the command line then opens the data folder itself instead of going
 * through the server's control socket.
 */
export const NO_SERVER_ON_POSTGRES: SkipReason = TEST_DATABASE_URL
  ? 'on PostgreSQL the command line opens the database itself with a server running too: the group beside a server runs these commands; this one runs on the embedded engine'
  : undefined;

/**
 * A command-line suite twice, as `describe.each` would: `suite(false)` with no server running (on the embedded
 * engine only: NO_SERVER_ON_POSTGRES), `suite(true)` while a server process runs on the same database.
 */
export function describeWithAndWithoutServer(
  name: string,
  suite: (withServer: boolean) => void,
  titles: [string, string] = ['with no server running', 'while a server process runs on the same database'],
) {
  describeUnless(NO_SERVER_ON_POSTGRES)(`${name} ${titles[0]}`, () => suite(false));
  describe(`${name} ${titles[1]}`, () => suite(true));
}

/** Where a command-line suite runs: a fresh database, and a server process on it when `withServer`. */
export interface CliTarget {
  env: Record<string, string>;
  server: ServerProcess | undefined;
  database: TestDatabase;
  run(args: string[]): Promise<Run>;
}

/**
 * Sets up (in beforeAll) and tears down (in afterAll) a fresh database for the enclosing suite, created with
 * `latchkey db create`, with a server process on it when `withServer` (`serverEnv` added to its settings).
 * Read the returned object's fields inside tests, once beforeAll has run.
 */
export function useCliTarget(withServer: boolean, serverEnv: (database: TestDatabase) => Record<string, string> = () => ({})): CliTarget {
  let root: string;
  const target = { env: {}, server: undefined, database: undefined, run: (args: string[]) => latchkey(target.env, args) } as unknown as CliTarget;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'latchkey-cli-'));
    target.database = await createTestDatabase();
    target.env = { DATA_DIR: join(root, 'data'), SECRET_KEY: target.database.secretKey };
    if (target.database.url) target.env.DATABASE_URL = target.database.url;
    expect((await target.run(['db', 'create'])).code).toBe(0);
    if (withServer) {
      target.server = await startServerProcess({ ...target.env, ...serverEnv(target.database) });
      await target.server.ready();
    }
  }, 120_000);
  afterAll(async () => {
    if (target.server) expect(await target.server.stop()).toBe(0);
    await target.database?.drop();
    await rm(root, { recursive: true, force: true });
  });
  return target;
}
