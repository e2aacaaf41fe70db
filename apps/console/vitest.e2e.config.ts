/**
 * Browser tests (`pnpm test:e2e`): a real API server on a fresh migrated database serves the built
 * console, and Debian's Chromium (driven by playwright-core) uses it. Without Chromium they fail.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.e2e.test.ts'],
    globalSetup: ['./test/e2e-global-setup.ts'],
    reporters: ['default', ['json', { outputFile: '.vitest-e2e-results.json' }]],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
