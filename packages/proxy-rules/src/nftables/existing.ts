// Reading what `nft list ruleset` (or `nft list table ip kube-proxy` / `ip6 kube-proxy`) prints,
// for a proxier's first sync over a table an earlier kube-proxy left: which chains exist with
// which rules, which sets and maps exist, and their elements. kube-proxy lists its table when it
// starts and writes only what differs (pkg/proxy/nftables/proxier.go since its restart
// optimisation, pinned by TestSyncProxyRulesStartup). The text is read by the same reader as
// explainPacket's (../trace/nftables-ruleset.ts: tables, chains, sets and elements only).

import { InvalidInputError } from "../errors.js";
import { type NftablesTable, parseNftablesRuleset } from "../trace/nftables-ruleset.js";
import { isNftName } from "./names.js";

/** One `kube-proxy` table as nft lists it. */
export interface ExistingTable {
  /** Chains by name, with their rules as nft prints them (without `# handle N`). */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Sets and maps by name: element key → the rest of the element (` comment "…" : verdict`). */
  readonly containers: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

const EMPTY_TABLE: ExistingTable = { chains: new Map(), containers: new Map() };

function fail(line: number | undefined, reason: string, value: unknown): never {
  throw new InvalidInputError(
    { kind: "CompileNftablesOptions" },
    "existingRuleset",
    line === undefined ? reason : `line ${line}: ${reason}`,
    value,
  );
}

/** The first line of `text` declaring `what` (`chain NAME {`), for an error about it. */
function lineOf(text: string, what: string, name: string): number | undefined {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => {
    const t = l.trim();
    return t.startsWith(`${what} ${name} `) || t.startsWith(`${what} "${name}" `);
  });
  return i < 0 ? undefined : i + 1;
}

// a key goes back into rule text (`delete element … { key }`): addresses, protocols, ports
const KEY_PART = /^[0-9A-Za-z:._/-]+$/;

function tableOf(t: NftablesTable, text: string): ExistingTable {
  const chains = new Map<string, string[]>();
  for (const c of t.chains.values()) {
    if (!isNftName(c.name)) fail(lineOf(text, "chain", c.name), "not an nftables name", c.name);
    chains.set(
      c.name,
      c.rules.map((r) => r.text),
    );
  }
  const containers = new Map<string, Map<string, string>>();
  for (const s of t.sets.values()) {
    if (!isNftName(s.name)) fail(lineOf(text, s.kind, s.name), "not an nftables name", s.name);
    const elements = new Map<string, string>();
    for (const e of s.elements) {
      const key = e.key.join(" . ");
      if (!e.key.every((k) => KEY_PART.test(k)))
        fail(lineOf(text, s.kind, s.name), "not an element key nft lists", key);
      const comment = e.comment === undefined ? "" : ` comment "${e.comment}"`;
      elements.set(key, `${comment}${e.value === undefined ? "" : ` : ${e.value}`}`);
    }
    containers.set(s.name, elements);
  }
  return { chains, containers };
}

/**
 * The `kube-proxy` tables of `text` (what `nft list ruleset` prints), by family (`ip`, `ip6`):
 * a family whose table is not in the text gets an empty table (nothing exists). Other tables
 * are read (they must be valid nft) and skipped.
 *
 * @throws {@link InvalidInputError} (`existingRuleset`, with the line) when the text is not valid
 * nft text, or names a chain, set or element key kube-proxy's rule text cannot carry.
 */
export function parseExistingRuleset(text: string): ReadonlyMap<"ip" | "ip6", ExistingTable> {
  let tables: readonly NftablesTable[];
  try {
    tables = parseNftablesRuleset({ text, name: "existingRuleset" }).tables;
  } catch (e) {
    if (e instanceof InvalidInputError) fail(undefined, `${e.field}: ${e.reason}`, e.value);
    throw e;
  }
  const out = new Map<"ip" | "ip6", ExistingTable>([
    ["ip", EMPTY_TABLE],
    ["ip6", EMPTY_TABLE],
  ]);
  for (const t of tables) {
    if ((t.family === "ip" || t.family === "ip6") && t.name === "kube-proxy") out.set(t.family, tableOf(t, text));
  }
  return out;
}
