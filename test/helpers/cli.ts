import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { entry, ROOT } from './server-process.js';

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

