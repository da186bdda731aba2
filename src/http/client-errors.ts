import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ERRORS, type ErrorCode } from '../errors.js';

// What Node's HTTP parser refuses before Fastify sees a request, by the parser's error code.
function codeFor(err: { code?: string }): ErrorCode {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request_timeout';
  return 'invalid_request';
}

function rawAnswer(code: ErrorCode): string {
  const status = ERRORS[code].status;
  const body = JSON.stringify({ error: code, message: ERRORS[code].message });
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Fastify's clientErrorHandler: a request Node could not parse gets the documented error body like any
 * other. Logged by code only: the parser's error carries the raw bytes, passwords and tokens included.
 */
export function answerClientError(logger: FastifyBaseLogger) {
  return (err: Error & { code?: string }, socket: Socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code = codeFor(err);
    logger.debug({ code: err.code, answer: code }, 'request refused by the HTTP parser');
    if (socket.writable) socket.end(rawAnswer(code));
    socket.destroySoon();
  };
}

/** Node answers an `Expect` it does not know with a bare 417; this one has the error body. */
export function answerExpectation(_request: IncomingMessage, response: ServerResponse) {
  const body = JSON.stringify({ error: 'expectation_failed', message: ERRORS.expectation_failed.message });
  response.writeHead(417, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  response.end(body);
}
