import { connect, type Socket } from 'node:net';
import { ControlError, readLines, type ControlResponse } from './protocol.js';

export interface ControlClient {
  /** Runs an operation on the server; resolves with its result, rejects with a ControlError. */
  call(op: string, args: unknown): Promise<unknown>;
  close(): void;
}

/**
 * Connects to a server's control socket; undefined when no server listens there (no socket file, or a
 * dead server's). A socket this user may not open (another user's server) is an error, not "no server".
 */
export async function connectControl(path: string): Promise<ControlClient | undefined> {
  let socket: Socket;
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES' || code === 'EPERM')
      throw new ControlError('internal_error', `the server's control socket ${path} belongs to another user: run the command as that user`);
    throw err;
  }

  const waiting: { resolve: (r: ControlResponse) => void; reject: (e: Error) => void }[] = [];
  let ended: Error | undefined;
  const fail = (err: Error) => {
    ended ??= err;
    for (const w of waiting.splice(0)) w.reject(ended);
  };
  readLines(
    socket,
    (line) => {
      let response: ControlResponse;
      try {
        response = JSON.parse(line) as ControlResponse;
      } catch {
        return fail(new Error('the server answered something that is not JSON on its control socket'));
      }
      waiting.shift()?.resolve(response);
    },
    () => fail(new Error('the server\'s answer is larger than the control socket accepts')),
  );
  socket.on('error', (err) => fail(err));
  socket.on('close', () => fail(new Error('the server closed the control connection before answering (is it stopping?)')));

  return {
    async call(op, args) {
      if (ended) throw ended;
      const response = await new Promise<ControlResponse>((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(`${JSON.stringify({ op, args })}\n`);
      });
      if (!response.ok) throw new ControlError(response.error.code, response.error.message);
      return response.result;
    },
    close() {
      ended ??= new Error('closed');
      socket.end();
      socket.destroy();
    },
  };
}
