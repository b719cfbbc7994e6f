// kube-proxy's canary (pkg/util/iptables Monitor, started by the iptables proxier): an empty
// KUBE-PROXY-CANARY chain in the mangle, nat and filter tables. When it is gone from the first of
// them, something flushed the firewall from outside (a firewalld reload, say); kube-proxy waits
// for the others to go too, resyncs everything and creates the canaries again. Here: the payload
// that creates them and the check, on `iptables-save` output; the resync is a
// `compileIptables(input, { previous, fullSync: true })`.

/** The canary chain and the tables it is created in; the first table is the one watched. */
export const IPTABLES_CANARY = {
  chain: "KUBE-PROXY-CANARY",
  tables: ["mangle", "nat", "filter"],
} as const;

/** An iptables-restore payload, for `--noflush`, that creates the canary chains (empty). */
export function renderCanary(): string {
  return IPTABLES_CANARY.tables.map((t) => `*${t}\n:${IPTABLES_CANARY.chain} - [0:0]\nCOMMIT\n`).join("");
}

/**
 * Whether `iptables-save` output (all tables, as `iptables-save` prints them) shows the rules were
 * flushed from outside: the canary chain is missing from the watched table. Then the next
 * compilation should be a full sync, loaded with the jumps and {@link renderCanary} again.
 */
export function canaryFlushed(iptablesSave: string): boolean {
  const [watched] = IPTABLES_CANARY.tables;
  let table = "";
  for (const line of iptablesSave.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    else if (table === watched && line.startsWith(`:${IPTABLES_CANARY.chain} `)) return false;
  }
  return true;
}
