// kube-proxy's packet-flow test tracer (tracePacket in pkg/proxy/iptables/proxier_test.go) answered
// by the public explainPacket: a packet from a node address enters at OUTPUT, any other at
// PREROUTING; the answer is written the way kube-proxy's tracer writes it — the DNAT destinations
// of every random branch (comma-separated), then the ACCEPT / DROP / REJECT verdicts of the filter
// chains kube-proxy's tracer runs (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS,
// KUBE-PROXY-FIREWALL), and whether KUBE-MARK-MASQ marked it.

import { explainPacket, type IptablesResult } from "../../src/index.js";
import { defined } from "./defined.js";

export interface Trace {
  /** Terminal targets reached: `ip:port` of DNATs, or ACCEPT / DROP / REJECT, comma-separated. */
  output: string;
  masq: boolean;
  matches: string[];
}

const TRACED_FILTER_CHAINS = new Set([
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-FIREWALL",
]);

export function tracePacket(
  result: IptablesResult,
  localIPs: readonly string[],
  sourceIP: string,
  protocol: string,
  destIP: string,
  destPort: number,
): Trace {
  const local = new Set(["127.0.0.1", "::1", ...localIPs]);
  const why = explainPacket(
    result.text,
    { from: local.has(sourceIP) ? "node" : "outside", source: sourceIP, destination: destIP, port: destPort, protocol },
    { localAddresses: localIPs },
  );
  if (why.unknown) throw new Error(`explainPacket could not evaluate: ${why.unknown.reason} (${why.unknown.rule})`);
  const outputs: string[] = [];
  const filter: string[] = [];
  let masq = false;
  for (const o of why.outcomes) {
    for (const step of o.path) {
      if (step.kind !== "rule") continue;
      if (step.table === "nat" && step.target === "KUBE-MARK-MASQ") masq = true;
      if (step.table === "nat" && step.target === "DNAT") {
        const to = defined(step.text.slice(step.text.indexOf("--to-destination ") + 17).split(" ")[0]);
        if (!outputs.includes(to)) outputs.push(to);
      }
      if (
        step.table === "filter" &&
        TRACED_FILTER_CHAINS.has(step.chain) &&
        (step.target === "ACCEPT" || step.target === "DROP" || step.target === "REJECT") &&
        !filter.includes(step.target)
      )
        filter.push(step.target);
    }
  }
  const matches = why.matchedRules.map((r) => r.text);
  return { output: [...outputs, ...filter].join(", "), masq, matches };
}
