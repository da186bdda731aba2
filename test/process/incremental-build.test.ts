import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `npm start` builds first (prestart): the bundle of the server and the command line (scripts/build.mjs). With
// no source changed that build does nothing; a change is in the next one. Done on a copy of the sources, so the
// repository's dist/ is not touched.
const ROOT = new URL('../..', import.meta.url).pathname;
let work: string;

function build() {
  const run = spawnSync('npm', ['run', 'build', '--ignore-scripts'], { cwd: work, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`build failed:\n${run.stdout}${run.stderr}`);
}
const mtime = (file: string) => statSync(join(work, file)).mtimeMs;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'latchkey-build-'));
  for (const file of ['package.json', 'tsconfig.json']) cpSync(join(ROOT, file), join(work, file));
  for (const folder of ['src', 'scripts']) cpSync(join(ROOT, folder), join(work, folder), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
  build();
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run build', () => {
  it('bundles the server and the command line, and writes nothing when no source changed since', { timeout: 120_000 }, () => {
    const before = { main: mtime('dist/main.js'), cli: mtime('dist/cli/main.js') };
    build();
    expect({ main: mtime('dist/main.js'), cli: mtime('dist/cli/main.js') }).toEqual(before);
  });

  it('rebuilds a source that changed', { timeout: 120_000 }, () => {
    const before = mtime('dist/main.js');
    appendFileSync(join(work, 'src/main.ts'), "\nObject.assign(globalThis, { latchkeyBuildProbe: 'a change the build must see' });\n");
    build();
    expect(mtime('dist/main.js')).toBeGreaterThan(before);
    expect(readFileSync(join(work, 'dist/main.js'), 'utf8')).toContain('a change the build must see');
  });
});
