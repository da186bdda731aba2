import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySoak, rssOf } from '../../bench/memory-soak.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/services.js';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The server as `npm start` runs it: compiled, started by npm through its shell.
const ROOT = new URL('../..', import.meta.url).pathname;
let root: string;
let database: TestDatabase;

beforeAll(async () => {
  // LATCHKEY_TEST_BUILD=dist: the run was started right after `npm run build` (CI), which need not be made again.
  if (process.env.LATCHKEY_TEST_BUILD !== 'dist') {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  }
  root = await mkdtemp(join(tmpdir(), 'latchkey-built-'));
  database = await createTestDatabase();
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await database.drop();
});

/** `npm start` (its build already done) or `node dist/main.js`, on a free port and a folder of its own. */
async function start(how: 'npm' | 'node', name: string, env: Record<string, string> = {}, ownGroup = false) {
  const port = await freePort();
  const engine = database.url ? { DATABASE_URL: database.url, WORKERS: '2' } : { DATA_DIR: join(root, name) };
  const [command, args] = how === 'npm' ? ['npm', ['start', '--ignore-scripts']] : [process.execPath, ['dist/main.js']];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', ...engine, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownGroup,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  const deadline = Date.now() + 40_000;
  for (;;) {
    if (code !== undefined || Date.now() > deadline) throw new Error(`server did not become ready:\n${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, exited, output: () => output };
}

/** Every process below `pid` (Latchkey's server, or its supervisor and server processes). */
function descendants(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads from a socket until `pattern` has arrived; resolves with everything read. */
function until(socket: Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed after: ${text}`)));
  });
}

/** A sign-up whose headers the server has taken in (it said 100 Continue) and whose body is yet to come. */
async function signupInFlight(port: number, email: string) {
  const body = JSON.stringify({ name: 'In Flight', email, password: 'correct horse battery' });
  const socket = await open(port);
  socket.write(
    `POST /api/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await until(socket, /100 Continue\r\n\r\n/);
  return {
    socket,
    finish: async () => {
      const answer = until(socket, /\r\n\r\n[\s\S]*\}/);
      socket.write(body);
      return Number(/^HTTP\/1\.1 (\d+)/.exec((await answer).replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))?.[1]);
    },
  };
}

/** Resolves once a new connection is refused: the server has stopped listening. */
async function refused(port: number) {
  for (let i = 0; i < 400; i++) {
    try {
      (await open(port)).destroy();
    } catch (err) {
      // Refused, or reset: one that reached the listen queue as the listener closed is dropped unserved.
      if (['ECONNREFUSED', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('new connections are still accepted');
}

const gone = (pid: number) => !existsSync(`/proc/${pid}`);

describe('stopping the server started by npm start', () => {
  it('on SIGTERM to npm: answers the request in flight, closes idle connections, refuses new ones, leaves no process', async () => {
    const server = await start('npm', 'sigterm-npm');
    const processes = descendants(server.child.pid!);
    expect(processes.length).toBeGreaterThan(0);

    const idle = await open(server.port);
    idle.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(idle, /\r\n\r\n[\s\S]*\}/);
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    const inFlight = await signupInFlight(server.port, 'in.flight@example.com');

    server.child.kill('SIGTERM');
    await refused(server.port);
    await idleClosed;
    expect(await inFlight.finish()).toBe(201);

    expect(await server.exited).toBe(0);
    expect(processes.filter((pid) => !gone(pid))).toEqual([]);
  }, 60_000);

  it('on SIGTERM to the node process npm started, and on Ctrl-C', async () => {
    const cases = [['node', 'SIGTERM'], ['group', 'SIGINT']] as const;
    for (const [target, signal] of cases) {
      const server = await start('npm', `${target}-${signal}`, {}, target === 'group');
      const processes = descendants(server.child.pid!);
      // Ctrl-C signals the whole foreground process group: npm, Latchkey's processes, all at once.
      if (target === 'group') process.kill(-server.child.pid!, signal);
      // The node process npm started: the server itself, or the supervisor of the server processes.
      else process.kill(processes[0]!, signal);
      expect(await server.exited).toBe(0);
      expect(processes.filter((pid) => !gone(pid))).toEqual([]);
    }
  }, 90_000);

  it('closes the connection of a request that never completes once SHUTDOWN_TIMEOUT has passed', async () => {
    const server = await start('node', 'stuck', { SHUTDOWN_TIMEOUT: '1' });
    const processes = descendants(server.child.pid!);
    const stuck = await signupInFlight(server.port, 'stuck@example.com');
    const closed = new Promise((resolve) => stuck.socket.once('close', resolve));
    server.child.kill('SIGTERM');
    await closed;
    expect(await server.exited).toBe(0);
    expect(processes.filter((pid) => !gone(pid))).toEqual([]);
  }, 60_000);
});

describeUnless(ON_POSTGRES)('memory of the embedded server', () => {
  // Every process `npm start` leaves running: npm itself, and below it Latchkey's one server process.
  it('is one server process under npm start, under 320 MB at its first start and 256 MB through a burst of mixed load', async () => {
    const unthrottled = Object.fromEntries(
      ['SIGNIN', 'SIGNUP', 'SIGNUP_EMAIL', 'REFRESH', 'FORGOT', 'SIGNIN_NETWORK', 'SIGNUP_NETWORK'].map((n) => [`RATE_LIMIT_${n}`, '1000000/1m']),
    );
    // The first start makes the data folder (a copy of the embedded template, not PostgreSQL's initdb).
    const first = await start('npm', 'memory', unthrottled);
    const firstProcesses = descendants(first.child.pid!);
    expect(firstProcesses).toHaveLength(1);
    expect(rssOf(...firstProcesses).hwm).toBeLessThanOrEqual(320);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const server = await start('npm', 'memory', { ...unthrottled, NODE_ENV: 'production' });
    const processes = descendants(server.child.pid!);
    expect(processes).toHaveLength(1);
    const result = await memorySoak(`http://127.0.0.1:${server.port}`, processes, 10, 8);
    expect(result.unexpected).toBe(0);
    expect(result.requests.signup).toBeGreaterThan(0);
    expect(result.peakRssMb).toBeLessThan(256);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 90_000);
});
