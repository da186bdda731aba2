import { chmod, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDeps } from '../../src/deps.js';
import { createLogger } from '../../src/logging.js';
import { CHEAP_HASHING, PUBLIC_URL } from '../helpers/app.js';

// The embedded engine's folder holds every email, password hash and the secret key: another local
// account must not read or write any of it. These tests always run the embedded engine.
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-modes-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Opens Latchkey on `dataDir` (migrating it, making its secret key), as a start does; returns its log lines. */
async function start(dataDir: string) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL, LOG_LEVEL: 'info', DATA_DIR: dataDir, ...CHEAP_HASHING });
  const deps = await openDeps(config, { logger: createLogger(config, sink) });
  return { deps, lines };
}

/** Every file and folder under `dir` (itself included) whose mode is not owner-only: 700 for a folder, 600 for the rest. */
async function notOwnerOnly(dir: string): Promise<string[]> {
  const wrong: string[] = [];
  const walk = async (path: string) => {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) return;
    const mode = stats.mode & 0o777;
    const wanted = stats.isDirectory() ? 0o700 : 0o600;
    if (mode !== wanted) wrong.push(`${mode.toString(8)} ${path}`);
    if (stats.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  return wrong;
}

/** Opens every mode, as an older release, a copy or a careless umask left it. */
async function loosen(dir: string): Promise<number> {
  let count = 0;
  const walk = async (path: string) => {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) return;
    await chmod(path, stats.isDirectory() ? 0o755 : 0o666);
    count++;
    if (stats.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  return count;
}

describe('the embedded data folder', () => {
  it('is owner-only from its creation: every folder 700, every file 600, while open and after', async () => {
    const dataDir = join(root, 'fresh', 'data');
    const { deps, lines } = await start(dataDir);
    try {
      expect(await notOwnerOnly(dataDir)).toEqual([]);
    } finally {
      await deps.close();
    }
    expect(await notOwnerOnly(dataDir)).toEqual([]);
    // A fresh folder had nothing to tighten: no line says so.
    expect(lines.filter((l) => l.includes('tightened'))).toEqual([]);
  }, 60_000);

  it('is tightened at start when it was left readable by others, with one log line saying so', async () => {
    const dataDir = join(root, 'loose');
    await (await start(dataDir)).deps.close();
    const loosened = await loosen(dataDir);
    // A file someone put there, and an empty folder.
    await writeFile(join(dataDir, 'notes.txt'), 'x', { mode: 0o666 });
    await chmod(join(dataDir, 'notes.txt'), 0o666);
    await mkdir(join(dataDir, 'empty'), { mode: 0o755 });
    await chmod(join(dataDir, 'empty'), 0o755);
    const { deps, lines } = await start(dataDir);
    try {
      expect(await notOwnerOnly(dataDir)).toEqual([]);
    } finally {
      await deps.close();
    }
    expect(await notOwnerOnly(dataDir)).toEqual([]);
    const said = lines.filter((l) => l.includes('tightened'));
    expect(said).toHaveLength(1);
    const line = JSON.parse(said[0]!) as { dataDir: string; tightened: number; msg: string };
    expect(line.dataDir).toBe(dataDir);
    expect(line.tightened).toBe(loosened + 2);
  }, 60_000);
});
