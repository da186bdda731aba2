import { spawn, type ChildProcess } from 'node:child_process';
import { inject } from 'vitest';
import { freePort } from './services.js';

export const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * Node's arguments to run a module of src/ (`main`, `cli/main`) as a process: this run's compiled copy when
 * test/global-setup.ts made one (LATCHKEY_TEST_BUILD=1), otherwise the TypeScript source through tsx.
 */
export function entry(module: string): string[] {
  const built = inject('builtSources');
  return built ? [`${built}/${module}.js`] : ['--import', 'tsx', `src/${module}.ts`];
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Everything it wrote, standard output and error together. */
  output(): string;
  /** Resolves once its readiness path (/readyz) answers 200; rejects if the process exits first or the time runs out. */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends a signal (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The real server as a process of its own (`src/main.ts`, see `entry`, unless `command` says otherwise), on
 * a free loopback port unless `env.PORT` names one, with nothing of this process's environment but PATH.
 * `program` runs another server the same way: its executable (Node by default), folder and readiness path.
 */
export async function startServerProcess(
  env: Record<string, string>,
  command: string[] = entry('main'),
  program: { executable?: string; cwd?: string; readyPath?: string } = {},
): Promise<ServerProcess> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(program.executable ?? process.execPath, command, {
    cwd: program.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    port: Number(port),
    url,
    exited,
    output: () => output,
    async ready(timeoutMs = 40_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && code === undefined) {
        try {
          if ((await fetch(`${url}${program.readyPath ?? '/readyz'}`)).ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`server did not become ready:\n${output}`);
    },
    stop(signal = 'SIGTERM') {
      if (code === undefined) child.kill(signal);
      return exited;
    },
  };
}
