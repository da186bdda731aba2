import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

// Never log a secret, even by accident: these fields are blanked should a log call ever pass them.
// (Request logs carry method, route, address and status only; bodies and headers are never logged.)
export const LOG_REDACT_PATHS = ['password', 'refresh_token', 'access_token', 'token', 'headers.authorization', 'headers.cookie'];

// Long runs of token characters (opaque tokens, JWT segments, hashes), whatever the route they were pasted into.
const TOKEN_SHAPED = /[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{4,}){0,2}/g;

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * A URL fit for a log line: a matched route is logged as its pattern (`/reset-password/:token`), so no
 * parameter value is; any other path has its percent-encoding undone and every token-shaped run masked;
 * the query string is never kept.
 */
export function redactUrl(url: string, routePattern?: string): string {
  const [path = '', query] = url.split(/\?(.*)/s, 2);
  const shown = routePattern ?? decodePath(path).replace(/(\/reset-password\/)[^/]+/g, '$1[redacted]').replace(TOKEN_SHAPED, '[redacted]');
  return query === undefined ? shown : `${shown}?[redacted]`;
}

interface LoggedError {
  type: string;
  message: string;
  code?: string;
  cause?: LoggedError;
  /** The call frames only: the first line of a stack repeats the message. */
  stack?: string;
}

/**
 * Errors are logged by type, code and message only: a failed query's error carries its SQL parameters
 * (a new password hash, an email) in its message and fields, and those never reach a log line.
 */
export function serializeError(err: unknown, depth = 0): LoggedError {
  const e = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown; stack?: unknown };
  const type = typeof e.name === 'string' ? e.name : 'Error';
  let message = typeof e.message === 'string' ? e.message : String(err);
  // Drizzle's "Failed query: <sql>\nparams: <values>": the statement is useful, its values are not ours to log.
  if (type === 'DrizzleQueryError' || /^Failed query:/.test(message)) message = message.split('\nparams:')[0]!.slice(0, 500);
  const out: LoggedError = { type, message: message.slice(0, 1000) };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.stack === 'string') out.stack = e.stack.split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 10).join('\n');
  if (e.cause && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

interface LoggableRequest {
  method: string;
  url: string;
  ip?: string;
  routeOptions?: { url?: string };
}

export type LogFormat = 'json' | 'pretty';

/**
 * Readable lines only for a person at a terminal in development; JSON everywhere else (pipes, files,
 * collectors, production). pino-pretty is a dev dependency: a production install has none, and stays JSON.
 */
export function chooseLogFormat(where: { env: string; stdoutIsTty: boolean; prettyInstalled: boolean }): LogFormat {
  return where.env === 'development' && where.stdoutIsTty && where.prettyInstalled ? 'pretty' : 'json';
}

type PrettyFactory = (options: Record<string, unknown>) => pino.DestinationStream;

/** pino-pretty when it is installed, loaded only then (in this process: no transport thread). */
function loadPretty(): PrettyFactory | undefined {
  try {
    return createRequire(import.meta.url)('pino-pretty') as PrettyFactory;
  } catch {
    return undefined;
  }
}

/** The server's stdout: pretty on a development terminal, else pino's default (JSON on stdout). */
function defaultDestination(env: string | undefined): pino.DestinationStream | undefined {
  const stdoutIsTty = process.stdout.isTTY === true;
  if (env !== 'development' || !stdoutIsTty) return undefined;
  const pretty = loadPretty();
  if (chooseLogFormat({ env, stdoutIsTty, prettyInstalled: pretty !== undefined }) === 'json') return undefined;
  return pretty!({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true });
}

export function createLogger(config: Pick<Config, 'logLevel'> & { env?: string }, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: LoggableRequest) => ({ method: req.method, url: redactUrl(req.url, req.routeOptions?.url), ip: req.ip }),
        err: serializeError,
      },
    },
    destination ?? defaultDestination(config.env),
  );
}
