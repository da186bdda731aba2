import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import autocannon from 'autocannon';

export const ROOT = new URL('..', import.meta.url).pathname;

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Server {
  url: string;
  child: ChildProcess;
  /** Milliseconds from spawn to the first 200 of /readyz (or / for the baseline). */
  readyMs: number;
  stop(): Promise<void>;
}

export async function startProcess(args: string[], env: Record<string, string>, readyPath: string): Promise<Server> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited during start:\n${stderr}`);
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    url,
    child,
    readyMs: performance.now() - started,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Peak resident memory (VmHWM) of a process and each of its children, in MB. */
export function peakRssMb(pid: number): number[] {
  const pids = [pid, ...childrenOf(pid)];
  return pids.map((p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  });
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

/** Runs autocannon with a progress line every second; resolves with the figures the report needs. */
export async function load(name: string, opts: autocannon.Options): Promise<LoadResult> {
  let count = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    const s = ((Date.now() - started) / 1000).toFixed(0);
    process.stderr.write(`  ${name}: ${s}s, ${count} requests\n`);
  }, 2000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', () => (count += 1));
  });
  clearInterval(timer);
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  return {
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** The raw argon2id rate in `processes` processes at once (the server's count), summed. */
export async function argon2Rate(mode: 'hash' | 'verify', seconds: number, processes: number, concurrency: number, env: Record<string, string>) {
  const runs = Array.from(
    { length: processes },
    () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'bench/argon2-rate.ts', mode, String(seconds), String(concurrency)], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { rate: number }).rate) : reject(new Error(`argon2-rate exited ${code}`))));
      }),
  );
  return (await Promise.all(runs)).reduce((a, b) => a + b, 0);
}

export function build() {
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) throw new Error('build failed');
}
