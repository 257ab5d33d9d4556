import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real brokers, engines and ffmpeg; two cores are plenty busy.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
