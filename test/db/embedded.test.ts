import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/db/data-dir-lock.js';
import { startServerProcess } from '../helpers/server-process.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'latchkey-embedded-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const startServer = (dataDir: string) => startServerProcess({ DATA_DIR: dataDir });

const signup = (url: string, email: string) =>
  fetch(`${url}/api/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Lock Test', email, password: 'correct horse battery' }),
  });

const lockOwner = (dataDir: string) => (JSON.parse(readFileSync(join(dataDir, 'latchkey.lock'), 'utf8')) as { pid: number }).pid;

describe('one Latchkey process per embedded data folder', () => {
  it('refuses a second server on the same folder, naming the first, which keeps serving', async () => {
    const dataDir = join(root, 'shared');
    const first = await startServer(dataDir);
    await first.ready();

    const second = await startServer(dataDir);
    const outcome = await Promise.race([second.exited.then((code) => `exited ${code}`), second.ready().then(() => 'serving')]);
    if (outcome === 'serving') second.child.kill('SIGTERM');
    expect(outcome).toBe('exited 1');
    const owner = lockOwner(dataDir);
    expect(second.output()).toContain(
      `Latchkey cannot start: another Latchkey process (pid ${owner}) is using the data folder ${dataDir}. Stop that process first, or set DATA_DIR to another folder.`,
    );
    expect(second.output()).not.toContain('    at ');

    expect((await signup(first.url, 'after.second@example.com')).status).toBe(201);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(join(dataDir, 'latchkey.lock'))).toBe(false);
  }, 60_000);

  it('is not blocked by the lock of a server killed with SIGKILL', async () => {
    const dataDir = join(root, 'killed');
    const first = await startServer(dataDir);
    await first.ready();
    expect((await signup(first.url, 'before.kill@example.com')).status).toBe(201);
    // The process that holds the lock (the server) dies without cleaning up.
    process.kill(lockOwner(dataDir), 'SIGKILL');
    await first.exited;
    expect(existsSync(join(dataDir, 'latchkey.lock'))).toBe(true);

    const next = await startServer(dataDir);
    await next.ready();
    expect((await signup(next.url, 'before.kill@example.com')).status).toBe(409);
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 60_000);

  it('takes over a lock whose pid now belongs to another process, as after a container restart', async () => {
    const dataDir = join(root, 'reused');
    await mkdir(dataDir, { recursive: true });
    // This very pid, alive, but with another start time: the lock of an earlier process that had this pid.
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(join(dataDir, 'latchkey.lock'), JSON.stringify({ pid: process.pid, start: '1', boot, host: hostname() }));
    const lock = await lockDataDir(dataDir);
    expect(lockOwner(dataDir)).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock taken before this machine restarted, whatever process has its pid now', async () => {
    const dataDir = join(root, 'rebooted');
    await mkdir(dataDir, { recursive: true });
    const parent = readFileSync(`/proc/${process.ppid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19];
    const owner = { pid: process.ppid, start: parent, boot: 'an earlier boot', host: hostname() };
    writeFileSync(join(dataDir, 'latchkey.lock'), JSON.stringify(owner));
    const lock = await lockDataDir(dataDir);
    expect(lockOwner(dataDir)).toBe(process.pid);
    lock.release();
  });

  it('refuses a lock held by a live process of this machine, this one included', async () => {
    const dataDir = join(root, 'live');
    await mkdir(dataDir, { recursive: true });
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const parent = readFileSync(`/proc/${process.ppid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19];
    writeFileSync(join(dataDir, 'latchkey.lock'), JSON.stringify({ pid: process.ppid, start: parent, boot, host: hostname() }));
    await expect(lockDataDir(dataDir)).rejects.toThrow(`another Latchkey process (pid ${process.ppid})`);

    await rm(join(dataDir, 'latchkey.lock'));
    const lock = await lockDataDir(dataDir);
    await expect(lockDataDir(dataDir)).rejects.toBeInstanceOf(DataDirLockedError);
    lock.release();
    (await lockDataDir(dataDir)).release();
  });
});
