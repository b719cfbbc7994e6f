import { defineConfig } from "vitest/config";

// One run over every package's tests (tests live beside their package, in packages/*/test), and the
// repository's own (test/: the documentation's code blocks).
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
