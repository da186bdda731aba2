// Two things made once per test run, for every file:
// - On the embedded engine (no TEST_DATABASE_URL), an image of a new migrated database: each test database
//   starts as a copy of it (test/helpers/database.ts) instead of paying initdb's two seconds of CPU.
// - Tests that start the server or the command line as processes of their own run them from JavaScript compiled
//   once per test run when LATCHKEY_TEST_BUILD=1 (bundled as `npm run build` does): node starts the bundle in a
//   fraction of the time tsx takes to transpile the sources at every start, and those tests start hundreds of processes. LATCHKEY_TEST_BUILD=dist
//   uses the build `npm run build` has just made instead (CI, which builds first). Without it (a developer
//   running a file or two), they run the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createEmbeddedImage } from '../src/db/client.js';
import { ROOT } from './helpers/server-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder, at the root of the checkout, of this run's compiled sources; empty to run them through tsx. */
    builtSources: string;
    /** The file holding the embedded engine's image of a new migrated database; empty on PostgreSQL. */
    embeddedImage: string;
  }
}

// With both engines in one run (vitest.config.ts), this runs once per project: what is made is made once.
const teardown: (() => void)[] = [];
let made: { image?: Promise<string>; build?: string } = {};

export default async function setup(project: TestProject) {
  // A project's env (the embedded one sets TEST_DATABASE_URL to '') wins over the run's.
  const onPostgres = project.config.env?.TEST_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  project.provide('embeddedImage', onPostgres ? '' : await (made.image ??= makeImage()));
  project.provide('builtSources', (made.build ??= builtSources()));
  return () => {
    for (const step of teardown.splice(0)) step();
    made = {};
  };
}

async function makeImage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-image-'));
  teardown.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'migrated.tar');
  writeFileSync(file, Buffer.from(await (await createEmbeddedImage()).arrayBuffer()));
  return file;
}

function builtSources(): string {
  const setting = process.env.LATCHKEY_TEST_BUILD ?? '';
  if (setting !== '1') {
    if (setting !== '' && !/^[\w.-]+$/.test(setting)) throw new Error('LATCHKEY_TEST_BUILD: 1, or the name of a build folder at the root (dist)');
    if (setting !== '' && !existsSync(join(ROOT, setting, 'main.js'))) throw new Error(`LATCHKEY_TEST_BUILD=${setting}: no build there (npm run build)`);
    return setting;
  }
  // Beside dist/: the code finds what it reads (drizzle/, package.json) from the nearest package.json above it.
  const dir = `.test-build-${process.pid}`;
  const build = spawnSync(process.execPath, ['scripts/build.mjs', dir, '--force'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`compiling the sources for the process tests failed:\n${build.stdout}${build.stderr}`);
  teardown.push(() => rmSync(join(ROOT, dir), { recursive: true, force: true }));
  return dir;
}
