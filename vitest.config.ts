import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The dashboard's front end, built from web/overseer/ for its tests.
    globalSetup: ['test/support/overseer-assets.ts'],
    maxWorkers: 2,
    // Test workers share the machine: no shared health file unless a test asks for one. CLI
    // processes the tests start run the source, not a dist/ built before the last edit.
    env: { MILLRACE_LOG_LEVEL: process.env.MILLRACE_LOG_LEVEL ?? 'silent', MILLRACE_HEALTH_FILE: 'false', MILLRACE_FROM_SOURCE: '1' },
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
