// Reads the fenced code blocks of the documentation and says how each one is tested (the rules are
// in docs/README.md, "How the snippets are tested"). Pure: markdown text in, blocks out.

/** How a TypeScript (or JavaScript) block is exercised. */
export interface TsBlock {
  readonly kind: "ts";
  /** JavaScript blocks are type-checked as checked JS (`.mjs`) and run as they are. */
  readonly lang: "ts" | "js";
  /** Name of the setup in test/docs/setups/ a fragment runs inside, if the block is a fragment. */
  readonly fragment: string | undefined;
  /** The runtime the test serves at the block's endpoint while it runs. */
  readonly runtime: "fake" | "containerd" | undefined;
  /** The block is a server: it keeps running until the test sends SIGTERM. */
  readonly server: boolean;
}

/** A block run by its package's own test (a README block after `<!-- snippet: tested -->`). */
export interface ReadmeTestedBlock {
  readonly kind: "readme-tested";
}

/** Shell commands: each one checked to exist, and run when `runtime` is given. */
export interface ShellBlock {
  readonly kind: "sh";
  readonly runtime: "fake" | "containerd" | undefined;
}

/** Text that is not code (output, messages, diagrams): shown, not run. */
export interface TextBlock {
  readonly kind: "text";
}

/** Data that must parse. */
export interface DataBlock {
  readonly kind: "json" | "yaml";
}

/** One fenced code block of a markdown file. */
export type Block = {
  /** The markdown file, relative to the repository. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string as written. */
  readonly info: string;
  /** The block's lines, without the fence's indentation. */
  readonly code: string;
} & (TsBlock | ReadmeTestedBlock | ShellBlock | TextBlock | DataBlock);

/** Thrown for a block the rules do not cover: the test fails on it, naming file and line. */
export class UnmarkedBlockError extends Error {
  override readonly name = "UnmarkedBlockError";
}

const TS_LANGS = new Set(["ts", "typescript"]);
const JS_LANGS = new Set(["js", "javascript"]);
const SH_LANGS = new Set(["sh", "shell", "bash"]);
const TEXT_LANGS = new Set(["text", "mermaid"]);
const TESTED_MARKER = "<!-- snippet: tested -->";

function runtimeOf(value: string | undefined, where: string): "fake" | "containerd" | undefined {
  if (value === undefined) return undefined;
  if (value === "fake" || value === "containerd") return value;
  throw new UnmarkedBlockError(`${where}: runtime=${value}: the runtime is "fake" or "containerd"`);
}

function classify(file: string, line: number, info: string, previous: string | undefined) {
  const where = `${file}:${line}`;
  const [lang = "", ...words] = info.split(/\s+/).filter((w) => w !== "");
  const attrs = new Map<string, string | undefined>();
  for (const w of words) {
    const eq = w.indexOf("=");
    attrs.set(eq < 0 ? w : w.slice(0, eq), eq < 0 ? undefined : w.slice(eq + 1));
  }
  const allow = (...names: string[]): void => {
    for (const k of attrs.keys()) {
      if (!names.includes(k)) throw new UnmarkedBlockError(`${where}: \`${lang}\` blocks take no attribute "${k}"`);
    }
  };
  if (TS_LANGS.has(lang) || JS_LANGS.has(lang)) {
    if (previous?.trim() === TESTED_MARKER && words.length === 0) return { kind: "readme-tested" } as const;
    const js = JS_LANGS.has(lang);
    if (js)
      allow("runtime", "server"); // the setups are TypeScript
    else allow("fragment", "runtime", "server");
    const fragment = attrs.get("fragment");
    if (attrs.has("fragment") && !fragment) throw new UnmarkedBlockError(`${where}: fragment=<setup> names its setup`);
    if (attrs.has("server") && attrs.get("server") !== undefined) {
      throw new UnmarkedBlockError(`${where}: "server" takes no value`);
    }
    return {
      kind: "ts",
      lang: js ? "js" : "ts",
      fragment,
      runtime: runtimeOf(attrs.get("runtime"), where),
      server: attrs.has("server"),
    } as const;
  }
  if (SH_LANGS.has(lang)) {
    allow("runtime");
    return { kind: "sh", runtime: runtimeOf(attrs.get("runtime"), where) } as const;
  }
  if (TEXT_LANGS.has(lang)) {
    allow();
    return { kind: "text" } as const;
  }
  if (lang === "json" || lang === "yaml") {
    allow();
    return { kind: lang } as const;
  }
  throw new UnmarkedBlockError(
    lang === ""
      ? `${where}: a code block without a language; mark it (\`text\` for output, \`ts\`, \`sh\`, …)`
      : `${where}: \`${lang}\` blocks are not tested; use ts, js, sh, json, yaml or text`,
  );
}

/**
 * Every fenced code block of `markdown` (backtick fences, indented ones in lists included), each
 * with how it is tested.
 *
 * @param file The file's path relative to the repository, for messages.
 * @throws UnmarkedBlockError for a block the rules do not cover, or an unterminated fence.
 */
export function blocksOf(file: string, markdown: string): Block[] {
  const lines = markdown.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(.*)$/.exec(lines[i] ?? "");
    if (!open) continue;
    const [, indent = "", fence = "", info = ""] = open;
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence);
    if (end < 0) throw new UnmarkedBlockError(`${file}:${i + 1}: unterminated code block`);
    const code = lines
      .slice(i + 1, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()))
      .join("\n");
    const previous = lines.slice(0, i).findLast((l) => l.trim() !== "");
    out.push({ file, line: i + 1, info: info.trim(), code, ...classify(file, i + 1, info.trim(), previous) });
    i = end;
  }
  return out;
}

/** One command of a shell block: its words, after env assignments and redirections are dropped. */
export interface ShellCommand {
  /** 1-based line in the markdown file. */
  readonly line: number;
  readonly words: readonly string[];
  /** The command as written (continuations joined). */
  readonly text: string;
}

/**
 * The commands of a shell block: continuation lines joined, comments dropped, split at `&&`,
 * `||`, `;` and `|`; a word with quotes is unquoted (no expansion is attempted).
 *
 * @param firstLine The markdown line of the block's first line.
 */
export function shellCommands(code: string, firstLine: number): ShellCommand[] {
  const out: ShellCommand[] = [];
  const lines = code.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = firstLine + i;
    let text = lines[i] ?? "";
    while (text.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      text = `${text.trimEnd().slice(0, -1)} ${lines[++i] ?? ""}`;
    }
    text = text.replace(/(^|\s)#.*$/, "").trim();
    if (text === "") continue;
    for (const part of text.split(/&&|\|\||;|\|/)) {
      const tokens = part.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
      const words: string[] = [];
      for (let t = 0; t < tokens.length; t++) {
        const w = tokens[t] ?? "";
        if (/^[<>]$|^\d?>>?$/.test(w)) {
          t++; // the redirection's file
          continue;
        }
        if (/^[<>]/.test(w) || /^\d>/.test(w)) continue;
        if (words.length === 0 && /^[A-Z_][A-Z0-9_]*=/.test(w)) continue;
        words.push(w.replace(/^(["'])(.*)\1$/, "$2"));
      }
      if (words.length > 0) out.push({ line, words, text: part.trim() });
    }
  }
  return out;
}
