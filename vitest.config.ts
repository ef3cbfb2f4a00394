import { defineConfig } from 'vitest/config';

// CONTGUARD_TEST_RESULTS=FILE adds vitest's JSON reporter (FILE) to the default one: .ci/run
// reads its counts (passed, failed, skipped) instead of scraping the console.
const jsonResults = process.env.CONTGUARD_TEST_RESULTS;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e files share dockerd and the kernel: run files one after another.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: jsonResults ? ['default', ['json', { outputFile: jsonResults }]] : ['default'],
  },
});
