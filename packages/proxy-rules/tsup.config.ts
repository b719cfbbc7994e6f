import { chmod, readFile, writeFile } from "node:fs/promises";
import { defineConfig } from "tsup";

// the library: pure functions, no runtime dependency
const library = { index: "src/index.ts" };
// the nodekit-proxy command (reads YAML with the `yaml` package; the library never imports it)
const commands = { "cli/nodekit-proxy": "src/cli/nodekit-proxy.ts" };
// tsup's declaration build sets `baseUrl`, which TypeScript 6 flags as deprecated.
const dts = { entry: library, compilerOptions: { ignoreDeprecations: "6.0" } };

/** The command gets its `#!` line (a banner would put it on the shared chunk too). */
async function makeExecutable(): Promise<void> {
  for (const name of Object.keys(commands)) {
    const file = `dist/${name}.js`;
    const text = await readFile(file, "utf8");
    if (!text.startsWith("#!")) await writeFile(file, `#!/usr/bin/env node\n${text}`);
    await chmod(file, 0o755);
  }
}

export default defineConfig([
  {
    // ESM: the library and the command in one build, sharing one copy of the compiler (decision 24)
    entry: { ...library, ...commands },
    format: ["esm"],
    dts,
    sourcemap: true,
    target: "node20",
    splitting: true,
    onSuccess: makeExecutable,
  },
  {
    entry: library,
    format: ["cjs"],
    dts,
    sourcemap: true,
    target: "node20",
    splitting: false,
  },
]);
