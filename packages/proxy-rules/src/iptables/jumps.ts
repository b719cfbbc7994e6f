// The jumps from built-in chains that kube-proxy ensures with `iptables -I` on every full sync
// (iptablesJumpChains and iptablesKubeletJumpChains in pkg/proxy/iptables/proxier.go).

import type { IptablesJump, IptablesTableName } from "./ir.js";
import { quoteComment } from "./render.js";

const NEW = ["-m", "conntrack", "--ctstate", "NEW"] as const;

const spec: readonly [IptablesTableName, string, string, string, readonly string[]][] = [
  ["filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals", NEW],
  ["filter", "KUBE-EXTERNAL-SERVICES", "FORWARD", "kubernetes externally-visible service portals", NEW],
  ["filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", []],
  ["filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", NEW],
  ["filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", NEW],
  ["filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", []],
  ["filter", "KUBE-PROXY-FIREWALL", "INPUT", "kubernetes load balancer firewall", NEW],
  ["filter", "KUBE-PROXY-FIREWALL", "OUTPUT", "kubernetes load balancer firewall", NEW],
  ["filter", "KUBE-PROXY-FIREWALL", "FORWARD", "kubernetes load balancer firewall", NEW],
  ["nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", []],
  ["nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", []],
  ["nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", []],
  // kubelet's duplicates, also ensured by kube-proxy
  ["filter", "KUBE-FIREWALL", "INPUT", "", []],
  ["filter", "KUBE-FIREWALL", "OUTPUT", "", []],
];

/**
 * The jump rules in the order kube-proxy ensures them. Each is inserted at the top of its
 * built-in chain (`-I`), so later entries end up first.
 */
export const IPTABLES_JUMPS: readonly IptablesJump[] = spec.map(([table, target, chain, comment, extra]) => ({
  table,
  chain,
  target,
  args: [...extra, ...(comment ? ["-m", "comment", "--comment", comment] : []), "-j", target],
}));

/**
 * An iptables-restore payload (for `--noflush`) that creates kube-proxy's top-level chains and
 * inserts the jumps into the built-in chains, as kube-proxy's `EnsureChain` / `EnsureRule` calls
 * do on a full sync. Load it before the rules payload: its chain lines flush those chains.
 */
export function renderJumps(jumps: readonly IptablesJump[] = IPTABLES_JUMPS): string {
  let out = "";
  for (const table of ["filter", "nat"] as const) {
    const mine = jumps.filter((j) => j.table === table);
    if (mine.length === 0) continue;
    out += `*${table}\n`;
    const targets = [...new Set(mine.map((j) => j.target))];
    for (const t of targets) out += `:${t} - [0:0]\n`;
    for (const j of mine) {
      const args = j.args.map((a, i) => (i > 0 && j.args[i - 1] === "--comment" ? quoteComment(a) : a));
      out += `-I ${j.chain} ${args.join(" ")}\n`;
    }
    out += "COMMIT\n";
  }
  return out;
}
