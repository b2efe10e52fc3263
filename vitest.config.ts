import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The first run builds kube-apiserver (minutes); later runs start it in seconds.
          testTimeout: 120_000,
          hookTimeout: 1_800_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
