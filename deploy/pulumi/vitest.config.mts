import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Loading @pulumi/aws takes a few seconds on a cold cache.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
