import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(dataDir: string, pid: number, elsewhere: boolean) {
    super(
      `another Latchkey process (pid ${pid}${elsewhere ? ' on another host or container' : ''}) is using the data folder ${dataDir}. ` +
        'Stop that process first, or set DATA_DIR to another folder.',
    );
  }
}

interface Owner {
  pid: number;
  start: string;
  boot: string;
  host: string;
}

export interface DataDirLock {
  release(): void;
}

const LOCK_FILE = 'latchkey.lock';
const HEARTBEAT_MS = 5_000;
const FOREIGN_STALE_MS = 15_000;

const readOr = (path: string, fallback: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};
// Field 22 of /proc/<pid>/stat: when the process started, in ticks since boot. Empty where there is no /proc.
const startOf = (pid: number) => readOr(`/proc/${pid}/stat`, '').replace(/^.*\) /, '').split(' ')[19] ?? '';
const BOOT = readOr('/proc/sys/kernel/random/boot_id', '').trim();

function isAlive(owner: Owner): boolean {
  // This machine has restarted since the lock was taken (a crash, a power loss): its owner is gone.
  if (owner.boot !== BOOT) return false;
  if (owner.start) return startOf(owner.pid) === owner.start;
  // No /proc here: a live process with that pid is taken for the owner.
  try {
    process.kill(owner.pid, 0);
    return owner.pid !== process.pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One Latchkey process per embedded data folder: two would each keep their own copy of the database in
 * memory and overwrite each other's files. The lock file names its owner by pid, the pid's start time and
 * the boot, so that a pid reused after a crash, or pid 1 again in a restarted container, is not mistaken
 * for the owner. An owner on another host or in another container (its pids mean nothing here) is judged
 * by its heartbeat instead: the file's time, renewed every few seconds while the owner runs.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, LOCK_FILE);
  const me: Owner = { pid: process.pid, start: startOf(process.pid), boot: BOOT, host: hostname() };
  for (let attempt = 0; ; attempt++) {
    // Written aside, then linked into place: the lock appears whole or not at all, and only one link wins.
    const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, JSON.stringify(me), { mode: 0o600 });
    try {
      linkSync(draft, path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    } finally {
      unlinkSync(draft);
    }
    const text = readOr(path, '');
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(text) as Owner;
    } catch {
      // Unreadable: not written by this code, or gone meanwhile; judged below like a dead owner's.
    }
    if (owner && owner.host !== me.host) {
      if (await heartbeatContinues(path)) throw new DataDirLockedError(dataDir, owner.pid, true);
    } else if (owner && isAlive(owner)) {
      throw new DataDirLockedError(dataDir, owner.pid, false);
    }
    removeIfUnchanged(path, text);
  }
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // The folder was removed under us: nothing left to guard.
    }
  }, HEARTBEAT_MS).unref();
  return {
    release() {
      clearInterval(heartbeat);
      if (readOr(path, '') === JSON.stringify(me)) unlinkSync(path);
    },
  };
}

/**
 * Removes a dead owner's lock, unless a racing process replaced it meanwhile: moved aside first (atomic),
 * then put back if it is not the one judged.
 */
function removeIfUnchanged(path: string, judged: string) {
  const aside = `${path}.stale.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return;
  }
  if (readOr(aside, '') !== judged) {
    try {
      linkSync(aside, path);
    } catch {
      // Yet another process holds it now; it stays the owner.
    }
  }
  unlinkSync(aside);
}

/** Whether the lock file's time moves within the time its owner renews it thrice. */
async function heartbeatContinues(path: string): Promise<boolean> {
  let seen: number;
  try {
    seen = statSync(path).mtimeMs;
  } catch {
    return false;
  }
  for (let waited = 0; waited < FOREIGN_STALE_MS; waited += 1_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    try {
      if (statSync(path).mtimeMs !== seen) return true;
    } catch {
      return false;
    }
  }
  return false;
}
