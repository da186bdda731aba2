// Tests that start the server or the command line as processes of their own run them from JavaScript compiled
// once per test run when LATCHKEY_TEST_BUILD=1: node starts compiled code in a third of the time tsx takes to
// transpile the sources at every start, and those tests start hundreds of processes. LATCHKEY_TEST_BUILD=dist
// uses the build `npm run build` has just made instead (CI, which builds first). Without it (a developer
// running a file or two), they run the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from './helpers/server-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder, at the root of the checkout, of this run's compiled sources; empty to run them through tsx. */
    builtSources: string;
  }
}

export default function setup(project: TestProject) {
  const setting = process.env.LATCHKEY_TEST_BUILD ?? '';
  if (setting !== '1') {
    if (setting !== '' && !/^[\w.-]+$/.test(setting)) throw new Error('LATCHKEY_TEST_BUILD: 1, or the name of a build folder at the root (dist)');
    if (setting !== '' && !existsSync(join(ROOT, setting, 'main.js'))) throw new Error(`LATCHKEY_TEST_BUILD=${setting}: no build there (npm run build)`);
    project.provide('builtSources', setting);
    return;
  }
  // Beside dist/, at the same depth: the code finds what it reads (drizzle/, package.json) relative to itself.
  const dir = `.test-build-${process.pid}`;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dir, '--tsBuildInfoFile', join(dir, '.tsbuildinfo')], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`compiling the sources for the process tests failed:\n${build.stdout}${build.stderr}`);
  project.provide('builtSources', dir);
  return () => rmSync(join(ROOT, dir), { recursive: true, force: true });
}
