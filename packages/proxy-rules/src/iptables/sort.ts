// The canonical order kube-proxy's unit tests compare iptables-restore payloads in
// (sortIPTablesRules in pkg/proxy/iptables/proxier_test.go, with the dump format of
// pkg/util/iptables/testing/parse.go): tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES, other
// KUBE-* alphabetically, then the rest; rules grouped by chain; in KUBE-NODEPORTS and
// KUBE-SERVICES a stable sort by the Service name in the comment, keeping the nat "must be the
// last rule" rule last; `-X` lines at the end of their table.

interface DumpChain {
  name: string;
  header: string;
  rules: string[];
  deleted: boolean;
}

function commentServiceName(line: string): string | undefined {
  const m = / --comment (?:"([^"]*)"|(\S+))/.exec(line);
  if (!m) return undefined;
  const value = m[1] ?? m[2] ?? "";
  const i = value.search(/[ :]/);
  return i === -1 ? value : value.slice(0, i);
}

function chainRank(name: string): number {
  if (name === "KUBE-NODEPORTS") return 0;
  if (name === "KUBE-SERVICES") return 1;
  return name.startsWith("KUBE-") ? 2 : 3;
}

function stableSortByService(rules: string[], lastMarker: boolean): string[] {
  const keyed = rules.map((line, i) => ({ line, i, name: commentServiceName(line) }));
  keyed.sort((a, b) => {
    if (lastMarker) {
      const al = a.line.includes("must be the last rule");
      const bl = b.line.includes("must be the last rule");
      if (al !== bl) return al ? 1 : -1;
    }
    if (a.name !== undefined && b.name !== undefined && a.name !== b.name) return a.name < b.name ? -1 : 1;
    return a.i - b.i;
  });
  return keyed.map((k) => k.line);
}

/**
 * Sorts an iptables-restore payload into the canonical order kube-proxy's own tests use, so that
 * payloads written in different Service orders compare equal. Throws on text it cannot parse.
 *
 * @example
 * ```ts
 * const same = sortIptablesRules(compileIptables(input).ipv4!.text) === sortIptablesRules(kubeProxyPayload);
 * ```
 */
export function sortIptablesRules(text: string): string {
  const tables: { name: string; chains: DumpChain[] }[] = [];
  let table: { name: string; chains: DumpChain[] } | undefined;
  let inDeclarations = false;
  for (const raw of text.replace(/^\n+|\n+$/g, "").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!table) {
      if (!line.startsWith("*")) throw new Error(`expected a table, got ${JSON.stringify(line)}`);
      table = { name: line.slice(1), chains: [] };
      tables.push(table);
      inDeclarations = true;
      continue;
    }
    const decl = inDeclarations ? /^:(\S*) - \[\d*:\d*\]$/.exec(line) : null;
    if (decl) {
      table.chains.push({ name: decl[1] ?? "", header: line, rules: [], deleted: false }); // (\S*) always matches
      continue;
    }
    inDeclarations = false;
    const add = /^-A (\S+) /.exec(`${line} `);
    if (add) {
      const chain = table.chains.find((c) => c.name === add[1]);
      if (!chain) throw new Error(`rule for undeclared chain ${add[1]}`);
      chain.rules.push(line);
    } else if (line.startsWith("-X ")) {
      const chain = table.chains.find((c) => c.name === line.slice(3));
      if (!chain) throw new Error(`deletion of undeclared chain ${line.slice(3)}`);
      chain.deleted = true;
    } else if (line === "COMMIT") {
      table = undefined;
    } else {
      throw new Error(`cannot parse ${JSON.stringify(line)}`);
    }
  }
  if (table) throw new Error("no COMMIT line");
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let out = "";
  for (const t of tables) {
    t.chains.sort((a, b) => chainRank(a.name) - chainRank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of t.chains) {
      if (c.name === "KUBE-NODEPORTS") c.rules = stableSortByService(c.rules, false);
      if (c.name === "KUBE-SERVICES") c.rules = stableSortByService(c.rules, t.name === "nat");
    }
    out += `*${t.name}\n`;
    for (const c of t.chains) out += `${c.header}\n`;
    for (const c of t.chains) for (const r of c.rules) out += `${r}\n`;
    for (const c of t.chains) if (c.deleted) out += `-X ${c.name}\n`;
    out += "COMMIT\n";
  }
  return out;
}
