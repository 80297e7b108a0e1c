import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end files each start their own nats-server and KPC process; two cores.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
