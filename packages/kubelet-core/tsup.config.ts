import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", testing: "src/testing/index.ts", apiserver: "src/apiserver/index.ts" },
  format: ["esm", "cjs"],
  // tsup's declaration build sets `baseUrl`, which TypeScript 6 flags as deprecated.
  dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
  sourcemap: true,
  target: "node20",
  splitting: true,
  // The client stays the user's own copy (an optional peer dependency of the apiserver entry).
  external: ["@kubernetes/client-node"],
});
