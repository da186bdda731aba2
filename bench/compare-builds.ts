// npm run bench:compare -- --base=DIR [--duration=5 --rounds=3 --connections=16]
// This checkout's build against another one's (DIR: a checkout of an earlier commit with `npm ci && npm run build`
// done, for instance `git worktree add DIR <rev>`), on PostgreSQL (DATABASE_URL, an admin URL as for
// `npm run bench`), each server on a database of its own seeded alike. The scenarios alternate A B A B so that
// drift of the machine weighs on both builds; the report gives each build's median and the ratio this/base.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import argon2 from 'argon2';
import pg from 'pg';
import { openDatabase } from '../src/db/client.js';
import { build, load, refreshMany, startProcess, type LoadResult, type Server } from './lib.js';
import { BENCH_PASSWORD, benchEmail, benchRefreshToken, seedUsers } from './seed.js';

const { values: args } = parseArgs({
  options: { base: { type: 'string' }, duration: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' } },
});
if (!args.base) throw new Error('--base=DIR: a checkout of the build to compare with, built (npm ci && npm run build)');
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL: a PostgreSQL URL allowed to create databases');
const DURATION = Number(args.duration ?? 5);
const ROUNDS = Number(args.rounds ?? 3);
const CONNECTIONS = Number(args.connections ?? 16);
const USERS = 6_000;

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A database of its own for one build, migrated by that build's server, then seeded. */
async function startBuild(main: string, passwordHash: string): Promise<{ server: Server; drop: () => Promise<void> }> {
  const name = `latchkey_compare_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl!);
  url.pathname = `/${name}`;
  const env = {
    DATABASE_URL: url.toString(),
    NODE_ENV: 'production',
    PUBLIC_URL: 'https://auth.bench.test',
    WORKERS: '1',
    LOCKOUT_THRESHOLD: '1000',
    // All load comes from one address (a build that predates a setting ignores it).
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    ...Object.fromEntries(
      ['SIGNIN', 'SIGNUP', 'SIGNUP_EMAIL', 'REFRESH', 'FORGOT', 'RESET', 'RESET_TOKEN', 'SIGNIN_NETWORK', 'SIGNUP_NETWORK'].map((n) => [`RATE_LIMIT_${n}`, '1000000000/1m']),
    ),
  };
  const server = await startProcess([main], env, '/readyz');
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: '', poolSize: 2 });
  try {
    await seedUsers(database, passwordHash, 0, USERS);
  } finally {
    await database.close();
  }
  return {
    server,
    drop: async () => {
      await server.stop();
      await admin(`DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

type Scenario = (url: string, state: ScenarioState) => Promise<LoadResult>;
interface ScenarioState {
  accessTokens: string[];
  pool: string[];
  /** Answers other than 200 of the last run, for the error that names them. */
  refused: string[];
}

const post = (path: string, body: object) => ({ method: 'POST' as const, path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const scenarios: Record<string, Scenario> = {
  dashboard: (url, s) => {
    let n = 0;
    return load('dashboard', {
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [{ method: 'GET', path: '/api/dashboard', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${s.accessTokens[n++ % s.accessTokens.length]}` } }) }],
    });
  },
  refresh: (url, s) =>
    load('refresh', {
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          setupRequest: (req) => ({ ...req, ...post('/api/refresh', { refresh_token: s.pool.shift() ?? 'exhausted' }) }),
          onResponse: (status, body) => {
            if (status === 200) s.pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
          },
        },
      ],
    }),
  signin: (url, s) => {
    let n = 0;
    return load('signin', {
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          setupRequest: (req) => ({ ...req, ...post('/api/signin', { email: benchEmail(n++ % USERS), password: BENCH_PASSWORD }) }),
          onResponse: (status, body) => {
            if (status !== 200) s.refused.push(`${status} ${body.slice(0, 120)}`);
          },
        },
      ],
    });
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  build();
  const passwordHash = await argon2.hash(BENCH_PASSWORD, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  const builds = {
    this: await startBuild('dist/main.js', passwordHash),
    base: await startBuild(join(resolve(args.base!), 'dist/main.js'), passwordHash),
  };
  const states: Record<string, ScenarioState> = {};
  try {
    for (const [name, b] of Object.entries(builds)) {
      const tokens = await refreshMany(b.server.url, Array.from({ length: 200 }, (_, i) => benchRefreshToken(i)));
      states[name] = { accessTokens: tokens.map((t) => t.access_token), pool: Array.from({ length: USERS - 200 }, (_, i) => benchRefreshToken(200 + i)), refused: [] };
    }
    const lines = ['| scenario | this req/s | base req/s | this / base | rounds (this; base) |', '| --- | ---: | ---: | ---: | --- |'];
    for (const [scenario, run] of Object.entries(scenarios)) {
      const rps: Record<'this' | 'base', number[]> = { this: [], base: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const name of ['this', 'base'] as const) {
          const result = await run(builds[name].server.url, states[name]!);
          const refused = [...new Set(states[name]!.refused.splice(0))].slice(0, 3).join('; ');
          if (result.non2xx + result.errors > 0) throw new Error(`${scenario} on ${name}: ${result.non2xx} non-2xx answers (${refused}), ${result.errors} errors`);
          rps[name].push(Math.round(result.rps));
        }
      }
      const ratio = Math.round((median(rps.this) / median(rps.base)) * 100) / 100;
      lines.push(`| ${scenario} | ${median(rps.this)} | ${median(rps.base)} | ${ratio} | ${rps.this.join(', ')}; ${rps.base.join(', ')} |`);
    }
    console.log(`This build against ${args.base} on PostgreSQL, ${CONNECTIONS} connections, ${DURATION} s a round, ${ROUNDS} alternated rounds:\n`);
    console.log(lines.join('\n'));
  } finally {
    await Promise.all(Object.values(builds).map((b) => b.drop()));
  }
}

await main();
