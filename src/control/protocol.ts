import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../errors.js';

/**
 * The control socket: a Unix domain socket in the embedded engine's data folder, through which the
 * command line reaches a running server (one process owns that folder). One JSON object per line:
 * `{"op": "users.disable", "args": {...}}` is answered `{"ok": true, "result": ...}` or
 * `{"ok": false, "error": {"code", "message"}}`, in order, several per connection.
 */
export const CONTROL_SOCKET = 'control.sock';

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET);
}

/** Longest line either side accepts (a batch of imported users fits); a longer one ends the connection. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Codes of the control protocol itself, besides the domain's own (src/errors.ts). */
export type ControlErrorCode = ErrorCode | 'invalid_arguments' | 'unknown_operation' | 'message_too_large';

export interface ControlRequest {
  op: string;
  args?: unknown;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: { code: ControlErrorCode; message: string } };

/** An operation that failed on the other side (or was refused before it ran), with its code. */
export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/**
 * Calls `onLine` with each complete line a socket receives; `onOverflow` once a line grows past
 * MAX_MESSAGE_BYTES without ending (the bytes read so far are dropped, nothing more is read).
 */
export function readLines(socket: Socket, onLine: (line: string) => void, onOverflow: () => void): void {
  let pending: Buffer[] = [];
  let size = 0;
  let overflowed = false;
  socket.on('data', (chunk: Buffer) => {
    if (overflowed) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (size + nl - start > MAX_MESSAGE_BYTES) return overflow();
      pending.push(chunk.subarray(start, nl));
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      size = 0;
      start = nl + 1;
      if (line.trim()) onLine(line);
    }
    const rest = chunk.subarray(start);
    size += rest.length;
    if (size > MAX_MESSAGE_BYTES) return overflow();
    if (rest.length > 0) pending.push(rest);
  });
  function overflow() {
    overflowed = true;
    pending = [];
    onOverflow();
  }
}
