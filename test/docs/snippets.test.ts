// Every fenced code block of the guides (docs/*.md), the decision records, the package READMEs and
// the root README, exercised as docs/README.md ("How the snippets are tested") says: TypeScript
// type-checked against the built packages (strict, plus the flags the repository is moving to) and
// run, fragments inside their setup (test/docs/setups/), shell commands of this repository checked
// to exist (and run when marked with a runtime), data parsed. A block the rules do not cover fails
// the test.
// Snippets import the packages by name, which resolves to dist/: run `npm run build` first.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CriServer, createCriServer, createRuntimeClient, isUnimplemented, openExec } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  type ContainerdHarness,
  describeWithContainerd,
  startContainerd,
} from "../../packages/cri/test/harness/containerd.js";
import { type Block, blocksOf, type ShellCommand, shellCommands } from "./markdown-blocks.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const snippetsDir = join(repoRoot, "test", "docs", ".snippets");
const runDir = join(snippetsDir, `run-${process.pid}`);
const setupsDir = join(repoRoot, "test", "docs", "setups");
const SNIPPET_MARK = "/* SNIPPET */";

// ---- the files and their blocks -------------------------------------------------------------

const markdownFiles = [
  "README.md",
  ...["docs", "docs/decisions"].flatMap((dir) =>
    readdirSync(join(repoRoot, dir))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `${dir}/${f}`),
  ),
  ...readdirSync(join(repoRoot, "packages"))
    .filter((p) => existsSync(join(repoRoot, "packages", p, "README.md")))
    .map((p) => `packages/${p}/README.md`),
].sort();

const blocks: Block[] = [];
const unmarked: string[] = [];
for (const file of markdownFiles) {
  try {
    blocks.push(...blocksOf(file, readFileSync(join(repoRoot, file), "utf8")));
  } catch (err) {
    unmarked.push(err instanceof Error ? err.message : String(err));
  }
}
const at = (b: Block): string => `${b.file}:${b.line}`;

// ---- TypeScript: one file per block, its setup around a fragment ------------------------------

interface Program {
  readonly block: Block & { kind: "ts" };
  readonly name: string;
  readonly text: string;
  /** Line of the program where the block's first line is. */
  readonly offset: number;
  readonly prints: string[];
}

function programOf(block: Block & { kind: "ts" }, index: number): Program {
  const name = `${block.file.replace(/[/.]/g, "-")}-${block.line}-${index}.${block.lang === "js" ? "mjs" : "ts"}`;
  const prints = [...block.code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => (m[1] ?? "").trim());
  if (block.fragment === undefined) return { block, name, text: `${block.code}\n`, offset: 1, prints };
  const setupFile = join(setupsDir, `${block.fragment}.ts`);
  if (!existsSync(setupFile)) throw new Error(`${at(block)}: no setup test/docs/setups/${block.fragment}.ts`);
  const setup = readFileSync(setupFile, "utf8");
  const cut = setup.indexOf(SNIPPET_MARK);
  if (cut < 0) throw new Error(`test/docs/setups/${block.fragment}.ts has no ${SNIPPET_MARK} line`);
  const before = setup.slice(0, cut);
  const text = `${before}${block.code}\n${setup.slice(cut + SNIPPET_MARK.length)}`;
  return { block, name, text, offset: before.split("\n").length, prints };
}

const tsBlocks = blocks.filter((b): b is Block & { kind: "ts" } => b.kind === "ts");
const programs = tsBlocks.map(programOf);
// A package README's tested blocks run in that package's test; here they are type-checked under
// the stricter flags as well, as complete programs.
const readmePrograms = blocks
  .filter((b) => b.kind === "readme-tested")
  .map((b) => ({ block: b, name: `${b.file.replace(/[/.]/g, "-")}-${b.line}-readme.ts`, text: `${b.code}\n` }));

/** The compiler options of the snippets: the repository's strict base and the flags it is moving to. */
const SNIPPET_TSCONFIG = {
  extends: "../../../../tsconfig.json",
  compilerOptions: {
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    noImplicitReturns: true,
    // a snippet shows values the reader goes on to use
    noUnusedLocals: false,
    noUnusedParameters: false,
    // js blocks: checked JavaScript (only with some, so that a package's JS never stands in for its types)
    ...(programs.some((p) => p.block.lang === "js") ? { allowJs: true, checkJs: true } : {}),
  },
  include: ["*.ts", "*.mjs"],
};

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, timeout = 90_000): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout, env: childEnv() }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, signal: err?.signal ?? null, stdout, stderr });
    });
  });
}

function childEnv(): NodeJS.ProcessEnv {
  // the snippets' colours and warnings are not under test
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  return env;
}

/** Maps tsc's `file(line,col)` to the markdown line of the block. */
function mapDiagnostics(output: string): string {
  return output.replace(/^([\w.-]+\.m?[jt]s)\((\d+),(\d+)\)/gm, (whole, file: string, line: string, col: string) => {
    const readme = readmePrograms.find((q) => q.name === file);
    if (readme) return `${readme.block.file}:${readme.block.line + Number(line)}:${col}`;
    const p = programs.find((q) => q.name === file);
    if (!p) return whole;
    const inBlock = Number(line) - p.offset;
    const codeLines = p.block.code.split("\n").length;
    return inBlock >= 0 && inBlock < codeLines
      ? `${p.block.file}:${p.block.line + 1 + inBlock}:${col}`
      : `${whole} [setup ${p.block.fragment} of ${at(p.block)}]`;
  });
}

/** Every unix-socket endpoint a program names is replaced by one in the run folder. */
function withEndpoint(text: string, endpoint: string): string {
  return text.replace(/unix:\/\/\/[^"'`\s]+\.sock/g, endpoint);
}

/** True when `expected` appear among `lines` in this order (each as a whole line). */
function inOrder(lines: string[], expected: string[]): boolean {
  let n = 0;
  for (const line of lines) if (n < expected.length && line.trimEnd() === expected[n]) n++;
  return n === expected.length;
}

async function serveFake(endpoint: string): Promise<CriServer> {
  // containerd's answers, with its default images (the pause image and busybox)
  const fake = createFakeRuntime();
  const server = createCriServer({ runtime: fake, image: fake });
  await server.listen(endpoint);
  return server;
}

/** A server that serves Exec must run a command through its streaming URL; undefined when it does. */
async function execProblem(client: ReturnType<typeof createRuntimeClient>): Promise<string | undefined> {
  const words = "hello from the docs";
  let url: string;
  try {
    ({ url } = await client.exec({ containerId: "docs", cmd: ["echo", words], stdout: true }));
  } catch (err) {
    return isUnimplemented(err) ? undefined : `Exec failed: ${String(err)}`;
  }
  try {
    const session = await openExec(url);
    const chunks: Buffer[] = [];
    session.stdout.on("data", (c: Buffer) => chunks.push(c));
    const { exitCode } = await session.done;
    const out = Buffer.concat(chunks).toString();
    return exitCode === 0 && out === `${words}\n`
      ? undefined
      : `echo through the Exec URL exited ${exitCode} and printed ${JSON.stringify(out)}`;
  } catch (err) {
    return `echo through the Exec URL failed: ${String(err)}`;
  }
}

async function runProgram(p: Program, endpoint: string): Promise<Outcome> {
  const file = join(runDir, `run-${p.name}`);
  await writeFile(file, withEndpoint(p.text, endpoint));
  if (!p.block.server) return run(process.execPath, ["--import", "tsx", file], runDir);
  // a server: it must answer on its endpoint, then stop on SIGTERM
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", file], { cwd: runDir, env: childEnv() });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<Outcome>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const client = createRuntimeClient(endpoint, { verify: false, timeoutMs: 5_000 });
  try {
    let answered = false;
    for (let i = 0; i < 150 && !answered && child.exitCode === null; i++) {
      answered = await client.version({}).then(
        () => true,
        (err: unknown) => isUnimplemented(err),
      );
      if (!answered) await new Promise((r) => setTimeout(r, 200));
    }
    const problem = answered ? await execProblem(client) : `the server never answered on ${endpoint}`;
    if (problem) {
      child.kill("SIGKILL");
      const o = await exited;
      return { ...o, code: -1, stderr: `${o.stderr}\n(${problem})` };
    }
  } finally {
    client.close();
  }
  child.kill("SIGTERM");
  const o = await exited;
  // ending on SIGTERM's default action, or exiting 0 from a handler, are both a clean stop
  return o.signal === "SIGTERM" ? { ...o, code: 0 } : o;
}

function expectRan(p: Program, o: Outcome): void {
  expect(o.code, `${at(p.block)} exited ${o.code ?? o.signal}:\n${o.stderr}${o.stdout}`).toBe(0);
  expect(
    inOrder(o.stdout.split("\n"), p.prints),
    `${at(p.block)}: expected, in order:\n${p.prints.join("\n")}\n\ngot:\n${o.stdout}`,
  ).toBe(true);
}

// ---- shell: the commands of this repository ---------------------------------------------------

interface WorkspacePackage {
  readonly dir: string;
  readonly name: string;
  readonly scripts: Record<string, string>;
  readonly bin: Record<string, string>;
}

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(repoRoot, file), "utf8")) as Record<string, unknown>;
const rootManifest = readJson("package.json");
const workspaces: WorkspacePackage[] = readdirSync(join(repoRoot, "packages")).map((p) => {
  const m = readJson(`packages/${p}/package.json`);
  return {
    dir: `packages/${p}`,
    name: String(m.name),
    scripts: (m.scripts ?? {}) as Record<string, string>,
    bin: (m.bin ?? {}) as Record<string, string>,
  };
});
const rootScripts = (rootManifest.scripts ?? {}) as Record<string, string>;
const binOf = (name: string): { pkg: WorkspacePackage; file: string } | undefined => {
  for (const pkg of workspaces) {
    const file = pkg.bin[name];
    if (file) return { pkg, file: join(repoRoot, pkg.dir, file) };
  }
  return undefined;
};
/** Development tools of the repository (its root devDependencies), run with npx. */
const DEV_BINS = new Set(["tsx", "biome", "tsc", "attw", "publint", "vitest", "turbo", "typedoc", "buf"]);
/**
 * Tools of the node, not of this repository: the pages say how to use them with nodekit's output.
 * The test only accepts them by name.
 */
const EXTERNAL = new Set([
  "apt-get",
  "cat",
  "conntrack",
  "crictl",
  "ctr",
  "curl",
  "echo",
  "grep",
  "ip",
  "ip6tables-restore",
  "ip6tables-save",
  "ipset",
  "iptables-restore",
  "iptables-save",
  "ipvsadm",
  "ipvsadm-restore",
  "jq",
  "kubectl",
  "nft",
]);

const helpCache = new Map<string, Promise<string>>();
function helpOf(binFile: string, sub: string | undefined): Promise<string> {
  const key = `${binFile} ${sub ?? ""}`;
  let h = helpCache.get(key);
  if (!h) {
    const args = sub ? [binFile, sub, "--help"] : [binFile, "--help"];
    h = run(process.execPath, args, repoRoot, 30_000).then((o) => `${o.stdout}\n${o.stderr}`);
    helpCache.set(key, h);
  }
  return h;
}

/** What is wrong with one command, or undefined when it names what exists. */
async function checkCommand(block: Block, c: ShellCommand): Promise<string | undefined> {
  const where = `${block.file}:${c.line}: \`${c.text}\``;
  const words = c.words[0] === "npx" ? c.words.slice(1) : [...c.words];
  const [cmd = "", ...args] = words;
  if (c.words[0] === "npm") {
    const [sub, ...rest] = args;
    if (sub === "ci" || sub === "test") return undefined;
    if (sub === "run") {
      const script = rest[0] ?? "";
      const w = rest.indexOf("-w");
      const scripts = w >= 0 ? workspaces.find((p) => p.dir === rest[w + 1])?.scripts : rootScripts;
      return scripts?.[script] ? undefined : `${where}: no script "${script}"`;
    }
    if (sub === "install" || sub === "i") {
      const names = rest.filter((r) => !r.startsWith("-"));
      const unknown = names.filter((n) => !workspaces.some((p) => p.name === n));
      return unknown.length === 0 ? undefined : `${where}: ${unknown.join(", ")} is not a package of this repository`;
    }
    return `${where}: npm ${sub} is not a command the test knows`;
  }
  if (cmd === "node") {
    const file = args.find((a) => !a.startsWith("-"));
    return file && existsSync(join(repoRoot, file)) ? undefined : `${where}: no file ${file}`;
  }
  if (EXTERNAL.has(cmd) || (c.words[0] === "npx" && DEV_BINS.has(cmd))) return undefined;
  const bin = binOf(cmd);
  if (!bin) return `${where}: ${cmd} is neither a bin of a package here nor a known tool`;
  // its options must be ones its help (or its command's help) names
  const sub = args.find((a) => /^[a-z][a-z-]*$/.test(a));
  const help = `${await helpOf(bin.file, undefined)}\n${sub ? await helpOf(bin.file, sub) : ""}`;
  const unknownFlags = args
    .filter((a) => /^--?[a-z]/i.test(a))
    .map((a) => a.split("=")[0] ?? a)
    .filter(
      (f) => !new RegExp(`(^|[\\s,/\\[])${f.replace(/[-/\\^$*+?.()|[\]{}]/g, "\\$&")}([\\s,=/\\]]|$)`, "m").test(help),
    );
  return unknownFlags.length === 0 ? undefined : `${where}: ${cmd} has no option ${unknownFlags.join(", ")}`;
}

// ---- the tests --------------------------------------------------------------------------------

describe("documentation code blocks", () => {
  beforeAll(async () => {
    await mkdir(runDir, { recursive: true });
    await writeFile(join(runDir, "tsconfig.json"), JSON.stringify(SNIPPET_TSCONFIG, null, 2));
    for (const p of [...programs, ...readmePrograms]) await writeFile(join(runDir, p.name), p.text);
  });
  afterAll(async () => {
    await rm(runDir, { recursive: true, force: true });
    await rmdir(snippetsDir).catch(() => undefined); // only when no other run uses it
  });

  it("has only blocks the rules cover (docs/README.md, How the snippets are tested)", () => {
    expect(unmarked).toEqual([]);
    expect(tsBlocks.length).toBeGreaterThan(20);
  });

  it("runs every package README's tested snippets in that package's own test", () => {
    for (const b of blocks.filter((x) => x.kind === "readme-tested")) {
      const pkg = b.file.match(/^(packages\/[^/]+)\/README\.md$/)?.[1];
      expect(pkg, `${at(b)}: <!-- snippet: tested --> is for package READMEs`).toBeDefined();
      expect(existsSync(join(repoRoot, `${pkg}/test/readme.test.ts`)), `${pkg}/test/readme.test.ts`).toBe(true);
    }
  });

  it("has no non-null assertion (`x!`) in a TypeScript block, README ones included", () => {
    const found: string[] = [];
    for (const b of blocks) {
      if (b.kind !== "ts" && b.kind !== "readme-tested") continue;
      const source = ts.createSourceFile("block.ts", b.code, ts.ScriptTarget.ES2022, true);
      const visit = (node: ts.Node): void => {
        if (ts.isNonNullExpression(node)) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${b.file}:${b.line + 1 + line}: ${node.getText()}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(found).toEqual([]);
  });

  it("parses every json and yaml block", () => {
    for (const b of blocks) {
      if (b.kind === "json") expect(() => JSON.parse(b.code), at(b)).not.toThrow();
      if (b.kind === "yaml") expect(() => parseYaml(b.code), at(b)).not.toThrow();
    }
  });

  it("type-checks every TypeScript block against the built packages (README ones included)", async () => {
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    const { code, stdout, stderr } = await run(process.execPath, [tsc, "--noEmit", "-p", runDir], runDir, 180_000);
    expect(mapDiagnostics(`${stdout}${stderr}`)).toBe("");
    expect(code).toBe(0);
  });

  it("names only commands that exist in every shell block", async () => {
    const problems: string[] = [];
    for (const b of blocks) {
      if (b.kind !== "sh") continue;
      const commands = shellCommands(b.code, b.line + 1);
      if (commands.length === 0) problems.push(`${at(b)}: a shell block without a command`);
      for (const c of commands) {
        const p = await checkCommand(b, c);
        if (p) problems.push(p);
      }
    }
    expect(problems).toEqual([]);
  });

  describe("runs every TypeScript block", () => {
    let n = 0;
    for (const p of programs.filter((q) => q.block.runtime !== "containerd")) {
      const what = p.block.fragment ? ` in setup ${p.block.fragment}` : "";
      const against = p.block.runtime === "fake" ? " against the fake runtime on a socket" : "";
      it(`${at(p.block)}${what}${against}`, async () => {
        const endpoint = `unix://${join(runDir, `s${n++}.sock`)}`;
        const server = p.block.runtime === "fake" ? await serveFake(endpoint) : undefined;
        try {
          expectRan(p, await runProgram(p, endpoint));
        } finally {
          await server?.close({ graceMs: 0 });
        }
      });
    }
  });

  describe("runs the shell blocks marked with a runtime", () => {
    let n = 0;
    for (const b of blocks.filter((x) => x.kind === "sh" && x.runtime === "fake")) {
      it(`${at(b)} against the fake runtime on a socket`, async () => {
        const endpoint = `unix://${join(runDir, `sh${n++}.sock`)}`;
        const server = await serveFake(endpoint);
        try {
          for (const c of shellCommands(b.code, b.line + 1)) {
            const [cmd = "", ...args] = c.words[0] === "npx" ? c.words.slice(1) : c.words;
            const bin = binOf(cmd);
            expect(bin, `${b.file}:${c.line}: only this repository's commands run`).toBeDefined();
            const o = await run(
              process.execPath,
              [bin?.file ?? "", ...args.map((a) => withEndpoint(a, endpoint))],
              runDir,
            );
            expect(o.code, `${b.file}:${c.line} exited ${o.code}:\n${o.stderr}${o.stdout}`).toBe(0);
          }
        } finally {
          await server.close({ graceMs: 0 });
        }
      });
    }
  });
});

// After the suite above (vitest runs suites in order), so the run folder is made again.
const onContainerd = programs.filter((q) => q.block.runtime === "containerd");
const describeE2e = onContainerd.length > 0 ? describeWithContainerd() : describe.skip;
describeE2e("runs the TypeScript blocks marked runtime=containerd against a private containerd", () => {
  let h: ContainerdHarness | undefined;
  beforeAll(async () => {
    await mkdir(runDir, { recursive: true });
    h = await startContainerd();
  }, 180_000);
  afterAll(async () => {
    await h?.dispose();
    await rm(runDir, { recursive: true, force: true });
    await rmdir(snippetsDir).catch(() => undefined);
  }, 120_000);
  for (const p of onContainerd) {
    it(`${at(p.block)}${p.block.fragment ? ` in setup ${p.block.fragment}` : ""}`, async () => {
      if (!h) throw new Error("containerd did not start");
      expectRan(p, await runProgram(p, h.endpoint));
    });
  }
});
