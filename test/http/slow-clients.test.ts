import { EventEmitter } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { capConnectionsPerAddress } from '../../src/http/connection-cap.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// Short bounds, so that the tests take seconds; the defaults are 30 s, 10 s and 5 s.
const REQUEST_MS = 3_000;
const HEADERS_MS = 2_000;
const KEEP_ALIVE_MS = 1_000;
// Generous: Node checks the bounds every second, and this machine may be busy. Not a measure of speed.
const CUT_BEFORE_MS = 10_000;
// The client starts its clock before the server's first byte arrives; this only absorbs timer rounding.
const ROUNDING_MS = 50;
const SLOW_HANDLER_MS = REQUEST_MS + 1_500;

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await startTestApp({
    env: { REQUEST_TIMEOUT: `${REQUEST_MS / 1000}s`, HEADERS_TIMEOUT: `${HEADERS_MS / 1000}s`, KEEP_ALIVE_TIMEOUT: `${KEEP_ALIVE_MS / 1000}s` },
    beforeReady: (app) =>
      app.get('/test/slow-handler', { schema: { hide: true } }, async () => {
        await sleep(SLOW_HANDLER_MS);
        return { done: true };
      }),
  });
  port = Number(new URL(await t.listen()).port);
});
afterAll(() => t.close());

interface Exchange {
  answer: string;
  /** From connect to the server closing the connection. */
  closedAfterMs: number;
}

/**
 * A real connection: sends `first`, then the next piece of `then` every `everyMs` until the server closes
 * the connection or the pieces run out. Resolves with what the server answered and when it closed.
 */
function exchange(targetPort: number, first: string, then: string[] = [], everyMs = 1_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(targetPort, '127.0.0.1');
    let answer = '';
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${CUT_BEFORE_MS} ms; answered ${JSON.stringify(answer)}`));
    }, CUT_BEFORE_MS);
    socket.on('connect', () => {
      started = performance.now();
      if (first) socket.write(first);
      let i = 0;
      timer = setInterval(() => (i < then.length && socket.writable ? socket.write(then[i++]!) : clearInterval(timer)), everyMs);
    });
    socket.on('data', (d) => (answer += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ answer, closedAfterMs: performance.now() - started });
    });
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
const errorLines = () => t.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
// One byte a second, for longer than any bound.
const FOREVER: string[] = Array(100).fill('a');

describe('a client sending slowly is cut off at the configured bound', () => {
  it('headers trickling one byte a second: 408 request_timeout once HEADERS_TIMEOUT has passed', async () => {
    const { answer, closedAfterMs } = await exchange(port, 'GET /api/public HTTP/1.1\r\nHost: x\r\nX-Slow: ', FOREVER);
    expect(statusOf(answer)).toBe(408);
    expect(bodyOf(answer)).toEqual({ error: 'request_timeout', message: expect.any(String) });
    expect(closedAfterMs).toBeGreaterThanOrEqual(HEADERS_MS - ROUNDING_MS);
  });

  it('a body trickling one byte a second: 408 request_timeout once REQUEST_TIMEOUT has passed, not before', async () => {
    const head = 'POST /api/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"email":"';
    const { answer, closedAfterMs } = await exchange(port, head, FOREVER);
    expect(statusOf(answer)).toBe(408);
    expect(bodyOf(answer)).toEqual({ error: 'request_timeout', message: expect.any(String) });
    // The headers arrived at once: the request's bound applies, not the headers' shorter one.
    expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_MS - ROUNDING_MS);
    expect(errorLines()).toEqual([]);
  });

  it('a connection that sends nothing: closed with 408 once HEADERS_TIMEOUT has passed', async () => {
    const { answer, closedAfterMs } = await exchange(port, '');
    expect(statusOf(answer)).toBe(408);
    expect(closedAfterMs).toBeGreaterThanOrEqual(HEADERS_MS - ROUNDING_MS);
  });

  it('an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT, and serves requests until then', async () => {
    const request = 'GET /api/public HTTP/1.1\r\nHost: x\r\n\r\n';
    // The second request comes well within the keep-alive time, on the same connection.
    const { answer, closedAfterMs } = await exchange(port, request, [request], KEEP_ALIVE_MS / 4);
    expect(answer.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
    expect(closedAfterMs).toBeGreaterThanOrEqual(KEEP_ALIVE_MS / 4 + KEEP_ALIVE_MS - ROUNDING_MS);
  });
});

describe('ordinary clients are unaffected', () => {
  it('a body sent in pieces that arrives whole within the bound gets its ordinary answer', async () => {
    const body = JSON.stringify({ email: 'nobody@example.com', password: 'not the password at all' });
    const head = `POST /api/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    // Three pieces over a second and a half: slow, but whole before REQUEST_TIMEOUT.
    const third = Math.ceil(body.length / 3);
    const pieces = [body.slice(0, third), body.slice(third, 2 * third), body.slice(2 * third)];
    const answered = new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', async () => {
        socket.write(head);
        for (const piece of pieces) {
          await sleep(500);
          socket.write(piece);
        }
      });
      let answer = '';
      socket.on('data', (d) => (answer += d));
      socket.on('close', () => resolve(answer));
    });
    const answer = await answered;
    expect(statusOf(answer)).toBe(401);
    expect(bodyOf(answer).error).toBe('invalid_credentials');
  });

  it('a handler working longer than REQUEST_TIMEOUT still answers: only receiving the request is bounded', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/test/slow-handler`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
  });

  it('a request at ordinary speed is answered', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/public`);
    expect(res.status).toBe(200);
  });
});

describe('MAX_CONNECTIONS', () => {
  it('closes a connection over the cap at once, without a byte, while those under it are served, and logs it', async () => {
    const capped = await startTestApp({ env: { MAX_CONNECTIONS: '3' } });
    const held: { socket: Socket; answered: Promise<string> }[] = [];
    try {
      const cappedPort = Number(new URL(await capped.listen()).port);
      // Three connections, each in the middle of its request headers.
      for (let i = 0; i < 3; i++) {
        const socket = connect(cappedPort, '127.0.0.1');
        socket.write('GET /api/public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n');
        let answer = '';
        socket.on('data', (d) => (answer += d));
        held.push({ socket, answered: new Promise<string>((resolve) => socket.on('close', () => resolve(answer))) });
      }
      const open = () => new Promise<number>((resolve) => capped.app.server.getConnections((_err, n) => resolve(n)));
      while ((await open()) < 3) await sleep(20);

      // The fourth is accepted by the kernel and closed by Node: the client reads nothing (end of stream, or a reset).
      const over = await exchange(cappedPort, 'GET /api/public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(over.answer).toBe('');
      const warnings = () => capped.logs.filter((line) => line.includes('MAX_CONNECTIONS'));
      expect(warnings()).toHaveLength(1);
      // Refusals follow each other; the log says so once a minute.
      await exchange(cappedPort, '');
      expect(warnings()).toHaveLength(1);

      for (const { socket } of held) socket.write('\r\n');
      for (const { answered } of held) expect(statusOf(await answered)).toBe(200);
      // Room again once they are gone.
      while ((await open()) > 0) await sleep(20);
      expect((await fetch(`http://127.0.0.1:${cappedPort}/api/public`)).status).toBe(200);
    } finally {
      for (const { socket } of held) socket.destroy();
      await capped.close();
    }
  });
});

// The attacker holds as many connections as it can from one address; other clients must still get in. Loopback is a
// whole /8 here: a client connecting from 127.0.0.2, 127.0.0.3... is seen as another machine would be.
describe('MAX_CONNECTIONS_PER_ADDRESS', () => {
  const HALF_REQUEST = 'GET /api/public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n';

  // Destroyed after each test, so that a failed one does not leave the server waiting for them as it closes.
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  /** A real connection from `from`, in the middle of its request headers until `finish()`. */
  function openFrom(targetPort: number, from: string, request = HALF_REQUEST) {
    const socket = connect({ port: targetPort, host: '127.0.0.1', localAddress: from });
    sockets.push(socket);
    socket.write(request);
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('error', () => {});
    const answered = new Promise<string>((resolve) => socket.on('close', () => resolve(answer)));
    return { socket, answered, finish: () => socket.write('\r\n') };
  }
  const openConnections = (app: TestApp) => new Promise<number>((resolve) => app.app.server.getConnections((_err, n) => resolve(n)));
  async function untilOpen(app: TestApp, n: number) {
    while ((await openConnections(app)) !== n) await sleep(20);
  }

  it('closes at once what one address opens past its cap, serves another address meanwhile, and counts closed connections out', async () => {
    const capped = await startTestApp({ env: { MAX_CONNECTIONS_PER_ADDRESS: '3' } });
    const attacker = '127.0.0.2';
    try {
      const cappedPort = Number(new URL(await capped.listen()).port);
      const held = [openFrom(cappedPort, attacker), openFrom(cappedPort, attacker), openFrom(cappedPort, attacker)];
      await untilOpen(capped, 3);
      // Its fourth and fifth are closed without a byte, whole requests though they are.
      for (let i = 0; i < 2; i++) expect(await openFrom(cappedPort, attacker, `${HALF_REQUEST}\r\n`).answered).toBe('');
      const warnings = capped.logs.filter((line) => line.includes('MAX_CONNECTIONS_PER_ADDRESS'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('127.0.0.2/32');
      // Another address is served meanwhile, and so are the three held ones once they finish.
      expect(statusOf(await openFrom(cappedPort, '127.0.0.3', `${HALF_REQUEST}\r\n`).answered)).toBe(200);
      for (const c of held) c.finish();
      for (const c of held) expect(statusOf(await c.answered)).toBe(200);

      // Thirty more, one after another: closed by the client mid-request, or by the server once answered.
      for (let i = 0; i < 30; i++) {
        const c = openFrom(cappedPort, attacker);
        await untilOpen(capped, 1);
        if (i % 2) c.socket.destroy();
        else c.finish();
        await c.answered;
        await untilOpen(capped, 0);
      }
      // Each was counted out as it closed: exactly three again, and the fourth closed.
      const again = [openFrom(cappedPort, attacker), openFrom(cappedPort, attacker), openFrom(cappedPort, attacker)];
      await untilOpen(capped, 3);
      expect(await openFrom(cappedPort, attacker, `${HALF_REQUEST}\r\n`).answered).toBe('');
      for (const c of again) c.finish();
      for (const c of again) expect(statusOf(await c.answered)).toBe(200);
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      await capped.close();
    }
  });

  // This machine's loopback has one IPv6 address (::1): connections from several addresses of one /64 are stood in
  // for by objects that carry a remote address and close as sockets do.
  it('counts an IPv6 client per prefix (RATE_LIMIT_IPV6_PREFIX), and an IPv4-mapped address as the IPv4 address', () => {
    const server = createHttpServer();
    const refused: string[] = [];
    const open = capConnectionsPerAddress(server, { max: 2, ipv6Prefix: 64, trustProxy: false, onRefused: (network) => refused.push(network) });
    const standIns: (EventEmitter & { destroyed: boolean })[] = [];
    const arrive = (remoteAddress: string) => {
      const socket = Object.assign(new EventEmitter(), { remoteAddress, destroyed: false, destroy: () => ((socket.destroyed = true), socket.emit('close')) });
      standIns.push(socket);
      server.emit('connection', socket);
      return socket;
    };
    const [a, b] = [arrive('2001:db8:1:2::a'), arrive('2001:db8:1:2:ffff::b')];
    expect(arrive('2001:db8:1:2::c').destroyed).toBe(true);
    expect(arrive('2001:db8:1:3::a').destroyed).toBe(false);
    arrive('192.0.2.7');
    expect(arrive('::ffff:192.0.2.7').destroyed).toBe(false);
    expect(arrive('192.0.2.7').destroyed).toBe(true);
    expect(refused).toEqual(['2001:db8:1:2::/64', '192.0.2.7/32']);
    a.emit('close');
    expect(arrive('2001:db8:1:2::d').destroyed).toBe(false);
    b.emit('close');
    expect(Object.fromEntries(open)).toEqual({ '2001:db8:1:2::/64': 1, '2001:db8:1:3::/64': 1, '192.0.2.7/32': 2 });
    for (const socket of standIns) if (!socket.destroyed) socket.emit('close');
    expect(open.size).toBe(0);
  });

  it('takes every peer for a proxy with TRUST_PROXY true, none with false, and those listed', () => {
    const accepted = (trustProxy: boolean | string[]) => {
      const server = createHttpServer();
      capConnectionsPerAddress(server, { max: 1, ipv6Prefix: 64, trustProxy, onRefused: () => {} });
      let destroyed = 0;
      for (let i = 0; i < 3; i++) server.emit('connection', Object.assign(new EventEmitter(), { remoteAddress: '192.0.2.8', destroy: () => (destroyed += 1) }));
      return 3 - destroyed;
    };
    expect([accepted(true), accepted(['192.0.2.0/24']), accepted(false), accepted(['loopback'])]).toEqual([3, 3, 1, 1]);
  });

  it('leaves uncapped a proxy TRUST_PROXY trusts, which carries many clients (it must cap per client itself)', async () => {
    const behind = await startTestApp({ env: { MAX_CONNECTIONS_PER_ADDRESS: '1', TRUST_PROXY: '127.0.0.4' } });
    try {
      const behindPort = Number(new URL(await behind.listen()).port);
      const proxied = [openFrom(behindPort, '127.0.0.4'), openFrom(behindPort, '127.0.0.4'), openFrom(behindPort, '127.0.0.4')];
      await untilOpen(behind, 3);
      const direct = openFrom(behindPort, '127.0.0.5');
      await untilOpen(behind, 4);
      expect(await openFrom(behindPort, '127.0.0.5', `${HALF_REQUEST}\r\n`).answered).toBe('');
      for (const c of [...proxied, direct]) c.finish();
      for (const c of [...proxied, direct]) expect(statusOf(await c.answered)).toBe(200);
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      await behind.close();
    }
  });
});

describe('settings', () => {
  it('default to a 30 s request, 10 s headers, 5 s keep-alive, 1,000 connections and 100 per client address', () => {
    expect(loadConfig({}).connections).toEqual({ requestTimeout: 30, headersTimeout: 10, keepAliveTimeout: 5, max: 1000, maxPerAddress: 100 });
  });

  it('refuse headers given longer than the whole request', () => {
    expect(() => loadConfig({ REQUEST_TIMEOUT: '5s', HEADERS_TIMEOUT: '10s' })).toThrow(ConfigError);
    expect(() => loadConfig({ MAX_CONNECTIONS: '0' })).toThrow(ConfigError);
  });
});
