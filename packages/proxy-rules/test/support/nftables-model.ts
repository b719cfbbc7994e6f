import { defined } from "./defined.js";

// A model of one nftables table for unit tests, written from nft's documented semantics (not
// from the code under test): it replays `nft -f` transactions (add/flush/delete of tables,
// chains, sets, maps and elements, add rule) and dumps the resulting table one `add …` line per
// object, as knftables' Fake.Dump does, so that kube-proxy's expectations (which are dumps of
// its Fake after a sync) can be compared with what our transactions leave behind. An operation
// nft would refuse (a flush or delete of a missing object, a rule in a missing chain, a set
// element added twice…) throws, as `nft -f` would fail.
//
// sortNFTablesTransaction is kube-proxy's normalisation (pkg/proxy/nftables/helpers_test.go).

interface Chain {
  decl: string; // the `{ … }` part of the add line, or ""
  rules: string[];
}
interface Container {
  kind: "set" | "map";
  decl: string;
  elements: Map<string, string>; // key → the element's text after the key (comment, value)
}

/** The state of one table (`ip kube-proxy` or `ip6 kube-proxy`). */
export class NftTableModel {
  table: string | undefined; // the table's add line
  readonly chains = new Map<string, Chain>();
  readonly containers = new Map<string, Container>();
  /** Operations of the last transaction replayed. */
  lastOperations = 0;

  constructor(readonly family: "ip" | "ip6") {}

  /** Replays one transaction; atomic: on error the table is left as it was. */
  apply(text: string): void {
    const saved = this.snapshot();
    let ops = 0;
    try {
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue;
        this.op(line);
        ops++;
      }
    } catch (err) {
      this.restore(saved);
      throw err;
    }
    this.lastOperations = ops;
  }

  private snapshot(): string {
    return JSON.stringify({
      table: this.table,
      chains: [...this.chains],
      containers: [...this.containers].map(([k, c]) => [k, { ...c, elements: [...c.elements] }]),
    });
  }

  private restore(s: string): void {
    const o = JSON.parse(s) as {
      table: string | undefined;
      chains: [string, Chain][];
      containers: [string, { kind: "set" | "map"; decl: string; elements: [string, string][] }][];
    };
    this.table = o.table;
    this.chains.clear();
    for (const [k, v] of o.chains) this.chains.set(k, v);
    this.containers.clear();
    for (const [k, v] of o.containers) this.containers.set(k, { ...v, elements: new Map(v.elements) });
  }

  private op(line: string): void {
    const words = line.split(" ");
    const [verb, kind, family, table] = words;
    if (family !== this.family || table !== "kube-proxy") throw new Error(`wrong table in: ${line}`);
    if (kind === "table") {
      if (verb === "add") this.table = line;
      else if (verb === "delete") {
        this.table = undefined;
        this.chains.clear();
        this.containers.clear();
      } else throw new Error(`unsupported: ${line}`);
      return;
    }
    if (this.table === undefined) throw new Error(`no table for: ${line}`);
    const name = defined(words[4]);
    const rest = words.slice(5).join(" ");
    switch (`${verb} ${kind}`) {
      case "add chain": {
        const c = this.chains.get(name);
        if (!c) this.chains.set(name, { decl: rest, rules: [] });
        else if (rest !== "" && c.decl !== "" && rest !== c.decl) throw new Error(`chain exists differently: ${line}`);
        else if (rest !== "") c.decl = rest;
        return;
      }
      case "flush chain":
        this.need(this.chains.get(name), line).rules = [];
        return;
      case "delete chain": {
        this.need(this.chains.get(name), line);
        for (const [other, c] of this.chains) {
          if (other !== name && c.rules.some((r) => r.split(" ").includes(name)))
            throw new Error(`chain in use: ${line}`);
        }
        for (const ct of this.containers.values()) {
          for (const v of ct.elements.values()) if (v.endsWith(` ${name}`)) throw new Error(`chain in use: ${line}`);
        }
        this.chains.delete(name);
        return;
      }
      case "add rule": {
        const c = this.need(this.chains.get(name), line);
        for (const ref of rest.matchAll(/(?:goto|jump) ([^ ,}]+)/g)) {
          if (!this.chains.has(defined(ref[1]))) throw new Error(`no chain ${ref[1]} for: ${line}`);
        }
        for (const ref of rest.matchAll(/@([^ ,}]+)/g)) {
          if (!this.containers.has(defined(ref[1]))) throw new Error(`no set ${ref[1]} for: ${line}`);
        }
        c.rules.push(rest);
        return;
      }
      case "add set":
      case "add map": {
        const c = this.containers.get(name);
        if (!c) this.containers.set(name, { kind: kind as "set" | "map", decl: rest, elements: new Map() });
        else if (c.decl !== rest) throw new Error(`${kind} exists differently: ${line}`);
        return;
      }
      case "flush set":
      case "flush map":
        this.need(this.containers.get(name), line).elements.clear();
        return;
      case "delete set":
      case "delete map":
        this.need(this.containers.get(name), line);
        for (const c of this.chains.values()) {
          if (c.rules.some((r) => r.includes(`@${name}`))) throw new Error(`${kind} in use: ${line}`);
        }
        this.containers.delete(name);
        return;
      case "add element":
      case "delete element": {
        const c = this.need(this.containers.get(name), line);
        const m = /^\{ (.*) \}$/.exec(rest);
        if (!m) throw new Error(`bad element: ${line}`);
        const body = defined(m[1]);
        const cut = body.search(/ comment "| : /);
        const key = cut === -1 ? body : body.slice(0, cut);
        const tail = cut === -1 ? "" : body.slice(cut);
        if (verb === "delete") {
          if (!c.elements.delete(key)) throw new Error(`no element: ${line}`);
          return;
        }
        if (c.elements.has(key)) {
          if (c.elements.get(key) !== tail) throw new Error(`element exists differently: ${line}`);
          return;
        }
        for (const ref of tail.matchAll(/(?:goto|jump) ([^ ,}]+)/g)) {
          if (!this.chains.has(defined(ref[1]))) throw new Error(`no chain ${ref[1]} for: ${line}`);
        }
        c.elements.set(key, tail);
        return;
      }
      default:
        throw new Error(`unsupported: ${line}`);
    }
  }

  private need<T>(x: T | undefined, line: string): T {
    if (x === undefined) throw new Error(`no such object: ${line}`);
    return x;
  }

  /** The table as knftables' Fake.Dump lists it: one `add …` line per object. */
  dump(): string {
    if (this.table === undefined) return "";
    const p = ` ${this.family} kube-proxy `;
    const out: string[] = [this.table];
    for (const [name, c] of this.chains) out.push(`add chain${p}${name}${c.decl === "" ? "" : ` ${c.decl}`}`);
    for (const [name, c] of this.containers) out.push(`add ${c.kind}${p}${name} ${c.decl}`);
    for (const [name, c] of this.chains) for (const r of c.rules) out.push(`add rule${p}${name} ${r}`);
    for (const [name, c] of this.containers) {
      for (const [key, tail] of c.elements) out.push(`add element${p}${name} { ${key}${tail} }`);
    }
    return `${out.join("\n")}\n`;
  }
}

/** The items of a `{ a ; b ; }` declaration. */
function declItems(decl: string): string[] {
  const body = decl.replace(/^\{\s*/, "").replace(/\s*\}$/, "");
  return body
    .split(" ; ")
    .map((x) => x.replace(/\s*;$/, "").trim())
    .filter((x) => x !== "");
}

/**
 * A table in the block format `nft list table` prints (as nft 1.0 lays it out: a tab per level,
 * set and map properties one per line, `elements = { a, b }`, base chains' `type … hook …
 * priority …; policy accept;` line), for the tests of a proxier starting over an existing table.
 */
export function listFormat(model: NftTableModel): string {
  if (model.table === undefined) return "";
  const out: string[] = [`table ${model.family} kube-proxy {`];
  const tableDecl = /\{.*\}$/.exec(model.table)?.[0] ?? "";
  for (const item of declItems(tableDecl)) out.push(`\t${item}`);
  for (const [name, c] of model.containers) {
    out.push(`\t${c.kind} ${name} {`);
    for (const item of declItems(c.decl)) out.push(`\t\t${item}`);
    if (c.elements.size > 0) {
      out.push(`\t\telements = { ${[...c.elements].map(([k, tail]) => `${k}${tail}`).join(",\n\t\t\t     ")} }`);
    }
    out.push("\t}", "");
  }
  for (const [name, c] of model.chains) {
    out.push(`\tchain ${name} {`);
    const items = declItems(c.decl);
    const hook = items.filter((x) => !x.startsWith("comment "));
    if (hook.length > 0) out.push(`\t\t${hook.join("; ")}; policy accept;`);
    for (const item of items) if (item.startsWith("comment ")) out.push(`\t\t${item}`);
    for (const r of c.rules) out.push(`\t\t${r}`);
    out.push("\t}", "");
  }
  if (out[out.length - 1] === "") out.pop();
  out.push("}");
  return `${out.join("\n")}\n`;
}

/** `nft list table` with its objects and set elements in a fixed order (rules keep theirs). */
export function normalizeListing(listing: string): string {
  const blocks: string[] = [];
  let cur: string[] | undefined;
  for (const line of listing.split("\n")) {
    if (/^\t(chain|set|map) /.test(line)) cur = [line];
    else if (cur) {
      cur.push(line);
      if (line === "\t}") {
        const block = cur.join("\n").replace(/elements = \{([^}]*)\}/s, (_m, body: string) => {
          const items = body
            .split(",")
            .map((x) => x.trim())
            .filter((x) => x !== "")
            .sort();
          return `elements = { ${items.join(", ")} }`;
        });
        blocks.push(block);
        cur = undefined;
      }
    }
  }
  return blocks.sort().join("\n");
}

const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/** kube-proxy's sortNFTablesTransaction: blank and `#` lines dropped, sorted by type, name, then line (rules keep their order). */
export function sortNFTablesTransaction(tx: string): string {
  const lines = tx.split("\n").filter((l) => l !== "" && l[0] !== "#");
  const indexed = lines.map((l, i) => ({ l, w: l.split(" "), i }));
  indexed.sort((a, b) => {
    const wi = a.w;
    const wj = b.w;
    if (wi.length >= 5 && wj.length >= 5) {
      if (wi[1] !== wj[1]) return (OBJECT_ORDER[defined(wj[1])] ?? 0) - (OBJECT_ORDER[defined(wi[1])] ?? 0);
      if (wi[4] !== wj[4]) return defined(wi[4]) < defined(wj[4]) ? -1 : 1;
      if (wi[1] !== "rule" && a.l !== b.l) return a.l < b.l ? -1 : 1;
    }
    return a.i - b.i;
  });
  return indexed.map((x) => x.l).join("\n");
}

/** kube-proxy's dedent.Dedent of a template literal block. */
export function dedent(s: string): string {
  const lines = s.replace(/^\n/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => defined(/^\s*/.exec(l))[0].length));
  return lines.map((l) => l.slice(indent)).join("\n");
}
