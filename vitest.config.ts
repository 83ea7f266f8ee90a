// Tests share one database per worker (PGlite costs ~3 s to start), so files in a worker run
// in one process (isolate: false) and each test truncates the tables it starts from.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    isolate: false,
    globalSetup: ["tests/build-setup.ts", "tests/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
