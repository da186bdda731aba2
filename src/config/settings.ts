import { autoOrCount, boolean, duration, hexColour, imageUrl, integer, list, networks, oneOf, origins, type Parser, rate, text, trustProxy, url } from './parsers.js';

// Every setting, declared once: its variable, parser, default and description. The loader
// (./load.ts), the table of docs/configuration.md and .env.example (./docs.ts, `npm run docs:config`)
// all come from here. A new setting: declare it below, then give it its place in Config (toConfig).

export const JWT_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'HS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Sections of .env.example, in order; the docs/configuration.md table follows the same order. */
export const GROUPS = {
  listen: 'Where to listen.',
  storage: 'Storage.',
  tokens: 'Tokens and their signing keys.',
  lifetimes: 'Lifetimes: seconds (900) or with a unit (30s, 15m, 12h, 7d).',
  mail: 'Mail.',
  branding: 'The hosted pages and the emails: whose they say they are.',
  accounts: 'Accounts people run themselves: email verification and changes.',
  mfa: 'Second factors: passkeys, and the roles that must have a factor.',
  network: 'Several instances, proxies and browsers.',
  throttling: 'Throttling: limits are N/duration, at most N within the duration.',
  passwords: 'Passwords: argon2id.',
  http: 'Requests, connections and stopping.',
  operations: 'Housekeeping and logs.',
  metrics: 'Prometheus metrics (see Metrics).',
} as const;

export type GroupName = keyof typeof GROUPS;

export interface SettingInfo {
  readonly group: GroupName;
  /** One line of Markdown: the "meaning" column of docs/configuration.md, and the comment above the variable in .env.example. */
  readonly doc: string;
  /** The value when the variable is unset, as it would be written; parsed like any other. None: unset. */
  readonly default?: string;
  /** The default column of docs/configuration.md (Markdown) when the default depends on other settings. */
  readonly shownDefault?: string;
  /** For a setting unset by default: the value .env.example shows, commented out. */
  readonly example?: string;
  /** .env.example never shows it a value. */
  readonly secret?: boolean;
  /** .env.example lists it commented out: rarely worth changing. */
  readonly advanced?: boolean;
}

export interface Setting<T> extends SettingInfo {
  /** Parses the variable's text; an empty text counts as unset when there is no default. */
  readonly parse: Parser<T>;
}

function setting<T>(s: SettingInfo & { parse: Parser<T>; default: string }): Setting<T>;
function setting<T>(s: SettingInfo & { parse: Parser<T> }): Setting<T | undefined>;
function setting(s: Setting<unknown>): Setting<unknown> {
  return s;
}

const httpUrl = () => url(['http:', 'https:'], 'an http:// or https:// URL');

export const SETTINGS = {
  PORT: setting({ group: 'listen', parse: integer(0, 65535), default: '5001', doc: 'port to listen on' }),
  HOST: setting({ group: 'listen', parse: text(1), default: '0.0.0.0', doc: 'address to listen on' }),
  PUBLIC_URL: setting({
    group: 'listen',
    parse: httpUrl(),
    shownDefault: '`http://localhost:PORT`',
    example: 'https://auth.example.com',
    doc: 'base of the links in emails; never taken from request headers',
  }),

  DATA_DIR: setting({
    group: 'storage',
    parse: text(1),
    default: './data',
    doc: 'embedded database folder, used when `DATABASE_URL` is unset; also holds `secret-key` when `SECRET_KEY` is unset, on both engines',
  }),
  DATABASE_URL: setting({
    group: 'storage',
    parse: url(['postgres:', 'postgresql:'], 'a postgres:// or postgresql:// connection string'),
    example: 'postgres://user:password@localhost:5432/latchkey',
    doc: 'PostgreSQL connection string (`postgres://…`)',
  }),
  DATABASE_POOL_SIZE: setting({ group: 'storage', parse: integer(1, 500), default: '10', doc: 'connections to PostgreSQL' }),
  MIGRATE_ON_START: setting({ group: 'storage', parse: boolean(), default: 'true', doc: 'apply pending migrations at start' }),
  WORKERS: setting({
    group: 'storage',
    parse: autoOrCount('expected auto or a whole number of processes'),
    shownDefault: '`1` embedded, `auto` on PostgreSQL',
    example: 'auto',
    doc: 'server processes sharing the port; `auto` is one per core, less one when PostgreSQL runs on this machine (see Performance)',
  }),

  JWT_ALGORITHM: setting({
    group: 'tokens',
    parse: oneOf(JWT_ALGORITHMS),
    default: 'ES256',
    doc: '`ES256`, `EdDSA` or `RS256`, with keys generated and kept (encrypted) in the database; changing it rotates to a key of the new algorithm; `HS256` only with `JWT_SECRET_KEY`',
  }),
  SECRET_KEY: setting({
    group: 'tokens',
    parse: text(),
    secret: true,
    shownDefault: 'unset: generated into `DATA_DIR/secret-key` (owner-only)',
    doc: 'encrypts the private signing keys stored in the database; at least 32 bytes (`openssl rand -base64 32`); every instance on one database needs the same one (see Backup and restore)',
  }),
  KEY_ROTATION_INTERVAL: setting({
    group: 'tokens',
    parse: duration(0),
    default: '90d',
    doc: 'a new signing key this long after the newest was published; `0` turns automatic rotation off',
  }),
  JWT_SECRET_KEY: setting({
    group: 'tokens',
    parse: text(),
    secret: true,
    doc: 'HS256 shared secret, at least 32 bytes (`openssl rand -hex 32`); refused when shorter, or when set with another algorithm',
  }),
  JWT_ISSUER: setting({ group: 'tokens', parse: text(1), shownDefault: '`PUBLIC_URL`', doc: '`iss` of access tokens' }),
  JWT_AUDIENCE: setting({ group: 'tokens', parse: text(1), default: 'latchkey', doc: '`aud` of access tokens' }),

  ACCESS_TOKEN_TTL: setting({ group: 'lifetimes', parse: duration(), default: '15m', doc: 'access token lifetime' }),
  REFRESH_TOKEN_TTL: setting({
    group: 'lifetimes',
    parse: duration(),
    default: '7d',
    doc: 'refresh token lifetime, renewed on each rotation',
  }),
  SESSION_MAX_AGE: setting({
    group: 'lifetimes',
    parse: duration(),
    default: '30d',
    doc: 'absolute session lifetime, whatever the rotations',
  }),
  RESET_TOKEN_TTL: setting({ group: 'lifetimes', parse: duration(), default: '1h', doc: 'password reset link lifetime' }),
  INVITATION_TTL: setting({
    group: 'lifetimes',
    parse: duration(),
    default: '7d',
    doc: "lifetime of the link in an invitation (an account an admin created, whose owner sets its password through the reset page); a reset link, even one sent later, keeps `RESET_TOKEN_TTL`",
  }),
  SIGNIN_CODE_TTL: setting({
    group: 'lifetimes',
    parse: duration(),
    default: '10m',
    doc: 'lifetime of a sign-in code, emailed when the right password comes from a network the account never signed in from while it is locked (see Security)',
  }),
  EMAIL_VERIFICATION_TTL: setting({
    group: 'lifetimes',
    parse: duration(),
    default: '24h',
    doc: 'lifetime of an email verification link and its 6-digit code, and of the confirmation link of an email change',
  }),
  REFRESH_REUSE_INTERVAL: setting({
    group: 'lifetimes',
    parse: duration(0),
    default: '10s',
    doc: 'how long after its rotation a refresh token presented again (a retry) gets the same successor instead of revoking its session (see How it works); `0` makes every reuse revoke',
  }),

  SMTP_URL: setting({
    group: 'mail',
    parse: url(['smtp:', 'smtps:'], 'an smtp:// or smtps:// URL'),
    example: 'smtp://user:pass@smtp.example.com:587',
    doc: '`smtp://user:pass@host:port` or `smtps://…`; unset: emails are written to the log',
  }),
  MAIL_FROM: setting({
    group: 'mail',
    parse: text(3),
    default: 'no-reply@localhost',
    doc: 'sender of the emails: an address, shown under the name `BRAND_NAME`, or `Name <address>` to name it otherwise',
  }),
  NOTIFY_NEW_SIGN_IN: setting({
    group: 'mail',
    parse: boolean(),
    default: 'true',
    doc: 'email a user when their account signs in from a device and network it has not signed in from together within 90 days (not at its first sign-in; at most one such email per account every 10 minutes)',
  }),
  MAIL_RETRY_MAX_DELAY: setting({
    group: 'mail',
    parse: duration(),
    default: '5m',
    doc: 'longest wait between two delivery attempts of a queued email (the wait doubles from 1 s)',
  }),

  BRAND_NAME: setting({
    group: 'branding',
    parse: text(1, 'expected a name of at least 1 character'),
    default: 'Latchkey',
    doc: "the name the hosted pages and emails go by: in every page's title and header, the emails' sender name (see `MAIL_FROM`) and their last line",
  }),
  BRAND_LOGO_URL: setting({
    group: 'branding',
    parse: imageUrl(),
    example: 'https://cdn.example.com/logo.svg',
    doc: "a logo shown in the pages' header instead of the name (which becomes its alternative text): an `https://` URL, whose origin alone the pages' CSP `img-src` then allows, or a path on this server (`/brand/logo.svg`) that whatever serves `PUBLIC_URL` serves; unset: the name",
  }),
  BRAND_COLOR: setting({
    group: 'branding',
    parse: hexColour(),
    example: '#1f5fbf',
    doc: "the accent of the pages' buttons, links and focus rings, as `#rrggbb`; a button's text is black or white, whichever reads better on it, and where the colour itself has less than 4.5:1 contrast on the light or the dark background (WCAG AA), that scheme uses the nearest darker or lighter shade that has it, and the start-up log says so; unset: Latchkey's blue",
  }),

  REQUIRE_EMAIL_VERIFICATION: setting({
    group: 'accounts',
    parse: boolean(),
    default: 'false',
    doc: 'refuse sign-in to an unverified address: the right password gets `403 email_not_verified` and a fresh verification link (within `VERIFICATION_MAIL_LIMIT`); `false` keeps the seeds\' clients working',
  }),

  WEBAUTHN_RP_ID: setting({
    group: 'mfa',
    parse: text(1),
    shownDefault: "`PUBLIC_URL`'s host",
    example: 'example.com',
    doc: "the passkeys' relying party: a domain that is the host of every origin in `WEBAUTHN_ORIGINS` or a suffix of it; passkeys registered under one ID work under that ID only",
  }),
  WEBAUTHN_ORIGINS: setting({
    group: 'mfa',
    parse: origins(),
    shownDefault: "`PUBLIC_URL`'s origin",
    example: 'https://auth.example.com,https://app.example.com',
    doc: 'comma-separated origins whose pages may register and use passkeys (the `origin` a browser signs into every answer)',
  }),
  REQUIRE_MFA_FOR_ROLES: setting({
    group: 'mfa',
    parse: list(),
    default: 'admin',
    doc: 'comma-separated roles whose users must have a second factor: until they enrol one, a right password gets `403 mfa_enrollment_required` and a token that opens only the enrolment routes; empty: none',
  }),

  REDIS_URL: setting({
    group: 'network',
    parse: url(['redis:', 'rediss:'], 'a redis:// or rediss:// URL'),
    example: 'redis://localhost:6379',
    doc: '`redis://…`: throttling counters shared by every instance; unset: each instance counts in memory',
  }),
  REDIS_KEY_PREFIX: setting({ group: 'network', parse: text(), default: 'latchkey:', doc: "prefix of Latchkey's Redis keys" }),
  TRUST_PROXY: setting({
    group: 'network',
    parse: trustProxy(),
    default: 'false',
    doc: 'whose `X-Forwarded-For` is believed: `true` (any peer), or a comma-separated list of proxy addresses or CIDR ranges (`loopback` for a proxy on the same machine); a number of hops is refused (it cannot tell a proxy from a client)',
  }),
  CORS_ORIGINS: setting({
    group: 'network',
    parse: list(),
    default: '',
    doc: 'comma-separated origins allowed to call the API from a browser; empty: no CORS headers at all',
  }),
  ALLOWED_REDIRECT_URLS: setting({
    group: 'network',
    parse: origins(),
    default: '',
    example: 'https://app.example.com',
    doc: "comma-separated origins the hosted sign-in page may send a browser back to (`return_to`), besides `PUBLIC_URL`'s own; empty: that origin alone",
  }),

  RATE_LIMIT_SIGNIN: setting({ group: 'throttling', parse: rate(), default: '30/1m', doc: 'sign-in attempts per client address' }),
  RATE_LIMIT_SIGNUP: setting({ group: 'throttling', parse: rate(), default: '20/1h', doc: 'sign-ups per client address' }),
  RATE_LIMIT_SIGNUP_EMAIL: setting({
    group: 'throttling',
    parse: rate(),
    default: '5/1h',
    doc: 'sign-up attempts per email address',
  }),
  RATE_LIMIT_REFRESH: setting({ group: 'throttling', parse: rate(), default: '120/1m', doc: 'refreshes per client address' }),
  RATE_LIMIT_FORGOT: setting({
    group: 'throttling',
    parse: rate(),
    default: '20/1h',
    doc: 'forgot-password requests per client address',
  }),
  RATE_LIMIT_RESET: setting({
    group: 'throttling',
    parse: rate(),
    default: '20/1h',
    doc: 'reset attempts per client address (API and reset page)',
  }),
  RATE_LIMIT_VERIFY: setting({
    group: 'throttling',
    parse: rate(),
    default: '30/1h',
    doc: 'email verification requests (link, code, resend, cancel) per client address',
  }),
  RATE_LIMIT_VERIFY_CODE: setting({
    group: 'throttling',
    parse: rate(),
    default: '10/1h',
    doc: 'verification codes tried per email address, from every client together; besides, five wrong ones spend a code',
  }),
  RATE_LIMIT_MFA: setting({
    group: 'throttling',
    parse: rate(),
    default: '10/15m',
    doc: 'second-factor codes (authenticator or recovery) tried per account, at sign-in and with sensitive changes, across every MFA token; besides, five wrong ones end an MFA token',
  }),
  RATE_LIMIT_PASSKEY: setting({
    group: 'throttling',
    parse: rate(),
    default: '60/1m',
    doc: 'passkey sign-in requests (options and answers, alone or as a second step) per client address: each answer is checked, and a second step’s options store a challenge',
  }),
  VERIFICATION_MAIL_LIMIT: setting({
    group: 'throttling',
    parse: rate(),
    default: '3/1h',
    doc: 'verification and email-change emails per email address and per account; past it, none is sent and the answer is unchanged',
  }),
  RATE_LIMIT_RESET_TOKEN: setting({ group: 'throttling', parse: rate(), default: '10/1h', doc: 'reset attempts per reset token' }),
  RESET_MAIL_LIMIT: setting({
    group: 'throttling',
    parse: rate(),
    default: '3/1h',
    doc: 'reset emails per email address and client network; past it, none is sent and the answer is unchanged',
  }),
  RESET_MAIL_ACCOUNT_LIMIT: setting({
    group: 'throttling',
    parse: rate(),
    default: '10/1h',
    doc: "reset emails per email address requested from networks the account never signed in from, all together. Keep its window no longer than `RESET_TOKEN_TTL`: once strangers have spent it, the owner's own request from a new network sends nothing, and the emails they caused are the owner's working links",
  }),
  RATE_LIMIT_SIGNIN_GLOBAL: setting({
    group: 'throttling',
    parse: rate(),
    default: '300/1s',
    doc: 'sign-ins of all clients together (every instance, with Redis) that reach a password check; past it, `503 server_busy`. Set it to what your fleet can hash',
  }),
  RATE_LIMIT_SIGNUP_GLOBAL: setting({
    group: 'throttling',
    parse: rate(),
    default: '100/1s',
    doc: 'sign-ups of all clients together, the same way',
  }),
  RATE_LIMIT_SIGNIN_NETWORK: setting({
    group: 'throttling',
    parse: rate(),
    default: '30/1s',
    doc: 'the share of `RATE_LIMIT_SIGNIN_GLOBAL` one wide network (below) may take, all its addresses together, so that no one network takes all of it; past it, `503 server_busy`. Only sign-ins that reach a password check count toward either',
  }),
  RATE_LIMIT_SIGNUP_NETWORK: setting({
    group: 'throttling',
    parse: rate(),
    default: '10/1s',
    doc: "the share of `RATE_LIMIT_SIGNUP_GLOBAL` one wide network may take, the same way; only sign-ups that reach the password's hashing count toward either",
  }),
  RATE_LIMIT_NETWORK_IPV4_PREFIX: setting({
    group: 'throttling',
    parse: integer(8, 32),
    default: '24',
    doc: 'a wide network, for the two shares above and `RATE_LIMIT_LOCKED_SIGNIN`: IPv4 addresses are grouped by this prefix (8 to 32)',
  }),
  RATE_LIMIT_NETWORK_IPV6_PREFIX: setting({
    group: 'throttling',
    parse: integer(16, 128),
    default: '48',
    doc: "and IPv6 addresses by this one (16 to 128): a /48, a site's usual allocation, holds 65,536 /64s",
  }),
  RATE_LIMIT_IPV6_PREFIX: setting({
    group: 'throttling',
    parse: integer(32, 128),
    default: '64',
    doc: 'IPv6 clients are counted by this prefix of their address (32 to 128), by the limits above and `MAX_CONNECTIONS_PER_ADDRESS`: one holder usually has a whole /64',
  }),
  LOCKOUT_THRESHOLD: setting({
    group: 'throttling',
    parse: integer(1, 1000),
    default: '5',
    doc: 'failed sign-ins (within an hour) that lock an account',
  }),
  LOCKOUT_DURATION: setting({
    group: 'throttling',
    parse: duration(),
    default: '1m',
    doc: 'the first lock; each further lock within a day doubles, up to `LOCKOUT_MAX_DURATION`',
  }),
  LOCKOUT_MAX_DURATION: setting({ group: 'throttling', parse: duration(), default: '1d', doc: 'the longest lock' }),
  RATE_LIMIT_LOCKED_SIGNIN: setting({
    group: 'throttling',
    parse: rate(),
    default: '10/1h',
    doc: "sign-ins a lock refuses (from a network the account never signed in from, or a known one its own failures locked) whose password is checked all the same, so that a right one gets its owner a sign-in code by email; per wide network, all accounts together; past it, the lock's `429 too_many_attempts`, unchecked. Each also spends `RATE_LIMIT_SIGNIN_GLOBAL`",
  }),
  SIGNIN_CODE_MAIL_LIMIT: setting({
    group: 'throttling',
    parse: rate(),
    default: '1/5m',
    doc: 'sign-in code emails per account; past it, a right password gets the same answer and no email (the code already sent still works)',
  }),

  HIBP_URL: setting({
    group: 'passwords',
    parse: httpUrl(),
    example: 'https://api.pwnedpasswords.com',
    doc: 'a Pwned Passwords range API (`https://api.pwnedpasswords.com`) to refuse breached passwords',
  }),
  HIBP_TIMEOUT: setting({
    group: 'passwords',
    parse: integer(50, 30000),
    default: '1500',
    doc: 'milliseconds to wait for it before accepting the password anyway',
  }),
  PASSWORD_MIN_LENGTH: setting({
    group: 'passwords',
    parse: integer(8, 64),
    default: '8',
    doc: '8 to 64; the maximum is 256 characters',
  }),
  PASSWORD_CHECK_COMMON: setting({
    group: 'passwords',
    parse: boolean(),
    default: 'true',
    doc: 'refuse passwords on the list of about 49,000 common ones (`422 password_too_common`); `false` turns off only this check: the length rules and the `HIBP_URL` breach check still apply',
  }),
  ARGON2_MEMORY_KIB: setting({
    group: 'passwords',
    parse: integer(8192, 4194304),
    default: '19456',
    doc: "argon2id memory in KiB (OWASP's parameters, like the two below); hashes made with older parameters are upgraded at the next sign-in",
  }),
  ARGON2_TIME_COST: setting({ group: 'passwords', parse: integer(1, 20), default: '2', doc: 'argon2id passes over the memory' }),
  ARGON2_PARALLELISM: setting({ group: 'passwords', parse: integer(1, 16), default: '1', doc: 'argon2id lanes' }),
  PASSWORD_HASH_CONCURRENCY: setting({
    group: 'passwords',
    parse: autoOrCount('expected auto or a whole number'),
    shownDefault: '`auto`',
    example: 'auto',
    doc: "password hashes and checks running at once: one per core, within libuv's pool (`UV_THREADPOOL_SIZE`), leaving two of its threads free on PostgreSQL",
  }),
  PASSWORD_HASH_QUEUE: setting({
    group: 'passwords',
    parse: integer(0, 100000),
    default: '32',
    doc: 'how many more may wait; past that, `503 server_busy` with `Retry-After: 1` at once',
  }),
  PASSWORD_HASH_NICE: setting({
    group: 'passwords',
    parse: integer(0, 19),
    default: '10',
    doc: "nice value given to the server's helper threads, where argon2 runs, so that under a sign-in flood the main thread, which answers every request, wins the CPU (Linux; `0` leaves them alone)",
  }),
  UV_THREADPOOL_SIZE: setting({
    group: 'passwords',
    parse: integer(1, 1024),
    default: '4',
    advanced: true,
    shownDefault: '`4` (`2` on the embedded engine)',
    doc: "Node's own: threads of libuv's pool, where argon2 runs; Latchkey reads it to size `PASSWORD_HASH_CONCURRENCY`",
  }),

  BODY_LIMIT: setting({ group: 'http', parse: integer(1024, 1048576), default: '16384', doc: 'largest request body, in bytes' }),
  REQUEST_TIMEOUT: setting({
    group: 'http',
    parse: duration(),
    default: '30s',
    doc: "a request must arrive whole (headers and body) within this of its first byte, or it gets `408 request_timeout` and its connection closes; the handler's own work is not limited",
  }),
  HEADERS_TIMEOUT: setting({
    group: 'http',
    parse: duration(),
    default: '10s',
    doc: 'the same for the headers alone, and for a connection that sends nothing; at most `REQUEST_TIMEOUT`',
  }),
  KEEP_ALIVE_TIMEOUT: setting({
    group: 'http',
    parse: duration(),
    default: '5s',
    doc: "an idle keep-alive connection is closed after this (Node adds about a second); behind a load balancer, set it above the balancer's idle timeout (60 s on AWS ALB)",
  }),
  MAX_CONNECTIONS: setting({
    group: 'http',
    parse: integer(1, 1000000),
    default: '1000',
    doc: 'open connections per server process (`WORKERS` multiplies it); more are closed as soon as they are accepted',
  }),
  MAX_CONNECTIONS_PER_ADDRESS: setting({
    group: 'http',
    parse: integer(0, 1000000),
    default: '100',
    doc: "open connections per client address per server process (an IPv6 client's: per `RATE_LIMIT_IPV6_PREFIX` prefix), so that one client cannot hold them all; more are closed as soon as they are accepted. A peer `TRUST_PROXY` takes for a proxy (any, with `true`) is not capped: the proxy must cap per client. `0`: no cap",
  }),
  SHUTDOWN_TIMEOUT: setting({
    group: 'http',
    parse: duration(),
    default: '10s',
    doc: 'how long a stop (SIGTERM, SIGINT) waits for requests in flight before closing their connections',
  }),
  REVOCATION_FEED_HEARTBEAT: setting({
    group: 'http',
    parse: duration(),
    default: '5s',
    doc: 'how often the revocation feed (`GET /api/revocations/stream`) sends a `heartbeat` event, so that its consumers and the proxies between know the stream is alive; on PostgreSQL, also how often each instance proves that its listening connection still hears (two unheard proofs and it reconnects, checking tokens against the database meanwhile, and its feed sends no heartbeat)',
  }),

  WEBHOOK_RETRY_FOR: setting({
    group: 'operations',
    parse: duration(),
    default: '24h',
    doc: 'how long a webhook delivery is retried (backoff from 1 s, doubling, up to 1 h) before it is marked dead (see Webhooks)',
  }),
  WEBHOOK_CONCURRENCY: setting({
    group: 'operations',
    parse: integer(1, 1000),
    default: '16',
    doc: 'webhook requests in flight at once to each endpoint, per server process; a user\'s events still go one at a time, in order',
  }),
  WEBHOOK_DENY_NETWORKS: setting({
    group: 'operations',
    parse: networks(),
    default: '0.0.0.0/8,169.254.0.0/16,100.100.100.200,224.0.0.0/4,255.255.255.255,::/128,fe80::/10,fd00:ec2::254,fd00:ec2::23,fd20:ce::254,ff00::/8',
    doc: 'addresses and CIDR ranges webhooks are never posted to, checked against every address an endpoint\'s host resolves to at each delivery: by default link-local and cloud metadata addresses (which hand out the machine\'s credentials: AWS, GCP, Azure, Alibaba, EKS Pod Identity), unspecified, multicast and broadcast. An IPv6 address that carries an IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is denied when that IPv4 address is. Loopback and private networks are allowed (receivers of a self-hosted server usually live there): add them (`127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1,fc00::/7`) where only public receivers are expected. Empty: none',
  }),
  EVENT_RETENTION: setting({
    group: 'operations',
    parse: duration(),
    default: '7d',
    doc: 'how long events are kept once every webhook endpoint has received them (or given up)',
  }),
  AUDIT_RETENTION: setting({ group: 'operations', parse: duration(), default: '90d', doc: 'how long audit events are kept' }),
  PURGE_INTERVAL: setting({
    group: 'operations',
    parse: duration(),
    default: '5m',
    doc: 'how often spent tokens, ended sessions and sent emails are deleted (see Data growth)',
  }),
  LOG_LEVEL: setting({
    group: 'operations',
    parse: oneOf(LOG_LEVELS),
    default: 'info',
    doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
  }),
  LOG_REQUESTS: setting({
    group: 'operations',
    parse: boolean(),
    default: 'false',
    doc: "one info line per request (method, URL with tokens blanked, address, status, time); it costs about a fifth of the fastest route's throughput (see Performance), and security events are in the audit log either way",
  }),
  NODE_ENV: setting({
    group: 'operations',
    parse: text(),
    default: 'development',
    doc: 'only decides whether emails written to the log (no `SMTP_URL`) include their text',
  }),
  METRICS_PORT: setting({
    group: 'metrics',
    parse: integer(1, 65535),
    example: '9464',
    doc: 'Prometheus metrics at `GET /metrics` on a listener of their own (never on `PORT`); unset: off. With `WORKERS` > 1 the supervising process serves the sum of its server processes\'',
  }),
  METRICS_HOST: setting({
    group: 'metrics',
    parse: text(1),
    default: '127.0.0.1',
    doc: 'where the metrics listener binds; any address other than loopback requires `METRICS_TOKEN`',
  }),
  METRICS_TOKEN: setting({
    group: 'metrics',
    parse: text(16, 'expected at least 16 characters (try `openssl rand -hex 32`)'),
    secret: true,
    doc: 'bearer token a scrape must send (`Authorization: Bearer …`), at least 16 characters (`openssl rand -hex 32`); wrong or missing: 401',
  }),
};

export type SettingName = keyof typeof SETTINGS;

/** Each variable's parsed value; unset optional ones are undefined. */
export type Env = { [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };
