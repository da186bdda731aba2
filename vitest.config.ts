import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The server's tests, those of the packages beside it (packages/verify: @latchkey/verify), and the examples' end-to-end tests.
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One database per file; files run in parallel, tests inside a file one after another. At least two at a
    // time, even on a 2-core machine (Vitest's default there is one): most files wait on processes and timers.
    fileParallelism: true,
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // npm run coverage: a text summary and an HTML report in coverage/; .ci/run enforces the thresholds.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'html'],
      reportsDirectory: 'coverage',
      // Measured on PostgreSQL + Redis: 77.0 % of statements, 72.2 % of branches, 75.6 % of functions,
      // 79.3 % of lines. Code run only in spawned processes (the command line, server start-up) is not counted.
      thresholds: { statements: 75, branches: 70, functions: 73, lines: 77 },
    },
  },
});
