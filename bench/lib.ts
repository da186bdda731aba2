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

export async function startProcess(args: string[], env: Record<string, string>, readyPath: string, program = process.execPath): Promise<Server> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(program, args, {
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

/** Latchkey's server as `npm start` and the container run it: bin/latchkey-server, node with its memory settings. */
// BENCH_NODE_ARGS: node's flags for the server process, such as `--cpu-prof --cpu-prof-dir=DIR` to see where its time goes.
export const startServer = (env: Record<string, string>, readyPath = '/readyz') =>
  startProcess((process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), env, readyPath, `${ROOT}/bin/latchkey-server`);

/** Peak resident memory (VmHWM) of a process and each of its children, in MB. */
export function peakRssMb(pid: number): number[] {
  const pids = [pid, ...childrenOf(pid)];
  return pids.map((p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  });
}

/** Every process below `pid`, children first. */
export function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
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

/** The middle value (the upper one of an even count). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The median of the rounds' own ratios, to two decimals: each round measures both sides back to back, so a slow spell
 * of the machine (this one's rounds swing by a third) weighs on both sides of a ratio rather than on one side of a median.
 */
export const medianRatio = (as: readonly number[], bs: readonly number[]) => Math.round(median(as.map((a, i) => a / bs[i]!)) * 100) / 100;

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

/** Access and refresh tokens for seeded refresh tokens, 50 refreshes at a time (each spends the one it uses). */
export async function refreshMany(url: string, refreshTokens: string[]) {
  const out: { access_token: string; refresh_token: string }[] = [];
  for (let i = 0; i < refreshTokens.length; i += 50) {
    const batch = await Promise.all(
      refreshTokens.slice(i, i + 50).map(async (token) => {
        const res = await fetch(`${url}/api/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (res.status !== 200) throw new Error(`seeded refresh token refused: ${res.status} ${await res.text()}`);
        return (await res.json()) as { access_token: string; refresh_token: string };
      }),
    );
    out.push(...batch);
  }
  return out;
}

export function build() {
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) throw new Error('build failed');
}

/** Runs the command line (`node bin/latchkey.js …`) with a server's environment; resolves with what it printed as JSON. */
export function latchkeyCli<T>(args: string[], env: Record<string, string>): T {
  const res = spawnSync(process.execPath, ['bin/latchkey.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`latchkey ${args[0]} ${args[1]} exited ${res.status}:\n${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

/** Wall-clock time in milliseconds, sub-millisecond and comparable between processes of this machine. */
export const wallMs = () => performance.timeOrigin + performance.now();

/** p50, p95, p99 and max of a list of milliseconds, rounded to 0.1 ms. */
export function percentiles(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN) * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}

/** A target of the report: what, the measured value, the goal in words, and whether it is met (undefined: not measured). */
export type Target = [name: string, value: number | undefined, goal: string, ok: boolean | undefined];

/** What a scenario outside the request table adds to the report: its targets, its paragraph, and its figures for the JSON. */
export interface ReportPart {
  name: string;
  targets: Target[];
  lines: string[];
  figures: Record<string, unknown>;
}
