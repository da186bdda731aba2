// The OpenID Provider against Latchkey's own refresh, on one server: the whole authorization code flow of a signed-in
// browser (GET /oauth/authorize with its session cookie, answered with a code; POST /oauth/token exchanging it with its
// PKCE verifier and the client's secret) alternated with POST /api/refresh (target: flows at least 0.5 of refreshes);
// and token exchanges alone, codes minted first and exchanged as fast as the server takes them (target: 1,000/s).
import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'autocannon';
import { sql } from 'drizzle-orm';
import type { Database } from '../src/db/client.js';
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { load, median, medianRatio, startServer, type ReportPart } from './lib.js';

const BROWSERS = 16;
const REDIRECT_URI = 'https://app.bench.test/callback';
const CLIENT_ID = `lko_${'B'.repeat(22)}`;
const CLIENT_SECRET = `lkos_${'s'.repeat(43)}`;
const VERIFIER = 'bench-verifier-'.padEnd(64, 'v');
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
// Refresh chains of their own (the seeded ones may be spent by the other parts of a whole run): users signed in now.
const REFRESH_CHAINS = 64;
const FORM = 'application/x-www-form-urlencoded';
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

/** A first-party confidential client, as `latchkey clients create` registers one (its secret stored as its SHA-256). */
export async function seedOAuthClient(database: Database) {
  await database.db.execute(sql`
    INSERT INTO oauth_clients (client_id, name, secret_hash, redirect_uris, first_party, created_at)
    VALUES (${CLIENT_ID}, 'bench-app', ${createHash('sha256').update(CLIENT_SECRET).digest('hex')}, ${`{${REDIRECT_URI}}`}::text[], true, now())
    ON CONFLICT DO NOTHING`);
}

const authorizePath = () =>
  `/oauth/authorize?${new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email',
    state: randomBytes(8).toString('hex'),
    nonce: 'n',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
  })}`;

const exchangeBody = (code: string) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }).toString();
const codeOf = (headers: Record<string, string | string[]>) => {
  const location = headers.location;
  return typeof location === 'string' ? (new URL(location).searchParams.get('code') ?? undefined) : undefined;
};

/** Browser session cookies of the first seeded users, each signed in once through the sign-in form. */
async function browserCookies(url: string, origin: string): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < BROWSERS; i++) {
    const page = await fetch(`${url}/login`);
    const nonce = page.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.includes('latchkey_form='))!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const body = new URLSearchParams({ email: benchEmail(i), password: BENCH_PASSWORD, csrf }).toString();
    const res = await fetch(`${url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, origin, cookie: nonce }, body });
    cookies.push(res.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.includes('latchkey_session='))!);
  }
  return cookies;
}

export async function oauthRun(serverEnv: Record<string, string>, opts: { rounds: number; duration: number; connections: number }, failures: string[]): Promise<ReportPart> {
  const server = await startServer(serverEnv);
  const origin = new URL(serverEnv.PUBLIC_URL!).origin;
  try {
    const cookies = await browserCookies(server.url, origin);
    const pool = await refreshChains(server.url);
    const out = { flows: [] as number[], refreshes: [] as number[], exchanges: [] as number[] };
    await codeFlows(server.url, cookies, opts.connections, 2);
    for (let i = 0; i < opts.rounds; i++) {
      for (const kind of i % 2 === 0 ? (['flow', 'refresh'] as const) : (['refresh', 'flow'] as const)) {
        if (kind === 'flow') {
          const done = await codeFlows(server.url, cookies, opts.connections, opts.duration);
          if (done.failed > 0) failures.push(`oauth: ${done.failed} code flows failed`);
          out.flows.push(done.flows / opts.duration);
        } else {
          const r = await refreshes(server.url, pool, opts.connections, opts.duration);
          if (r.non2xx + r.errors > 0) failures.push(`oauth: ${r.non2xx + r.errors} refreshes failed`);
          out.refreshes.push(r.rps);
        }
      }
      const ex = await exchanges(server.url, cookies, opts.connections, opts.duration);
      if (ex.failed > 0) failures.push(`oauth: ${ex.failed} token exchanges failed`);
      out.exchanges.push(ex.rps);
    }
    const flowRatio = medianRatio(out.flows, out.refreshes);
    const exchangeRate = Math.round(median(out.exchanges));
    const rounds = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
    return {
      name: 'oauth',
      targets: [
        ['code flow (authorize with a session, token exchange) / refresh', flowRatio, '>= 0.5', flowRatio >= 0.5],
        ['token exchanges per second', exchangeRate, '>= 1000', exchangeRate >= 1000],
      ],
      lines: [
        `OpenID Provider, ${opts.connections} connections, ${opts.rounds} alternated rounds of ${opts.duration} s; each ratio is the median of the rounds' own:`,
        `code flows ${Math.round(median(out.flows))}/s (${rounds(out.flows)}: two requests each) against refreshes ${Math.round(median(out.refreshes))}/s (${rounds(out.refreshes)}); ` +
          `token exchanges alone ${exchangeRate}/s (${rounds(out.exchanges)}), codes minted just before.`,
      ],
      figures: { ...out, flowRatio, exchangeRate },
    };
  } finally {
    await server.stop();
  }
}

/** Refresh tokens of users signed in through the API, the start of as many chains. */
async function refreshChains(url: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < REFRESH_CHAINS; i++) {
    const res = await fetch(`${url}/api/signin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: benchEmail(i), password: BENCH_PASSWORD }) });
    tokens.push(((await res.json()) as { refresh_token: string }).refresh_token);
  }
  return tokens;
}

/** Whole code flows: each connection a browser of its own, authorize then exchange. */
async function codeFlows(url: string, cookies: string[], connections: number, duration: number) {
  const counted = { flows: 0, failed: 0 };
  let c = 0;
  type Context = { cookie?: string; code?: string };
  await load('code flow', {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'GET',
        setupRequest: (req: Request, context: Context) => {
          context.cookie ??= cookies[c++ % cookies.length];
          return { ...req, path: authorizePath(), headers: { cookie: context.cookie! } };
        },
        onResponse: (_status: number, _body: string, context: Context, headers: Record<string, string | string[]>) => {
          context.code = codeOf(headers);
        },
      },
      {
        method: 'POST',
        path: '/oauth/token',
        setupRequest: (req: Request, context: Context) => ({ ...req, headers: { 'content-type': FORM, authorization: BASIC }, body: exchangeBody(context.code ?? 'none') }),
        onResponse: (status: number) => {
          if (status === 200) counted.flows += 1;
          else counted.failed += 1;
        },
      },
    ] as never,
  });
  return counted;
}

/** POST /api/refresh along refresh chains, each answer's token used next. */
function refreshes(url: string, pool: string[], connections: number, duration: number) {
  return load('refresh', {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/api/refresh',
        setupRequest: (req: Request) => ({ ...req, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: pool.shift() ?? 'exhausted' }) }),
        onResponse: (status: number, body: string) => {
          if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
        },
      },
    ] as never,
  });
}

/**
 * Codes minted first (as many as 1,500 exchanges a second would take in `duration`: a code lives a minute, and a
 * stock of them much larger than the exchanges can spend would expire), then exchanged for `duration` seconds as fast
 * as the server takes them; the rate is of exchanges answered 200.
 */
async function exchanges(url: string, cookies: string[], connections: number, duration: number) {
  const codes: string[] = [];
  let c = 0;
  await load('minting codes', {
    url,
    connections,
    amount: Math.round(duration * 1500),
    requests: [
      {
        method: 'GET',
        setupRequest: (req: Request) => ({ ...req, path: authorizePath(), headers: { cookie: cookies[c++ % cookies.length]! } }),
        onResponse: (_status: number, _body: string, _context: unknown, headers: Record<string, string | string[]>) => {
          const code = codeOf(headers);
          if (code) codes.push(code);
        },
      },
    ] as never,
  });
  const counted = { ok: 0, failed: 0 };
  const started = performance.now();
  await load('token exchange', {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/oauth/token',
        setupRequest: (req: Request, context: { real?: boolean }) => {
          const code = codes.shift();
          context.real = code !== undefined;
          return { ...req, headers: { 'content-type': FORM, authorization: BASIC }, body: exchangeBody(code ?? 'none') };
        },
        onResponse: (status: number, _body: string, context: { real?: boolean }) => {
          if (status === 200) counted.ok += 1;
          // Once the stock is spent, what is left of the round is no exchange of a real code.
          else if (context.real) counted.failed += 1;
        },
      },
    ] as never,
  });
  return { rps: counted.ok / ((performance.now() - started) / 1000), failed: counted.failed };
}
