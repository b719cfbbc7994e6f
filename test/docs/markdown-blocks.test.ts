// The rules of docs/README.md ("How the snippets are tested") as test/docs/markdown-blocks.ts reads them.
import { describe, expect, it } from "vitest";
import { blocksOf, shellCommands, UnmarkedBlockError } from "./markdown-blocks.js";

const fence = "```";
const md = (...lines: string[]): string => lines.join("\n");

describe("blocksOf", () => {
  it.each([
    ["ts", { kind: "ts", lang: "ts", fragment: undefined, runtime: undefined, server: false }],
    ["ts fragment=proxy", { kind: "ts", lang: "ts", fragment: "proxy", runtime: undefined, server: false }],
    [
      "ts fragment=cri-clients runtime=fake",
      { kind: "ts", lang: "ts", fragment: "cri-clients", runtime: "fake", server: false },
    ],
    ["ts runtime=containerd", { kind: "ts", lang: "ts", fragment: undefined, runtime: "containerd", server: false }],
    ["ts server", { kind: "ts", lang: "ts", fragment: undefined, runtime: undefined, server: true }],
    ["typescript", { kind: "ts", lang: "ts", fragment: undefined, runtime: undefined, server: false }],
    ["js", { kind: "ts", lang: "js", fragment: undefined, runtime: undefined, server: false }],
    ["javascript runtime=fake", { kind: "ts", lang: "js", fragment: undefined, runtime: "fake", server: false }],
    ["sh", { kind: "sh", runtime: undefined }],
    ["bash runtime=fake", { kind: "sh", runtime: "fake" }],
    ["text", { kind: "text" }],
    ["mermaid", { kind: "text" }],
    ["json", { kind: "json" }],
    ["yaml", { kind: "yaml" }],
  ])("reads the info string %j", (info, expected) => {
    const [block] = blocksOf("a.md", md("intro", "", `${fence}${info}`, "x", fence));
    expect(block).toEqual({ file: "a.md", line: 3, info, code: "x", ...expected });
  });

  it.each([
    ["", "a.md:1: a code block without a language"],
    ["python", "a.md:1: `python` blocks are not tested"],
    ["js fragment=proxy", 'a.md:1: `js` blocks take no attribute "fragment"'],
    ["ts fragmnet=proxy", 'a.md:1: `ts` blocks take no attribute "fragmnet"'],
    ["ts fragment", "a.md:1: fragment=<setup> names its setup"],
    ["ts runtime=crio", 'a.md:1: runtime=crio: the runtime is "fake" or "containerd"'],
    ["ts server=yes", 'a.md:1: "server" takes no value'],
    ["sh fragment=x", 'a.md:1: `sh` blocks take no attribute "fragment"'],
    ["text runtime=fake", 'a.md:1: `text` blocks take no attribute "runtime"'],
  ])("refuses the info string %j", (info, message) => {
    expect(() => blocksOf("a.md", md(`${fence}${info}`, "x", fence))).toThrow(UnmarkedBlockError);
    expect(() => blocksOf("a.md", md(`${fence}${info}`, "x", fence))).toThrow(message);
  });

  it("takes a plain ts block after the README marker as tested by the package's own test", () => {
    const blocks = blocksOf("r.md", md("<!-- snippet: tested -->", `${fence}ts`, "a", fence, `${fence}ts`, "b", fence));
    expect(blocks.map((b) => b.kind)).toEqual(["readme-tested", "ts"]);
  });

  it("reads a fence indented in a list without its indentation, and longer fences", () => {
    const blocks = blocksOf(
      "l.md",
      md("- item:", "", `  ${fence}text`, "  one", "    two", `  ${fence}`, "````ts", "```", "````"),
    );
    expect(blocks.map((b) => [b.line, b.kind, b.code])).toEqual([
      [3, "text", "one\n  two"],
      [7, "ts", "```"],
    ]);
  });

  it("refuses an unterminated block", () => {
    expect(() => blocksOf("u.md", md("text", `${fence}ts`, "x"))).toThrow("u.md:2: unterminated code block");
  });
});

describe("shellCommands", () => {
  it("splits commands, joins continuations and drops comments, redirections and env assignments", () => {
    const code = md(
      "# a comment",
      "npm ci && npm run demo   # set up",
      "FOO=1 nodekit-proxy compile --node node.yaml \\",
      "  objects.json > rules.txt",
      "iptables-restore --noflush < text",
      "kubectl get pods | grep web",
    );
    expect(shellCommands(code, 10).map((c) => [c.line, ...c.words])).toEqual([
      [11, "npm", "ci"],
      [11, "npm", "run", "demo"],
      [12, "nodekit-proxy", "compile", "--node", "node.yaml", "objects.json"],
      [14, "iptables-restore", "--noflush"],
      [15, "kubectl", "get", "pods"],
      [15, "grep", "web"],
    ]);
  });

  it("unquotes quoted words", () => {
    expect(shellCommands(`nodekit-cri exec -it "abc" 'sh'`, 1)[0]?.words).toEqual([
      "nodekit-cri",
      "exec",
      "-it",
      "abc",
      "sh",
    ]);
  });
});
