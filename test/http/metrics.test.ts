import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createServiceClient } from '../../src/auth/service-clients/service-clients.js';
import { runOperation } from '../../src/control/operations.js';
import { LIMITERS, noMetrics, REFRESH_OUTCOMES, SIGNIN_OUTCOMES, WEBHOOK_OUTCOMES } from '../../src/core/metrics.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { insertUser } from '../../src/auth/users/users.js';
import { freePort } from '../helpers/services.js';
import { readSample, scrape, seriesOf, type Series } from '../helpers/metrics.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { countOutboxRowsToDeliver } from '../../src/db/queries/mail-outbox.js';
import { basic, openSse } from '../helpers/sse.js';
import { startWebhookReceiver, until } from '../helpers/webhook-receiver.js';

const TOKEN = 'metrics-token-for-the-tests-0123456789';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('metrics settings', () => {
  it('are off by default, on loopback once METRICS_PORT is set', () => {
    expect(loadConfig({}).metrics).toEqual({ port: undefined, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ METRICS_PORT: '9464' }).metrics).toEqual({ port: 9464, host: '127.0.0.1', token: undefined });
  });

  it('refuse a bad port, a short token, a token without a port, and an open host without a token', () => {
    expect(problemsOf({ METRICS_PORT: 'ninety' })[0]).toMatch(/^METRICS_PORT: expected a whole number from 1 to 65535/);
    expect(problemsOf({ METRICS_PORT: '5001' })[0]).toMatch(/^METRICS_PORT: must differ from PORT/);
    expect(problemsOf({ METRICS_PORT: '9464', METRICS_TOKEN: 'short' })[0]).toMatch(/^METRICS_TOKEN: expected at least 16 characters/);
    expect(problemsOf({ METRICS_TOKEN: TOKEN })[0]).toMatch(/^METRICS_TOKEN: only used with METRICS_PORT/);
    expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' })[0]).toMatch(/^METRICS_TOKEN: required when METRICS_HOST \(0\.0\.0\.0\)/);
    expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0', METRICS_TOKEN: TOKEN })).toEqual([]);
    expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: '::1' })).toEqual([]);
  });
});

describe('metrics off (the default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('has no /metrics anywhere and reports to the no-op', async () => {
    expect(t.deps.metrics).toBe(noMetrics);
    expect(t.deps.metricsRegistry).toBeUndefined();
    expect((await t.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    expect((await t.inject({ method: 'GET', url: '/metrics', headers: bearer(TOKEN) })).statusCode).toBe(404);
  });
});

describe('metrics on', () => {
  let t: TestApp;
  let url: string;
  const read = () => scrape(url, TOKEN);
  const addHook = (hookUrl: string) => runOperation(t.deps as never, 'webhooks.add', { url: hookUrl, events: ['user.created'] }, { actor: 'test' }) as Promise<{ id: string }>;
  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    t = await startTestApp({ env: { METRICS_PORT: String(port), METRICS_TOKEN: TOKEN, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_FORGOT: '1/1h' } });
  });
  afterAll(() => t.close());

  it('serves /metrics on its own port only, with the bearer token', async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${url}/metrics`, { headers: bearer(`${TOKEN}x`) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect((await fetch(`${url}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401);
    const res = await fetch(`${url}/metrics`, { headers: bearer(TOKEN) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(/^# HELP /m);
    expect((await fetch(`${url}/other`, { headers: bearer(TOKEN) })).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST', headers: bearer(TOKEN) })).status).toBe(405);
    // The API's port does not serve them.
    expect((await t.inject({ method: 'GET', url: '/metrics', headers: bearer(TOKEN) })).statusCode).toBe(404);
  });

  it('names every metric latchkey_* (besides the process_* and nodejs_* of the process), each with its help', async () => {
    const text = await read();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      expect(name).toMatch(/^(latchkey|process|nodejs)_[a-z0-9_]+$/);
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes'])
      expect(names).toContain(name);
  });

  it('counts sign-ins by outcome', async () => {
    const user = await signUp(t);
    const before = await read();
    await signIn(t, user.email);
    await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'not the password at all' } });
    await t.inject({ method: 'POST', url: '/api/signin', payload: { email: uniqueEmail(), password: 'not the password at all' } });
    const after = await read();
    const delta = (outcome: string) => readSample(after, 'latchkey_signin_attempts_total', { outcome }) - readSample(before, 'latchkey_signin_attempts_total', { outcome });
    expect(delta('success')).toBe(1);
    expect(delta('invalid_credentials')).toBe(2);
    expect(delta('locked')).toBe(0);
  });

  it('counts refreshes: rotated, retried within the window, reuse detected, invalid', async () => {
    const user = await signUp(t);
    const first = await signIn(t, user.email);
    const before = await read();
    expect((await refresh(t, first.refresh_token)).statusCode).toBe(200);
    expect((await refresh(t, first.refresh_token)).statusCode).toBe(200);
    t.clock.advance(t.deps.config.ttl.refreshReuseInterval + 1);
    expect((await refresh(t, first.refresh_token)).json().error).toBe('refresh_token_reused');
    expect((await refresh(t, 'no-such-refresh-token-anywhere')).statusCode).toBe(401);
    const after = await read();
    const delta = (outcome: string) => readSample(after, 'latchkey_refresh_attempts_total', { outcome }) - readSample(before, 'latchkey_refresh_attempts_total', { outcome });
    expect([delta('rotated'), delta('retried'), delta('reuse_detected'), delta('invalid'), delta('error')]).toEqual([1, 1, 1, 1, 0]);
    // The reuse revoked the session: the revocation list holds it.
    expect(readSample(after, 'latchkey_revocation_list_entries')).toBeGreaterThanOrEqual(1);
  });

  it('counts verified-token cache hits and misses, and refusals by limiter', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const before = await read();
    await dashboard(t, access_token);
    await dashboard(t, access_token);
    const forgot = () => t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: uniqueEmail() }, headers: { 'x-forwarded-for': '10.9.8.7' } });
    expect((await forgot()).statusCode).toBe(200);
    expect((await forgot()).statusCode).toBe(429);
    const after = await read();
    const delta = (name: string, labels: Record<string, string>) => readSample(after, name, labels) - readSample(before, name, labels);
    expect(delta('latchkey_cache_misses_total', { cache: 'verified_tokens' })).toBe(1);
    expect(delta('latchkey_cache_hits_total', { cache: 'verified_tokens' })).toBe(1);
    expect(readSample(after, 'latchkey_cache_entries', { cache: 'verified_tokens' })).toBeGreaterThanOrEqual(1);
    expect(delta('latchkey_throttled_total', { limiter: 'forgot' })).toBe(1);
  });

  it('counts webhook deliveries by outcome and reads the pending backlog at each scrape', async () => {
    const up = await startWebhookReceiver();
    const down = await startWebhookReceiver({ answer: () => 503 });
    const hooks = [await addHook(up.url), await addHook(down.url)];
    try {
      const before = await read();
      const delta = (text: string, outcome: string) => readSample(text, 'latchkey_webhook_deliveries_total', { outcome }) - readSample(before, 'latchkey_webhook_deliveries_total', { outcome });
      await signUp(t);
      const after = await until(read, (text) => delta(text, 'delivered') >= 1 && delta(text, 'failed') >= 1, 10_000);
      expect([delta(after, 'delivered'), delta(after, 'failed'), delta(after, 'dead')]).toEqual([1, 1, 0]);
      // The refused one waits for its retry.
      expect(readSample(after, 'latchkey_webhook_deliveries_pending')).toBeGreaterThanOrEqual(1);
    } finally {
      for (const hook of hooks) await runOperation(t.deps as never, 'webhooks.remove', { id: hook.id }, { actor: 'test' });
      await Promise.all([up.stop(), down.stop()]);
    }
    expect(readSample(await read(), 'latchkey_webhook_deliveries_pending')).toBe(0);
  });

  it("counts the revocation feed's open streams, and times its refusals but not a stream's life", async () => {
    const base = await t.listen();
    const credentials = await createServiceClient(t.deps, { name: 'metrics-feed', scopes: ['revocations:read'] }, 'test');
    const streams = (text: string) => readSample(text, 'latchkey_revocation_feed_streams');
    const feedSeries = (text: string, status: string) =>
      readSample(text, 'latchkey_http_request_duration_seconds_count', { route: '/api/revocations/stream', status_code: status });
    const before = await read();
    expect(streams(before)).toBe(0);
    const stream = await openSse(`${base}/api/revocations/stream`, { authorization: basic(credentials.client_id, credentials.client_secret) });
    await stream.next((e) => e.event === 'ready');
    expect(streams(await read())).toBe(1);
    const refused = await openSse(`${base}/api/revocations/stream`);
    expect(refused.status).toBe(401);
    refused.close();
    stream.close();
    const after = await until(read, (text) => streams(text) === 0, 10_000);
    expect(streams(after)).toBe(0);
    expect(feedSeries(after, '401') - feedSeries(before, '401')).toBe(1);
    expect(feedSeries(after, '200')).toBe(0);
  });

  it('reports the database pool on PostgreSQL only', async () => {
    const text = await read();
    if (t.database.engine === 'postgres') {
      expect(readSample(text, 'latchkey_db_pool_max_connections')).toBe(t.deps.config.databasePoolSize);
      expect(readSample(text, 'latchkey_db_pool_connections')).toBeGreaterThanOrEqual(1);
      expect(readSample(text, 'latchkey_db_pool_waiting_queries')).toBe(0);
    } else {
      expect(text).not.toContain('latchkey_db_pool_');
    }
  });

  it('labels requests by route pattern, unknown routes as one label', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    await dashboard(t, access_token);
    await t.inject({ method: 'GET', url: `/reset-password/${'a'.repeat(43)}` });
    const unmatched = (text: string) => readSample(text, 'latchkey_http_request_duration_seconds_count', { route: 'unmatched' });
    const before = unmatched(await read());
    const statuses = [];
    for (const path of [`/no/such/${user.email}`, `/api/${access_token}`, `/reset-password/${'a'.repeat(1100)}`, '/%E0%A4%A'])
      statuses.push((await t.inject({ method: 'GET', url: path })).statusCode);
    expect(statuses).toEqual([404, 404, 414, 400]);
    const text = await read();
    expect(unmatched(text) - before).toBe(4);
    const routes = new Set(seriesOf(text, 'latchkey_http_request_duration_seconds_count').map((s) => s.labels.route));
    expect(routes).toContain('/api/dashboard');
    expect(routes).toContain('/api/signin');
    expect(routes).toContain('/reset-password/:token');
    const registered = new Set(t.app.routeList.map((r) => r.url));
    for (const route of routes) expect(route === 'unmatched' || registered.has(route!)).toBe(true);
    const dash = seriesOf(text, 'latchkey_http_request_duration_seconds_count').find((s) => s.labels.route === '/api/dashboard' && s.labels.status_code === '200');
    expect(dash?.labels).toEqual({ method: 'GET', route: '/api/dashboard', status_code: '200' });
    expect(dash!.value).toBeGreaterThanOrEqual(1);
  });

  it('puts no email, token or address in any label: every value comes from a closed set', async () => {
    const user = await signUp(t, { email: uniqueEmail('label-check') });
    const tokens = await signIn(t, user.email);
    await refresh(t, tokens.refresh_token);
    await t.inject({ method: 'GET', url: `/api/reset-password/${tokens.refresh_token}`, headers: { 'x-forwarded-for': '203.0.113.77' } });
    const text = await read();
    const routes = new Set([...t.app.routeList.map((r) => r.url), 'unmatched']);
    const closed: Record<string, Set<string>> = {
      outcome: new Set<string>([...SIGNIN_OUTCOMES, ...REFRESH_OUTCOMES, ...WEBHOOK_OUTCOMES]),
      limiter: new Set<string>(LIMITERS),
      cache: new Set(['verified_tokens', 'profiles', 'session_lists']),
      source: new Set(['outbox_overdue', 'webhook_backlog']),
      route: routes,
    };
    for (const series of seriesOf(text)) {
      if (!series.name.startsWith('latchkey_')) continue;
      for (const [label, value] of Object.entries(series.labels)) {
        expect(value).not.toContain('@');
        expect(value).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
        for (const secret of [user.email, tokens.access_token, tokens.refresh_token]) expect(value).not.toContain(secret);
        if (label === 'method') expect(value).toMatch(/^[A-Z]+$/);
        else if (label === 'status_code') expect(value).toMatch(/^[1-5]\d\d$/);
        else if (label === 'le') expect(value).toMatch(/^(\+Inf|[\d.]+)$/);
        else expect(closed[label]?.has(value), `${series.name} ${label}="${value}"`).toBe(true);
      }
    }
  });
});

/**
 * How each latchkey_* series moved from one scrape to another, by series. Left out: the request durations'
 * buckets and sums (times, which differ between any two requests; their counts stay in) and the pool's gauges
 * (open connections, which whatever else runs at the moment moves).
 */
function movement(before: string, after: string): Record<string, number> {
  const key = (s: Series) => `${s.name}${JSON.stringify(s.labels)}`;
  const counted = (s: Series) =>
    s.name.startsWith('latchkey_') && !/^latchkey_http_request_duration_seconds_(bucket|sum)$/.test(s.name) && !s.name.startsWith('latchkey_db_pool_');
  const start = new Map(seriesOf(before).filter(counted).map((s) => [key(s), s.value]));
  return Object.fromEntries(seriesOf(after).filter(counted).map((s) => [key(s), s.value - (start.get(key(s)) ?? 0)]));
}

// The attacker reads /metrics (a shared dashboard, a scrape they can see) and asks for reset links for
// addresses, to learn which have accounts. The mail server is slow: each email waits until the test lets it in.
describe('metrics and who has an account', () => {
  // Stored directly: sign-up's verification email would be one more held email than each probe awaits.
  const quietUser = () => insertUser(t.deps.db, t.clock.now(), { name: 'Quiet', email: uniqueEmail('quiet'), passwordHash: 'not-a-hash' });
  let t: TestApp;
  let url: string;
  let smtp: TestSmtpServer;
  const held: (() => void)[] = [];
  const read = () => scrape(url, TOKEN);
  beforeAll(async () => {
    smtp = await startSmtpServer({ beforeAccept: () => new Promise<void>((resolve) => held.push(resolve)) });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    t = await startTestApp({ env: { METRICS_PORT: String(port), METRICS_TOKEN: TOKEN, SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    for (const release of held) release();
    await t.close();
    await smtp.close();
  });

  const forgot = async (email: string) => expect((await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email } })).statusCode).toBe(200);

  /** The scrapes before a forgot-password request, while its email (if any) is at the mail server, and once all is done. */
  async function probe(email: string, hasAccount: boolean) {
    const before = await read();
    await forgot(email);
    // The test knows what the attacker wants to learn, to wait for the right moment: the email at the mail server, or
    // the outbox's pass that finds nothing to send.
    if (hasAccount) await until(() => held.length, (n) => n === 1, 10_000);
    else await t.deps.outbox.runOnce();
    const during = await read();
    const received = smtp.messages.length;
    held.shift()?.();
    if (hasAccount) await until(() => smtp.messages.length, (n) => n > received, 10_000);
    await until(() => countOutboxRowsToDeliver(t.deps.db), (n) => n === 0, 10_000);
    return { during: movement(before, during), after: movement(before, await read()) };
  }

  it('moves every latchkey_* series alike for an address with an account and one without, while its email is sent and after', async () => {
    const user = await quietUser();
    const unknown = await probe(uniqueEmail('nobody'), false);
    const known = await probe(user.email, true);
    expect(smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === 'Reset your password')).toHaveLength(1);
    expect(known).toEqual(unknown);
  });

  it('counts the rows still to deliver a minute after they were queued, for the operator to see mail stuck', async () => {
    const user = await quietUser();
    await forgot(user.email);
    await until(() => held.length, (n) => n === 1, 10_000);
    expect(readSample(await read(), 'latchkey_outbox_overdue')).toBe(0);
    t.clock.advance(61);
    expect(readSample(await read(), 'latchkey_outbox_overdue')).toBe(1);
    held.shift()!();
    await until(() => countOutboxRowsToDeliver(t.deps.db), (n) => n === 0, 10_000);
    expect(readSample(await read(), 'latchkey_outbox_overdue')).toBe(0);
  });
});
