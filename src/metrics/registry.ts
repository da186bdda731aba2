import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { PoolStats } from '../db/client.js';
import { RequestHistogram } from './request-histogram.js';
import { LIMITERS, UNMATCHED_ROUTE, REFRESH_OUTCOMES, SIGNIN_OUTCOMES, WEBHOOK_OUTCOMES, type Metrics } from '../core/metrics.js';

// From a cached dashboard read (well under a millisecond) to a sign-in's password check (a quarter second).
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// A scrape never waits longer than this for a count it reads from the database; the gauge reads NaN when it does.
const SCRAPE_COUNT_TIMEOUT_MS = 1_000;
// What a scrape reads from the database, each of which can fail to answer in time.
const SCRAPE_SOURCES = ['outbox_overdue', 'webhook_backlog'] as const;
// Methods, route patterns and statuses are few; should they not be, the series stay bounded all the same.
const MAX_REQUEST_SERIES = 1_000;

/** The state the gauges read at each scrape. */
export interface MetricSources {
  revocations: { size(): number };
  /** By the `cache` label each is reported under. */
  caches: Readonly<Record<string, { readonly hits: number; readonly misses: number; readonly size: number }>>;
  /** PostgreSQL's pool; absent on the embedded engine, whose pool gauges are then not registered. */
  poolStats: (() => PoolStats) | undefined;
  /** Outbox rows still to deliver a minute after they were queued: one cheap query per scrape. */
  outboxOverdue: () => Promise<number>;
  /** Webhook deliveries still pending (waiting, in flight or to be retried), of every instance: one query per scrape. */
  webhookBacklog: () => Promise<number>;
}

/** The Prometheus side of `Metrics`: the domain's counters, request durations, and the text a scrape reads. */
export interface MetricsRegistry extends Metrics {
  readonly registry: Registry;
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  /** Counts the revocation feed's open streams at each scrape (src/http/routes/revocation-feed.ts registers them). */
  countStreams(streams: { size(): number }): void;
}

/** A registry of its own (never prom-client's global one), so that several servers can live in one process (tests). */
export function createMetricsRegistry(sources: MetricSources): MetricsRegistry {
  const registry = new Registry();
  const registers = [registry];
  // Node's and the process's own, under their usual names (process_*, nodejs_*), as other Node services report them.
  collectDefaultMetrics({ register: registry });

  const requests = new RequestHistogram(
    'latchkey_http_request_duration_seconds',
    'Time to answer an HTTP request, by method, route pattern (`unmatched` for no route) and status code.',
    REQUEST_BUCKETS,
    MAX_REQUEST_SERIES,
    UNMATCHED_ROUTE,
    registers,
  );
  const signins = counterOf('latchkey_signin_attempts_total', 'Sign-ins that reached the password check, by outcome (refusals by a rate limit before it are in latchkey_throttled_total).', 'outcome', SIGNIN_OUTCOMES, registers);
  const refreshes = counterOf('latchkey_refresh_attempts_total', 'Refresh token exchanges, by outcome: rotated, retried (the same token again within REFRESH_REUSE_INTERVAL), reuse_detected (the session was revoked), invalid, error.', 'outcome', REFRESH_OUTCOMES, registers);
  const throttled = counterOf('latchkey_throttled_total', 'Refusals by a rate limit, by limiter: a 429, a 503 server_busy for the global ones, an unsent reset email for the reset_mail ones.', 'limiter', LIMITERS, registers);
  const webhooks = counterOf('latchkey_webhook_deliveries_total', 'Webhook delivery attempts of this process, by outcome: delivered (a 2xx answer), failed (retried later), dead (failed for WEBHOOK_RETRY_FOR).', 'outcome', WEBHOOK_OUTCOMES, registers);
  const scrapeErrors = counterOf('latchkey_metrics_scrape_errors_total', 'Values a scrape could not read in time, by source; the gauge reads NaN then.', 'source', SCRAPE_SOURCES, registers);

  registerStateGauges(sources, registers);
  registerDatabaseCounts(sources, scrapeErrors, registers);
  const streamSources = registerStreamGauge(registers);
  if (sources.poolStats) registerPoolGauges(sources.poolStats, registers);

  return {
    registry,
    observeRequest: (method, route, statusCode, seconds) => requests.observe(method, route, statusCode, seconds),
    signin: (outcome) => signins.inc({ outcome }),
    refresh: (outcome) => refreshes.inc({ outcome }),
    throttled: (limiter) => throttled.inc({ limiter }),
    webhookDelivery: (outcome) => webhooks.inc({ outcome }),
    countStreams: (streams) => void streamSources.add(streams),
  };
}

/** The in-memory state: the revocation list and the caches. */
function registerStateGauges(sources: MetricSources, registers: Registry[]): void {
  new Gauge({
    name: 'latchkey_revocation_list_entries',
    help: 'Sessions and users in the in-memory revocation list (each stays until the access tokens it blocks have expired).',
    registers,
    // Every process of an instance holds the same list.
    aggregator: 'max',
    collect() {
      this.set(sources.revocations.size());
    },
  });
  const caches = Object.entries(sources.caches);
  const cacheCounter = (name: string, help: string, read: (c: { hits: number; misses: number }) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['cache'] as const,
      registers,
      collect() {
        this.reset();
        for (const [label, cache] of caches) this.inc({ cache: label }, read(cache));
      },
    });
  cacheCounter('latchkey_cache_hits_total', 'Look-ups answered from an in-memory cache, by cache (verified_tokens: access tokens already verified).', (c) => c.hits);
  cacheCounter('latchkey_cache_misses_total', 'Look-ups an in-memory cache could not answer (absent or expired), by cache.', (c) => c.misses);
  new Gauge({
    name: 'latchkey_cache_entries',
    help: 'Entries held by an in-memory cache, by cache.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      for (const [label, cache] of caches) this.set({ cache: label }, cache.size);
    },
  });
}

/**
 * Counts read from the database at each scrape: one at a time, however many scrapes arrive while it runs,
 * and NaN (with a scrape error) when the database does not answer in time.
 */
function registerDatabaseCounts(sources: MetricSources, scrapeErrors: Counter, registers: Registry[]): void {
  const databaseCount = (name: string, help: string, source: (typeof SCRAPE_SOURCES)[number], count: () => Promise<number>) => {
    let counting: Promise<number> | undefined;
    new Gauge({
      name,
      help,
      registers,
      // Every instance reads the same rows.
      aggregator: 'max',
      async collect() {
        counting ??= count().finally(() => (counting = undefined));
        try {
          this.set(await withTimeout(counting, SCRAPE_COUNT_TIMEOUT_MS));
        } catch {
          this.set(Number.NaN);
          scrapeErrors.inc({ source });
        }
      },
    });
  };
  // Not every row still to deliver: a reset email is queued only for an address with an account, so a count that
  // moved while one is sent would tell whoever reads the metrics which addresses have accounts.
  databaseCount(
    'latchkey_outbox_overdue',
    'Outbox rows still to deliver a minute or more after they were queued (mail failing or stuck), of every instance: read from the database at each scrape.',
    'outbox_overdue',
    sources.outboxOverdue,
  );
  databaseCount(
    'latchkey_webhook_deliveries_pending',
    'Webhook deliveries still to make (waiting, in flight or to be retried), of every instance: read from the database at each scrape.',
    'webhook_backlog',
    sources.webhookBacklog,
  );
}

/** The revocation feed's open streams; returns the set each server's feed adds its streams to. */
function registerStreamGauge(registers: Registry[]): Set<{ size(): number }> {
  const streamSources = new Set<{ size(): number }>();
  new Gauge({
    name: 'latchkey_revocation_feed_streams',
    help: 'Revocation feed streams (GET /api/revocations/stream) open on this process.',
    registers,
    collect() {
      let open = 0;
      for (const s of streamSources) open += s.size();
      this.set(open);
    },
  });
  return streamSources;
}

function registerPoolGauges(pool: () => PoolStats, registers: Registry[]): void {
  const poolGauge = (name: string, help: string, read: (s: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read(pool()));
      },
    });
  poolGauge('latchkey_db_pool_connections', 'PostgreSQL connections open in the pool.', (s) => s.total);
  poolGauge('latchkey_db_pool_idle_connections', 'PostgreSQL connections open and idle in the pool.', (s) => s.idle);
  poolGauge('latchkey_db_pool_waiting_queries', 'Queries waiting for a pool connection.', (s) => s.waiting);
  poolGauge('latchkey_db_pool_max_connections', 'The most connections the pool opens (DATABASE_POOL_SIZE).', (s) => s.max);
}

/** A counter with one label whose every value is known: each series exists, at 0, from the start. */
function counterOf<V extends string>(name: string, help: string, label: string, values: readonly V[], registers: Registry[]) {
  const counter = new Counter({ name, help, labelNames: [label], registers });
  for (const value of values) counter.inc({ [label]: value }, 0);
  return counter;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
