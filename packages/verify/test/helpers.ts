import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { Logger } from '../src/errors.js';

export const ISSUER = 'https://auth.example.test';
export const AUDIENCE = 'latchkey';

/** An HTTP server on a free loopback port whose answers the test decides. */
export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(alg = 'ES256', kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS of our own keys, served like Latchkey's, counting its fetches. */
export async function jwksServer(keys: TestKey[]) {
  const state = { keys: keys.map((k) => k.jwk) as JWK[], fetches: 0, status: 200 };
  const http = await httpServer((req, res) => {
    state.fetches += 1;
    if (req.url !== '/.well-known/jwks.json' || state.status !== 200) {
      res.writeHead(req.url === '/.well-known/jwks.json' ? state.status : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(JSON.stringify({ keys: state.keys }));
  });
  return { ...http, state, jwksUrl: `${http.url}/.well-known/jwks.json` };
}

/** A token shaped like Latchkey's, with whatever the test changes. */
export async function token(
  key: TestKey,
  opts: { header?: Record<string, unknown>; claims?: JWTPayload; now?: number; lifetime?: number; omit?: string[] } = {},
): Promise<string> {
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: JWTPayload = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-1',
    sid: `session-${Math.random().toString(36).slice(2)}`,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    auth_time: now - 60,
    iat: now,
    exp: now + (opts.lifetime ?? 900),
    ...opts.claims,
  };
  for (const name of opts.omit ?? []) delete claims[name];
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...opts.header } as never).sign(key.privateKey);
}

/** A logger that keeps what it is told. */
export function memoryLogger(): Logger & { lines: { level: 'warn' | 'error'; message: string; details?: Record<string, unknown> }[] } {
  const lines: { level: 'warn' | 'error'; message: string; details?: Record<string, unknown> }[] = [];
  return {
    lines,
    warn: (message, details) => lines.push({ level: 'warn', message, details }),
    error: (message, details) => lines.push({ level: 'error', message, details }),
  };
}

export const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Polls until `check` holds, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

export interface SseConnection {
  headers: IncomingMessage['headers'];
  /** Writes one event; `data` is JSON-encoded. */
  send(event: string, data: unknown, id?: string | number): void;
  raw(text: string): void;
  end(): void;
}

/** A scripted revocation stream: each connection is handed to `onConnect`, or refused with `refuse`. */
export async function sseServer() {
  const state = {
    connections: [] as SseConnection[],
    connectedAt: [] as number[],
    refuse: undefined as { status: number; body: unknown } | undefined,
    onConnect: (_c: SseConnection) => {},
  };
  const http = await httpServer((req, res) => {
    state.connectedAt.push(Date.now());
    if (state.refuse) {
      res.writeHead(state.refuse.status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(state.refuse.body));
      state.connections.push({ headers: req.headers, send() {}, raw() {}, end() {} });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    const connection: SseConnection = {
      headers: req.headers,
      send(event, data, id) {
        res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
      },
      raw: (text) => res.write(text),
      end: () => res.end(),
    };
    state.connections.push(connection);
    state.onConnect(connection);
  });
  return { ...http, state, feedUrl: `${http.url}/api/revocations/stream` };
}
