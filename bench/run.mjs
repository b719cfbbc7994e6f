// Runs every benchmark under bench/ in turn (plain Node scripts, .mjs, or TypeScript run with tsx,
// each printing JSON figures and ratios).
// Usage: npm run bench   (builds first), or node --expose-gc bench/run.mjs [name-filter]
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? "";
let failed = 0;
for (const file of readdirSync(here).sort()) {
  const ts = file.endsWith(".ts");
  if ((!file.endsWith(".mjs") && !ts) || file === "run.mjs" || !file.includes(filter)) continue;
  console.log(`## ${file}`);
  const args = ["--expose-gc", ...(ts ? ["--import", "tsx"] : []), `${here}/${file}`];
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
