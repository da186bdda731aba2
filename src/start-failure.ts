import type { Config } from './config.js';

interface CodedError {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

function codeIn(err: unknown): string | undefined {
  for (let e = err as CodedError | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as CodedError | undefined;
  }
  return undefined;
}

/**
 * One line saying why the database could not be reached at start and what to do, for the failures a
 * newcomer meets; undefined for anything else (then the caller prints the error itself). Never echoes the
 * connection string, which may hold a password.
 */
export function describeDatabaseFailure(err: unknown, config: Pick<Config, 'databaseUrl'>): string | undefined {
  if (!config.databaseUrl) return undefined;
  const url = new URL(config.databaseUrl);
  const where = `${url.hostname || 'localhost'}:${url.port || '5432'}`;
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(the user\'s default)';
  const user = decodeURIComponent(url.username) || '(the current user)';
  switch (codeIn(err)) {
    case '3D000':
      return `the database "${database}" does not exist on the PostgreSQL server at ${where}: create it with \`latchkey db create\` (or createdb ${database}), or name another in DATABASE_URL.`;
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return `no PostgreSQL server answers at ${where} (${codeIn(err)}): start it, or fix the host and port in DATABASE_URL.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host "${url.hostname}" in DATABASE_URL cannot be resolved: fix it.`;
    case '28P01':
    case '28000':
      return `PostgreSQL at ${where} refused the user "${user}" (wrong password or no access): fix the user and password in DATABASE_URL.`;
    default:
      return undefined;
  }
}
