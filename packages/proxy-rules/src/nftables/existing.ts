// Reading what `nft list ruleset` (or `nft list table ip kube-proxy` / `ip6 kube-proxy`) prints,
// for a proxier's first sync over a table an earlier kube-proxy left: which chains exist with
// which rules, which sets and maps exist, and their elements. kube-proxy lists its table when it
// starts and writes only what differs (pkg/proxy/nftables/proxier.go since its restart
// optimisation, pinned by TestSyncProxyRulesStartup).

import { InvalidInputError } from "../errors.js";
import { isNftName } from "./names.js";

/** One `kube-proxy` table as nft lists it. */
export interface ExistingTable {
  /** Chains by name, with their rules as nft prints them (base-chain and comment lines left out). */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Sets and maps by name: element key → the rest of the element (` comment "…" : verdict`). */
  readonly containers: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

const EMPTY_TABLE: ExistingTable = { chains: new Map(), containers: new Map() };

function fail(line: number, reason: string, value: string): never {
  throw new InvalidInputError({ kind: "CompileNftablesOptions" }, "existingRuleset", `line ${line}: ${reason}`, value);
}

/** The change of brace depth of a line, braces in quoted strings left out. */
function braceDelta(s: string): number {
  let d = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") d++;
    else if (!quoted && c === "}") d--;
  }
  return d;
}

/** Splits at the commas outside quotes. */
function splitElements(s: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ",") {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out.filter((e) => e !== "");
}

const KEY_END = [' comment "', " : ", " timeout ", " expires "];

function splitElement(e: string): [key: string, rest: string] {
  let cut = e.length;
  for (const m of KEY_END) {
    const i = e.indexOf(m);
    if (i !== -1 && i < cut) cut = i;
  }
  return [e.slice(0, cut), e.slice(cut)];
}

function unquote(name: string): string {
  return name.length >= 2 && name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1) : name;
}

/**
 * The `kube-proxy` tables of `text` (what `nft list ruleset` prints), by family (`ip`, `ip6`):
 * a family whose table is not in the text gets an empty table (nothing exists). Other tables
 * are skipped.
 *
 * @throws {@link InvalidInputError} (`existingRuleset`, with the line) when the text is not in nft's listing format.
 */
export function parseExistingRuleset(text: string): ReadonlyMap<"ip" | "ip6", ExistingTable> {
  const out = new Map<"ip" | "ip6", ExistingTable>([
    ["ip", EMPTY_TABLE],
    ["ip6", EMPTY_TABLE],
  ]);
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i] ?? "";
    const line = raw.trim();
    i++;
    if (line === "" || line.startsWith("#")) continue;
    const m = /^table (\S+) (\S+) \{$/.exec(line);
    if (!m) fail(i, "expected `table <family> <name> {`", raw);
    const family = m[1] ?? "";
    const name = unquote(m[2] ?? "");
    if ((family === "ip" || family === "ip6") && name === "kube-proxy") {
      const [table, next] = parseTable(lines, i);
      out.set(family, table);
      i = next;
    } else {
      // another table: skip to its closing brace
      let depth = 1;
      while (depth > 0) {
        if (i >= lines.length) fail(i, `table ${family} ${name} is not closed`, raw);
        depth += braceDelta(lines[i] ?? "");
        i++;
      }
    }
  }
  return out;
}

/** Reads a table's body from line index `i` (after its `table … {` line) to its closing brace. */
function parseTable(lines: readonly string[], start: number): [ExistingTable, number] {
  const chains = new Map<string, string[]>();
  const containers = new Map<string, Map<string, string>>();
  let i = start;
  for (;;) {
    if (i >= lines.length) fail(i, "table ip kube-proxy is not closed", "");
    const raw = lines[i] ?? "";
    const line = raw.trim();
    i++;
    if (line === "" || line.startsWith("#") || line.startsWith("comment ")) continue;
    if (line === "}") return [{ chains, containers }, i];
    const m =
      /^(chain|set|map|flowtable|counter|quota|ct helper|ct timeout|ct expectation|limit|secmark|synproxy) (\S+) \{$/.exec(
        line,
      );
    if (!m) fail(i, "expected a chain, set or map", raw);
    const kind = m[1] ?? "";
    const name = unquote(m[2] ?? "");
    if ((kind === "chain" || kind === "set" || kind === "map") && !isNftName(name)) {
      fail(i, "not an nftables name", name);
    }
    // the object's lines up to its closing brace
    const body: string[] = [];
    let depth = 1;
    for (;;) {
      if (i >= lines.length) fail(i, `${kind} ${name} is not closed`, raw);
      const l = lines[i] ?? "";
      i++;
      depth += braceDelta(l);
      if (depth === 0) break;
      body.push(l.trim());
    }
    if (kind === "chain") {
      chains.set(
        name,
        body.filter((r) => r !== "" && !r.startsWith("comment ") && !/^type \S+ hook /.test(r)),
      );
    } else if (kind === "set" || kind === "map") {
      containers.set(name, parseElements(body, i));
    }
  }
}

function parseElements(body: readonly string[], at: number): Map<string, string> {
  const elements = new Map<string, string>();
  const j = body.findIndex((l) => l.startsWith("elements = {"));
  if (j === -1) return elements;
  let all = body.slice(j).join(" ").slice("elements = {".length);
  const end = all.lastIndexOf("}");
  if (end === -1) fail(at, "elements are not closed", body[j] ?? "");
  all = all.slice(0, end);
  for (const e of splitElements(all)) {
    const [key, rest] = splitElement(e);
    // a key goes back into rule text (`delete element … { key }`): addresses, protocols, ports
    if (!/^[0-9A-Za-z:._/-]+( \. [0-9A-Za-z:._/-]+)*$/.test(key)) fail(at, "not an element key nft lists", key);
    elements.set(key, rest);
  }
  return elements;
}
