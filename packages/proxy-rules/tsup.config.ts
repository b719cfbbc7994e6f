import { defineConfig } from "tsup";

export default defineConfig([
  {
    // the library: pure functions, no runtime dependency
    entry: { index: "src/index.ts" },
    format: ["esm", "cjs"],
    // tsup's declaration build sets `baseUrl`, which TypeScript 6 flags as deprecated.
    dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
    sourcemap: true,
    target: "node20",
    splitting: false,
  },
  {
    // the nodekit-proxy command (reads YAML with the `yaml` package; the library never imports it)
    entry: { "cli/nodekit-proxy": "src/cli/nodekit-proxy.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
]);
