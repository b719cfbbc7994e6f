// kube-proxy's nftables packet-flow tracer (tracePacket in pkg/proxy/nftables/helpers_test.go)
// answered by the public explainPacket: a packet from a node address enters at the output hook,
// any other at prerouting; the answer is written the way kube-proxy's tracer writes it — the
// DNAT destinations of every numgen branch (`ip:port`, IPv6 as `[ip]:port`, comma-separated), then
// DROP / REJECT when a branch was discarded, and whether a rule jumped to mark-for-masquerade.

import { explainPacket, type NftablesRuleset } from "../../src/index.js";

export interface NftTrace {
  /** DNAT destinations, or DROP / REJECT, comma-separated ("" when nothing happened). */
  output: string;
  masq: boolean;
  /** Every rule matched, for failure messages. */
  matches: string[];
}

/** kube-proxy's testNodeIPs (NewFakeProxier's interface addresses). */
export function nftTracePacket(
  ruleset: string | NftablesRuleset,
  nodeIPs: readonly string[],
  sourceIP: string,
  protocol: string,
  destIP: string,
  destPort: number,
): NftTrace {
  const local = new Set(["127.0.0.1", "::1", ...nodeIPs]);
  const why = explainPacket(
    ruleset,
    { from: local.has(sourceIP) ? "node" : "outside", source: sourceIP, destination: destIP, port: destPort, protocol },
    { localAddresses: nodeIPs },
  );
  if (why.unknown) throw new Error(`explainPacket could not evaluate: ${why.unknown.reason} (${why.unknown.rule})`);
  const outputs: string[] = [];
  const verdicts: string[] = [];
  let masq = false;
  for (const o of why.outcomes) {
    for (const step of o.path) if (step.kind === "rule" && step.target === "mark-for-masquerade") masq = true;
    if (o.verdict === "dnat" && o.endpoint) {
      const a = o.endpoint.address.includes(":") ? `[${o.endpoint.address}]` : o.endpoint.address;
      const to = `${a}:${o.endpoint.port}`;
      if (!outputs.includes(to)) outputs.push(to);
    } else if (o.verdict === "drop" || o.verdict === "reject") {
      const v = o.verdict.toUpperCase();
      if (!verdicts.includes(v)) verdicts.push(v);
    }
  }
  return {
    output: [...outputs, ...verdicts].join(", "),
    masq,
    matches: why.matchedRules.map((r) => `${r.chain}: ${r.text}`),
  };
}
