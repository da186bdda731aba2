import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { runOperation, type OperationDeps } from './operations.js';
import { ControlError, readLines, type ControlRequest, type ControlResponse } from './protocol.js';

export { controlSocketPath } from './protocol.js';

export interface ControlServer {
  close(): Promise<void>;
}

// sun_path holds 108 bytes on Linux, 104 on macOS, the final NUL included.
const MAX_SOCKET_PATH_BYTES = 103;

/**
 * Listens on the control socket of the data folder this process owns. Only the folder's owner can
 * connect: the socket is created owner-only (mode 0600), so the file system is the access check, and
 * it is local only. Each request runs one operation of the registry (src/control/operations.ts); its
 * arguments, a new user's password among them, are never logged.
 */
export async function startControlServer(opts: { path: string; deps: OperationDeps; logger: Logger }): Promise<ControlServer> {
  const { path, deps, logger } = opts;
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    logger.warn({ path }, 'the data folder\'s path is too long for a control socket: the command line cannot reach this server; stop it to run commands');
    return { close: async () => {} };
  }
  // This process holds the data folder's lock: a socket file left there is a dead server's.
  await unlink(path).catch(() => {});

  const sockets = new Set<Socket>();
  const inFlight = new Set<Promise<void>>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // One request at a time per connection, answered in order.
    let queue = Promise.resolve();
    readLines(
      socket,
      (line) => {
        const work = (queue = queue.then(() => answer(line).then((response) => void socket.write(`${JSON.stringify(response)}\n`))));
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work));
      },
      () => {
        const error = { code: 'message_too_large', message: 'the request is larger than the control socket accepts' } as const;
        socket.end(`${JSON.stringify({ ok: false, error })}\n`);
      },
    );
  });

  async function answer(line: string): Promise<ControlResponse> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
      if (!request || typeof request !== 'object') throw new Error('not an object');
    } catch {
      return { ok: false, error: { code: 'invalid_arguments', message: 'each request is one JSON object on one line: {"op", "args"}' } };
    }
    const op = String(request.op).slice(0, 100);
    try {
      const result = await runOperation(deps, request.op, request.args, { actor: 'cli' });
      logger.info({ op }, 'control operation done');
      return { ok: true, result: result ?? null };
    } catch (err) {
      if (err instanceof AppError || err instanceof ControlError) {
        logger.info({ op, code: err.code }, 'control operation refused');
        return { ok: false, error: { code: err.code, message: err.message } };
      }
      logger.error({ op, err }, 'control operation failed');
      // The cause stays in the server's log: a failed query's message may hold its parameters.
      return { ok: false, error: { code: 'internal_error', message: `${op} failed on the server; its log says why` } };
    }
  }

  // Created owner-only: no moment exists when another user could connect.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
  } catch (err) {
    // Serving matters more than the command line's way in: the server runs on, and says so.
    logger.warn({ err, path }, 'cannot listen on the control socket: the command line cannot reach this server; stop it to run commands');
    server.close();
    return { close: async () => {} };
  } finally {
    process.umask(umask);
  }

  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Operations under way finish (and are answered) before the database they use closes.
      await Promise.allSettled([...inFlight]);
      for (const socket of sockets) socket.destroy();
      await closed;
      await unlink(path).catch(() => {});
    },
  };
}
