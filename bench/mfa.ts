// Second factors at sign-in. Password sign-ins against sign-ins with an authenticator app (both steps: the password's
// 403 mfa_required, then its mfa_token with the app's code), alternated ROUNDS times on one server (target: at least
// 0.8); and sign-ins with a passkey alone (the request options, then the assertion), which hash no password
// (target: at least 1,000 a second). The codes and assertions are made here as an app and a browser would: each
// code once per user and step (Latchkey refuses a replay), each assertion over its own challenge.
import { Secret, TOTP } from 'otpauth';
import type { Request } from 'autocannon';
import { SoftwareAuthenticator } from '../test/helpers/authenticator.js';
import { BENCH_PASSWORD, benchEmail } from './seed.js';
import { load, median, medianRatio, startServer, type LoadResult, type ReportPart, type Target } from './lib.js';

const PASSWORD_USERS = 50;
// Users with an app: each takes one code a 30-second step (two at the start), so a run of a few minutes at the
// hash rate of this machine needs a few hundred.
const TOTP_FROM = 100;
const TOTP_USERS = 400;
const PASSKEY_FROM = 600;
const PASSKEY_USERS = 32;
const WARM_UP_SECONDS = 2;
const SIGNIN_DURATION_FACTOR = 3;
const STEP_MS = 30_000;
const JSON_HEADERS = { 'content-type': 'application/json' };


async function call(url: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown> & { status: number }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
}

/** Users from..from+count-1 each set up an authenticator app (four at a time): their secrets, and the step each used. */
async function enrolTotp(url: string, from: number, count: number): Promise<{ secret: string; usedStep: number }[]> {
  const secrets: { secret: string; usedStep: number }[] = [];
  for (let i = 0; i < count; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, count - i) }, async (_, j) => {
        const email = benchEmail(from + i + j);
        const signin = await call(url, '/api/signin', { email, password: BENCH_PASSWORD });
        const token = signin.access_token as string;
        const setup = await call(url, '/api/me/mfa/totp', { password: BENCH_PASSWORD }, token);
        const secret = setup.secret as string;
        const usedStep = Math.floor(Date.now() / STEP_MS);
        const confirmed = await call(url, '/api/me/mfa/totp/confirm', { code: codeFor(secret, usedStep) }, token);
        if (confirmed.status !== 200) throw new Error(`mfa run set-up: confirming an app answered ${confirmed.status}`);
        return { secret, usedStep };
      }),
    );
    secrets.push(...batch);
  }
  return secrets;
}

const codeFor = (secret: string, step: number) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: step * STEP_MS + 1 });

/**
 * Codes to sign in with, as many users' apps would show them: each user's next unused step, from the current one to
 * the next (Latchkey takes a step either side, once each). Round-robin over the users; a user whose steps are all
 * used waits for the clock.
 */
function codeSource(apps: { secret: string; usedStep: number }[]) {
  const nextStep = apps.map((a) => a.usedStep + 1);
  let n = 0;
  return () => {
    const now = Math.floor(Date.now() / STEP_MS);
    for (let tries = 0; tries < apps.length; tries++) {
      const i = n++ % apps.length;
      const step = Math.max(nextStep[i]!, now);
      if (step > now + 1) continue;
      nextStep[i] = step + 1;
      return { user: i, code: codeFor(apps[i]!.secret, step) };
    }
    return undefined;
  };
}

interface Counted {
  result: LoadResult;
  signins: number;
  failed: number;
}

/** Sign-ins per second of a run: the second steps that answered 200, over the run's length. */
const rateOf = (c: Counted, seconds: number) => c.signins / seconds;

export async function mfaRun(
  serverEnv: Record<string, string>,
  opts: { rounds: number; duration: number; connections: number; passkeyOnly?: boolean },
  failures: string[],
): Promise<ReportPart> {
  const server = await startServer(serverEnv);
  const seconds = opts.duration * SIGNIN_DURATION_FACTOR;
  try {
    const totpUsers = opts.passkeyOnly ? 0 : TOTP_USERS;
    console.error(`  setting up ${totpUsers} authenticator apps and ${PASSKEY_USERS} passkeys`);
    const nextCode = codeSource(await enrolTotp(server.url, TOTP_FROM, totpUsers));
    const origin = serverEnv.PUBLIC_URL!;
    const authenticators = await enrolPasskeys(server.url, origin);

    let p = 0;
    const password = (name: string, duration: number) =>
      load(name, {
        url: server.url,
        connections: opts.connections,
        duration,
        requests: [{ method: 'POST', path: '/api/signin', headers: JSON_HEADERS, setupRequest: (req) => ({ ...req, body: JSON.stringify({ email: benchEmail(p++ % PASSWORD_USERS), password: BENCH_PASSWORD }) }) }],
      });
    const withApp = (name: string, duration: number) => twoSteps(server.url, opts.connections, duration, name, nextCode);
    await password('warm-up', WARM_UP_SECONDS);
    const out = { password: [] as number[], totp: [] as number[], passkey: [] as number[] };
    for (let i = 0; i < (opts.passkeyOnly ? 0 : opts.rounds); i++) {
      for (const kind of i % 2 === 0 ? (['password', 'totp'] as const) : (['totp', 'password'] as const)) {
        if (kind === 'password') {
          const r = await password('sign-in, password', seconds);
          if (r.non2xx > 0 || r.errors > 0) failures.push(`mfa: password sign-in ${r.non2xx} non-2xx, ${r.errors} errors`);
          out.password.push(r.rps);
        } else {
          const c = await withApp('sign-in, password and app code', seconds);
          if (c.failed > 0 || c.result.errors > 0) failures.push(`mfa: app sign-in ${c.failed} failed second steps, ${c.result.errors} errors`);
          out.totp.push(rateOf(c, seconds));
        }
      }
    }
    for (let i = 0; i < opts.rounds; i++) {
      const c = await passkeySignins(server.url, opts.connections, opts.duration, authenticators);
      if (c.failed > 0 || c.result.errors > 0) failures.push(`mfa: passkey sign-in ${c.failed} failed, ${c.result.errors} errors`);
      out.passkey.push(rateOf(c, opts.duration));
    }
    const passkeyRate = Math.round(median(out.passkey));
    const rounds = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
    const passkeyTarget: Target = ['passkey sign-ins per second', passkeyRate, '>= 1000', passkeyRate >= 1000];
    const passkeyLine = `passkey sign-ins ${passkeyRate}/s (${rounds(out.passkey)}: options and assertion, ${opts.duration} s rounds).`;
    if (opts.passkeyOnly) {
      return {
        name: 'passkey',
        targets: [passkeyTarget],
        lines: [`Passkey sign-ins alone, ${opts.connections} connections, ${opts.rounds} rounds: ${passkeyLine}`],
        figures: { passkey: out.passkey, passkeyRate },
      };
    }
    const totpRatio = medianRatio(out.totp, out.password);
    return {
      name: 'mfa',
      targets: [['sign-in with an app code / password alone', totpRatio, '>= 0.8', totpRatio >= 0.8], passkeyTarget],
      lines: [
        `Second factors at sign-in, ${opts.connections} connections, ${opts.rounds} rounds; each ratio is the median of the rounds' own ratios:`,
        `password sign-ins ${Math.round(median(out.password))}/s (rounds ${rounds(out.password)}), password and app code ${Math.round(median(out.totp))}/s ` +
          `(${rounds(out.totp)}: both steps, ${seconds} s rounds, alternated); ${passkeyLine}`,
      ],
      figures: { password: out.password, totp: out.totp, passkey: out.passkey, totpRatio, passkeyRate },
    };
  } finally {
    await server.stop();
  }
}

/** The password (403 mfa_required), then the app's code with its mfa_token, on every connection in turn. */
async function twoSteps(url: string, connections: number, duration: number, name: string, nextCode: ReturnType<typeof codeSource>): Promise<Counted> {
  const counted = { signins: 0, failed: 0 };
  type Context = { code?: string; mfaToken?: string };
  const result = await load(name, {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/api/signin',
        headers: JSON_HEADERS,
        setupRequest: (req: Request, context: Context) => {
          const next = nextCode();
          if (!next) throw new Error('mfa run: every user has used its codes for now; raise TOTP_USERS');
          context.code = next.code;
          return { ...req, body: JSON.stringify({ email: benchEmail(TOTP_FROM + next.user), password: BENCH_PASSWORD }) };
        },
        onResponse: (_status: number, body: string, context: Context) => {
          context.mfaToken = (JSON.parse(body) as { mfa_token?: string }).mfa_token;
        },
      },
      {
        method: 'POST',
        path: '/api/signin/mfa',
        headers: JSON_HEADERS,
        setupRequest: (req: Request, context: Context) => ({ ...req, body: JSON.stringify({ mfa_token: context.mfaToken ?? 'none', code: context.code }) }),
        onResponse: (status: number) => {
          if (status === 200) counted.signins += 1;
          else counted.failed += 1;
        },
      },
    ] as never,
  });
  return { result, ...counted };
}

/** Users PASSKEY_FROM.. each register a synced passkey (counter 0, as Apple's and Google's passkeys send). */
async function enrolPasskeys(url: string, origin: string): Promise<SoftwareAuthenticator[]> {
  const authenticators: SoftwareAuthenticator[] = [];
  for (let i = 0; i < PASSKEY_USERS; i++) {
    const email = benchEmail(PASSKEY_FROM + i);
    const token = (await call(url, '/api/signin', { email, password: BENCH_PASSWORD })).access_token as string;
    const options = await call(url, '/api/me/passkeys/options', { password: BENCH_PASSWORD }, token);
    const authenticator = new SoftwareAuthenticator(origin, true);
    const registered = await call(url, '/api/me/passkeys', { response: authenticator.create(options as never) }, token);
    if (registered.status !== 201) throw new Error(`mfa run set-up: registering a passkey answered ${registered.status}`);
    authenticators.push(authenticator);
  }
  return authenticators;
}

/** The request options, then an assertion over their challenge, the passkeys taken in turn. */
async function passkeySignins(url: string, connections: number, duration: number, authenticators: SoftwareAuthenticator[]): Promise<Counted> {
  const counted = { signins: 0, failed: 0 };
  let n = 0;
  type Context = { options?: { challenge: string; challenge_id: string; rpId: string } };
  const result = await load('sign-in, passkey', {
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/api/signin/passkey/options',
        onResponse: (_status: number, body: string, context: Context) => {
          context.options = JSON.parse(body) as Context['options'];
        },
      },
      {
        method: 'POST',
        path: '/api/signin/passkey',
        headers: JSON_HEADERS,
        setupRequest: (req: Request, context: Context) => {
          const options = context.options!;
          const response = authenticators[n++ % authenticators.length]!.get(options);
          return { ...req, body: JSON.stringify({ challenge_id: options.challenge_id, response }) };
        },
        onResponse: (status: number) => {
          if (status === 200) counted.signins += 1;
          else counted.failed += 1;
        },
      },
    ] as never,
  });
  return { result, ...counted };
}
