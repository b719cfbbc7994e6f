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
 * An iptables-restore payload (for `--noflush`) that inserts the jumps into the built-in chains,
 * as kube-proxy's `EnsureRule` calls do on a full sync. Load it after the rules payload, whose
 * chains it jumps to; it only declares (creates) the target chains listed in `missing`, i.e. the
 * ones the payload does not fill (KUBE-FIREWALL for IPv6). Loading it twice inserts the jumps
 * twice: use {@link IPTABLES_JUMPS} with `iptables -C`/`-I` to ensure them idempotently.
 */
export function renderJumps(jumps: readonly IptablesJump[] = IPTABLES_JUMPS, missing: readonly string[] = []): string {
  let out = "";
  for (const table of ["filter", "nat"] as const) {
    const mine = jumps.filter((j) => j.table === table);
    if (mine.length === 0) continue;
    out += `*${table}\n`;
    const targets = [...new Set(mine.map((j) => j.target))].filter((t) => missing.includes(t));
    for (const t of targets) out += `:${t} - [0:0]\n`;
    for (const j of mine) {
      const args = j.args.map((a, i) => (i > 0 && j.args[i - 1] === "--comment" ? quoteComment(a) : a));
      out += `-I ${j.chain} ${args.join(" ")}\n`;
    }
    out += "COMMIT\n";
  }
  return out;
}
