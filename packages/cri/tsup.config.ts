import { chmod, readFile, writeFile } from "node:fs/promises";
import { defineConfig } from "tsup";

const library = { index: "src/index.ts", api: "src/api.ts", testing: "src/testing/index.ts" };
const commands = { "cli/conformance": "src/cli/conformance.ts", "cli/nodekit-cri": "src/cli/nodekit-cri.ts" };
// tsup's declaration build sets `baseUrl`, which TypeScript 6 flags as deprecated.
const dts = { entry: library, compilerOptions: { ignoreDeprecations: "6.0" } };

/** The commands get their `#!` line (a banner would put it on every shared chunk too). */
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
    // ESM: the library and the commands in one build, so they share one copy of the generated
    // code and of CriError (decision 24)
    entry: { ...library, ...commands },
    format: ["esm"],
    dts,
    sourcemap: true,
    target: "node20",
    splitting: true,
    onSuccess: makeExecutable,
  },
  {
    // CommonJS: the library only
    entry: library,
    format: ["cjs"],
    dts,
    sourcemap: true,
    target: "node20",
    splitting: true,
  },
]);
