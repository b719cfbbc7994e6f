// Reads nftables rules as text — `nft -f` input as kube-proxy's transactions write it
// (compileNftables' `text`: `add table`, `add chain … { type … hook … priority … ; }`, `flush`,
// `add rule`, `add element`, `delete …`) or `nft [-a] list ruleset` / `nft list table` output from
// a kernel (block syntax, `# handle N`, counters, set and map declarations with `elements = { … }`,
// the kernel's spelling) — into tables, chains, sets and maps. Each rule keeps its text, source and
// line; its statements are read only when a packet reaches it (./nftables-eval.ts). Several texts
// are applied in order, as several `nft -f` runs would be.

import { InvalidInputError } from "../errors.js";
import { formatAddr, parseAddr, parsePrefix } from "./addr.js";
import type { RulesetSource } from "./iptables-ruleset.js";
import { checkedSources } from "./sources.js";

/** A rule of an nftables chain: its text as written, where it came from, its counter. */
export interface NftablesRule {
  /** The table's family (`ip`, `ip6`, `inet`, …). */
  readonly family: string;
  /** The table, as `family name` (`ip kube-proxy`). */
  readonly table: string;
  /** The chain it is in. */
  readonly chain: string;
  /** The statements as written (`ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`), without `# handle`. */
  readonly text: string;
  /** The source (file) it was read from (its `name`; default `rules`). */
  readonly source: string;
  /** Line number in that source (1-based) where the rule starts. */
  readonly line: number;
  /** The rule's `comment "…"`, if any. */
  readonly comment?: string | undefined;
  /** The `counter packets N bytes M` of a listing (`{ 0, 0 }` for a bare `counter`). */
  readonly counter?: { readonly packets: number; readonly bytes: number } | undefined;
  /** The kernel's handle (`# handle N` of `nft -a list`), if given. */
  readonly handle?: number | undefined;
}

/** A chain of an nftables table; a base chain has `type`, `hook` and `priority`. */
export interface NftablesChain {
  readonly name: string;
  /** `filter`, `nat` or `route` (base chains only). */
  readonly type?: string | undefined;
  /** `prerouting`, `input`, `forward`, `output`, `postrouting`, … (base chains only). */
  readonly hook?: string | undefined;
  /** The priority as a number (named priorities resolved: `dstnat` = -100, `dstnat - 10` = -110). */
  readonly priority?: number | undefined;
  /** The priority as written (`dstnat - 10`, `-110`). */
  readonly priorityText?: string | undefined;
  /** `accept` (the default for a base chain) or `drop`. */
  readonly policy?: string | undefined;
  readonly comment?: string | undefined;
  /** Rules in order. */
  readonly rules: readonly NftablesRule[];
}

/** An element of a set or map. */
export interface NftablesSetElement {
  /** The key's parts (one per `.`-concatenated type), normalised: canonical addresses, protocol names, port numbers. */
  readonly key: readonly string[];
  /** For a map: the value as written (`goto service-…`, `drop`, `10.0.0.1`). */
  readonly value?: string | undefined;
  readonly comment?: string | undefined;
  /** A dynamic element's timeout and time left, in seconds (`timeout 3h expires 2h59m`). */
  readonly timeout?: number | undefined;
  readonly expires?: number | undefined;
}

/** A named set, map or verdict map. */
export interface NftablesSet {
  readonly name: string;
  /** `set` or `map` (a verdict map is a map whose `valueType` is `verdict`). */
  readonly kind: "set" | "map";
  /** The key's types (`ipv4_addr`, `inet_proto`, `inet_service`), or the `typeof` expressions. */
  readonly keyType: readonly string[];
  /** For a map: the value's type (`verdict`, `ipv4_addr`, …). */
  readonly valueType?: string | undefined;
  /** `interval`, `dynamic`, `timeout`, `constant`, … */
  readonly flags: readonly string[];
  /** The default element timeout in seconds. */
  readonly timeout?: number | undefined;
  readonly size?: number | undefined;
  readonly comment?: string | undefined;
  /** Elements in the order added. */
  readonly elements: readonly NftablesSetElement[];
}

/** One nftables table. */
export interface NftablesTable {
  /** `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`. */
  readonly family: "ip" | "ip6" | "inet" | string;
  readonly name: string;
  readonly comment?: string | undefined;
  readonly flags: readonly string[];
  /** Chains by name, in the order declared. */
  readonly chains: ReadonlyMap<string, NftablesChain>;
  /** Sets and maps by name, in the order declared. */
  readonly sets: ReadonlyMap<string, NftablesSet>;
  /** Stateful objects and flowtables (`counter`, `quota`, `limit`, `ct helper`, `flowtable`, …), kept by name only. */
  readonly objects: readonly NftablesObject[];
}

/** A named object of a table that rules may refer to, read by its kind and name only. */
export interface NftablesObject {
  /** `counter`, `quota`, `limit`, `secmark`, `synproxy`, `flowtable`, `ct helper`, `ct timeout`, `ct expectation`. */
  readonly kind: string;
  readonly name: string;
  readonly line: number;
}

const OBJECT_KINDS = new Set(["counter", "quota", "limit", "secmark", "synproxy", "flowtable", "tunnel"]);
const CT_OBJECT_KINDS = new Set(["helper", "timeout", "expectation"]);

/** A parsed nftables ruleset, ready for `explainPacket`. */
export interface NftablesRuleset {
  readonly kind: "nftables";
  /** The family of the first `ip` / `ip6` table (IPv4 when there is none). */
  readonly family: 4 | 6;
  /** The IP families of the tables (`inet` counts as both). */
  readonly families: readonly (4 | 6)[];
  /** Tables in the order created. */
  readonly tables: readonly NftablesTable[];
  /** Number of rules. */
  readonly ruleCount: number;
}

/** The named priorities of the ip, ip6 and inet families. */
export const NFT_PRIORITIES: Readonly<Record<string, number>> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

const PROTO_NAMES: Readonly<Record<string, string>> = {
  "1": "icmp",
  "6": "tcp",
  "17": "udp",
  "58": "ipv6-icmp",
  "132": "sctp",
};

// ---------------------------------------------------------------------------------------------
// lexer

/** A token: a word, a quoted string, or one of `{ } ; , \n`. */
export interface NftToken {
  readonly kind: "word" | "str" | "punct";
  readonly v: string;
  readonly line: number;
  /** Offsets in the text. */
  readonly start: number;
  readonly end: number;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

function isWordChar(c: number): boolean {
  // not blank, newline, quote, #, { } ; ,
  return !(
    c === 0x20 ||
    c === 0x09 ||
    c === 0x0d ||
    c === 0x0a ||
    c === 0x22 ||
    c === 0x23 ||
    c === 0x7b ||
    c === 0x7d ||
    c === 0x3b ||
    c === 0x2c
  );
}

/** Thrown inside the lexer and parser; turned into InvalidInputError with the source. */
class SyntaxFault {
  constructor(
    readonly line: number,
    readonly reason: string,
    readonly value: string | undefined,
  ) {}
}

/**
 * Splits nft text into tokens. `# handle N` comments are returned as `handle` (attached to the
 * statement they end); other comments are skipped. A backslash before a newline joins lines.
 */
class Lexer {
  pos = 0;
  line = 1;
  /** The `# handle N` seen since the last call of takeHandle(). */
  handle: number | undefined;
  #peeked: NftToken | undefined;

  constructor(readonly text: string) {}

  peek(): NftToken | undefined {
    if (!this.#peeked) this.#peeked = this.#scan();
    return this.#peeked;
  }

  next(): NftToken | undefined {
    const t = this.peek();
    this.#peeked = undefined;
    return t;
  }

  /** Whether the next token starts a line (nothing peeked, at the text's start or after a newline). */
  atLineStart(): boolean {
    return this.#peeked === undefined && (this.pos === 0 || this.text.charCodeAt(this.pos - 1) === 0x0a);
  }

  /** Moves past the current line (for a line read without tokens). */
  skipLine(end: number): void {
    this.pos = end < this.text.length ? end + 1 : end;
    this.line++;
  }

  takeHandle(): number | undefined {
    const h = this.handle;
    this.handle = undefined;
    return h;
  }

  #scan(): NftToken | undefined {
    const s = this.text;
    const n = s.length;
    let i = this.pos;
    for (;;) {
      while (i < n && isSpace(s.charCodeAt(i))) i++;
      if (i >= n) {
        this.pos = n;
        return undefined;
      }
      const c = s.charCodeAt(i);
      if (c === 0x5c /* \ */ && s.charCodeAt(i + 1) === 0x0a) {
        i += 2;
        this.line++;
        continue;
      }
      if (c === 0x5c && s.charCodeAt(i + 1) === 0x0d && s.charCodeAt(i + 2) === 0x0a) {
        i += 3;
        this.line++;
        continue;
      }
      if (c === 0x23 /* # */) {
        let e = s.indexOf("\n", i);
        if (e < 0) e = n;
        const m = /^#\s*handle\s+(\d+)\s*$/.exec(s.slice(i, e).trimEnd());
        if (m) this.handle = Number(m[1]);
        i = e;
        continue;
      }
      break;
    }
    const c = s.charCodeAt(i);
    const line = this.line;
    if (c === 0x0a) {
      this.line++;
      this.pos = i + 1;
      return { kind: "punct", v: "\n", line, start: i, end: i + 1 };
    }
    if (c === 0x22 /* " */) {
      const close = s.indexOf('"', i + 1);
      const nl = s.indexOf("\n", i + 1);
      if (close < 0 || (nl >= 0 && nl < close))
        throw new SyntaxFault(line, "unterminated string", s.slice(i, nl < 0 ? n : nl));
      this.pos = close + 1;
      return { kind: "str", v: s.slice(i + 1, close), line, start: i, end: close + 1 };
    }
    if (c === 0x7b || c === 0x7d || c === 0x3b || c === 0x2c) {
      this.pos = i + 1;
      return { kind: "punct", v: s[i] ?? "", line, start: i, end: i + 1 };
    }
    let e = i + 1;
    while (e < n && isWordChar(s.charCodeAt(e))) e++;
    this.pos = e;
    return { kind: "word", v: s.slice(i, e), line, start: i, end: e };
  }
}

/** Tokens of a rule's text (no newlines left in it), for the evaluator. */
export function tokenizeNft(text: string): NftToken[] | string {
  const lx = new Lexer(text);
  const out: NftToken[] = [];
  try {
    for (let t = lx.next(); t; t = lx.next()) if (t.v !== "\n" || t.kind !== "punct") out.push(t);
  } catch (e) {
    if (e instanceof SyntaxFault) return e.reason;
    throw e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the mutable model

interface MChain {
  name: string;
  type?: string | undefined;
  hook?: string | undefined;
  priority?: number | undefined;
  priorityText?: string | undefined;
  policy?: string | undefined;
  comment?: string | undefined;
  rules: NftablesRule[];
}

interface MSet {
  name: string;
  kind: "set" | "map";
  keyType: string[];
  valueType?: string | undefined;
  flags: string[];
  timeout?: number | undefined;
  size?: number | undefined;
  comment?: string | undefined;
  /** Elements by normalised key (the key parts joined with a space). */
  byKey: Map<string, NftablesSetElement>;
}

interface MTable {
  family: string;
  name: string;
  comment?: string | undefined;
  flags: string[];
  chains: Map<string, MChain>;
  sets: Map<string, MSet>;
  objects: NftablesObject[];
  /** The uses of its chains and sets (tableRefs), while no rule or element changed since. */
  refs?: Map<string, number> | undefined;
}

const FAMILIES = new Set(["ip", "ip6", "inet", "arp", "bridge", "netdev"]);

// The elements of a set by key, for lookups: keyed by the (readonly) elements array itself, so a
// set built or copied with other elements gets an index of its own. A cache only.
const elementIndexes = new WeakMap<readonly NftablesSetElement[], ReadonlyMap<string, NftablesSetElement>>();

/** A set's elements by their key parts joined with a space (the reader's index, or one built once). */
export function elementIndex(set: NftablesSet): ReadonlyMap<string, NftablesSetElement> {
  let m = elementIndexes.get(set.elements);
  if (!m) {
    const built = new Map<string, NftablesSetElement>();
    for (const e of set.elements) if (!built.has(e.key.join(" "))) built.set(e.key.join(" "), e);
    m = built;
    elementIndexes.set(set.elements, m);
  }
  return m;
}

const REF_CHAIN = /(?:^|[\s{:,])(?:jump|goto)\s+([^\s,};]+)/g;
const REF_SET = /@([^\s,};]+)/g;

/** What a rule's text refers to (`chain NAME`, `set NAME`), quoted strings left out. */
function ruleRefs(text: string): string[] {
  const bare = text.includes('"') ? text.replace(/"[^"]*"/g, '""') : text;
  const out: string[] = [];
  for (const m of bare.matchAll(REF_CHAIN)) out.push(`chain ${m[1]}`);
  for (const m of bare.matchAll(REF_SET)) out.push(`set ${m[1]}`);
  return out;
}

/** The uses of a table's chains and sets by its rules and verdict-map elements (`chain NAME` → count). */
function tableRefs(t: MTable): Map<string, number> {
  let refs = t.refs;
  if (refs) return refs;
  refs = new Map();
  const add = (k: string) => refs?.set(k, (refs.get(k) ?? 0) + 1);
  for (const c of t.chains.values()) for (const r of c.rules) for (const k of ruleRefs(r.text)) add(k);
  for (const m of t.sets.values())
    for (const e of m.byKey.values()) {
      const v = e.value === undefined ? null : /^(?:jump|goto)\s+(\S+)$/.exec(e.value);
      if (v) add(`chain ${v[1]}`);
    }
  t.refs = refs;
  return refs;
}

class Reader {
  tables = new Map<string, MTable>();
  source = "rules";
  lx: Lexer = new Lexer("");

  fault(line: number, reason: string, value?: string): SyntaxFault {
    return new SyntaxFault(line, reason, value);
  }

  load(text: string, source: string): void {
    this.source = source;
    this.lx = new Lexer(text);
    const lx = this.lx;
    for (;;) {
      if (lx.atLineStart() && this.plainLine()) continue;
      const t = lx.next();
      if (!t) break;
      if (t.kind === "punct" && (t.v === "\n" || t.v === ";")) {
        lx.takeHandle();
        continue;
      }
      if (t.kind !== "word") throw this.fault(t.line, `unexpected ${JSON.stringify(t.v)}`, t.v);
      this.command(t);
    }
  }

  /**
   * The bulk of a transaction without tokens: a line `add rule FAMILY TABLE CHAIN …`, `add chain
   * FAMILY TABLE CHAIN` or `flush chain FAMILY TABLE CHAIN` with single blanks and nothing a token
   * would treat apart (no quotes, `#`, `;`, tabs, backslashes; balanced braces; no comment or
   * counter to extract). Returns false to leave any other line to the tokenizer.
   */
  plainLine(): boolean {
    const lx = this.lx;
    const text = lx.text;
    const start = lx.pos;
    const c0 = text.charCodeAt(start);
    if (c0 !== 0x61 /* a */ && c0 !== 0x66 /* f */) return false;
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    const isRule = line.startsWith("add rule ");
    if (!isRule && !line.startsWith("add chain ") && !line.startsWith("flush chain ")) return false;
    if (/["#;\\\t\r]| {2}| $/.test(line)) return false;
    let sp = start;
    const parts: string[] = [];
    for (let i = 0; i < 5; i++) {
      const next = line.indexOf(" ", sp - start);
      if (next < 0) {
        if (i !== 4) return false;
        parts.push(line.slice(sp - start));
        sp = end;
        break;
      }
      parts.push(line.slice(sp - start, next));
      sp = start + next + 1;
    }
    const [, , family, tableName, chainName] = parts;
    if (family === undefined || tableName === undefined || chainName === undefined || !FAMILIES.has(family))
      return false;
    const t = this.tables.get(`${family} ${tableName}`);
    if (isRule) {
      if (sp >= end) return false;
      const body = text.slice(sp, end);
      if (/^(?:position|handle|index) /.test(body) || body.includes("comment") || body.includes("counter"))
        return false;
      if (body.indexOf("{") >= 0 || body.indexOf("}") >= 0) {
        let depth = 0;
        for (let i = 0; i < body.length; i++) {
          const c = body.charCodeAt(i);
          if (c === 0x7b) depth++;
          else if (c === 0x7d && --depth < 0) return false;
        }
        if (depth !== 0) return false;
      }
      if (!t) throw this.fault(lx.line, `table ${family} ${tableName} does not exist`, tableName);
      const c = t.chains.get(chainName);
      if (!c) throw this.fault(lx.line, `chain ${chainName} does not exist in table ${family} ${tableName}`, chainName);
      if (t.refs) t.refs = undefined;
      c.rules.push({
        family,
        table: `${family} ${tableName}`,
        chain: chainName,
        text: body,
        source: this.source,
        line: lx.line,
        comment: undefined,
        counter: undefined,
        handle: undefined,
      });
    } else {
      if (sp < end) return false;
      if (!t) throw this.fault(lx.line, `table ${family} ${tableName} does not exist`, tableName);
      if (line.startsWith("add")) {
        if (!t.chains.has(chainName)) t.chains.set(chainName, { name: chainName, rules: [] });
      } else {
        const c = t.chains.get(chainName);
        if (!c)
          throw this.fault(lx.line, `chain ${chainName} does not exist in table ${family} ${tableName}`, chainName);
        c.rules = [];
        t.refs = undefined;
      }
    }
    lx.skipLine(end);
    return true;
  }

  /** The rest of a statement: tokens up to `\n` or `;` at brace depth 0 (not consumed beyond it). */
  rest(): NftToken[] {
    const out: NftToken[] = [];
    let depth = 0;
    const lx = this.lx;
    for (;;) {
      const t = lx.peek();
      if (!t) break;
      if (t.kind === "punct") {
        if (depth === 0 && (t.v === "\n" || t.v === ";")) break;
        if (t.v === "}" && depth === 0) break;
        if (t.v === "{") depth++;
        else if (t.v === "}") depth--;
        else if (t.v === "\n") {
          lx.next();
          continue;
        }
      }
      out.push(t);
      lx.next();
    }
    if (depth !== 0) throw this.fault(out[0]?.line ?? lx.line, "unbalanced braces", undefined);
    return out;
  }

  word(what: string, after: NftToken): NftToken {
    const t = this.lx.peek();
    if (!t || t.kind === "punct")
      throw this.fault(after.line, `${what} expected after ${JSON.stringify(after.v)}`, after.v);
    this.lx.next();
    return t;
  }

  /** `[family] table`: the family defaults to ip, as nft's does. */
  tableRef(after: NftToken, create: boolean): MTable {
    const a = this.word("a table", after);
    let family = "ip";
    let name = a.v;
    if (a.kind === "word" && FAMILIES.has(a.v)) {
      const b = this.lx.peek();
      if (b && b.kind !== "punct") {
        this.lx.next();
        family = a.v;
        name = b.v;
      }
    }
    const key = `${family} ${name}`;
    let t = this.tables.get(key);
    if (!t) {
      if (!create) throw this.fault(a.line, `table ${key} does not exist`, name);
      t = { family, name, flags: [], chains: new Map(), sets: new Map(), objects: [] };
      this.tables.set(key, t);
    }
    return t;
  }

  tableKeyOnly(after: NftToken): { family: string; name: string; line: number } {
    const a = this.word("a table", after);
    const b = this.lx.peek();
    if (a.kind === "word" && FAMILIES.has(a.v) && b && b.kind !== "punct") {
      this.lx.next();
      return { family: a.v, name: b.v, line: a.line };
    }
    return { family: "ip", name: a.v, line: a.line };
  }

  chainOf(t: MTable, nameTok: NftToken, create: boolean): MChain {
    let c = t.chains.get(nameTok.v);
    if (!c) {
      if (!create)
        throw this.fault(nameTok.line, `chain ${nameTok.v} does not exist in table ${t.family} ${t.name}`, nameTok.v);
      c = { name: nameTok.v, rules: [] };
      t.chains.set(nameTok.v, c);
    }
    return c;
  }

  setOf(t: MTable, nameTok: NftToken): MSet {
    const name = nameTok.v.startsWith("@") ? nameTok.v.slice(1) : nameTok.v;
    const s = t.sets.get(name);
    if (!s) throw this.fault(nameTok.line, `set ${name} does not exist in table ${t.family} ${t.name}`, name);
    return s;
  }

  endStatement(): void {
    const t = this.lx.peek();
    if (!t) return;
    if (t.kind === "punct" && (t.v === "\n" || t.v === ";")) return;
    if (t.kind === "punct" && t.v === "}") return;
    throw this.fault(t.line, `unexpected ${JSON.stringify(t.v)}`, t.v);
  }

  command(verbTok: NftToken): void {
    const verb = verbTok.v;
    if (verb === "table" || verb === "chain" || verb === "set" || verb === "map") {
      // block syntax at the top level: `table ip kube-proxy { … }` (also `nft list chain` output)
      if (verb !== "table") throw this.fault(verbTok.line, `${verb} outside a table`, verb);
      const t = this.tableRef(verbTok, true);
      this.tableBody(t, verbTok);
      return;
    }
    if (verb === "define" || verb === "redefine" || verb === "undefine" || verb === "include")
      throw this.fault(
        verbTok.line,
        `${verb}: nft variables and includes are not read (give the rules as nft list ruleset prints them)`,
        verb,
      );
    const what = this.word("an object", verbTok);
    const obj = what.v;
    switch (verb) {
      case "add":
      case "create":
      case "delete":
      case "destroy":
      case "flush":
      case "insert":
      case "replace":
      case "reset":
        break;
      default:
        throw this.fault(verbTok.line, `unknown command ${JSON.stringify(verb)}`, verb);
    }
    if (obj === "ruleset") {
      if (verb !== "flush") throw this.fault(what.line, `${verb} ruleset is not a ruleset command nft -f runs`, verb);
      const n = this.lx.peek();
      if (n && n.kind === "word") {
        this.lx.next();
        for (const [k, t] of this.tables) if (t.family === n.v) this.tables.delete(k);
      } else this.tables.clear();
      this.endStatement();
      return;
    }
    switch (obj) {
      case "table":
        this.tableCommand(verb, what);
        return;
      case "chain":
        this.chainCommand(verb, what);
        return;
      case "rule":
        this.ruleCommand(verb, what);
        return;
      case "set":
      case "map":
        this.setCommand(verb, what, obj);
        return;
      case "element":
        this.elementCommand(verb, what);
        return;
      default: {
        const kind = this.objectKind(what);
        if (!kind) throw this.fault(what.line, `unknown object ${JSON.stringify(obj)} after ${verb}`, obj);
        const t = this.tableRef(what, false);
        const name = this.word(`a ${kind} name`, what);
        this.skipBlock(what);
        this.endStatement();
        const at = t.objects.findIndex((o) => o.kind === kind && o.name === name.v);
        if (verb === "delete" || verb === "destroy") {
          if (at >= 0) t.objects.splice(at, 1);
          else if (verb === "delete")
            throw this.fault(name.line, `${kind} ${name.v} does not exist in table ${t.family} ${t.name}`, name.v);
        } else if (at < 0) t.objects.push({ kind, name: name.v, line: what.line });
      }
    }
  }

  tableCommand(verb: string, what: NftToken): void {
    if (verb === "add" || verb === "create") {
      const ref = this.tableKeyOnly(what);
      const key = `${ref.family} ${ref.name}`;
      if (verb === "create" && this.tables.has(key)) throw this.fault(ref.line, `table ${key} exists`, ref.name);
      let t = this.tables.get(key);
      if (!t) {
        t = { family: ref.family, name: ref.name, flags: [], chains: new Map(), sets: new Map(), objects: [] };
        this.tables.set(key, t);
      }
      const b = this.lx.peek();
      if (b && b.kind === "punct" && b.v === "{") this.tableBody(t, what);
      this.endStatement();
      return;
    }
    const ref = this.tableKeyOnly(what);
    const key = `${ref.family} ${ref.name}`;
    const t = this.tables.get(key);
    this.endStatement();
    if (verb === "delete" || verb === "destroy") {
      if (!t && verb === "delete") throw this.fault(ref.line, `table ${key} does not exist`, ref.name);
      this.tables.delete(key);
    } else if (verb === "flush") {
      if (!t) throw this.fault(ref.line, `table ${key} does not exist`, ref.name);
      for (const c of t.chains.values()) c.rules = [];
      t.refs = undefined;
    } else throw this.fault(what.line, `${verb} table is not supported`, verb);
  }

  /** `{ … }` of a table: chains, sets, maps, comment, flags. `open` is the token before `{`. */
  tableBody(t: MTable, open: NftToken): void {
    const lx = this.lx;
    const b = lx.next();
    if (b?.v !== "{" || b.kind !== "punct") throw this.fault(open.line, "{ expected after the table name", undefined);
    lx.takeHandle();
    for (;;) {
      const x = lx.next();
      if (!x) throw this.fault(open.line, "table block not closed (no })", undefined);
      if (x.kind === "punct") {
        if (x.v === "}") break;
        if (x.v === "\n" || x.v === ";") {
          lx.takeHandle();
          continue;
        }
        throw this.fault(x.line, `unexpected ${JSON.stringify(x.v)}`, x.v);
      }
      switch (x.v) {
        case "comment": {
          const s = this.word("a string", x);
          t.comment = s.v;
          break;
        }
        case "flags":
          t.flags = this.flagList(x);
          break;
        case "chain": {
          const name = this.word("a chain name", x);
          const c = this.chainOf(t, name, true);
          this.chainBody(t, c, name);
          break;
        }
        case "set":
        case "map": {
          const name = this.word(`a ${x.v} name`, x);
          if (t.sets.has(name.v)) throw this.fault(name.line, `${x.v} ${name.v} declared twice`, name.v);
          const s: MSet = { name: name.v, kind: x.v, keyType: [], flags: [], byKey: new Map() };
          this.setBody(t, s, name);
          t.sets.set(name.v, s);
          break;
        }
        default: {
          const kind = this.objectKind(x);
          if (!kind) throw this.fault(x.line, `unknown ${JSON.stringify(x.v)} in table ${t.family} ${t.name}`, x.v);
          const name = this.word(`a ${kind} name`, x);
          this.skipBlock(x);
          t.objects.push({ kind, name: name.v, line: x.line });
        }
      }
    }
  }

  /** `counter`, `ct helper`, `flowtable`, … at `x` (the `ct` object's second word consumed): its kind. */
  objectKind(x: NftToken): string | undefined {
    if (x.kind !== "word") return undefined;
    if (OBJECT_KINDS.has(x.v)) return x.v;
    const n = this.lx.peek();
    if (x.v === "ct" && n && n.kind === "word" && CT_OBJECT_KINDS.has(n.v)) {
      this.lx.next();
      return `ct ${n.v}`;
    }
    return undefined;
  }

  /** A `{ … }` block (balanced), if one follows. */
  skipBlock(after: NftToken): void {
    const lx = this.lx;
    const b = lx.peek();
    if (b?.kind !== "punct" || b.v !== "{") return;
    let depth = 0;
    for (let t = lx.next(); t; t = lx.next()) {
      if (t.kind === "punct" && t.v === "{") depth++;
      else if (t.kind === "punct" && t.v === "}" && --depth === 0) {
        lx.takeHandle();
        return;
      }
    }
    throw this.fault(after.line, `${after.v} block not closed (no })`, after.v);
  }

  flagList(after: NftToken): string[] {
    const out: string[] = [];
    const lx = this.lx;
    for (;;) {
      const f = this.word("a flag", after);
      out.push(f.v);
      const n = lx.peek();
      if (n && n.kind === "punct" && n.v === ",") {
        lx.next();
        continue;
      }
      break;
    }
    return out;
  }

  /** `{ type … hook … priority … ; policy … ; comment … ; rules… }` of a chain. */
  chainBody(t: MTable, c: MChain, nameTok: NftToken): void {
    const lx = this.lx;
    const b = lx.peek();
    if (b?.kind !== "punct" || b.v !== "{") return;
    lx.next();
    lx.takeHandle();
    for (;;) {
      const x = lx.peek();
      if (!x) throw this.fault(nameTok.line, `chain ${c.name} not closed (no })`, c.name);
      if (x.kind === "punct") {
        lx.next();
        if (x.v === "}") break;
        if (x.v === "\n" || x.v === ";") {
          lx.takeHandle();
          continue;
        }
        throw this.fault(x.line, `unexpected ${JSON.stringify(x.v)}`, x.v);
      }
      if (x.kind === "word" && x.v === "type") {
        lx.next();
        this.chainSpec(t, c, x);
        continue;
      }
      if (x.kind === "word" && x.v === "policy") {
        lx.next();
        c.policy = this.word("accept or drop", x).v;
        continue;
      }
      if (x.kind === "word" && x.v === "comment") {
        // a chain's comment is a line of its own; a rule never is only a comment
        lx.next();
        const s = this.word("a string", x);
        const after = lx.peek();
        if (!after || after.kind === "punct") {
          c.comment = s.v;
          continue;
        }
        throw this.fault(after.line, `unexpected ${JSON.stringify(after.v)} after the chain's comment`, after.v);
      }
      if (x.kind === "word" && x.v === "devices") {
        this.rest();
        continue;
      }
      const toks = this.rest();
      this.addRule(t, c, toks, lx.takeHandle(), c.rules.length);
    }
  }

  chainSpec(t: MTable, c: MChain, typeTok: NftToken): void {
    const type = this.word("a chain type", typeTok);
    c.type = type.v;
    const h = this.word("hook", typeTok);
    if (h.v !== "hook") throw this.fault(h.line, `hook expected, not ${JSON.stringify(h.v)}`, h.v);
    const hook = this.word("a hook name", h);
    c.hook = hook.v;
    const lx = this.lx;
    let n = lx.peek();
    if (n && n.kind === "word" && n.v === "device") {
      lx.next();
      this.word("a device", n);
      n = lx.peek();
    }
    if (n?.kind !== "word" || n.v !== "priority")
      throw this.fault(h.line, "priority expected in the chain's type", n?.v);
    lx.next();
    const parts: NftToken[] = [];
    for (let p = lx.peek(); p && p.kind !== "punct"; p = lx.peek()) {
      parts.push(p);
      lx.next();
    }
    const text = parts.map((p) => p.v).join(" ");
    const pr = parsePriority(text);
    if (pr === undefined) throw this.fault(n.line, `bad priority ${JSON.stringify(text)}`, text);
    const refused = refusedBaseChain(t.family, type.v, hook.v, pr);
    if (refused) throw this.fault(type.line, `chain ${c.name}: ${refused}`, `type ${type.v} hook ${hook.v}`);
    c.priority = pr;
    c.priorityText = text;
    c.policy ??= "accept";
  }

  addRule(t: MTable, c: MChain, toks: readonly NftToken[], handle: number | undefined, at: number): void {
    const first = toks[0];
    const last = toks[toks.length - 1];
    if (!first || !last) return;
    let text = this.lx.text.slice(first.start, last.end);
    if (text.includes("\n")) text = text.replace(/\s*\\?\r?\n\s*/g, " ");
    let comment: string | undefined;
    let counter: { packets: number; bytes: number } | undefined;
    for (let i = 0; i < toks.length; i++) {
      const k = toks[i];
      if (k?.kind !== "word") continue;
      if (k.v === "comment" && toks[i + 1]?.kind === "str") comment = toks[i + 1]?.v;
      else if (k.v === "counter") {
        if (toks[i + 1]?.v === "packets" && toks[i + 3]?.v === "bytes")
          counter = { packets: Number(toks[i + 2]?.v), bytes: Number(toks[i + 4]?.v) };
        else counter = { packets: 0, bytes: 0 };
      } else if (k.v === "{") break;
    }
    const rule: NftablesRule = {
      family: t.family,
      table: `${t.family} ${t.name}`,
      chain: c.name,
      text,
      source: this.source,
      line: first.line,
      comment,
      counter,
      handle,
    };
    if (at >= c.rules.length) c.rules.push(rule);
    else c.rules.splice(at, 0, rule);
    t.refs = undefined;
  }

  /**
   * The kernel refuses to delete a chain a rule or verdict-map element jumps to, or a set a rule
   * uses ("Device or resource busy"), at the delete itself: a use removed before it is fine.
   */
  notInUse(t: MTable, kind: "chain" | "set" | "map", name: NftToken): void {
    const key = `${kind === "chain" ? "chain" : "set"} ${name.v}`;
    if ((tableRefs(t).get(key) ?? 0) === 0) return;
    for (const c of t.chains.values())
      for (const r of c.rules)
        if (ruleRefs(r.text).includes(key))
          throw this.fault(
            name.line,
            `${kind} ${name.v} is in use (by the rule of line ${r.line} in chain ${c.name})`,
            name.v,
          );
    for (const m of t.sets.values())
      for (const e of m.byKey.values())
        if (e.value !== undefined && /^(?:jump|goto)\s+(\S+)$/.exec(e.value)?.[1] === name.v)
          throw this.fault(name.line, `chain ${name.v} is in use (by an element of map ${m.name})`, name.v);
  }

  chainCommand(verb: string, what: NftToken): void {
    const t = this.tableRef(what, false);
    const name = this.word("a chain name", what);
    if (verb === "add" || verb === "create") {
      if (verb === "create" && t.chains.has(name.v)) throw this.fault(name.line, `chain ${name.v} exists`, name.v);
      const c = this.chainOf(t, name, true);
      this.chainBody(t, c, name);
      this.endStatement();
      return;
    }
    this.endStatement();
    const c = t.chains.get(name.v);
    if (verb === "flush") {
      if (!c) throw this.fault(name.line, `chain ${name.v} does not exist in table ${t.family} ${t.name}`, name.v);
      c.rules = [];
      t.refs = undefined;
    } else if (verb === "delete" || verb === "destroy") {
      if (!c) {
        if (verb === "delete")
          throw this.fault(name.line, `chain ${name.v} does not exist in table ${t.family} ${t.name}`, name.v);
        return;
      }
      if (c.rules.length > 0 && verb === "delete")
        throw this.fault(name.line, `chain ${name.v} is not empty (flush it first)`, name.v);
      this.notInUse(t, "chain", name);
      t.chains.delete(name.v);
    } else throw this.fault(what.line, `${verb} chain is not supported`, verb);
  }

  ruleCommand(verb: string, what: NftToken): void {
    const t = this.tableRef(what, false);
    const name = this.word("a chain name", what);
    const c = this.chainOf(t, name, false);
    const lx = this.lx;
    let at = verb === "insert" ? 0 : c.rules.length;
    let replace = false;
    const p = lx.peek();
    if (p && p.kind === "word" && (p.v === "position" || p.v === "handle" || p.v === "index")) {
      lx.next();
      const numTok = this.word("a number", p);
      const num = Number(numTok.v);
      if (!/^\d+$/.test(numTok.v)) throw this.fault(numTok.line, `bad ${p.v} ${JSON.stringify(numTok.v)}`, numTok.v);
      if (p.v === "index") {
        if (num > c.rules.length) throw this.fault(numTok.line, `index ${num} is past the chain's end`, numTok.v);
        at = verb === "insert" ? num : num + 1;
      } else {
        const i = c.rules.findIndex((r) => r.handle === num);
        if (i < 0) throw this.fault(numTok.line, `no rule with handle ${num} in chain ${c.name}`, numTok.v);
        if (verb === "delete" || verb === "destroy") {
          this.endStatement();
          c.rules.splice(i, 1);
          t.refs = undefined;
          return;
        }
        if (verb === "replace") {
          replace = true;
          at = i;
        } else at = verb === "insert" ? i : i + 1;
      }
    } else if (verb === "delete" || verb === "destroy" || verb === "replace")
      throw this.fault(what.line, `${verb} rule needs a handle`, verb);
    const toks = this.rest();
    if (toks.length === 0) throw this.fault(what.line, "a rule without statements", undefined);
    if (replace) c.rules.splice(at, 1);
    t.refs = undefined;
    this.addRule(t, c, toks, lx.takeHandle(), at);
  }

  setCommand(verb: string, what: NftToken, kind: "set" | "map"): void {
    const t = this.tableRef(what, false);
    const name = this.word(`a ${kind} name`, what);
    if (verb === "add" || verb === "create") {
      const existing = t.sets.get(name.v);
      if (existing && verb === "create") throw this.fault(name.line, `${kind} ${name.v} exists`, name.v);
      const s: MSet = existing ?? { name: name.v, kind, keyType: [], flags: [], byKey: new Map() };
      const b = this.lx.peek();
      if (b && b.kind === "punct" && b.v === "{") {
        if (existing) {
          // re-adding an existing set with its declaration: nft checks the declaration matches
          const fresh: MSet = { name: name.v, kind, keyType: [], flags: [], byKey: new Map() };
          this.setBody(t, fresh, name);
          if (fresh.keyType.join(" . ") !== existing.keyType.join(" . "))
            throw this.fault(name.line, `${kind} ${name.v} exists with another type`, name.v);
          for (const [k, e] of fresh.byKey) existing.byKey.set(k, e);
        } else this.setBody(t, s, name);
      } else if (!existing) throw this.fault(name.line, `${kind} ${name.v} needs a declaration ({ type … })`, name.v);
      if (s.keyType.length === 0) throw this.fault(name.line, `${kind} ${name.v} has no type`, name.v);
      t.sets.set(name.v, s);
      this.endStatement();
      return;
    }
    this.endStatement();
    const s = t.sets.get(name.v);
    if (!s) {
      if (verb === "destroy") return;
      throw this.fault(name.line, `${kind} ${name.v} does not exist in table ${t.family} ${t.name}`, name.v);
    }
    if (verb === "flush") {
      s.byKey.clear();
      t.refs = undefined;
    } else if (verb === "delete" || verb === "destroy") {
      this.notInUse(t, kind, name);
      t.sets.delete(name.v);
      t.refs = undefined;
    } else throw this.fault(what.line, `${verb} ${kind} is not supported`, verb);
  }

  /** `{ type a . b : c ; flags … ; timeout … ; elements = { … } ; comment … }` */
  setBody(t: MTable, s: MSet, nameTok: NftToken): void {
    const lx = this.lx;
    const b = lx.next();
    if (b?.kind !== "punct" || b.v !== "{")
      throw this.fault(nameTok.line, `{ expected after ${s.kind} ${s.name}`, undefined);
    lx.takeHandle();
    for (;;) {
      const x = lx.next();
      if (!x) throw this.fault(nameTok.line, `${s.kind} ${s.name} not closed (no })`, s.name);
      if (x.kind === "punct") {
        if (x.v === "}") break;
        if (x.v === "\n" || x.v === ";") continue;
        throw this.fault(x.line, `unexpected ${JSON.stringify(x.v)}`, x.v);
      }
      switch (x.v) {
        case "type":
        case "typeof": {
          const parts: string[][] = [[]];
          let value: string[] | undefined;
          for (let p = lx.peek(); p && p.kind !== "punct"; p = lx.peek()) {
            lx.next();
            if (p.v === ".") parts.push([]);
            else if (p.v === ":") value = [];
            else if (value) value.push(p.v);
            else parts[parts.length - 1]?.push(p.v);
          }
          s.keyType = parts.map((q) => q.join(" "));
          if (s.keyType.some((k) => k === "")) throw this.fault(x.line, `bad ${x.v} of ${s.kind} ${s.name}`, undefined);
          if (value) s.valueType = value.join(" ");
          if (s.kind === "map" && !value)
            throw this.fault(x.line, `map ${s.name} needs a value type (type … : …)`, s.name);
          if (s.kind === "set" && value) throw this.fault(x.line, `set ${s.name} cannot have a value type`, s.name);
          break;
        }
        case "flags":
          s.flags = this.flagList(x);
          break;
        case "timeout":
        case "gc-interval": {
          const v = this.word("a time", x);
          const sec = parseTime(v.v);
          if (sec === undefined) throw this.fault(v.line, `bad time ${JSON.stringify(v.v)}`, v.v);
          if (x.v === "timeout") s.timeout = sec;
          break;
        }
        case "size": {
          const v = this.word("a number", x);
          s.size = Number(v.v);
          break;
        }
        case "policy":
          this.word("a policy", x);
          break;
        case "comment":
          s.comment = this.word("a string", x).v;
          break;
        case "counter":
        case "auto-merge":
          break;
        case "elements": {
          const eq = this.word("=", x);
          if (eq.v !== "=") throw this.fault(eq.line, `= expected after elements`, eq.v);
          this.elementList(t, s, x, "add");
          break;
        }
        default:
          throw this.fault(x.line, `unknown ${JSON.stringify(x.v)} in ${s.kind} ${s.name}`, x.v);
      }
    }
  }

  elementCommand(verb: string, what: NftToken): void {
    const t = this.tableRef(what, false);
    const name = this.word("a set name", what);
    const s = this.setOf(t, name);
    if (verb === "flush") {
      s.byKey.clear();
      t.refs = undefined;
      this.endStatement();
      return;
    }
    if (verb !== "add" && verb !== "create" && verb !== "delete" && verb !== "destroy")
      throw this.fault(what.line, `${verb} element is not supported`, verb);
    this.elementList(t, s, name, verb);
    this.endStatement();
  }

  /** `{ key [options] [: value], … }` */
  elementList(t: MTable, s: MSet, at: NftToken, verb: string): void {
    const lx = this.lx;
    t.refs = undefined;
    const b = lx.next();
    if (b?.kind !== "punct" || b.v !== "{") throw this.fault(at.line, "{ expected before the elements", undefined);
    let cur: NftToken[] = [];
    const flush = () => {
      if (cur.length > 0) this.element(s, cur, verb);
      cur = [];
    };
    let depth = 0;
    for (;;) {
      const x = lx.next();
      if (!x) throw this.fault(at.line, "elements not closed (no })", undefined);
      if (x.kind === "punct") {
        if (x.v === "}" && depth === 0) {
          flush();
          break;
        }
        if (x.v === "\n") continue;
        if (x.v === "," && depth === 0) {
          flush();
          continue;
        }
        if (x.v === "{") depth++;
        if (x.v === "}") depth--;
      }
      cur.push(x);
    }
  }

  element(s: MSet, toks: readonly NftToken[], verb: string): void {
    const first = toks[0];
    const line = first?.line ?? this.lx.line;
    const key: string[] = [];
    let i = 0;
    // the key: part (. part)*, a part a word or a quoted string (`"eth0"` of an ifname key)
    for (;;) {
      const k = toks[i];
      if (k?.kind !== "word" && k?.kind !== "str")
        throw this.fault(line, `bad element of ${s.kind} ${s.name}`, toks.map((x) => x.v).join(" "));
      key.push(normalizeKeyPart(k.v, s.keyType[key.length]));
      i++;
      if (toks[i]?.v === ".") {
        i++;
        continue;
      }
      break;
    }
    let comment: string | undefined;
    let timeout: number | undefined;
    let expires: number | undefined;
    let value: string | undefined;
    while (i < toks.length) {
      const k = toks[i];
      if (!k) break;
      if (k.v === ":" && k.kind === "word") {
        const rest = toks.slice(i + 1);
        value = rest.map((x) => x.v).join(" ");
        if (value === "") throw this.fault(k.line, `element of map ${s.name} without a value`, undefined);
        break;
      }
      if (k.v === "comment") {
        comment = toks[i + 1]?.v;
        i += 2;
      } else if (k.v === "timeout" || k.v === "expires") {
        const v = parseTime(toks[i + 1]?.v ?? "");
        if (v === undefined) throw this.fault(k.line, `bad time after ${k.v}`, toks[i + 1]?.v);
        if (k.v === "timeout") timeout = v;
        else expires = v;
        i += 2;
      } else if (k.v === "counter") {
        i += toks[i + 1]?.v === "packets" ? 5 : 1;
      } else throw this.fault(k.line, `unexpected ${JSON.stringify(k.v)} in an element of ${s.kind} ${s.name}`, k.v);
    }
    if (key.length !== s.keyType.length)
      throw this.fault(
        line,
        `element ${key.join(" . ")} does not fit ${s.kind} ${s.name}'s type ${s.keyType.join(" . ")}`,
        key.join(" . "),
      );
    if (s.kind === "map" && verb !== "delete" && verb !== "destroy" && value === undefined)
      throw this.fault(line, `element ${key.join(" . ")} of map ${s.name} needs a value`, key.join(" . "));
    if (s.kind === "set" && value !== undefined)
      throw this.fault(line, `element ${key.join(" . ")} of set ${s.name} cannot have a value`, key.join(" . "));
    const k = key.join(" ");
    const old = s.byKey.get(k);
    if (verb === "delete" || verb === "destroy") {
      if (!old && verb === "delete")
        throw this.fault(line, `element ${key.join(" . ")} is not in ${s.kind} ${s.name}`, key.join(" . "));
      s.byKey.delete(k);
      return;
    }
    if (old) {
      if (verb === "create")
        throw this.fault(line, `element ${key.join(" . ")} exists in ${s.kind} ${s.name}`, key.join(" . "));
      if (old.value !== value)
        throw this.fault(
          line,
          `element ${key.join(" . ")} exists in map ${s.name} with another value (${old.value})`,
          key.join(" . "),
        );
      return;
    }
    s.byKey.set(k, { key, value, comment, timeout, expires });
  }

  finish(): NftablesRuleset {
    const tables: NftablesTable[] = [];
    const families = new Set<4 | 6>();
    let family: 4 | 6 | undefined;
    let ruleCount = 0;
    for (const t of this.tables.values()) {
      if (t.family === "ip") {
        families.add(4);
        family ??= 4;
      } else if (t.family === "ip6") {
        families.add(6);
        family ??= 6;
      } else if (t.family === "inet") {
        families.add(4);
        families.add(6);
      }
      const chains = new Map<string, NftablesChain>();
      for (const c of t.chains.values()) {
        ruleCount += c.rules.length;
        chains.set(c.name, { ...c, rules: c.rules });
      }
      const sets = new Map<string, NftablesSet>();
      for (const s of t.sets.values()) {
        const elements = [...s.byKey.values()];
        elementIndexes.set(elements, s.byKey);
        const out: NftablesSet = {
          name: s.name,
          kind: s.kind,
          keyType: s.keyType,
          valueType: s.valueType,
          flags: s.flags,
          timeout: s.timeout,
          size: s.size,
          comment: s.comment,
          elements,
        };
        sets.set(s.name, out);
      }
      tables.push({
        family: t.family,
        name: t.name,
        comment: t.comment,
        flags: t.flags,
        chains,
        sets,
        objects: t.objects,
      });
    }
    return { kind: "nftables", family: family ?? 4, families: [...families].sort(), tables, ruleCount };
  }
}

/**
 * Why the kernel refuses a base chain of the ip, ip6 or inet family (nft -f fails with "Operation
 * not supported"), or undefined: a nat chain only on prerouting, input, output and postrouting
 * and after conntrack (priority above -200), a route chain only on output.
 */
function refusedBaseChain(family: string, type: string, hook: string, priority: number): string | undefined {
  if (family !== "ip" && family !== "ip6" && family !== "inet") return undefined;
  if (type === "nat") {
    if (!["prerouting", "input", "output", "postrouting"].includes(hook)) return `no nat chain on the ${hook} hook`;
    if (priority <= -200) return `a nat chain needs a priority above conntrack's -200, not ${priority}`;
  } else if (type === "route") {
    if (hook !== "output") return `a route chain is only for the output hook, not ${hook}`;
  } else if (type !== "filter") return `unknown chain type ${JSON.stringify(type)}`;
  return undefined;
}

/** A priority: a number, a name, or `name ± number`. */
export function parsePriority(text: string): number | undefined {
  const m = /^(?:([a-z]+)\s*(?:([+-])\s*(\d+))?|(-?\d+))$/.exec(text.trim());
  if (!m) return undefined;
  if (m[4] !== undefined) return Number(m[4]);
  const base = NFT_PRIORITIES[m[1] ?? ""];
  if (base === undefined) return undefined;
  const off = m[3] === undefined ? 0 : Number(m[3]);
  return m[2] === "-" ? base - off : base + off;
}

/** `10800s`, `3h`, `1d2h3m4s`, `250ms`, a bare number of seconds; undefined when malformed. */
export function parseTime(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const re = /(\d+)(ms|d|h|m|s)/gy;
  let total = 0;
  let seen = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += m[2] === "d" ? n * 86400 : m[2] === "h" ? n * 3600 : m[2] === "m" ? n * 60 : m[2] === "s" ? n : n / 1000;
    seen = re.lastIndex;
  }
  return seen === text.length && text.length > 0 ? total : undefined;
}

/** One part of an element key in its canonical spelling (the one lookups use). */
export function normalizeKeyPart(raw: string, type: string | undefined): string {
  if (type === "inet_proto" || type === "meta l4proto") return PROTO_NAMES[raw] ?? raw.toLowerCase();
  const c = raw.charCodeAt(0);
  if ((c >= 0x30 && c <= 0x39) || raw.includes(":")) {
    if (/^\d+$/.test(raw)) return String(Number(raw));
    const a = parseAddr(raw);
    if (a) return formatAddr(a);
    if (raw.includes("/")) {
      const p = parsePrefix(raw);
      if (p) {
        const net = p.family === 4 ? { family: 4 as const, v: p.net } : { family: 6 as const, v: p.net };
        const full = p.family === 4 ? p.bits === 32 : p.bits === 128;
        return full ? formatAddr(net) : `${formatAddr(net)}/${p.bits}`;
      }
    }
  }
  return raw;
}

function toFault(e: unknown, source: string): unknown {
  return e instanceof SyntaxFault
    ? new InvalidInputError({ kind: "Ruleset", name: source }, `line ${e.line}`, e.reason, e.value)
    : e;
}

/** Whether a text looks like nftables rather than iptables-restore input or iptables-save output. */
export function isNftablesText(text: string): boolean {
  for (const raw of text.split("\n", 200)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    return /^(?:table|add|create|flush|delete|destroy|insert|replace|define|redefine|undefine|include)\s/.test(line);
  }
  return false;
}

/**
 * Reads one or more nftables texts — `nft -f` input (compileNftables' `text` and `cleanupText`,
 * kube-proxy's transactions) or `nft [-a] list ruleset` / `nft list table …` output — into a
 * ruleset, applying them in order as successive `nft -f` runs would. Tables of every family are
 * kept (`ip`, `ip6`, `inet`, …); each rule keeps its text, source and line, its comment, counter
 * and handle. Throws {@link InvalidInputError} (kind `Ruleset`, the source as its name, field
 * `line N`) for text nft would refuse: an unknown command or keyword, a rule for a chain that does
 * not exist, an element that does not fit its set, an unterminated string. A rule's statements
 * themselves are read when `explainPacket` first reaches it.
 *
 * @example
 * ```ts
 * const ruleset = parseNftablesRuleset(execFileSync("nft", ["list", "ruleset"], { encoding: "utf8" }));
 * const why = explainPacket(ruleset, { from: "pod", source: "10.244.1.5", destination: "10.96.0.10", port: 80 });
 * ```
 */
export function parseNftablesRuleset(
  sources: string | RulesetSource | readonly (string | RulesetSource)[],
): NftablesRuleset {
  const r = new Reader();
  for (const { text, name } of checkedSources(sources)) {
    // a failing text fails the whole call: no ruleset is returned, so nothing of it is half-applied
    try {
      r.load(text, name);
    } catch (e) {
      throw toFault(e, name);
    }
  }
  return r.finish();
}
