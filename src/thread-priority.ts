import { access } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the scheduling priority of this process's helper threads (libuv's pool, where argon2 hashes,
 * and V8's), leaving the main thread, which answers every request, at its own. Under a sign-in flood
 * the hashes then take the CPU the event loop leaves, instead of half of it: refreshes and token
 * checks keep their latency (npm run bench, "refresh during the flood"). Linux keeps a nice value per
 * thread; elsewhere, or if the kernel refuses, this does nothing. Returns how many threads it lowered.
 */
export async function lowerHelperThreadPriority(nice: number): Promise<number> {
  if (nice <= 0 || process.platform !== 'linux') return 0;
  // libuv starts its whole pool at its first job; threads started later inherit the main thread's value.
  await access('.');
  let lowered = 0;
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    if (tid === process.pid) continue;
    try {
      setPriority(tid, nice);
      lowered += 1;
    } catch {
      // The thread has ended, or the kernel refuses: nothing to do.
    }
  }
  return lowered;
}
