// Runs the README's snippets as written: every ```ts block after `<!-- snippet: tested -->` is
// written to test/.snippets/ (git-ignored), type-checked against the built package (imports by
// package name resolve to dist/: build first), run with tsx, and must print its `// prints:` lines
// in order.
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = join(packageDir, "..", "..");
const runDir = join(packageDir, "test", ".snippets", `run-${process.pid}`);

const markdown = await readFile(join(packageDir, "README.md"), "utf8");
const snippets = [...markdown.matchAll(/<!-- snippet: tested -->\n```ts\n([\s\S]*?)\n```/g)].map((m, i) => ({
  code: m[1]!,
  prints: [...m[1]!.matchAll(/\/\/ prints: (.*)$/gm)].map((p) => p[1]!.trim()),
  file: join(runDir, `snippet-${i}.ts`),
}));

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe("README.md snippets", () => {
  beforeAll(async () => {
    await mkdir(runDir, { recursive: true });
    await writeFile(
      join(runDir, "tsconfig.json"),
      JSON.stringify({ extends: "../../../tsconfig.json", include: ["*.ts"] }),
    );
    for (const s of snippets) await writeFile(s.file, `${s.code}\n`);
  });
  afterAll(() => rm(runDir, { recursive: true, force: true }));

  it("has tested snippets that say what they print", () => {
    expect(snippets.length).toBeGreaterThan(0);
    for (const s of snippets) expect(s.prints).not.toEqual([]);
  });

  it("type-checks against the built package", async () => {
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    expect(await run([tsc, "--noEmit", "-p", runDir])).toEqual({ code: 0, out: "" });
  });

  for (const [i, s] of snippets.entries()) {
    it(`runs snippet ${i + 1} and prints what it says`, async () => {
      const { code, out } = await run(["--import", "tsx", s.file]);
      expect(code, out).toBe(0);
      const lines = out.split("\n").map((l) => l.trimEnd());
      let at = 0;
      for (const line of lines) if (at < s.prints.length && line === s.prints[at]) at++;
      expect(at, `expected, in order:\n${s.prints.join("\n")}\n\ngot:\n${out}`).toBe(s.prints.length);
    });
  }
});
