import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeDatabaseFailure } from '../../src/start-failure.js';
import { freePort, TEST_DATABASE_URL } from '../helpers/services.js';
import { entry } from '../helpers/server-process.js';
import { expectOneLine, latchkey } from '../helpers/cli.js';
import { itUnless, NO_POSTGRES } from '../helpers/skip.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Starts the real server with this environment; resolves with its exit code and everything it wrote. */
function startServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, entry('main'), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', SECRET_KEY: 'k'.repeat(32), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('a database that cannot be reached at start', () => {
  it('stops the start with one line naming the server, without a stack trace or the password', async () => {
    const port = await freePort();
    const { code, output } = await startServer({ PORT: String(await freePort()), DATABASE_URL: `postgres://latchkey:s3cret-pass@127.0.0.1:${port}/latchkey`, WORKERS: '1' });
    expect(code).toBe(1);
    expect(output).toContain(`no PostgreSQL server answers at 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(output).not.toContain('s3cret-pass');
    expect(output).not.toMatch(/\n\s+at /);
  });

  itUnless(NO_POSTGRES)('says so when the database does not exist', async () => {
    const url = new URL(TEST_DATABASE_URL!);
    url.pathname = '/latchkey_no_such_database';
    const { code, output } = await startServer({ PORT: String(await freePort()), DATABASE_URL: url.toString(), WORKERS: '1' });
    expect(code).toBe(1);
    expect(output).toContain('the database "latchkey_no_such_database" does not exist');
    expect(output).toContain('create it with `latchkey db create`');
    expect(output).not.toMatch(/\n\s+at /);
    // The command line says the same, in its one line.
    expectOneLine(await latchkey({ DATABASE_URL: url.toString(), SECRET_KEY: 'k'.repeat(32) }, ['users', 'list']), 1, /does not exist .*: create it with `latchkey db create`/);
  });

  it('describes refused credentials and unknown hosts, and leaves other errors alone', () => {
    const config = { databaseUrl: 'postgres://app:pw@db.internal:6543/auth' };
    expect(describeDatabaseFailure(Object.assign(new Error('x'), { code: '28P01' }), config)).toContain('refused the user "app"');
    expect(describeDatabaseFailure({ cause: { code: 'ENOTFOUND' } }, config)).toContain('"db.internal"');
    expect(describeDatabaseFailure(new Error('something else'), config)).toBeUndefined();
    expect(describeDatabaseFailure({ code: '3D000' }, { databaseUrl: undefined })).toBeUndefined();
    expect(describeDatabaseFailure({ cause: { code: '3D000' } }, config)).toBe(
      'the database "auth" does not exist on the PostgreSQL server at db.internal:6543: create it with `latchkey db create` (or createdb auth), or name another in DATABASE_URL.',
    );
  });
});

describe('a setting the server cannot use', () => {
  it('stops the start with what BRAND_COLOR should have been, before anything is opened', async () => {
    const { code, output } = await startServer({ PORT: String(await freePort()), DATA_DIR: 'memory://', BRAND_COLOR: 'blue' });
    expect(code).toBe(1);
    expect(output).toContain('Latchkey cannot start.');
    expect(output).toContain('BRAND_COLOR: expected a colour as #rrggbb, such as #1f5fbf, got "blue"');
    expect(output).not.toMatch(/\n\s+at /);
  });
});
