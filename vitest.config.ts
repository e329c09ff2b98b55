import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // chDB is one engine per process: every test file gets a process of its own.
    pool: 'forks',
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**', 'console/web/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
