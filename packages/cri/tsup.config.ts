import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: { index: "src/index.ts", testing: "src/testing/index.ts" },
    format: ["esm", "cjs"],
    // tsup's declaration build sets `baseUrl`, which TypeScript 6 flags as deprecated.
    dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
    sourcemap: true,
    target: "node20",
    // index and testing share one copy of the generated code and of CriError.
    splitting: true,
  },
  {
    entry: { "cli/conformance": "src/cli/conformance.ts", "cli/nodekit-cri": "src/cli/nodekit-cri.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
]);
