import { availableParallelism } from 'node:os';
import LongestFirst from './test/sequencer.js';
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Which engines the suite runs on, each as a project of one run (its files' names prefixed with it):
// - nothing set: the embedded engine alone (`npm test` on a fresh clone);
// - TEST_DATABASE_URL: PostgreSQL (and Redis with TEST_REDIS_URL) alone;
// - TEST_ENGINES=postgres,embedded with TEST_DATABASE_URL: both in one run, the files of both sharing the workers;
// - TEST_ENGINES=postgres (or embedded) with TEST_ENGINES_ELSEWHERE naming the other: one engine here, the
//   other in a run beside this one, each file that does not depend on the engine in one of them only.
const engines = (process.env.TEST_ENGINES ?? (process.env.TEST_DATABASE_URL ? 'postgres' : 'embedded')).split(',').map((e) => e.trim());
for (const engine of engines) if (engine !== 'postgres' && engine !== 'embedded') throw new Error(`TEST_ENGINES: postgres and/or embedded, not ${engine}`);
if (engines.includes('postgres') && !process.env.TEST_DATABASE_URL) throw new Error('TEST_ENGINES=postgres needs TEST_DATABASE_URL');

// Files whose subject does not depend on the engine: parsers, static files, pure functions, the layer rules, the
// SDK's own protocol tests, commands whose own checks (a confirmation, a message) the command line makes the same
// way on either engine (with no server, it opens the embedded data folder itself in test/process/cli.test.ts and
// the other command-line files). When both engines run, they run once, in the PostgreSQL project.
const ENGINE_FREE = [
  'test/unit/**',
  'test/process/deploy-files.test.ts',
  'test/process/cli-usage.test.ts',
  'test/process/cli-confirm.test.ts',
  'test/http/slow-clients.test.ts',
  'test/process/thread-priority.test.ts',
  'packages/verify/test/{claims,feed,http,package,webhooks,jwks-hammer,pack}.test.ts',
];

// The README's walk-throughs as a reader on a fresh clone runs them: on the embedded engine. When both engines
// run, they run once, in the embedded project.
const FRESH_CLONE = ['test/process/walkthroughs.test.ts'];

// Both engines run: in this run, or one here and the other in a run beside it (TEST_ENGINES_ELSEWHERE; .ci/run runs both in one).
const both = engines.length > 1 || Boolean(process.env.TEST_ENGINES_ELSEWHERE);
const project = (engine: string): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name: engine,
    // '' rather than unset: a project's env is assigned to process.env, where undefined would read 'undefined'.
    env: engine === 'embedded' ? { TEST_DATABASE_URL: '', TEST_REDIS_URL: '', TEST_ENGINE: engine } : { TEST_ENGINE: engine },
    ...(both ? { exclude: [...configDefaults.exclude, ...(engine === 'embedded' ? ENGINE_FREE : FRESH_CLONE)] } : {}),
  },
});

export default defineConfig({
  // Vitest keeps each file's last duration under <cacheDir>/vitest: .ci/run points it at a folder kept between
  // runs, so that the longest files start first (test/sequencer.ts).
  ...(process.env.LATCHKEY_TEST_CACHE_DIR ? { cacheDir: process.env.LATCHKEY_TEST_CACHE_DIR } : {}),
  test: {
    // The server's tests, those of the packages beside it (packages/verify: @latchkey/verify), and the examples' end-to-end tests.
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    projects: engines.map(project),
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    // A worker keeps the modules it has loaded from one file to the next instead of loading Latchkey again for
    // each (over a second of CPU a file, 200 s a CI run). Files share no state through them: each opens its
    // own app, database and clock (test/helpers/app.ts).
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One database per file; files run in parallel, tests inside a file one after another. At least two at a
    // time, even on a 2-core machine (Vitest's default there is one): most files wait on processes and timers.
    // LATCHKEY_TEST_WORKERS sets the count (.ci/run): the projects inherit this value, and the --maxWorkers flag
    // does not reach them.
    fileParallelism: true,
    maxWorkers: Number(process.env.LATCHKEY_TEST_WORKERS) || Math.max(2, availableParallelism() - 1),
    // npm run coverage: a text summary and an HTML report in coverage/; .ci/run enforces the thresholds.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'html'],
      reportsDirectory: 'coverage',
      // The figures even when a test failed: a run that fails one flaky test still says where coverage stands.
      reportOnFailure: true,
      // Measured on PostgreSQL + Redis: 77.0 % of statements, 72.2 % of branches, 75.6 % of functions,
      // 79.3 % of lines. Code run only in spawned processes (the command line, server start-up) is not counted.
      thresholds: { statements: 75, branches: 70, functions: 73, lines: 77 },
    },
  },
});
