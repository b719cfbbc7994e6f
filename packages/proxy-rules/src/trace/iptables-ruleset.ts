// Reads iptables rules as text — an iptables-restore payload (what compileIptables writes), the
// jumps payload, or `iptables-save [-c]` output from a node — into tables, chains and rules that
// keep their source line, text and counters, with each rule's matches compiled for evaluation
// (./iptables-matches.ts). Several texts are applied in order the way `iptables-restore` and then
// `iptables-restore --noflush` would load them.

import { InvalidInputError } from "../errors.js";
import { IPTABLES_JUMPS, renderJumps } from "../iptables/jumps.js";
import { addrKey } from "./addr.js";
import { type CompiledRule, compileRule } from "./iptables-matches.js";
import { checkedSources } from "./sources.js";

/** The built-in chains of each table, in the order iptables lists them. */
export const BUILTIN_CHAINS: Readonly<Record<string, readonly string[]>> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  security: ["INPUT", "FORWARD", "OUTPUT"],
};

/** One text of a ruleset (a file, a payload). */
export interface RulesetSource {
  /** The text: iptables-restore input or iptables-save output. */
  readonly text: string;
  /** A name for messages and locations (a file name); default `rules` (or `rules[i]`). */
  readonly name?: string | undefined;
  /**
   * Load it as `iptables-restore --noflush` (only the chains it declares are flushed) rather than
   * `iptables-restore` (every table it names is replaced). Default: false for the first source,
   * true for the later ones.
   */
  readonly noflush?: boolean | undefined;
}

/** A rule of a parsed ruleset, where it came from and what it says. */
export interface IptablesRulesetRule extends CompiledRule {
  /** The table. */
  readonly table: string;
  /** The chain it is in. */
  readonly chain: string;
  /** The source it was read from (its `name`). */
  readonly source: string;
  /** Line number in that source (1-based). */
  readonly line: number;
  /** The rule as `-A CHAIN …` (without counters), as written in the source. */
  readonly text: string;
  /** `[packets:bytes]` of `iptables-save -c` output, when present. */
  readonly counters?: { readonly packets: number; readonly bytes: number } | undefined;
}

/** A chain of a parsed ruleset. */
export interface IptablesRulesetChain {
  readonly table: string;
  readonly name: string;
  /** `ACCEPT` / `DROP` for a built-in chain, undefined for a user chain. */
  readonly policy: string | undefined;
  readonly builtin: boolean;
  /** Rules in kernel order (after `-I` insertions). */
  readonly rules: readonly IptablesRulesetRule[];
}

/** A parsed iptables ruleset: one IP family's tables, ready for {@link explainPacket}. */
export interface IptablesRuleset {
  readonly kind: "iptables";
  /** IPv4 or IPv6, from the addresses in the rules (IPv4 when there are none). */
  readonly family: 4 | 6;
  /** Tables by name (`filter`, `nat`, `mangle`, `raw`, …) → chains by name. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, IptablesRulesetChain>>;
  /** What was assumed while reading (kube-proxy's jumps added when the built-in chains were absent). */
  readonly assumptions: readonly string[];
  /** Number of rules. */
  readonly ruleCount: number;
}

interface MutableChain {
  table: string;
  name: string;
  policy: string | undefined;
  builtin: boolean;
  rules: IptablesRulesetRule[];
  /** Index of rules by exact destination address, built for long chains on first use. */
  index?: ChainIndex | undefined;
}

/**
 * For a long chain: rule positions per exact `-d` address, per exact `--dport` (rules without an
 * exact address), and the positions of all other rules.
 */
export interface ChainIndex {
  readonly byDst: ReadonlyMap<string, readonly number[]>;
  readonly byPort: ReadonlyMap<number, readonly number[]>;
  readonly other: readonly number[];
}

const INDEX_MIN_RULES = 24;

const EMPTY: readonly number[] = [];

function merge(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  for (;;) {
    const x = a[i];
    const y = b[j];
    if (x !== undefined && (y === undefined || x < y)) {
      out.push(x);
      i++;
    } else if (y !== undefined) {
      out.push(y);
      j++;
    } else break;
  }
  return out;
}

/** Positions of the rules of a chain that can match a packet to `dstKey`:`dport`, in order. */
export function candidateRules(
  chain: IptablesRulesetChain,
  dstKey: string,
  dport: number,
): readonly number[] | undefined {
  const c = chain as MutableChain;
  if (c.rules.length < INDEX_MIN_RULES) return undefined;
  if (!c.index) c.index = buildIndex(c.rules);
  return merge(merge(c.index.byDst.get(dstKey) ?? EMPTY, c.index.byPort.get(dport) ?? EMPTY), c.index.other);
}

function buildIndex(rules: readonly IptablesRulesetRule[]): ChainIndex {
  const byDst = new Map<string, number[]>();
  const byPort = new Map<number, number[]>();
  const other: number[] = [];
  rules.forEach((r, i) => {
    const d = r.exactDst;
    if (d) {
      const k = addrKey(d);
      const list = byDst.get(k);
      if (list) list.push(i);
      else byDst.set(k, [i]);
    } else if (r.exactDport !== undefined) {
      const list = byPort.get(r.exactDport);
      if (list) list.push(i);
      else byPort.set(r.exactDport, [i]);
    } else other.push(i);
  });
  return { byDst, byPort, other };
}

/** Splits a rule line into argv tokens: blanks separate, double or single quotes group (`\"` escapes). */
export function splitArgs(text: string): string[] | string {
  const simple = !text.includes("'") && !text.includes("\\") && !text.includes("\t");
  if (simple && !text.includes('"')) return text.split(" ").filter((t) => t !== "");
  if (simple) {
    // double-quoted values at token boundaries, as iptables-save and compileIptables write them
    const parts = text.split('"');
    if (parts.length % 2 === 0) return "unterminated quote";
    const out: string[] = [];
    let ok = true;
    for (const [i, part] of parts.entries()) {
      if (i % 2 === 1) {
        out.push(part);
        continue;
      }
      if (i > 0 && part !== "" && part.charCodeAt(0) !== 0x20) ok = false;
      if (i < parts.length - 1 && part !== "" && part.charCodeAt(part.length - 1) !== 0x20) ok = false;
      for (const t of part.split(" ")) if (t !== "") out.push(t);
    }
    if (ok) return out;
  }
  const out: string[] = [];
  let cur = "";
  let inToken = false;
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quote) {
      if (ch === "\\" && i + 1 < text.length && (text[i + 1] === quote || text[i + 1] === "\\")) {
        cur += text[++i];
      } else if (ch === quote) quote = "";
      else cur += ch;
      continue;
    }
    if (ch === " " || ch === "\t") {
      if (inToken) out.push(cur);
      cur = "";
      inToken = false;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      cur += text[++i];
      inToken = true;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (quote) return "unterminated quote";
  if (inToken) out.push(cur);
  return out;
}

/**
 * Reads one or more iptables texts (iptables-restore input, `iptables-save` or `iptables-save -c`
 * output) into a ruleset. The first source replaces the tables it names, later ones are loaded
 * as with `--noflush`. When the result has no built-in chain in the `nat` and `filter` tables at
 * all (a compiled payload alone), the jumps kube-proxy installs are assumed, and said so in
 * `assumptions`. Throws {@link InvalidInputError} (kind `Ruleset`, field `line N`) for a line
 * iptables-restore would refuse (an unknown command, a rule for a chain never declared); a rule's
 * own arguments are read when first needed unless `validate` is set (see below).
 *
 * @example
 * ```ts
 * const ruleset = parseIptablesRuleset(execFileSync("iptables-save", { encoding: "utf8" }));
 * const why = explainPacket(ruleset, { from: "pod", source: "10.244.1.5", destination: "10.96.0.10", port: 80 });
 * ```
 */
export function parseIptablesRuleset(
  sources: string | RulesetSource | readonly (string | RulesetSource)[],
  options: {
    /** Add kube-proxy's jumps when the built-in chains are absent (default true). */
    readonly assumeKubeJumps?: boolean | undefined;
    /**
     * Read every rule's argv now and throw for a malformed one. Otherwise (the default) a rule is
     * read when a packet or a diff first reaches it, and a malformed one throws then — the same
     * InvalidInputError, naming its source and line — which keeps reading a large node's rules cheap.
     */
    readonly validate?: boolean | undefined;
  } = {},
): IptablesRuleset {
  const tables = new Map<string, Map<string, MutableChain>>();
  const assumptions: string[] = [];
  for (const { text, name, index, source } of checkedSources(sources))
    loadSource(tables, text, name, source.noflush ?? index > 0);
  const kubeChains = [...tables.values()].some((t) => [...t.keys()].some((c) => c.startsWith("KUBE-")));
  const hasBuiltin = ["nat", "filter"].some((t) => {
    const chains = tables.get(t);
    return chains !== undefined && (BUILTIN_CHAINS[t] ?? []).some((c) => chains.has(c));
  });
  if ((options.assumeKubeJumps ?? true) && kubeChains && !hasBuiltin) {
    const jumps = "kube-proxy's jumps";
    const missing = IPTABLES_JUMPS.filter((j) => !tables.get(j.table)?.has(j.target)).map((j) => j.target);
    loadSource(tables, renderJumps(IPTABLES_JUMPS, missing), jumps, true);
    assumptions.push(
      "the rules have no built-in chains: kube-proxy's jumps from PREROUTING, INPUT, FORWARD, OUTPUT and POSTROUTING are assumed (renderJumps())",
    );
  }
  let ruleCount = 0;
  let family: 4 | 6 | undefined;
  for (const t of tables.values())
    for (const c of t.values()) {
      ruleCount += c.rules.length;
      for (const r of c.rules) {
        if (options.validate) (r as RulesetRule).compile();
        family ??= addressFamilyOf(r.text);
      }
    }
  return { kind: "iptables", family: family ?? 4, tables, assumptions, ruleCount };
}

const ADDRESS = / (?:-s|-d|--to-destination|--to-source) (\S+)/;

/** The family of the first address a rule's text names, read without compiling it. */
function addressFamilyOf(text: string): 4 | 6 | undefined {
  const m = ADDRESS.exec(text);
  if (!m) return undefined;
  const v = m[1] ?? ""; // the group always takes part
  return v.startsWith("[") || v.split(":").length > 2 ? 6 : 4;
}

function bad(source: string, line: number, reason: string, value?: string): InvalidInputError {
  return new InvalidInputError({ kind: "Ruleset", name: source }, `line ${line}`, reason, value);
}

function chainOf(
  tables: Map<string, Map<string, MutableChain>>,
  table: string,
  name: string,
  create: boolean,
): MutableChain | undefined {
  let t = tables.get(table);
  if (!t) {
    t = new Map();
    tables.set(table, t);
  }
  let c = t.get(name);
  if (!c && (create || BUILTIN_CHAINS[table]?.includes(name))) {
    const builtin = BUILTIN_CHAINS[table]?.includes(name) ?? false;
    c = { table, name, policy: builtin ? "ACCEPT" : undefined, builtin, rules: [] };
    t.set(name, c);
  }
  return c;
}

function loadSource(
  tables: Map<string, Map<string, MutableChain>>,
  text: string,
  source: string,
  noflush: boolean,
): void {
  let table: string | undefined;
  let lineNo = 0;
  let start = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = n;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line === "" || line.startsWith("#")) {
      if (end === n) break;
      continue;
    }
    const c0 = line.charCodeAt(0);
    if (c0 === 0x2a /* * */) {
      table = line.slice(1).trim();
      if (!/^[a-z]+$/.test(table)) throw bad(source, lineNo, `bad table name "${table}"`, line);
      if (!noflush) {
        const t = tables.get(table);
        if (t) {
          for (const [name, c] of t) {
            if (c.builtin) {
              c.rules = [];
              c.index = undefined;
            } else t.delete(name);
          }
        }
      }
      if (!tables.has(table)) tables.set(table, new Map());
    } else if (line === "COMMIT") {
      table = undefined;
    } else if (c0 === 0x3a /* : */) {
      if (!table) throw bad(source, lineNo, "chain declared outside a table (no *table line before it)", line);
      const parts = line.slice(1).split(/\s+/);
      const name = parts[0];
      if (!name) throw bad(source, lineNo, "chain declaration without a name", line);
      const c = chainOf(tables, table, name, true);
      if (!c) throw bad(source, lineNo, "chain not declared", line); // chainOf makes it
      c.rules = [];
      c.index = undefined;
      const policy = parts[1];
      if (c.builtin && policy && policy !== "-") c.policy = policy;
    } else {
      if (!table) throw bad(source, lineNo, "rule outside a table (no *table line before it)", line);
      let body = line;
      let counters: { packets: number; bytes: number } | undefined;
      if (c0 === 0x5b /* [ */) {
        const close = line.indexOf("]");
        const m = /^\[(\d+):(\d+)\]$/.exec(line.slice(0, close + 1));
        if (!m) throw bad(source, lineNo, "bad counters", line);
        counters = { packets: Number(m[1]), bytes: Number(m[2]) };
        body = line.slice(close + 1).trimStart();
      }
      applyCommand(tables, table, body, counters, source, lineNo);
    }
    if (end === n) break;
  }
}

/** A rule read from text; its argv is tokenized and compiled when first looked at. */
class RulesetRule implements IptablesRulesetRule {
  #compiled: CompiledRule | undefined;
  readonly #args: string | readonly string[];

  constructor(
    readonly table: string,
    readonly chain: string,
    readonly source: string,
    readonly line: number,
    readonly text: string,
    readonly counters: { readonly packets: number; readonly bytes: number } | undefined,
    args: string | readonly string[],
  ) {
    this.#args = args;
  }

  /** Compiles the rule; throws InvalidInputError (the source and line) when it is malformed. */
  compile(): CompiledRule {
    if (this.#compiled) return this.#compiled;
    const tokens = typeof this.#args === "string" ? splitArgs(this.#args) : this.#args;
    if (typeof tokens === "string") throw bad(this.source, this.line, tokens, this.text);
    const c = compileRule(tokens);
    if (typeof c === "string") throw bad(this.source, this.line, c, this.text);
    this.#compiled = c;
    return c;
  }
  get args() {
    return this.compile().args;
  }
  get matchers() {
    return this.compile().matchers;
  }
  get target() {
    return this.compile().target;
  }
  get comment() {
    return this.compile().comment;
  }
  get targetName() {
    return this.compile().targetName;
  }
  get exactDst() {
    return this.compile().exactDst;
  }
  get exactDport() {
    return this.compile().exactDport;
  }
  get family() {
    return this.compile().family;
  }
  get recentSeconds() {
    return this.compile().recentSeconds;
  }
  get recentSet() {
    return this.compile().recentSet;
  }
}

function applyCommand(
  tables: Map<string, Map<string, MutableChain>>,
  table: string,
  body: string,
  counters: { packets: number; bytes: number } | undefined,
  source: string,
  line: number,
): void {
  // the common case, `-A CHAIN args…`: the argv is read only when the rule is first needed
  if (body.startsWith("-A ") && !body.includes(" -c ")) {
    const sp = body.indexOf(" ", 3);
    const chainName = sp < 0 ? body.slice(3) : body.slice(3, sp);
    const c = chainOf(tables, table, chainName, false);
    if (!c) throw bad(source, line, `chain ${chainName} does not exist in table ${table}`, body);
    c.rules.push(new RulesetRule(table, c.name, source, line, body, counters, sp < 0 ? "" : body.slice(sp + 1)));
    c.index = undefined;
    return;
  }
  const tokens = splitArgs(body);
  if (typeof tokens === "string") throw bad(source, line, tokens, body);
  const cmd = tokens[0];
  const chainName = tokens[1];
  const needChain = (): MutableChain => {
    if (!chainName) throw bad(source, line, `${cmd} without a chain`, body);
    const c = chainOf(tables, table, chainName, false);
    if (!c) throw bad(source, line, `chain ${chainName} does not exist in table ${table}`, body);
    return c;
  };
  switch (cmd) {
    case "-A":
    case "--append":
    case "-I":
    case "--insert": {
      const c = needChain();
      let args = tokens.slice(2);
      let at = cmd === "-A" || cmd === "--append" ? c.rules.length : 0;
      if ((cmd === "-I" || cmd === "--insert") && args[0] !== undefined && /^\d+$/.test(args[0])) {
        at = Math.min(Number(args[0]) - 1, c.rules.length);
        args = args.slice(1);
      }
      // `-c packets bytes` inside the rule
      const ci = args.indexOf("-c");
      if (ci >= 0 && /^\d+$/.test(args[ci + 1] ?? "") && /^\d+$/.test(args[ci + 2] ?? "")) {
        counters = { packets: Number(args[ci + 1]), bytes: Number(args[ci + 2]) };
        args = [...args.slice(0, ci), ...args.slice(ci + 3)];
      }
      const text =
        cmd === "-A" || cmd === "--append"
          ? body
          : body.replace(/^(-I|--insert)\s+\S+(\s+\d+(?=\s|$))?/, `-A ${chainName}`);
      const rule = new RulesetRule(table, c.name, source, line, text, counters, args);
      if (at === c.rules.length) c.rules.push(rule);
      else c.rules.splice(at, 0, rule);
      c.index = undefined;
      break;
    }
    case "-N":
    case "--new-chain":
      if (!chainName) throw bad(source, line, "-N without a chain", body);
      chainOf(tables, table, chainName, true);
      break;
    case "-F":
    case "--flush":
      if (chainName) {
        const c = needChain();
        c.rules = [];
        c.index = undefined;
      } else {
        for (const c of tables.get(table)?.values() ?? []) {
          c.rules = [];
          c.index = undefined;
        }
      }
      break;
    case "-X":
    case "--delete-chain":
      if (chainName) {
        const chains = tables.get(table);
        const c = chains?.get(chainName);
        if (c && !c.builtin) chains?.delete(chainName);
      } else {
        const chains = tables.get(table);
        for (const [name, c] of chains ?? []) if (!c.builtin) chains?.delete(name);
      }
      break;
    case "-P":
    case "--policy": {
      const c = needChain();
      if (!c.builtin) throw bad(source, line, `-P on user chain ${chainName}`, body);
      c.policy = tokens[2];
      break;
    }
    case "-D":
    case "--delete": {
      const c = needChain();
      const rest = tokens.slice(2);
      const [only] = rest;
      if (only !== undefined && rest.length === 1 && /^\d+$/.test(only)) c.rules.splice(Number(only) - 1, 1);
      else {
        const want = rest.join(" ");
        const at = c.rules.findIndex((r) => r.args.join(" ") === want);
        if (at >= 0) c.rules.splice(at, 1);
      }
      c.index = undefined;
      break;
    }
    default:
      throw bad(source, line, `unknown command ${JSON.stringify(cmd)}`, body);
  }
}
