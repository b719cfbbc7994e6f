// explainPacket for nftables rules: the way of one new connection's first packet through the base
// chains of a node's tables, hook by hook (prerouting → routing → input or forward → postrouting;
// output → postrouting), the base chains of a hook in priority order. Each rule's statements are
// compiled on first use into tests and actions (the expressions kube-proxy's nftables mode writes,
// in its own and in the kernel's spelling); set and map lookups are hash lookups on the element
// key. `numgen random mod N` branches are followed one run per choice, as the iptables tracer
// follows `statistic` branches; `update @set { ip saddr }` fills a per-run copy of the dynamic
// sets, which is where a second connection from the same source starts (affinity).

import { type Addr, formatAddr, type Prefix, parseAddr, parsePrefix, prefixContains } from "./addr.js";
import type { ExplainStep, PacketOutcome, PacketSpec, PacketVerdict } from "./explain.js";
import {
  elementIndex,
  type NftablesChain,
  type NftablesRule,
  type NftablesRuleset,
  type NftablesSet,
  type NftablesSetElement,
  type NftablesTable,
  type NftToken,
  normalizeKeyPart,
  parseTime,
  tokenizeNft,
} from "./nftables-ruleset.js";

/** What a rule of an nftables chain sees of the packet, and what earlier rules did to it. */
interface NftState {
  family: 4 | 6;
  src: Addr;
  dst: Addr;
  proto: string;
  sport: number;
  dport: number;
  mark: number;
  iif: string | undefined;
  oif: string | undefined;
  ctState: string;
  ctDnat: boolean;
  ctSnat: boolean;
  isLocal: (a: Addr) => boolean;
  /** Elements added by `update`/`add @set` in this run, by set (table + name) → keys. */
  dynamic: Map<string, Set<string>>;
}

class CannotEvaluate {
  constructor(
    readonly reason: string,
    readonly rule: NftablesRule | undefined,
  ) {}
}

type Verdict =
  | { readonly kind: "accept" | "drop" | "return" | "continue" }
  | { readonly kind: "reject"; readonly with: string | undefined }
  | { readonly kind: "jump" | "goto"; readonly chain: string };

/** The part of a compiled rule: a test, a random branch, a lookup giving a verdict, an action. */
type Item =
  | { readonly k: "test"; readonly test: (s: NftState) => boolean | string }
  | { readonly k: "numgen"; readonly mod: number; readonly offset: number; readonly map: ReadonlyMap<number, Verdict> }
  | {
      readonly k: "vmap";
      readonly key: (s: NftState) => string | undefined;
      readonly lookup: (s: NftState, key: string) => Verdict | undefined;
      readonly describe: string;
    }
  | { readonly k: "mark"; readonly apply: (m: number) => number; readonly describe: string }
  | {
      readonly k: "update";
      readonly set: string;
      readonly key: (s: NftState) => string;
      readonly seconds: number | undefined;
    }
  | {
      readonly k: "dnat";
      /** undefined: the address stays (`dnat to :PORT`), or a local one for `redirect`. */
      readonly address: Addr | undefined;
      readonly redirect: boolean;
      readonly port: number | undefined;
      readonly text: string;
    }
  | {
      readonly k: "snat";
      readonly masquerade: boolean;
      /** snat's new source (masquerade's is the outgoing interface's address, not known). */
      readonly address: Addr | undefined;
      readonly port: number | undefined;
      readonly text: string;
    }
  | { readonly k: "verdict"; readonly v: Verdict }
  | { readonly k: "unknown"; readonly reason: string };

interface CompiledRule {
  readonly items: readonly Item[];
  /** The verdict or action that names the rule's target, for the path (`jump mark-for-masquerade`). */
  readonly target: string | undefined;
}

/** The base chains of a hook, in the order the kernel runs them. */
interface BaseChain {
  readonly table: NftablesTable;
  readonly tableName: string;
  readonly chain: NftablesChain;
  /** The chain's priority as declared. */
  readonly priority: number;
}

// Caches of what is compiled from a ruleset's (readonly) objects, nothing else: a rule compiled
// per table (its set references are that table's), a hook's chains per ruleset.
const compiledRules = new WeakMap<NftablesTable, WeakMap<NftablesRule, CompiledRule>>();
const hooksByRuleset = new WeakMap<NftablesRuleset, Map<string, readonly BaseChain[]>>();

const PROTO_NUM: Readonly<Record<string, string>> = {
  "6": "tcp",
  "17": "udp",
  "132": "sctp",
  "1": "icmp",
  "58": "ipv6-icmp",
};

/**
 * The priority nf_nat runs the nat chains of a hook at (NF_IP_PRI_NAT_DST / NF_IP_PRI_NAT_SRC):
 * nat chains do not get hooks of their own, they are called one after the other, by their own
 * priority, from nf_nat's hook.
 */
const NAT_HOOK_PRIORITY: Readonly<Record<string, number>> = {
  prerouting: -100,
  output: -100,
  input: 100,
  postrouting: 100,
};

/** Chains of prerouting and output below this run before conntrack (NF_IP_PRI_CONNTRACK). */
const CONNTRACK_PRIORITY = -200;

/**
 * The base chains of a hook in the tables of a family (and inet), in the kernel's order: by
 * priority, the nat chains as one group at nf_nat's priority; of equal priorities the one
 * registered later first (the kernel inserts a hook before the first of a priority not lower than
 * its own), registration taken as declaration order (tables in the order created); nf_nat's hooks
 * are registered with the family's first nat chain.
 */
function hookChains(rs: NftablesRuleset, family: 4 | 6, hook: string): readonly BaseChain[] {
  let m = hooksByRuleset.get(rs);
  if (!m) {
    m = new Map();
    hooksByRuleset.set(rs, m);
  }
  const key = `${family} ${hook}`;
  const got = m.get(key);
  if (got) return got;
  const want = family === 4 ? "ip" : "ip6";
  type Unit = { readonly priority: number; readonly reg: number; readonly chains: BaseChain[] };
  const units: Unit[] = [];
  const nat: { bc: BaseChain; reg: number }[] = [];
  let reg = 0;
  let firstNat: number | undefined;
  for (const t of rs.tables) {
    if (t.family !== want && t.family !== "inet") continue;
    for (const c of t.chains.values()) {
      if (c.hook === undefined || c.priority === undefined) continue;
      reg++;
      if (c.type === "nat") firstNat ??= reg;
      if (c.hook !== hook) continue;
      const bc: BaseChain = { table: t, tableName: `${t.family} ${t.name}`, chain: c, priority: c.priority };
      if (c.type === "nat") nat.push({ bc, reg });
      else units.push({ priority: c.priority, reg, chains: [bc] });
    }
  }
  const order = (a: { priority: number; reg: number }, b: { priority: number; reg: number }) =>
    a.priority - b.priority || b.reg - a.reg;
  if (nat.length > 0) {
    nat.sort((a, b) => order({ priority: a.bc.priority, reg: a.reg }, { priority: b.bc.priority, reg: b.reg }));
    units.push({
      priority: NAT_HOOK_PRIORITY[hook] ?? nat[0]?.bc.priority ?? 0,
      reg: firstNat ?? 0,
      chains: nat.map((n) => n.bc),
    });
  }
  units.sort(order);
  const list = units.flatMap((u) => u.chains);
  m.set(key, list);
  return list;
}

// ---------------------------------------------------------------------------------------------
// compiling a rule

type Sel =
  | { readonly kind: "addr"; readonly which: "saddr" | "daddr"; readonly family: 4 | 6 | undefined }
  | { readonly kind: "port"; readonly which: "sport" | "dport"; readonly proto: string | undefined }
  | { readonly kind: "proto"; readonly family: 4 | 6 | undefined }
  | { readonly kind: "mark" }
  | { readonly kind: "ctstate" }
  | { readonly kind: "ctstatus" }
  | { readonly kind: "iface"; readonly which: "iif" | "oif" }
  | { readonly kind: "nfproto" }
  | { readonly kind: "fib"; readonly which: "saddr" | "daddr" };

class Cursor {
  i = 0;
  constructor(readonly t: readonly NftToken[]) {}
  peek(o = 0): string | undefined {
    return this.t[this.i + o]?.v;
  }
  isPunct(v: string, o = 0): boolean {
    const x = this.t[this.i + o];
    return x !== undefined && x.kind === "punct" && x.v === v;
  }
  next(): string | undefined {
    return this.t[this.i++]?.v;
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
}

/** A selector (`ip daddr`, `th dport`, `meta l4proto`, …) at the cursor, consumed; or undefined. */
function selector(c: Cursor): Sel | undefined {
  const a = c.peek();
  const b = c.peek(1);
  const take = (n: number, s: Sel): Sel => {
    c.i += n;
    return s;
  };
  switch (a) {
    case "ip":
    case "ip6":
      if (b === "saddr" || b === "daddr") return take(2, { kind: "addr", which: b, family: a === "ip" ? 4 : 6 });
      if ((a === "ip" && b === "protocol") || (a === "ip6" && b === "nexthdr"))
        return take(2, { kind: "proto", family: a === "ip" ? 4 : 6 });
      return undefined;
    case "th":
    case "tcp":
    case "udp":
    case "sctp":
      if (b === "dport" || b === "sport") return take(2, { kind: "port", which: b, proto: a === "th" ? undefined : a });
      return undefined;
    case "meta":
      if (b === "l4proto") return take(2, { kind: "proto", family: undefined });
      if (b === "mark") return take(2, { kind: "mark" });
      if (b === "nfproto") return take(2, { kind: "nfproto" });
      if (b === "iif" || b === "iifname") return take(2, { kind: "iface", which: "iif" });
      if (b === "oif" || b === "oifname") return take(2, { kind: "iface", which: "oif" });
      return undefined;
    case "mark":
      return take(1, { kind: "mark" });
    case "iif":
    case "iifname":
      return take(1, { kind: "iface", which: "iif" });
    case "oif":
    case "oifname":
      return take(1, { kind: "iface", which: "oif" });
    case "ct":
      if (b === "state") return take(2, { kind: "ctstate" });
      if (b === "status") return take(2, { kind: "ctstatus" });
      return undefined;
    case "fib":
      if ((b === "saddr" || b === "daddr") && c.peek(2) === "type") return take(3, { kind: "fib", which: b });
      return undefined;
    default:
      return undefined;
  }
}

function protoOf(s: NftState): string {
  return s.proto;
}

/**
 * Whether the header a selector reads is in the packet: `ip …` / `ip6 …` need that family (in an
 * inet table), `tcp|udp|sctp dport` that protocol. nft puts this dependency in front of the
 * match, so when it fails the rule does not match at all, `!=` and `!= @set` included.
 */
function present(sel: Sel, s: NftState): boolean {
  switch (sel.kind) {
    case "addr":
    case "proto":
      return sel.family === undefined || sel.family === s.family;
    case "port":
      return sel.proto === undefined || sel.proto === s.proto;
    default:
      return true;
  }
}

/** The value of a selector as a set key part (normalised as the reader normalises elements). */
function keyPart(sel: Sel, s: NftState): string | undefined {
  switch (sel.kind) {
    case "addr":
      if (sel.family !== undefined && sel.family !== s.family) return undefined;
      return formatAddr(sel.which === "saddr" ? s.src : s.dst);
    case "port":
      if (sel.proto !== undefined && sel.proto !== s.proto) return undefined;
      return String(sel.which === "dport" ? s.dport : s.sport);
    case "proto":
      if (sel.family !== undefined && sel.family !== s.family) return undefined;
      return protoOf(s);
    case "mark":
      return String(s.mark);
    case "nfproto":
      return s.family === 4 ? "ipv4" : "ipv6";
    case "fib":
      return s.isLocal(sel.which === "saddr" ? s.src : s.dst) ? "local" : "unicast";
    case "iface": {
      const v = sel.which === "iif" ? s.iif : s.oif;
      return v;
    }
    case "ctstate":
      return s.ctState;
    case "ctstatus":
      return s.ctDnat ? "dnat" : s.ctSnat ? "snat" : "";
  }
}

function selText(sel: Sel): string {
  switch (sel.kind) {
    case "addr":
      return `${sel.family === 6 ? "ip6" : "ip"} ${sel.which}`;
    case "port":
      return `${sel.proto ?? "th"} ${sel.which}`;
    case "proto":
      return sel.family === 4 ? "ip protocol" : sel.family === 6 ? "ip6 nexthdr" : "meta l4proto";
    case "mark":
      return "meta mark";
    case "nfproto":
      return "meta nfproto";
    case "fib":
      return `fib ${sel.which} type`;
    case "iface":
      return sel.which;
    case "ctstate":
      return "ct state";
    case "ctstatus":
      return "ct status";
  }
}

function parseNum(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^0x[0-9a-fA-F]+$/.test(v)) return Number.parseInt(v, 16);
  if (/^\d+$/.test(v)) return Number(v);
  return undefined;
}

/** A test of one value against one literal (`10.0.0.0/8`, `80-90`, `tcp`, `new`, `"eth0"`). */
function atomTest(sel: Sel, atom: string): ((s: NftState) => boolean) | string {
  switch (sel.kind) {
    case "addr": {
      const dash = atom.indexOf("-");
      if (dash > 0 && !atom.includes("/")) {
        const lo = parseAddr(atom.slice(0, dash));
        const hi = parseAddr(atom.slice(dash + 1));
        if (!lo || !hi || lo.family !== hi.family) return `bad address range ${atom}`;
        return (s) => {
          const a = sel.which === "saddr" ? s.src : s.dst;
          return a.family === lo.family && a.v >= lo.v && a.v <= hi.v;
        };
      }
      const p: Prefix | undefined = parsePrefix(atom);
      if (!p) return `bad address ${atom}`;
      return (s) => prefixContains(p, sel.which === "saddr" ? s.src : s.dst);
    }
    case "port":
    case "mark": {
      const dash = atom.indexOf("-");
      const lo = parseNum(dash > 0 ? atom.slice(0, dash) : atom);
      const hi = dash > 0 ? parseNum(atom.slice(dash + 1)) : lo;
      if (lo === undefined || hi === undefined) return `bad number ${atom}`;
      if (sel.kind === "mark") return (s) => s.mark >= lo && s.mark <= hi;
      return (s) => {
        if (sel.proto !== undefined && sel.proto !== s.proto) return false;
        const v = sel.which === "dport" ? s.dport : s.sport;
        return v >= lo && v <= hi;
      };
    }
    case "proto": {
      const want = PROTO_NUM[atom] ?? atom.toLowerCase();
      return (s) => s.proto === want;
    }
    case "nfproto":
      return (s) => (s.family === 4 ? "ipv4" : "ipv6") === atom;
    case "fib":
      if (atom !== "local" && atom !== "unicast") return `fib … type ${atom}`;
      return (s) => (s.isLocal(sel.which === "saddr" ? s.src : s.dst) ? "local" : "unicast") === atom;
    case "ctstate":
      if (!["new", "established", "related", "invalid", "untracked"].includes(atom)) return `bad ct state ${atom}`;
      return (s) => s.ctState === atom;
    case "ctstatus":
      if (atom === "dnat") return (s) => s.ctDnat;
      if (atom === "snat") return (s) => s.ctSnat;
      return `ct status ${atom}`;
    case "iface": {
      const star = atom.endsWith("*");
      const name = star ? atom.slice(0, -1) : atom;
      return (s) => {
        const v = sel.which === "iif" ? s.iif : s.oif;
        if (v === undefined)
          throw new CannotEvaluate(
            `cannot evaluate: ${sel.which} without the packet's ${sel.which === "iif" ? "inInterface" : "outInterface"}`,
            undefined,
          );
        return star ? v.startsWith(name) : v === name;
      };
    }
  }
}

/** Reads `{ a, b, … }` or one atom (comma lists for flag types: `established,related`). */
function atoms(c: Cursor): string[] | string {
  if (c.isPunct("{")) {
    c.next();
    const out: string[] = [];
    for (;;) {
      if (c.done()) return "unclosed {";
      if (c.isPunct("}")) {
        c.next();
        return out;
      }
      if (c.isPunct(",")) {
        c.next();
        continue;
      }
      const v = c.next();
      if (v !== undefined) out.push(v);
    }
  }
  const out: string[] = [];
  for (;;) {
    const v = c.peek();
    if (v === undefined || c.t[c.i]?.kind === "punct") return out.length ? out : "a value expected";
    out.push(v);
    c.next();
    if (c.isPunct(",")) {
      c.next();
      continue;
    }
    return out;
  }
}

function parseVerdictWords(words: readonly string[]): Verdict | undefined {
  const [a, b] = words;
  if (words.length === 1 && (a === "accept" || a === "drop" || a === "return" || a === "continue")) return { kind: a };
  if (words.length === 1 && a === "reject") return { kind: "reject", with: undefined };
  if (words.length === 2 && (a === "jump" || a === "goto") && b !== undefined) return { kind: a, chain: b };
  return undefined;
}

function verdictText(v: Verdict): string {
  return v.kind === "jump" || v.kind === "goto" ? `${v.kind} ${v.chain}` : v.kind;
}

/** The verdict map literal `{ 0 : goto a, 1 : goto b }` as value → verdict. */
function literalVmap(c: Cursor): Map<string, Verdict> | string {
  if (!c.isPunct("{")) return "vmap { … } expected";
  c.next();
  const out = new Map<string, Verdict>();
  let key: string[] = [];
  let val: string[] | undefined;
  const flush = (): string | undefined => {
    if (key.length === 0 && !val) return undefined;
    const v = val ? parseVerdictWords(val) : undefined;
    if (!v) return `bad verdict map element ${key.join(" ")} : ${(val ?? []).join(" ")}`;
    out.set(key.filter((k) => k !== ".").join(" "), v);
    key = [];
    val = undefined;
    return undefined;
  };
  for (;;) {
    if (c.done()) return "unclosed vmap";
    if (c.isPunct("}")) {
      c.next();
      const e = flush();
      return e ?? out;
    }
    if (c.isPunct(",")) {
      c.next();
      const e = flush();
      if (e) return e;
      continue;
    }
    const v = c.next() ?? "";
    if (v === ":" && !val) val = [];
    else if (val) val.push(v);
    else key.push(v);
  }
}

interface Env {
  readonly table: NftablesTable;
  readonly tableName: string;
}

function findSet(env: Env, ref: string): NftablesSet | string {
  const name = ref.slice(1);
  const s = env.table.sets.get(name);
  if (!s) return `set ${name} does not exist in table ${env.tableName}`;
  return s;
}

function isIntervalElement(e: NftablesSetElement): boolean {
  return e.key.some((k) => k.includes("/") || (k.includes("-") && /^[0-9a-f.:]+-[0-9a-f.:]+$/i.test(k)));
}

const intervalMemo = new WeakMap<readonly NftablesSetElement[], readonly NftablesSetElement[]>();

function intervals(set: NftablesSet): readonly NftablesSetElement[] {
  let v = intervalMemo.get(set.elements);
  if (!v) {
    v = set.elements.filter(isIntervalElement);
    intervalMemo.set(set.elements, v);
  }
  return v;
}

/** The element of a set matching the selectors' values (exact by hash, then the interval elements). */
function lookupElement(
  set: NftablesSet,
  sels: readonly Sel[],
  s: NftState,
  key: string,
  dynKey: string,
): NftablesSetElement | "dynamic" | undefined {
  const e = elementIndex(set).get(key);
  if (e) return e;
  if (s.dynamic.get(dynKey)?.has(key)) return "dynamic";
  for (const el of intervals(set)) {
    let ok = true;
    for (let i = 0; i < sels.length && ok; i++) {
      const sel = sels[i];
      const part = el.key[i];
      if (!sel || part === undefined) {
        ok = false;
        break;
      }
      const t = atomTest(sel, part);
      ok = typeof t === "function" && t(s);
    }
    if (ok) return el;
  }
  return undefined;
}

function concatKey(sels: readonly Sel[]): (s: NftState) => string | undefined {
  if (sels.length === 1) {
    const [only] = sels;
    return only ? (s) => keyPart(only, s) : () => undefined;
  }
  return (s) => {
    let out = "";
    for (let i = 0; i < sels.length; i++) {
      const sel = sels[i];
      const v = sel ? keyPart(sel, s) : undefined;
      if (v === undefined) return undefined;
      out = i === 0 ? v : `${out} ${v}`;
    }
    return out;
  };
}

/** The mark expression after `mark set`: `mark or 0x4000`, `meta mark | 0x00004000`, `0x4000`, … */
function markExpr(c: Cursor): { apply: (m: number) => number; describe: string } | string {
  if (c.peek() === "meta" && c.peek(1) === "mark") c.i += 2;
  else if (c.peek() === "mark") c.i += 1;
  else {
    const v = parseNum(c.next());
    if (v === undefined) return "a mark value expected";
    return { apply: () => v >>> 0, describe: `mark = 0x${v.toString(16)}` };
  }
  const op = c.next();
  const v = parseNum(c.next());
  if (v === undefined) return "a mark value expected";
  const hex = `0x${v.toString(16)}`;
  switch (op) {
    case "or":
    case "|":
      return { apply: (m) => (m | v) >>> 0, describe: `mark |= ${hex}` };
    case "and":
    case "&":
      return { apply: (m) => (m & v) >>> 0, describe: `mark &= ${hex}` };
    case "xor":
    case "^":
      return { apply: (m) => (m ^ v) >>> 0, describe: `mark ^= ${hex}` };
    default:
      return `mark set mark ${op ?? ""}`;
  }
}

/** `ADDR`, `ADDR:PORT`, `[V6]:PORT`, `:PORT` after `dnat to`. */
function natTarget(v: string): { address: Addr | undefined; port: number | undefined } | undefined {
  if (v.startsWith(":")) {
    const p = parseNum(v.slice(1));
    return p === undefined ? undefined : { address: undefined, port: p };
  }
  if (v.startsWith("[")) {
    const close = v.indexOf("]");
    const a = parseAddr(v.slice(1, close));
    if (!a) return undefined;
    const rest = v.slice(close + 1);
    if (rest === "") return { address: a, port: undefined };
    const p = rest.startsWith(":") ? parseNum(rest.slice(1)) : undefined;
    return p === undefined ? undefined : { address: a, port: p };
  }
  const colons = v.split(":").length - 1;
  if (colons === 1) {
    const [h, p] = v.split(":");
    const a = parseAddr(h ?? "");
    const port = parseNum(p);
    return a && port !== undefined ? { address: a, port } : undefined;
  }
  const a = parseAddr(v);
  return a ? { address: a, port: undefined } : undefined;
}

function compile(rule: NftablesRule, env: Env): CompiledRule {
  let memo = compiledRules.get(env.table);
  if (!memo) {
    memo = new WeakMap();
    compiledRules.set(env.table, memo);
  }
  const got = memo.get(rule);
  if (got) return got;
  const toks = tokenizeNft(rule.text);
  const items: Item[] = [];
  let target: string | undefined;
  const unknown = (reason: string) => items.push({ k: "unknown", reason: `cannot evaluate: ${reason}` });
  if (typeof toks === "string") unknown(toks);
  else {
    const c = new Cursor(toks);
    while (!c.done()) {
      const err = compileOne(c, env, items);
      if (typeof err === "string") {
        unknown(err);
        break;
      }
      if (err) target = err.target;
    }
  }
  const out: CompiledRule = { items, target };
  memo.set(rule, out);
  return out;
}

/** Compiles the expression or statement at the cursor; a string says what cannot be evaluated. */
function compileOne(c: Cursor, env: Env, items: Item[]): string | { target: string } | undefined {
  const w = c.peek();
  if (w === undefined) return undefined;
  // metadata and no-ops
  if (w === "comment") {
    c.i += 2;
    return undefined;
  }
  if (w === "counter") {
    c.next();
    if (c.peek() === "packets") c.i += 4;
    else if (c.peek() === "name") c.i += 2; // a named counter object: counts, decides nothing
    return undefined;
  }
  if (w === "log") {
    c.next();
    while (c.peek() === "prefix" || c.peek() === "level" || c.peek() === "flags" || c.peek() === "group") c.i += 2;
    return undefined;
  }
  // verdicts
  if (w === "accept" || w === "drop" || w === "return" || w === "continue") {
    c.next();
    items.push({ k: "verdict", v: { kind: w } });
    return { target: w };
  }
  if (w === "jump" || w === "goto") {
    c.next();
    const chain = c.next();
    if (chain === undefined) return `${w} without a chain`;
    items.push({ k: "verdict", v: { kind: w, chain } });
    return { target: chain };
  }
  if (w === "reject") {
    c.next();
    let withText: string | undefined;
    if (c.peek() === "with") {
      const parts: string[] = [];
      c.next();
      while (!c.done() && c.peek() !== "comment" && c.peek() !== "counter") parts.push(c.next() ?? "");
      // nft lists `with icmp type host-unreachable` as `with icmp host-unreachable`
      withText = parts.join(" ").replace(/^(icmp|icmpv6|icmpx) type /, "$1 ");
    }
    items.push({ k: "verdict", v: { kind: "reject", with: withText } });
    return { target: "reject" };
  }
  // NAT
  if (w === "dnat" || w === "snat") {
    c.next();
    if (c.peek() === "ip" || c.peek() === "ip6") c.next();
    if (c.next() !== "to") return `${w} without to`;
    const v = c.next() ?? "";
    const t = natTarget(v);
    if (!t) return `${w} to ${v}`;
    while (c.peek() === "fully-random" || c.peek() === "random" || c.peek() === "persistent") c.next();
    if (w === "dnat") items.push({ k: "dnat", address: t.address, redirect: false, port: t.port, text: v });
    else items.push({ k: "snat", masquerade: false, address: t.address, port: t.port, text: v });
    return { target: w };
  }
  if (w === "masquerade") {
    c.next();
    while (c.peek() === "fully-random" || c.peek() === "random" || c.peek() === "persistent") c.next();
    if (c.peek() === "to") return "masquerade to a port range";
    items.push({ k: "snat", masquerade: true, address: undefined, port: undefined, text: "" });
    return { target: "masquerade" };
  }
  if (w === "redirect") {
    c.next();
    let port: number | undefined;
    if (c.peek() === "to") {
      c.next();
      port = natTarget(c.next() ?? "")?.port;
      if (port === undefined) return "redirect to …";
    }
    items.push({ k: "dnat", address: undefined, redirect: true, port, text: port === undefined ? "" : `:${port}` });
    return { target: "redirect" };
  }
  // mark set
  if ((w === "mark" && c.peek(1) === "set") || (w === "meta" && c.peek(1) === "mark" && c.peek(2) === "set")) {
    c.i += w === "mark" ? 2 : 3;
    const m = markExpr(c);
    if (typeof m === "string") return m;
    items.push({ k: "mark", ...m });
    return undefined;
  }
  // update @set { ip saddr } / add @set { ip saddr timeout 3h }
  if ((w === "update" || w === "add") && c.peek(1)?.startsWith("@")) {
    c.next();
    const ref = c.next() ?? "";
    const set = findSet(env, ref);
    if (typeof set === "string") return set;
    if (!c.isPunct("{")) return `${w} ${ref} without { … }`;
    c.next();
    const sels: Sel[] = [];
    for (;;) {
      const sel = selector(c);
      if (!sel) return `${w} ${ref} { ${c.peek() ?? ""} … }`;
      sels.push(sel);
      if (c.peek() === ".") {
        c.next();
        continue;
      }
      break;
    }
    let seconds = set.timeout;
    if (c.peek() === "timeout") {
      c.next();
      seconds = parseTime(c.next() ?? "");
    }
    if (!c.isPunct("}")) return `${w} ${ref} { … ${c.peek() ?? ""} }`;
    c.next();
    const key = concatKey(sels);
    items.push({ k: "update", set: `${env.tableName} ${set.name}`, key: (s) => key(s) ?? "", seconds });
    return undefined;
  }
  // numgen random mod N [offset K] vmap { … }
  if (w === "numgen") {
    c.next();
    if (c.next() !== "random") return "numgen other than random";
    if (c.next() !== "mod") return "numgen random without mod";
    const mod = parseNum(c.next());
    if (mod === undefined || mod < 1) return "numgen random mod …";
    let offset = 0;
    if (c.peek() === "offset") {
      c.next();
      offset = parseNum(c.next()) ?? 0;
    }
    if (c.next() !== "vmap") return "numgen random mod N without vmap";
    const map = literalVmap(c);
    if (typeof map === "string") return map;
    const byNum = new Map<number, Verdict>();
    for (const [k, v] of map) {
      const n = parseNum(k);
      if (n === undefined) return `numgen vmap key ${k}`;
      byNum.set(n, v);
    }
    items.push({ k: "numgen", mod, offset, map: byNum });
    const first = [...byNum.values()][0];
    return first ? { target: first.kind === "jump" || first.kind === "goto" ? first.chain : first.kind } : undefined;
  }
  // an expression: selector (. selector)* then a comparison, a lookup or a vmap
  const start = c.i;
  const sels: Sel[] = [];
  for (;;) {
    const sel = selector(c);
    if (!sel) break;
    sels.push(sel);
    if (c.peek() === ".") {
      c.next();
      continue;
    }
    break;
  }
  const first = sels[0];
  if (!first)
    return `${c.t
      .slice(start, start + 3)
      .map((t) => t.v)
      .join(" ")} …`;
  // mark & MASK op VALUE
  let mask: number | undefined;
  if (sels.length === 1 && first.kind === "mark" && (c.peek() === "and" || c.peek() === "&")) {
    c.next();
    mask = parseNum(c.next());
    if (mask === undefined) return "mark and …";
  }
  let neg = false;
  if (c.peek() === "==") c.next();
  else if (c.peek() === "!=") {
    c.next();
    neg = true;
  }
  const what = sels.map(selText).join(" . ");
  if (c.peek() === "vmap") {
    c.next();
    const key = concatKey(sels);
    if (c.peek()?.startsWith("@")) {
      const ref = c.next() ?? "";
      const set = findSet(env, ref);
      if (typeof set === "string") return set;
      if (set.kind !== "map" || set.valueType !== "verdict") return `vmap ${ref}: not a verdict map`;
      const dynKey = `${env.tableName} ${set.name}`;
      items.push({
        k: "vmap",
        key,
        describe: `${what} vmap ${ref}`,
        lookup: (s, k) => {
          const e = lookupElement(set, sels, s, k, dynKey);
          if (!e || e === "dynamic") return undefined;
          const v = parseVerdictWords((e.value ?? "").split(" "));
          if (!v) throw new CannotEvaluate(`cannot evaluate: verdict ${e.value} in ${ref}`, undefined);
          return v;
        },
      });
      return { target: ref };
    }
    const map = literalVmap(c);
    if (typeof map === "string") return map;
    const normalized = new Map<string, Verdict>();
    for (const [k, v] of map) {
      const parts = k.split(" ");
      normalized.set(
        parts.map((p, i) => normalizeKeyPart(p, sels[i]?.kind === "proto" ? "inet_proto" : undefined)).join(" "),
        v,
      );
    }
    items.push({ k: "vmap", key, describe: `${what} vmap { … }`, lookup: (_s, k) => normalized.get(k) });
    return { target: "vmap" };
  }
  if (c.peek()?.startsWith("@")) {
    const ref = c.next() ?? "";
    const set = findSet(env, ref);
    if (typeof set === "string") return set;
    const key = concatKey(sels);
    const dynKey = `${env.tableName} ${set.name}`;
    items.push({
      k: "test",
      test: (s) => {
        const k = key(s);
        // a header the key reads is missing: no match, negated or not
        if (k === undefined) return false;
        return (lookupElement(set, sels, s, k, dynKey) !== undefined) !== neg;
      },
    });
    return undefined;
  }
  if (sels.length !== 1) return `${what} compared with a value`;
  const list = atoms(c);
  if (typeof list === "string") return `${what}: ${list}`;
  if (mask !== undefined) {
    const m = mask;
    const vals = list.map(parseNum);
    if (vals.some((v) => v === undefined)) return `${what} & …: ${list.join(",")}`;
    items.push({ k: "test", test: (s) => vals.includes((s.mark & m) >>> 0) !== neg });
    return undefined;
  }
  const tests: ((s: NftState) => boolean)[] = [];
  for (const a of list) {
    const t = atomTest(first, a);
    if (typeof t === "string") return `${what} ${a}`;
    tests.push(t);
  }
  items.push({
    k: "test",
    test: (s) => {
      // `tcp dport != 80` does not match udp either, nor `ip saddr != …` IPv6 in an inet table
      if (!present(first, s)) return false;
      const hit = tests.some((t) => t(s));
      return hit !== neg;
    },
  });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// running

/** One complete walk (one combination of random choices). */
export interface NftRun {
  verdict: PacketVerdict;
  endpoint: { address: string; port: number } | undefined;
  masquerade: boolean;
  delivered: "local" | "forward" | "out" | undefined;
  reason: string | undefined;
  rejectWith: string | undefined;
  path: ExplainStep[];
  rules: NftablesRule[];
  choices: number[];
  widths: number[];
  probability: number;
  dynamic: Map<string, Set<string>>;
  setLists: boolean;
  seconds: number | undefined;
  unknownRule: NftablesRule | undefined;
}

const MAX_DEPTH = 64;

type ChainResult =
  | { kind: "accept" | "drop"; rule: NftablesRule | undefined }
  | { kind: "reject"; rule: NftablesRule; with: string | undefined }
  | { kind: "nat" };

/** Walks one combination of choices (`prefix`; a choice not in it is 0). */
export function runNftOnce(
  rs: NftablesRuleset,
  packet: PacketSpec,
  checked: { src: Addr; dst: Addr; proto: string },
  isLocal: (a: Addr) => boolean,
  prefix: readonly number[],
  dynamic: Map<string, Set<string>>,
): NftRun {
  const fromNode = packet.from === "node";
  const st: NftState = {
    family: checked.src.family,
    src: checked.src,
    dst: checked.dst,
    proto: checked.proto,
    sport: packet.sourcePort ?? 40000,
    dport: packet.port,
    mark: (packet.mark ?? 0) >>> 0,
    // a hook without a device has the empty name: no input device on the way out of the node,
    // no output device before routing (prerouting) and on local delivery (input)
    iif: fromNode ? "" : packet.inInterface,
    oif: fromNode ? undefined : "",
    ctState: (packet.state ?? "NEW").toLowerCase(),
    ctDnat: false,
    ctSnat: false,
    isLocal,
    dynamic,
  };
  const run: NftRun = {
    verdict: "no-match",
    endpoint: undefined,
    masquerade: false,
    delivered: undefined,
    reason: undefined,
    rejectWith: undefined,
    path: [],
    rules: [],
    choices: [],
    widths: [],
    probability: 1,
    dynamic,
    setLists: false,
    seconds: undefined,
    unknownRule: undefined,
  };
  const isNew = st.ctState === "new";
  let accepted: NftablesRule | undefined;
  let current: NftablesRule | undefined;
  let currentAt: { table: string; chain: string; position: number } | undefined;
  let currentHook = "";

  const runChain = (
    bc: { table: NftablesTable; tableName: string },
    chain: NftablesChain,
    depth: number,
    nat: boolean,
  ): ChainResult | undefined => {
    if (depth > MAX_DEPTH)
      throw new CannotEvaluate(`cannot evaluate: chains nest deeper than ${MAX_DEPTH} (a loop?)`, current);
    const env: Env = { table: bc.table, tableName: bc.tableName };
    const rules = chain.rules;
    for (let idx = 0; idx < rules.length; idx++) {
      const rule = rules[idx];
      if (!rule) continue;
      current = rule;
      currentAt = { table: bc.tableName, chain: chain.name, position: idx + 1 };
      const compiled = compile(rule, env);
      let verdict: Verdict | undefined;
      let matched = true;
      let nated = false;
      const effects: string[] = [];
      for (const it of compiled.items) {
        if (it.k === "test") {
          const r = it.test(st);
          if (r === true) continue;
          if (r === false) {
            matched = false;
            break;
          }
          throw new CannotEvaluate(r, rule);
        }
        if (it.k === "unknown") throw new CannotEvaluate(it.reason, rule);
        if (it.k === "numgen") {
          const i = run.choices.length;
          const choice = i < prefix.length ? (prefix[i] ?? 0) : 0;
          run.choices.push(choice);
          run.widths.push(it.mod);
          run.probability /= it.mod;
          const v = it.map.get((choice % it.mod) + it.offset);
          if (!v) {
            matched = false;
            break;
          }
          effects.push(`numgen ${choice + it.offset} of ${it.mod}: ${verdictText(v)}`);
          verdict = v;
          break;
        }
        if (it.k === "vmap") {
          const key = it.key(st);
          const v = key === undefined ? undefined : it.lookup(st, key);
          if (!v) {
            matched = false;
            break;
          }
          effects.push(`${it.describe}: ${key?.split(" ").join(" . ")} → ${verdictText(v)}`);
          verdict = v;
          break;
        }
        if (it.k === "mark") {
          st.mark = it.apply(st.mark);
          effects.push(it.describe);
          continue;
        }
        if (it.k === "update") {
          const k = it.key(st);
          let set = st.dynamic.get(it.set);
          if (!set) {
            set = new Set();
            st.dynamic.set(it.set, set);
          }
          set.add(k);
          run.setLists = true;
          if (it.seconds !== undefined) run.seconds = it.seconds;
          effects.push(`remember ${k} in @${it.set.split(" ").slice(2).join(" ")}`);
          continue;
        }
        if (it.k === "dnat") {
          if (!nat) throw new CannotEvaluate("cannot evaluate: dnat outside a nat chain", rule);
          if (currentHook !== "prerouting" && currentHook !== "output")
            throw new CannotEvaluate(
              `cannot evaluate: ${it.redirect ? "redirect" : "dnat"} in ${currentHook} (the kernel takes it in prerouting and output only)`,
              rule,
            );
          // redirect: to 127.0.0.1 / ::1 from the node itself; in prerouting to the primary address
          // of the interface the packet came in on, which the packet does not give
          if (it.redirect && currentHook !== "output")
            throw new CannotEvaluate(
              `cannot evaluate: ${it.text === "" ? "redirect" : `redirect to ${it.text}`} in ${currentHook} (to the incoming interface's primary address)`,
              rule,
            );
          const loopback: Addr = st.family === 4 ? { family: 4, v: 0x7f000001 } : { family: 6, v: 1n };
          const addr = it.address ?? (it.redirect ? loopback : st.dst);
          st.dst = addr;
          if (it.port !== undefined) st.dport = it.port;
          st.ctDnat = true;
          run.endpoint = { address: formatAddr(addr), port: st.dport };
          effects.push(`DNAT to ${it.text || formatAddr(addr)}`);
          nated = true;
          break;
        }
        if (it.k === "snat") {
          if (!nat)
            throw new CannotEvaluate(
              `cannot evaluate: ${it.masquerade ? "masquerade" : "snat"} outside a nat chain`,
              rule,
            );
          if (currentHook !== "postrouting" && (it.masquerade || currentHook !== "input"))
            throw new CannotEvaluate(
              `cannot evaluate: ${it.masquerade ? "masquerade" : "snat"} in ${currentHook} (the kernel takes it in postrouting${it.masquerade ? "" : " and input"} only)`,
              rule,
            );
          run.masquerade = true;
          st.ctSnat = true;
          // later chains of the hook see the new source
          if (it.address !== undefined) st.src = it.address;
          if (it.port !== undefined) st.sport = it.port;
          effects.push(
            it.masquerade ? "masquerade (source NAT to the outgoing interface's address)" : `SNAT to ${it.text}`,
          );
          nated = true;
          break;
        }
        // a verdict
        verdict = it.v;
        break;
      }
      if (!matched) continue;
      const effect = effects.length ? effects.join("; ") : verdict ? verdictText(verdict) : undefined;
      run.rules.push(rule);
      run.path.push({
        kind: "rule",
        table: bc.tableName,
        chain: chain.name,
        position: idx + 1,
        source: rule.source,
        line: rule.line,
        text: rule.text,
        target:
          verdict && (verdict.kind === "jump" || verdict.kind === "goto")
            ? verdict.chain
            : (verdict?.kind ?? compiled.target),
        effect,
      });
      if (nated) return { kind: "nat" };
      if (!verdict) continue;
      switch (verdict.kind) {
        case "continue":
          continue;
        case "accept":
          return { kind: "accept", rule };
        case "drop":
          return { kind: "drop", rule };
        case "reject":
          return { kind: "reject", rule, with: verdict.with };
        case "return":
          return undefined;
        case "jump":
        case "goto": {
          const sub = bc.table.chains.get(verdict.chain);
          if (!sub)
            throw new CannotEvaluate(
              `cannot evaluate: ${verdict.kind} ${verdict.chain} (no such chain in table ${bc.tableName})`,
              rule,
            );
          const r = runChain(bc, sub, depth + 1, nat);
          if (r) return r;
          if (verdict.kind === "goto") return undefined;
          continue;
        }
      }
    }
    return undefined;
  };

  /** Runs a hook's base chains in priority order; false when the packet was discarded. */
  const hook = (name: string, withNat: boolean, tracked: boolean): boolean => {
    let natDone = false;
    currentHook = name;
    for (const bc of hookChains(rs, st.family, name)) {
      const isNat = bc.chain.type === "nat";
      if (isNat && (!withNat || !isNew || natDone)) continue;
      run.path.push({ kind: "hook", table: bc.tableName, chain: bc.chain.name, hook: name, priority: bc.priority });
      // before conntrack has seen the packet, ct state is invalid (nft_ct on a packet without one)
      const untracked = !tracked && bc.priority < CONNTRACK_PRIORITY;
      const ctState = st.ctState;
      if (untracked) st.ctState = "invalid";
      let v: ChainResult | undefined;
      try {
        v = runChain(bc, bc.chain, 0, isNat);
      } finally {
        st.ctState = ctState;
      }
      if (v?.kind === "nat") {
        natDone = true;
        continue;
      }
      if (!v) {
        const policy = bc.chain.policy ?? "accept";
        if (policy !== "accept") run.path.push({ kind: "policy", table: bc.tableName, chain: bc.chain.name, policy });
        v = policy === "drop" ? { kind: "drop", rule: undefined } : { kind: "accept", rule: undefined };
      }
      if (v.kind === "accept") {
        if (v.rule && !isNat) accepted = v.rule;
        continue;
      }
      run.verdict = v.kind;
      run.reason = v.rule ? (v.rule.comment ?? v.rule.text) : `policy of ${bc.tableName} ${bc.chain.name}`;
      // without `with`: ICMP(v6) port unreachable (nft's default, icmpx's in an inet table)
      if (v.kind === "reject")
        run.rejectWith = v.with ?? (st.family === 4 ? "icmp port-unreachable" : "icmpv6 port-unreachable");
      return false;
    }
    return true;
  };

  const route = (to: "local" | "forward" | "out") => {
    run.path.push({ kind: "route", to, destination: formatAddr(st.dst) });
  };

  try {
    let ok: boolean;
    if (fromNode) {
      st.oif = isLocal(st.dst) ? "lo" : packet.outInterface;
      ok = hook("output", true, false);
      const toLocal = isLocal(st.dst);
      if (ok) {
        st.oif = toLocal ? "lo" : packet.outInterface;
        route(toLocal ? "local" : "out");
        ok = hook("postrouting", true, true);
      }
      if (ok && toLocal) {
        // back in through lo: the connection's NAT is set up already, its conntrack entry attached
        st.iif = "lo";
        st.oif = "";
        ok = hook("prerouting", false, true) && hook("input", false, true);
      }
      if (ok) run.delivered = toLocal ? "local" : "out";
    } else {
      ok = hook("prerouting", true, false);
      if (ok) {
        const toLocal = isLocal(st.dst);
        route(toLocal ? "local" : "forward");
        if (toLocal) {
          ok = hook("input", true, true);
          if (ok) run.delivered = "local";
        } else {
          st.oif = packet.outInterface;
          ok = hook("forward", false, true) && hook("postrouting", true, true);
          if (ok) run.delivered = "forward";
        }
      }
    }
    if (ok) {
      if (st.ctDnat) run.verdict = "dnat";
      else if (accepted) {
        run.verdict = "accept";
        run.reason = accepted.comment ?? accepted.text;
      }
    }
  } catch (e) {
    if (!(e instanceof CannotEvaluate)) throw e;
    const rule = e.rule ?? current;
    run.verdict = "unknown";
    run.reason = e.reason;
    run.unknownRule = rule;
    run.delivered = undefined;
    if (rule && currentAt) {
      run.path.push({
        kind: "rule",
        table: currentAt.table,
        chain: currentAt.chain,
        position: currentAt.position,
        source: rule.source,
        line: rule.line,
        text: rule.text,
        target: undefined,
        effect: e.reason,
      });
    }
  }
  return run;
}

/** Every combination of random choices, each walked once (choice 0 first, then the others). */
export function enumerateNft(
  walk: (prefix: readonly number[]) => NftRun,
  max: number,
): { runs: NftRun[]; truncated: boolean } {
  const runs: NftRun[] = [];
  const stack: number[][] = [[]];
  let truncated = false;
  for (let prefix = stack.pop(); prefix; prefix = stack.pop()) {
    if (runs.length >= max) {
      truncated = true;
      break;
    }
    const r = walk(prefix);
    runs.push(r);
    // the other choices at the points this run reached first, last pushed = next run: in order
    for (let i = r.choices.length - 1; i >= prefix.length; i--) {
      const width = r.widths[i] ?? 1;
      for (let c = width - 1; c >= 1; c--) stack.push([...r.choices.slice(0, i), c]);
    }
  }
  return { runs, truncated };
}

/** A copy of the dynamic set contents. */
export function cloneDynamic(d: ReadonlyMap<string, ReadonlySet<string>>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [k, v] of d) out.set(k, new Set(v));
  return out;
}

/** The outcome of a run, as explainPacket reports it. */
export function nftOutcome(r: NftRun): PacketOutcome {
  return {
    probability: r.probability,
    verdict: r.verdict,
    endpoint: r.endpoint,
    masquerade: r.masquerade,
    delivered: r.delivered,
    reason: r.reason,
    rejectWith: r.rejectWith,
    path: r.path,
  };
}
