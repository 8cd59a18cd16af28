import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2-core machines: ORT sessions use their own threads, so keep test files from oversubscribing.
    pool: 'forks',
    maxWorkers: 2,
  },
});
