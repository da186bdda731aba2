// The hosted pages against their baselines, on one server: GET /login against bare Fastify serving a static page of
// the same size, alternated ROUNDS times (target: at least 0.5); and a browser's sign-in (the page for its form
// token and cookie, the form's POST, its redirect followed to /account) against the API's sign-in, alternated
// (target: at least 0.85). Both sign-ins hash the password once (argon2id): what they differ by is the rest.
import type { Request } from 'autocannon';
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { load, medianRatio, median, startProcess, startServer, type ReportPart } from './lib.js';

const SIGNIN_USERS = 50;
const WARM_UP_SECONDS = 2;
// A sign-in costs an argon2id hash: rounds of the usual length hold too few of them to tell 15 % apart.
const SIGNIN_DURATION_FACTOR = 3;
const JSON_HEADERS = { 'content-type': 'application/json' };

export async function pagesRun(
  serverEnv: Record<string, string>,
  opts: { rounds: number; duration: number; connections: number; workers: number },
  failures: string[],
): Promise<ReportPart> {
  const baseline = await startProcess(['--import', 'tsx', 'bench/baseline-server.ts'], { WORKERS: String(opts.workers) }, '/');
  const server = await startServer(serverEnv);
  const origin = new URL(serverEnv.PUBLIC_URL!).origin;
  try {
    const bytes = Buffer.byteLength(await (await fetch(`${server.url}/login`)).text());
    const get = (name: string, url: string, path: string, duration: number) => load(name, { url, connections: opts.connections, duration, requests: [{ method: 'GET', path }] });
    await get('warm-up', server.url, '/login', WARM_UP_SECONDS);
    const out = { login: [] as number[], page: [] as number[], browser: [] as number[], api: [] as number[] };
    for (let i = 0; i < opts.rounds; i++) {
      const login = await get('GET /login', server.url, '/login', opts.duration);
      const page = await get(`bare Fastify, a ${bytes}-byte page`, baseline.url, `/page?bytes=${bytes}`, opts.duration);
      for (const r of [login, page]) if (r.non2xx > 0 || r.errors > 0) failures.push(`pages: GET ${r.non2xx} non-2xx, ${r.errors} errors`);
      out.login.push(login.rps);
      out.page.push(page.rps);
    }
    const seconds = opts.duration * SIGNIN_DURATION_FACTOR;
    for (let i = 0; i < opts.rounds; i++) {
      for (const kind of i % 2 === 0 ? (['browser', 'api'] as const) : (['api', 'browser'] as const)) {
        const done = kind === 'browser' ? await browserSignins(server.url, origin, opts.connections, seconds) : await apiSignins(server.url, opts.connections, seconds);
        if (done.failed > 0) failures.push(`pages: ${kind} sign-in ${done.failed} failed`);
        out[kind].push(done.signins / seconds);
      }
    }
    const pageRatio = medianRatio(out.login, out.page);
    const signinRatio = medianRatio(out.browser, out.api);
    const rounds = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
    return {
      name: 'pages',
      targets: [
        ['GET /login / bare Fastify, a static page of its size', pageRatio, '>= 0.5', pageRatio >= 0.5],
        ['browser sign-in (page, form, redirect) / API sign-in', signinRatio, '>= 0.85', signinRatio >= 0.85],
      ],
      lines: [
        `Hosted pages, ${opts.connections} connections, ${opts.rounds} alternated rounds; each ratio is the median of the rounds' own ratios:`,
        `GET /login ${Math.round(median(out.login))} req/s (${rounds(out.login)}) against bare Fastify serving ${bytes} bytes ${Math.round(median(out.page))} (${rounds(out.page)}); ` +
          `browser sign-ins ${Math.round(median(out.browser))}/s (${rounds(out.browser)}: three requests each) against API sign-ins ${Math.round(median(out.api))}/s (${rounds(out.api)}), ${seconds} s rounds.`,
      ],
      figures: { ...out, bytes, pageRatio, signinRatio },
    };
  } finally {
    await Promise.all([server.stop(), baseline.stop()]);
  }
}

/** POST /api/signin, the users in turn: completed sign-ins. */
async function apiSignins(url: string, connections: number, duration: number) {
  let p = 0;
  const r = await load('sign-in, API', {
    url,
    connections,
    duration,
    requests: [{ method: 'POST', path: '/api/signin', headers: JSON_HEADERS, setupRequest: (req) => ({ ...req, body: JSON.stringify({ email: benchEmail(p++ % SIGNIN_USERS), password: BENCH_PASSWORD }) }) }],
  });
  return { signins: r.requests - r.non2xx - r.errors, failed: r.non2xx + r.errors };
}

/** As a browser signs in: the page (its nonce cookie and form token), the form's POST, its redirect to /account followed with the new cookie. */
async function browserSignins(url: string, origin: string, connections: number, duration: number) {
  const counted = { signins: 0, failed: 0 };
  let p = 0;
  type Context = { nonce?: string; csrf?: string; session?: string };
  const cookieOf = (headers: Record<string, string | string[]>, name: string) => {
    const all = ([] as string[]).concat(headers['set-cookie'] ?? []);
    return all.map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${name}=`));
  };
  await load('sign-in, browser', {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'GET',
        path: '/login',
        onResponse: (_status: number, body: string, context: Context, headers: Record<string, string | string[]>) => {
          context.nonce = cookieOf(headers, '__Host-latchkey_form') ?? cookieOf(headers, 'latchkey_form');
          context.csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1];
        },
      },
      {
        method: 'POST',
        path: '/login',
        setupRequest: (req: Request, context: Context) => ({
          ...req,
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin, cookie: context.nonce ?? '' },
          body: new URLSearchParams({ email: benchEmail(p++ % SIGNIN_USERS), password: BENCH_PASSWORD, csrf: context.csrf ?? '' }).toString(),
        }),
        onResponse: (status: number, _body: string, context: Context, headers: Record<string, string | string[]>) => {
          context.session = status === 303 ? (cookieOf(headers, '__Host-latchkey_session') ?? cookieOf(headers, 'latchkey_session')) : undefined;
        },
      },
      {
        method: 'GET',
        path: '/account',
        setupRequest: (req: Request, context: Context) => ({ ...req, headers: { cookie: context.session ?? '' } }),
        onResponse: (status: number, _body: string, context: Context) => {
          if (status === 200 && context.session) counted.signins += 1;
          else counted.failed += 1;
        },
      },
    ] as never,
  });
  return counted;
}
