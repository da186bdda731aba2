// Three things made once per test run, for every file:
// - On the embedded engine (no TEST_DATABASE_URL), an image of a new migrated database: each test database
//   starts as a copy of it (test/helpers/database.ts) instead of paying initdb's two seconds of CPU.
// - On PostgreSQL, a migrated database the test apps' databases are made from (CREATE DATABASE … TEMPLATE),
//   instead of each running every migration again: the same start as the embedded image's. The databases of
//   the command line and of server processes are still made empty, and migrated by them.
// - Tests that start the server or the command line as processes of their own run them from JavaScript compiled
//   once per test run when LATCHKEY_TEST_BUILD=1 (bundled as `npm run build` does): node starts the bundle in a
//   fraction of the time tsx takes to transpile the sources at every start, and those tests start hundreds of processes. LATCHKEY_TEST_BUILD=dist
//   uses the build `npm run build` has just made instead (CI, which builds first). Without it (a developer
//   running a file or two), they run the sources through tsx.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createEmbeddedImage, openDatabase } from '../src/db/client.js';
import { withClient } from './helpers/database.js';
import { ROOT } from './helpers/server-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder, at the root of the checkout, of this run's compiled sources; empty to run them through tsx. */
    builtSources: string;
    /** The file holding the embedded engine's image of a new migrated database; empty on PostgreSQL. */
    embeddedImage: string;
    /** On PostgreSQL, the name of a migrated database to make the test apps' databases from; empty on the embedded engine. */
    postgresTemplate: string;
  }
}

// With both engines in one run (vitest.config.ts), this runs once per project: what is made is made once.
const teardown: (() => void | Promise<void>)[] = [];
let made: { image?: Promise<string>; template?: Promise<string>; build?: string } = {};

export default async function setup(project: TestProject) {
  // A project's env (the embedded one sets TEST_DATABASE_URL to '') wins over the run's.
  const onPostgres = project.config.env?.TEST_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  project.provide('embeddedImage', onPostgres ? '' : await (made.image ??= makeImage()));
  project.provide('postgresTemplate', onPostgres ? await (made.template ??= makeTemplate(onPostgres)) : '');
  project.provide('builtSources', (made.build ??= builtSources()));
  return async () => {
    for (const step of teardown.splice(0)) await step();
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

async function makeTemplate(adminUrl: string): Promise<string> {
  const name = `latchkey_test_template_${randomBytes(6).toString('hex')}`;
  const admin = (query: string) => withClient(adminUrl, async (c) => void (await c.query(query)));
  const drop = () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  // Two connections: migrate() holds one for its advisory lock while the migrations run on the other.
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: '', poolSize: 2 });
  try {
    await database.migrate();
  } catch (err) {
    await database.close();
    await drop();
    throw err;
  }
  await database.close();
  teardown.push(drop);
  return name;
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
