import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeUnless } from '../helpers/skip.js';

// Run in a child process: the call changes the priority of the threads of the process that makes it.
function niceValuesAfter(nice: number): { main: number; helpers: number[]; lowered: number } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { lowerHelperThreadPriority } from './src/thread-priority.ts';
    const lowered = await lowerHelperThreadPriority(${nice});
    const niceOf = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
    const tids = readdirSync('/proc/self/task').map(Number);
    console.log(JSON.stringify({ lowered, main: niceOf(process.pid), helpers: tids.filter((t) => t !== process.pid).map(niceOf) }));
  `;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout) as { main: number; helpers: number[]; lowered: number };
}

describeUnless(process.platform === 'linux' ? undefined : 'Linux only: thread priorities are read from /proc')('helper thread priority (PASSWORD_HASH_NICE)', () => {
  it('lowers every helper thread, libuv pool included, and leaves the main thread alone', () => {
    const r = niceValuesAfter(10);
    // UV_THREADPOOL_SIZE defaults to 4: the pool alone is four threads.
    expect(r.helpers.length).toBeGreaterThanOrEqual(4);
    expect(r.lowered).toBe(r.helpers.length);
    expect(r.helpers.every((n) => n === 10)).toBe(true);
    expect(r.main).toBe(0);
  });

  it('does nothing at 0', () => {
    const r = niceValuesAfter(0);
    expect(r.lowered).toBe(0);
    expect(r.helpers.every((n) => n === 0)).toBe(true);
  });
});
