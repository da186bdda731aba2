import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sqlState } from '../db/client.js';
import { AppError, ERRORS, type ErrorCode, type ErrorDetail } from '../errors.js';

// Errors Fastify raises itself before a handler runs, by their code.
const FRAMEWORK_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_INVALID_TYPE: 'invalid_request',
};

// node-postgres connection failures and PostgreSQL's own "cannot serve now" classes (a deadlock or a
// serialization failure included: the same request succeeds when tried again).
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '53300', '40P01', '40001']);

function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && UNAVAILABLE.has(e.code)) return true;
    if (typeof e.message === 'string' && /timeout exceeded when trying to connect|Connection terminated|Cannot use a pool after calling end|PGlite is closed/i.test(e.message))
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

export function sendError(reply: FastifyReply, code: ErrorCode, message?: string, details?: ErrorDetail[], fields?: Record<string, unknown>) {
  const body: Record<string, unknown> = { ...fields, error: code, message: message ?? ERRORS[code].message };
  if (details) body.details = details;
  if (ERRORS[code].status >= 500) body.request_id = reply.request.id;
  return reply.code(ERRORS[code].status).type('application/json; charset=utf-8').send(body);
}

function validationDetails(err: FastifyError): ErrorDetail[] {
  return (err.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const field = missing ? [path, missing].filter(Boolean).join('.') : path || (err.validationContext ?? 'body');
    return { field, message: missing ? 'is required' : (v.message ?? 'is invalid') };
  });
}

/** Errors Fastify meets while routing, before any handler or hook: a bad URL or an overlong path parameter. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return sendError(reply, err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'uri_too_long' : 'invalid_request');
}

/** The one place where failures become HTTP answers; nothing internal ever reaches the client. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installErrorHandlers(app: FastifyInstance<any, any, any, any, any>) {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // A client that hung up mid-request is not a fault of ours (nor of the database): nobody is left to answer.
    if (request.raw.aborted || request.raw.socket?.destroyed) {
      request.log.debug({ code: err.code }, 'client closed the connection before the answer');
      return reply.code(400).send();
    }
    if (err instanceof AppError) {
      // The cause is for the operator: the client gets the code's answer, never what went wrong inside.
      if (err.cause !== undefined) request.log[err.status >= 500 ? 'error' : 'warn']({ code: err.code, err: err.cause }, 'request failed');
      if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      if (err.headers) reply.headers(err.headers);
      return sendError(reply, err.code, err.message, err.details, err.fields);
    }
    if (err.validation) {
      const details = validationDetails(err);
      return sendError(reply, 'invalid_request', `Invalid request: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}.`, details);
    }
    const known = err.code ? FRAMEWORK_ERRORS[err.code] : undefined;
    if (known) return sendError(reply, known);
    if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|__proto__|constructor/i.test(err.message)))
      return sendError(reply, 'malformed_json');
    if (isDatabaseUnavailable(err)) {
      request.log.error({ err }, 'database unavailable');
      return sendError(reply, 'database_unavailable');
    }
    // Class 22 is "data exception": a value the database cannot store (a NUL byte, bad encoding) is bad input.
    if (sqlState(err)?.startsWith('22')) {
      request.log.warn({ err }, 'input refused by the database');
      return sendError(reply, 'invalid_request');
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, 'invalid_request');
    }
    request.log.error({ err }, 'unexpected error');
    return sendError(reply, 'internal_error');
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 'not_found', `No route for ${request.method} ${request.url.split('?')[0]}.`));
}
