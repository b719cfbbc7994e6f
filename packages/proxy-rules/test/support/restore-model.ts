import { defined } from "./defined.js";
// A model of what `iptables-restore --noflush` does to the tables, for checking partial syncs
// without a kernel: a declared chain is created (if needed) and flushed, `-A` appends, `-X`
// deletes. Chains keep their rules as restore lines.

export type TablesState = Map<string, Map<string, string[]>>;

export function emptyTables(): TablesState {
  return new Map();
}

/** Applies a restore payload with --noflush semantics; throws where iptables-restore would fail. */
export function applyRestore(state: TablesState, text: string): void {
  let table: Map<string, string[]> | undefined;
  let tableName = "";
  const touched = new Map<string, Map<string, string[]>>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      tableName = line.slice(1);
      table = new Map(state.get(tableName) ?? []);
      continue;
    }
    if (!table) throw new Error(`line outside a table: ${line}`);
    if (line === "COMMIT") {
      touched.set(tableName, table);
      table = undefined;
      continue;
    }
    if (line.startsWith(":")) {
      const name = line.slice(1, line.indexOf(" "));
      table.set(name, []);
      continue;
    }
    if (line.startsWith("-A ")) {
      const name = defined(line.slice(3).split(" ")[0]);
      const chain = table.get(name);
      if (!chain) throw new Error(`rule for a chain that does not exist: ${line}`);
      chain.push(line);
      continue;
    }
    if (line.startsWith("-X ")) {
      const name = line.slice(3);
      if (!table.has(name)) throw new Error(`deleting a chain that does not exist: ${name}`);
      table.delete(name);
      continue;
    }
    throw new Error(`unexpected line ${line}`);
  }
  // a table is replaced atomically at COMMIT; then check every jump has a target
  for (const [name, t] of touched) {
    for (const rules of t.values()) {
      for (const r of rules) {
        const m = / -j (KUBE-[A-Z0-9-]+)/.exec(r);
        if (m && !t.has(defined(m[1]))) throw new Error(`dangling jump in ${name}: ${r}`);
      }
    }
    state.set(name, t);
  }
}

/** The state as sorted text, for comparisons. */
export function dumpTables(state: TablesState, only?: (chain: string) => boolean): string {
  let out = "";
  for (const name of [...state.keys()].sort()) {
    out += `*${name}\n`;
    const t = defined(state.get(name));
    for (const chain of [...t.keys()].sort()) {
      if (only && !only(chain)) continue;
      out += `:${chain}\n${defined(t.get(chain)).join("\n")}\n`;
    }
  }
  return out;
}

/**
 * Chains reachable from the top-level chains (what traffic can actually hit), over all tables
 * (each table walked on its own: filter and nat both have a KUBE-SERVICES).
 */
export function reachable(state: TablesState): Set<string> {
  const all = new Set<string>();
  for (const [, t] of state) {
    const seen = new Set<string>();
    const stack = [...t.keys()].filter((c) => !/^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(c));
    while (stack.length > 0) {
      const c = defined(stack.pop());
      if (seen.has(c)) continue;
      seen.add(c);
      all.add(c);
      for (const r of t.get(c) ?? []) {
        const m = / -j (KUBE-[A-Z0-9-]+)/.exec(r);
        if (m) stack.push(defined(m[1]));
      }
    }
  }
  return all;
}
