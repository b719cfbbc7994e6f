// explainPacket on static rules: kube-proxy's TestTracePacket data and expectations
// (pkg/proxy/iptables/proxier_test.go, written as facts, comments quoted as iptables-restore needs
// them), a real `iptables-save -c` dump (fixtures/iptables-save-web.txt, taken from a network
// namespace loaded with the compiled rules of the same input) against the compiled text, affinity,
// masquerading, goto/RETURN, and the plain "cannot evaluate" answers.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileIptables, InvalidInputError } from "../src/index.js";
import { explainPacket, type PacketExplanation, parseIptablesRuleset } from "../src/trace/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const testNodeIP = "192.168.0.2";
const testNodeIPs = [testNodeIP, "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"];
const testExternalClient = "203.0.113.2";

// TestTracePacket's rules (kube-proxy), comments quoted
const tracePacketRules = `*filter
:INPUT - [0:0]
:FORWARD - [0:0]
:OUTPUT - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:PREROUTING - [0:0]
:INPUT - [0:0]
:OUTPUT - [0:0]
:POSTROUTING - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`;

const eps = (e: Pick<PacketExplanation, "endpoints">) =>
  e.endpoints.map((x) => [`${x.address}:${x.port}`, Number(x.probability.toFixed(6))]);
const fromOf = (src: string) => (testNodeIPs.includes(src) || src.startsWith("127.") ? "node" : "outside");

describe("explainPacket: kube-proxy's TestTracePacket", () => {
  const rs = parseIptablesRuleset(tracePacketRules);
  const explain = (source: string, destination: string, port: number) =>
    explainPacket(rs, { from: fromOf(source), source, destination, port }, { localAddresses: testNodeIPs });

  it("no match", () => {
    const e = explain("10.0.0.2", "10.0.0.3", 80);
    expect(e.verdict).toBe("no-match");
    expect(e.endpoints).toEqual([]);
    expect(defined(e.outcomes[0]).delivered).toBe("forward");
  });
  it("single endpoint", () => {
    const e = explain("10.0.0.2", "172.30.0.41", 80);
    expect(e.verdict).toBe("dnat");
    expect(eps(e)).toEqual([["10.180.0.1:80", 1]]);
    expect(e.masquerade).toBe(false);
  });
  it("multiple endpoints", () => {
    const e = explain("10.0.0.2", "172.30.0.44", 80);
    expect(eps(e)).toEqual([
      ["10.180.0.4:80", 0.5],
      ["10.180.0.5:80", 0.5],
    ]);
  });
  it("LOCAL, KUBE-MARK-MASQ", () => {
    const e = explain(testNodeIP, "192.168.99.22", 80);
    expect(eps(e)).toEqual([["10.180.0.2:80", 1]]);
    expect(e.masquerade).toBe(true);
    // the mark set in nat OUTPUT is turned into MASQUERADE in POSTROUTING, and cleared
    const path = defined(e.outcomes[0]).path;
    const last = path.filter((s) => s.kind === "rule").at(-1);
    expect(last).toMatchObject({ table: "nat", chain: "KUBE-POSTROUTING", target: "MASQUERADE" });
  });
  it("DROP", () => {
    const e = explain(testExternalClient, "192.168.99.22", 80);
    expect(e.verdict).toBe("drop");
    expect(defined(e.outcomes[0]).reason).toBe("ns2/svc2:p80 has no local endpoints");
  });
  it("ACCEPT (NodePortHealthCheck)", () => {
    const e = explain(testNodeIP, testNodeIP, 30000);
    expect(e.verdict).toBe("accept");
    expect(defined(e.outcomes[0]).delivered).toBe("local");
  });
  it("REJECT", () => {
    const e = explain("10.0.0.2", "172.30.0.46", 80);
    expect(e.verdict).toBe("reject");
    const step = defined(defined(e.outcomes[0]).path.at(-1));
    expect(step).toMatchObject({ kind: "rule", table: "filter", chain: "KUBE-SERVICES", target: "REJECT", line: 18 });
  });
});

// The input of fixtures/iptables-save-web.txt (a dump of its compiled rules and jumps, loaded in a
// network namespace: iptables 1.8.9, nf_tables)
const NODE = "n1";
const webInput = {
  services: [
    service({
      name: "web",
      type: "LoadBalancer",
      clusterIP: "10.96.0.10",
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
      externalIPs: ["192.168.99.10"],
      lbIPs: ["203.0.113.10"],
      sourceRanges: ["192.168.77.0/24"],
    }),
    service({ name: "sticky", clusterIP: "10.96.0.40", ports: [{ port: 80 }], affinity: 600 }),
    service({
      name: "local",
      type: "LoadBalancer",
      clusterIP: "10.96.0.50",
      ports: [{ port: 80, nodePort: 30100 }],
      lbIPs: ["203.0.113.20"],
      eTP: "Local",
      healthCheckNodePort: 32000,
    }),
    service({ name: "empty", type: "NodePort", clusterIP: "10.96.0.30", ports: [{ port: 80, nodePort: 30090 }] }),
  ],
  endpointSlices: [
    slice(
      { service: "web" },
      [{ name: "http", port: 8080 }],
      ["10.244.0.11", "10.244.0.12", "10.244.0.13"].map((ip) => ({ ip, node: NODE })),
    ),
    slice(
      { service: "sticky" },
      [{ port: 8080 }],
      ["10.244.0.11", "10.244.0.12"].map((ip) => ({ ip, node: NODE })),
    ),
    slice({ service: "local" }, [{ port: 8080 }], [{ ip: "10.244.0.12", node: "other" }]),
  ],
  node: { name: NODE, addresses: ["192.168.77.1"] },
  config: { clusterCIDR: "10.244.0.0/16" },
};

describe("explainPacket: compiled text and a node's iptables-save dump agree", () => {
  const compiled = defined(compileIptables(webInput).ipv4);
  const saved = readFileSync(new URL("./fixtures/iptables-save-web.txt", import.meta.url), "utf8");
  const fromText = parseIptablesRuleset(compiled.text);
  const fromSave = parseIptablesRuleset(saved);
  const local = ["192.168.77.1", "10.244.0.1"];
  const packets = [
    { from: "pod", source: "10.244.0.11", destination: "10.96.0.10", port: 80 },
    { from: "node", source: "192.168.77.1", destination: "10.96.0.10", port: 80 },
    { from: "outside", source: "192.168.77.2", destination: "192.168.77.1", port: 30080 },
    { from: "outside", source: "192.168.77.2", destination: "203.0.113.10", port: 80 },
    { from: "outside", source: "198.51.100.7", destination: "203.0.113.10", port: 80 },
    { from: "outside", source: "192.168.77.2", destination: "203.0.113.20", port: 80 },
    { from: "outside", source: "192.168.77.2", destination: "192.168.77.1", port: 30100 },
    { from: "pod", source: "10.244.0.13", destination: "10.96.0.50", port: 80 },
    { from: "pod", source: "10.244.0.13", destination: "10.96.0.30", port: 80 },
    { from: "outside", source: "192.168.77.2", destination: "192.168.77.1", port: 30090 },
    { from: "node", source: "192.168.77.1", destination: "192.168.77.1", port: 32000 },
    { from: "pod", source: "10.244.0.13", destination: "10.96.0.40", port: 80 },
    { from: "node", source: "127.0.0.1", destination: "127.0.0.1", port: 30080 },
    { from: "pod", source: "10.244.0.13", destination: "10.96.0.99", port: 80 },
  ] as const;

  it("the dump is read with its counters, its built-in chains and no assumption", () => {
    expect(fromSave.assumptions).toEqual([]);
    expect(fromText.assumptions).toHaveLength(1);
    const rule = defined(defined(defined(fromSave.tables.get("nat")).get("KUBE-MARK-MASQ")).rules[0]);
    expect(rule).toMatchObject({
      text: "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
      counters: { packets: 0, bytes: 0 },
    });
    expect(defined(defined(fromSave.tables.get("filter")).get("INPUT")).policy).toBe("ACCEPT");
  });

  for (const p of packets) {
    it(`${p.from} ${p.source} → ${p.destination}:${p.port}`, () => {
      const a = explainPacket(fromText, p, { localAddresses: local });
      const b = explainPacket(fromSave, p, { localAddresses: local });
      expect(b.unknown).toBeUndefined();
      expect(b.verdict).toBe(a.verdict);
      expect(b.masquerade).toBe(a.masquerade);
      // the dump prints probabilities as the kernel stores them (0.33333333349 for 0.3333333333)
      expect(eps(b).map(([k, v]) => [k, Number(v).toFixed(4)])).toEqual(
        eps(a).map(([k, v]) => [k, Number(v).toFixed(4)]),
      );
      const comments = (e: PacketExplanation) =>
        e.matchedRules.filter((r) => r.table === "nat" && r.chain.startsWith("KUBE-SVC")).map((r) => r.comment);
      expect(comments(b)).toEqual(comments(a));
    });
  }

  it("what each packet does, by independent reading of kube-proxy's rules", () => {
    const v = (i: number) => explainPacket(fromSave, defined(packets[i]), { localAddresses: local });
    // a pod to its own Service: every endpoint a third, itself masqueraded (hairpin)
    expect(v(0).endpoints.map((e) => [e.address, e.masquerade])).toEqual([
      ["10.244.0.11", true],
      ["10.244.0.12", false],
      ["10.244.0.13", false],
    ]);
    // the node to a ClusterIP: masqueraded (its source is outside the cluster CIDR)
    expect(v(1).endpoints.every((e) => e.masquerade)).toBe(true);
    expect(v(2).verdict).toBe("dnat"); // NodePort from outside
    expect(v(3).verdict).toBe("dnat"); // listed source range
    expect(v(4).verdict).toBe("drop"); // unlisted source: KUBE-PROXY-FIREWALL
    expect(v(5).verdict).toBe("drop"); // eTP Local without local endpoints
    expect(v(6).verdict).toBe("drop");
    expect(eps(v(7))).toEqual([["10.244.0.12:8080", 1]]); // pods still reach it
    expect(v(8).verdict).toBe("reject");
    expect(v(9).verdict).toBe("reject");
    expect(defined(v(9).outcomes[0]).rejectWith).toBe("icmp-port-unreachable");
    expect(v(10).verdict).toBe("accept"); // health check node port
    expect(v(12).verdict).toBe("dnat"); // localhost NodePort
    expect(v(13).verdict).toBe("no-match");
  });

  it("ClientIP affinity: a second connection from the same source goes where the first went", () => {
    const e = explainPacket(fromSave, defined(packets[11]), { localAddresses: local });
    expect(eps(e)).toEqual([
      ["10.244.0.11:8080", 0.5],
      ["10.244.0.12:8080", 0.5],
    ]);
    expect(e.affinity?.seconds).toBe(600);
    expect(e.affinity?.next.map((n) => [n.after.address, eps(n)])).toEqual([
      ["10.244.0.11", [["10.244.0.11:8080", 1]]],
      ["10.244.0.12", [["10.244.0.12:8080", 1]]],
    ]);
  });
});

describe("explainPacket: chains, marks and what it cannot evaluate", () => {
  const rules = (body: string) =>
    `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n${body}\nCOMMIT\n`;
  const fwd = { from: "outside", source: "198.51.100.1", destination: "10.1.2.3", port: 443 } as const;

  it("a goto chain's RETURN returns past the chain that went there; the policy decides at the end", () => {
    const text = rules(
      [
        ":A - [0:0]",
        ":B - [0:0]",
        "-A FORWARD -j A",
        "-A FORWARD -j ACCEPT",
        "-A A -g B",
        "-A A -j DROP",
        "-A B -j RETURN",
      ].join("\n"),
    );
    expect(explainPacket(text, fwd).verdict).toBe("accept");
    const dropAll = rules([":A - [0:0]", "-A FORWARD -j A", "-A A -p udp -j ACCEPT"].join("\n"));
    const e = explainPacket(dropAll, fwd);
    expect(e.verdict).toBe("drop");
    expect(defined(e.outcomes[0]).path.at(-1)).toEqual({
      kind: "policy",
      table: "filter",
      chain: "FORWARD",
      policy: "DROP",
    });
  });

  it("marks: --set-xmark, --or-mark and --and-mark as the kernel computes them", () => {
    const text = rules(
      [
        "-A FORWARD -j MARK --set-xmark 0x10/0xff",
        "-A FORWARD -j MARK --or-mark 0x4000",
        "-A FORWARD -j MARK --and-mark 0x4010",
        "-A FORWARD -m mark --mark 0x4010 -j REJECT",
      ].join("\n"),
    );
    expect(explainPacket(text, { ...fwd, mark: 0x1ff }).verdict).toBe("reject");
  });

  it("says plainly what it cannot evaluate, and evaluates it once told", () => {
    const e = explainPacket(rules("-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT"), fwd);
    expect(e.verdict).toBe("unknown");
    expect(e.unknown?.reason).toBe("cannot evaluate: -m set (ipset contents are not part of the rules)");
    expect(e.unknown?.rule).toBe("-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT");
    const iface = rules("-A FORWARD -i cbr0 -j DROP\n-A FORWARD -j ACCEPT");
    expect(explainPacket(iface, fwd).unknown?.reason).toMatch(/^cannot evaluate: -i cbr0/);
    expect(explainPacket(iface, { ...fwd, inInterface: "cbr0" }).verdict).toBe("drop");
    expect(explainPacket(iface, { ...fwd, inInterface: "eth0" }).verdict).toBe("accept");
    expect(explainPacket(rules("-A FORWARD -m hashlimit --hashlimit-above 5/s -j DROP"), fwd).unknown?.reason).toBe(
      "cannot evaluate: -m hashlimit",
    );
    // a rule whose known matches fail never needs the unknown one
    expect(
      explainPacket(rules("-A FORWARD -p udp -m set --match-set X dst -j DROP\n-A FORWARD -j ACCEPT"), fwd).verdict,
    ).toBe("accept");
  });

  it("statistic nth branches like random, multiport and port ranges match", () => {
    const text = rules(
      [
        ":S - [0:0]",
        "-A FORWARD -p tcp -m multiport --dports 80,400:500 -j S",
        "-A S -m statistic --mode nth --every 4 --packet 0 -j DROP",
        "-A S -j ACCEPT",
      ].join("\n"),
    );
    const e = explainPacket(text, fwd);
    expect(e.verdict).toBe("mixed");
    expect(e.outcomes.map((o) => [o.verdict, o.probability])).toEqual([
      ["drop", 0.25],
      ["accept", 0.75],
    ]);
  });

  it("bad input is an InvalidInputError naming the field or line", () => {
    expect(() => explainPacket(rules(""), { ...fwd, destination: "10.1.2" })).toThrow(InvalidInputError);
    expect(() => explainPacket(rules(""), { ...fwd, destination: "10.1.2" })).toThrow(
      "Packet: destination: not an IP address",
    );
    expect(() => explainPacket(rules(""), { ...fwd, port: 70000 })).toThrow("Packet: port:");
    expect(() => parseIptablesRuleset("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n")).toThrow(
      'Ruleset "rules": line 2: chain NOPE does not exist in table filter',
    );
    // a rule's own arguments: read up front with validate, else when a packet first reaches it
    const unterminated = { name: "a.rules", text: '*nat\n-A PREROUTING -m comment --comment "x\nCOMMIT' };
    expect(() => parseIptablesRuleset(unterminated, { validate: true })).toThrow(
      'Ruleset "a.rules": line 2: unterminated quote',
    );
    const lazy = parseIptablesRuleset(unterminated);
    expect(() => explainPacket(lazy, fwd)).toThrow('Ruleset "a.rules": line 2: unterminated quote');
    expect(() => parseIptablesRuleset("*filter\n-A FORWARD -m tcp --dport\nCOMMIT\n", { validate: true })).toThrow(
      'Ruleset "rules": line 2: bad port ""',
    );
  });
});

describe("parseIptablesRuleset: what is not text is a typed error naming the source, not a TypeError", () => {
  it.each([
    ["null", null, "rules"],
    ["a number", 42, "rules"],
    ["a list holding null", ["*nat\nCOMMIT\n", null], "rules[1]"],
    ["a source without text", [{ name: "node.save" }], "node.save"],
  ])("parseIptablesRuleset(%s)", (_what, input, name) => {
    let thrown: unknown;
    try {
      parseIptablesRuleset(input as never);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(InvalidInputError);
    const e = thrown as InvalidInputError;
    expect([e.object.kind, e.object.name, e.field]).toEqual(["Ruleset", name, "text"]);
  });
});
