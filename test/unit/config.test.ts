import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parseDuration } from '../../src/duration.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(5001);
    expect(c.host).toBe('0.0.0.0');
    expect(c.publicUrl).toBe('http://localhost:5001');
    expect(c.dataDir).toBe('./data');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.migrateOnStart).toBe(true);
    expect(c.jwt).toEqual({ algorithm: 'ES256', secretKey: undefined, issuer: 'http://localhost:5001', audience: 'latchkey' });
    expect(c.ttl).toEqual({
      accessToken: 900,
      refreshToken: 7 * 86400,
      sessionMaxAge: 30 * 86400,
      resetToken: 3600,
      signinCode: 600,
      emailVerification: 86400,
      invitation: 7 * 86400,
      refreshReuseInterval: 10,
    });
    expect(c.mail).toEqual({ smtpUrl: undefined, from: 'no-reply@localhost', retryMaxDelay: 300, notifyNewSignIn: true });
    expect(c.requireEmailVerification).toBe(false);
    expect(c.mfa).toEqual({ webauthn: { rpId: 'localhost', origins: ['http://localhost:5001'] }, requiredForRoles: ['admin'] });
    expect(c.redis).toEqual({ url: undefined, keyPrefix: 'latchkey:' });
    expect(c.trustProxy).toBe(false);
    expect(c.corsOrigins).toEqual([]);
    expect(c.rateLimits).toEqual({
      signin: { points: 30, seconds: 60 },
      signup: { points: 20, seconds: 3600 },
      signupEmail: { points: 5, seconds: 3600 },
      refresh: { points: 120, seconds: 60 },
      forgot: { points: 20, seconds: 3600 },
      reset: { points: 20, seconds: 3600 },
      resetToken: { points: 10, seconds: 3600 },
      resetMail: { points: 3, seconds: 3600 },
      resetMailAccount: { points: 10, seconds: 3600 },
      signinGlobal: { points: 300, seconds: 1 },
      signupGlobal: { points: 100, seconds: 1 },
      signinNetwork: { points: 30, seconds: 1 },
      signupNetwork: { points: 10, seconds: 1 },
      lockedSignin: { points: 10, seconds: 3600 },
      signinCodeMail: { points: 1, seconds: 300 },
      verify: { points: 30, seconds: 3600 },
      verifyCode: { points: 10, seconds: 3600 },
      mfaCode: { points: 10, seconds: 900 },
      passkey: { points: 60, seconds: 60 },
      verificationMail: { points: 3, seconds: 3600 },
    });
    expect(c.ipv6Prefix).toBe(64);
    expect(c.wideNetwork).toEqual({ ipv4Prefix: 24, ipv6Prefix: 48 });
    expect(c.lockout).toEqual({ threshold: 5, duration: 60, maxDuration: 86400 });
    expect(c.auditRetention).toBe(90 * 86400);
    expect(c.hibp).toEqual({ url: undefined, timeoutMs: 1500 });
    expect(c.password.minLength).toBe(8);
    expect(c.password.maxLength).toBe(256);
    expect(c.password.checkCommon).toBe(true);
    expect(c.password.argon2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(c.logLevel).toBe('info');
    expect(c.logRequests).toBe(false);
  });

  it('is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.jwt)).toBe(true);
  });

  it('derives PUBLIC_URL from PORT, issuer from PUBLIC_URL, and drops a trailing slash', () => {
    expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    const c = loadConfig({ PUBLIC_URL: 'https://auth.example.com/' });
    expect(c.publicUrl).toBe('https://auth.example.com');
    expect(c.jwt.issuer).toBe('https://auth.example.com');
    expect(loadConfig({ PUBLIC_URL: 'https://a.example', JWT_ISSUER: 'urn:x' }).jwt.issuer).toBe('urn:x');
  });

  it('takes the passkeys\' relying party from PUBLIC_URL, and refuses an RP ID that is not each origin\'s host or a suffix of it', () => {
    const c = loadConfig({ PUBLIC_URL: 'https://auth.example.com/', REQUIRE_MFA_FOR_ROLES: '' });
    expect(c.mfa).toEqual({ webauthn: { rpId: 'auth.example.com', origins: ['https://auth.example.com'] }, requiredForRoles: [] });
    const wide = loadConfig({ PUBLIC_URL: 'https://auth.example.com', WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://auth.example.com, https://app.example.com:8443' });
    expect(wide.mfa.webauthn).toEqual({ rpId: 'example.com', origins: ['https://auth.example.com', 'https://app.example.com:8443'] });
    expect(() => loadConfig({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil.test' })).toThrow(/WEBAUTHN_RP_ID: example\.com is neither the host of https:\/\/evil\.test/);
    expect(() => loadConfig({ WEBAUTHN_ORIGINS: 'https://auth.example.com/path' })).toThrow(/WEBAUTHN_ORIGINS: expected origins/);
  });

  it('reads durations as seconds or with a unit', () => {
    expect(parseDuration('900')).toBe(900);
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('12h')).toBe(43200);
    expect(parseDuration('7d')).toBe(604800);
    for (const bad of ['', 'abc', '15 minutes', '-5', '1.5h', '7w']) expect(parseDuration(bad), bad).toBeUndefined();
    expect(loadConfig({ ACCESS_TOKEN_TTL: '5m', REFRESH_TOKEN_TTL: '1d' }).ttl).toMatchObject({ accessToken: 300, refreshToken: 86400 });
    expect(loadConfig({ REFRESH_REUSE_INTERVAL: '0' }).ttl.refreshReuseInterval).toBe(0);
  });

  it('lists every wrong value at once, naming the variable and what is expected', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      ACCESS_TOKEN_TTL: 'soon',
      JWT_ALGORITHM: 'HS512',
      DATABASE_URL: 'mysql://x',
      SMTP_URL: 'http://mail',
      MIGRATE_ON_START: 'maybe',
      PUBLIC_URL: 'ftp://x',
      LOG_LEVEL: 'loud',
    });
    const text = problems.join('\n');
    for (const name of ['PORT', 'ACCESS_TOKEN_TTL', 'JWT_ALGORITHM', 'DATABASE_URL', 'SMTP_URL', 'MIGRATE_ON_START', 'PUBLIC_URL', 'LOG_LEVEL'])
      expect(text).toContain(`${name}:`);
    expect(text).toContain('expected a whole number from 0 to 65535, got "eighty"');
    expect(text).toContain('ES256, EdDSA, RS256, HS256');
  });

  // Fastify believes no X-Forwarded-For on a hop count (it cannot tell a proxy from a client): taken, it would make
  // every client look like the proxy, sharing one address's budgets.
  it('refuses a number of hops in TRUST_PROXY, naming what to give instead; takes true, false and lists', () => {
    for (const hops of ['1', '2', '0']) expect(problemsOf({ TRUST_PROXY: hops }).join('\n')).toMatch(/^TRUST_PROXY: a number of hops .*\(loopback for a proxy on this machine\)/m);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'FALSE' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
  });

  it('says what each kind of value expects: text, a URL, a rate, networks, a switch', () => {
    const text = problemsOf({
      HOST: '',
      PUBLIC_URL: 'ftp://auth.example.com',
      RATE_LIMIT_SIGNIN: '30 per minute',
      WEBHOOK_DENY_NETWORKS: '10.0.0.0/8, 300.1.1.1',
      MIGRATE_ON_START: 'maybe',
    }).join('\n');
    expect(text).toContain('HOST: expected at least 1 character');
    expect(text).toContain('PUBLIC_URL: expected an http:// or https:// URL');
    expect(text).toContain('RATE_LIMIT_SIGNIN: expected a count per duration such as 30/1m or 3/1h, got "30 per minute"');
    expect(text).toContain('expected IP addresses or CIDR ranges separated by commas, got "300.1.1.1"');
    expect(text).toContain('MIGRATE_ON_START: expected true or false, got "maybe"');
  });

  it.each(['0', '1001', 'many', '2.5', ''])('refuses WEBHOOK_CONCURRENCY=%j', (value) => {
    expect(problemsOf({ WEBHOOK_CONCURRENCY: value }).join('\n')).toMatch(/^WEBHOOK_CONCURRENCY: /m);
  });

  it('lists problems across variables together with single wrong values, in one go', () => {
    const text = problemsOf({ PORT: 'eighty', JWT_ALGORITHM: 'HS256', WORKERS: '4', SESSION_MAX_AGE: '1m', SECRET_KEY: 'short' }).join('\n');
    expect(text).toContain('PORT:');
    expect(text).toContain('JWT_SECRET_KEY: required when JWT_ALGORITHM is HS256');
    expect(text).toContain('WORKERS: the embedded database serves one process only');
    expect(text).toContain('SESSION_MAX_AGE: must be at least ACCESS_TOKEN_TTL');
    expect(text).toContain('SECRET_KEY: must be at least 32 bytes');
  });

  it('refuses HS256 without a secret, a secret under 32 bytes, and a secret with another algorithm', () => {
    expect(problemsOf({ JWT_ALGORITHM: 'HS256' })[0]).toMatch(/JWT_SECRET_KEY: required/);
    expect(problemsOf({ JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'your-secret-key' })[0]).toMatch(/at least 32 bytes/);
    expect(problemsOf({ JWT_SECRET_KEY: 'x'.repeat(40) })[0]).toMatch(/only used with JWT_ALGORITHM=HS256/);
    expect(loadConfig({ JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'x'.repeat(32) }).jwt.algorithm).toBe('HS256');
  });

  it('refuses a password minimum under 8 and a session shorter than an access token', () => {
    expect(problemsOf({ PASSWORD_MIN_LENGTH: '6' })[0]).toMatch(/PASSWORD_MIN_LENGTH/);
    expect(problemsOf({ SESSION_MAX_AGE: '60', ACCESS_TOKEN_TTL: '15m' })[0]).toMatch(/SESSION_MAX_AGE/);
  });

  it('runs one process on the embedded engine and one per core on PostgreSQL, unless WORKERS says otherwise', () => {
    expect(loadConfig({}).workers).toBe(1);
    const cores = availableParallelism();
    expect(loadConfig({ DATABASE_URL: 'postgres://db.internal/y' }).workers).toBe(cores);
    expect(loadConfig({ DATABASE_URL: 'postgres://db.internal/y', WORKERS: 'auto' }).workers).toBe(cores);
    // PostgreSQL on this machine keeps a core for itself.
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      expect(loadConfig({ DATABASE_URL: `postgres://u@${host}:5432/y` }).workers).toBe(Math.max(1, cores - 1));
    }
    expect(loadConfig({ DATABASE_URL: 'postgres://db.internal/y', WORKERS: '3' }).workers).toBe(3);
    expect(problemsOf({ WORKERS: '2' })[0]).toMatch(/WORKERS: the embedded database serves one process only/);
    expect(problemsOf({ WORKERS: 'many' })[0]).toMatch(/WORKERS: expected auto or a whole number/);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', SMTP_URL: '' }).databaseUrl).toBeUndefined();
  });
});
