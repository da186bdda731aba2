import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// A skipped group must say why in the run's output: every skip goes through test/helpers/skip.ts
// (describeUnless, itUnless), which names the reason and how to lift it. Vitest's own skips would not.

const ROOT = new URL('../..', import.meta.url).pathname;
const HELPER = 'test/helpers/skip.ts';
const SELF = 'test/unit/skips.test.ts';

/** What skips silently: `describe.skipIf(…)`, `it.runIf(…)`, `test.skip(…)`, `describe.skip(…)`, `ctx.skip()`, `.todo(…)`. */
const SILENT_SKIP = /\b(?:describe|it|test|suite)\s*\.\s*(?:skipIf|runIf|skip|todo)\b|\b(?:ctx|context|t)\s*\.\s*skip\s*\(/g;

/** The silent skips of a file's text, by line. */
function silentSkips(text: string): number[] {
  const lines: number[] = [];
  for (const match of text.matchAll(SILENT_SKIP)) lines.push(text.slice(0, match.index).split('\n').length);
  return lines;
}

function testFiles(): string[] {
  const folders = ['test'];
  for (const parent of ['packages', 'examples']) for (const name of readdirSync(join(ROOT, parent))) folders.push(`${parent}/${name}/test`);
  const files: string[] = [];
  for (const folder of folders) {
    let names: string[];
    try {
      names = readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' });
    } catch {
      continue; // a package without tests
    }
    for (const name of names) if (/\.[cm]?[jt]s$/.test(name) && !name.includes('node_modules')) files.push(relative(ROOT, join(ROOT, folder, name)));
  }
  return files;
}

describe('skipped tests', () => {
  it('are found when written with Vitest\'s own skips', () => {
    expect(silentSkips("describe.skipIf(!TEST_REDIS_URL)('x', () => {});\nit.skip('y');\n  it.runIf(ok)('z')")).toEqual([1, 2, 3]);
    expect(silentSkips('test.todo("later"); ctx.skip();')).toEqual([1, 1]);
    expect(silentSkips("describeUnless(NO_REDIS)('x', () => {}); itUnless(ON_POSTGRES)('y', () => {}); const skipped = 1;")).toEqual([]);
  });

  it('all say why: none in the test tree skips but through test/helpers/skip.ts', () => {
    const files = testFiles();
    expect(files).toContain('test/process/cli.test.ts');
    expect(files).toContain('examples/app-service/test/e2e.test.ts');
    const silent = files
      .filter((file) => file !== HELPER && file !== SELF)
      .flatMap((file) => silentSkips(readFileSync(join(ROOT, file), 'utf8')).map((line) => `${file}:${line}`));
    expect(silent, 'use describeUnless / itUnless of test/helpers/skip.ts, with the reason').toEqual([]);
  });
});
