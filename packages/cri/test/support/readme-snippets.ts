// The README snippet tests every package runs (see each package's test/readme.test.ts).
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Snippet {
  /** Line of the README where the code starts (1-based). */
  line: number;
  code: string;
  /** The `// prints: …` expectations, in order. */
  prints: string[];
  file: string;
}

function snippetsOf(markdown: string, runDir: string): Snippet[] {
  const lines = markdown.split("\n");
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "<!-- snippet: tested -->") continue;
    if (lines[i + 1]?.trim() !== "```ts") {
      throw new Error(`README.md:${i + 1}: the marker must be followed by a \`\`\`ts block`);
    }
    const start = i + 2;
    const end = lines.findIndex((l, j) => j >= start && l.trim() === "```");
    if (end < 0) throw new Error(`README.md:${start}: unterminated code block`);
    const code = lines.slice(start, end).join("\n");
    const prints = [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => (m[1] ?? "").trim());
    out.push({ line: start + 1, code, prints, file: join(runDir, `readme-line-${start + 1}.ts`) });
    i = end;
  }
  return out;
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], repoRoot: string): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** True when `expected` appear among `lines` in this order (each as a whole line). */
function inOrder(lines: string[], expected: string[]): boolean {
  let at = 0;
  for (const line of lines) if (at < expected.length && line.trimEnd() === expected[at]) at++;
  return at === expected.length;
}

/**
 * Declares the tests of a package's README snippets: every ```ts block preceded by the line
 * `<!-- snippet: tested -->` is written to `test/.snippets/` (git-ignored), type-checked against the
 * built packages, run with `node --import tsx`, and must exit 0 and print the lines its
 * `// prints: …` comments name, in that order.
 *
 * @param packageDir The package's folder (its README.md is read).
 */
export async function describeReadmeSnippets(packageDir: string): Promise<void> {
  const repoRoot = join(packageDir, "..", "..");
  const snippetsDir = join(packageDir, "test", ".snippets");
  const runDir = join(snippetsDir, `run-${process.pid}`);
  const snippets = snippetsOf(await readFile(join(packageDir, "README.md"), "utf8"), runDir);

  describe("README.md snippets", () => {
    beforeAll(async () => {
      await mkdir(runDir, { recursive: true });
      await writeFile(
        join(runDir, "tsconfig.json"),
        JSON.stringify({ extends: "../../../tsconfig.json", include: ["*.ts"] }),
      );
      for (const s of snippets) await writeFile(s.file, `${s.code}\n`);
    });
    afterAll(async () => {
      await rm(runDir, { recursive: true, force: true });
      await rmdir(snippetsDir).catch(() => undefined); // only when no other run uses it
    });

    it("has tested snippets, each saying what it prints", () => {
      expect(snippets.length).toBeGreaterThan(0);
      for (const s of snippets) expect(s.prints, `snippet at README.md:${s.line}`).not.toEqual([]);
    });

    it("type-checks against the built package", async () => {
      const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
      const { code, stdout, stderr } = await run(process.execPath, [tsc, "--noEmit", "-p", runDir], repoRoot);
      expect(`${stdout}${stderr}`).toBe("");
      expect(code).toBe(0);
    });

    for (const s of snippets) {
      it(`runs the snippet at README.md:${s.line} and prints what it says`, async () => {
        const { code, stdout, stderr } = await run(process.execPath, ["--import", "tsx", s.file], repoRoot);
        expect(code, stderr).toBe(0);
        const lines = stdout.split("\n");
        expect(inOrder(lines, s.prints), `expected, in order:\n${s.prints.join("\n")}\n\ngot:\n${stdout}`).toBe(true);
      });
    }
  });
}
