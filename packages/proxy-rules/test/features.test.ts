// kube-proxy's iptables-mode behaviours (../shared/reference/kube-proxy.md §1), one by one, as
// facts about the rules.

import { describe, expect, it } from "vitest";
import {
  compileIptables,
  createProxier,
  IPTABLES_JUMPS,
  type IptablesResult,
  type KubeProxyConfiguration,
  type ProxyInput,
} from "../src/index.js";
import { probability } from "../src/iptables/probability.js";
import { quoteComment } from "../src/iptables/render.js";
import { defined } from "./support/defined.js";
import { appliedSync, type EpSpec, type SvcSpec, service, slice } from "./support/objects.js";

const NODE = "node-1";
const node = { name: NODE, addresses: ["192.168.0.1"], labels: { "topology.kubernetes.io/zone": "z1" } };

function compile(
  svcs: SvcSpec[],
  eps: Record<string, (string | EpSpec)[]>,
  config: KubeProxyConfiguration = { clusterCIDR: "10.244.0.0/16" },
  extra: Partial<ProxyInput> = {},
): IptablesResult {
  const services = svcs.map(service);
  const endpointSlices = Object.entries(eps).map(([name, list]) => {
    const spec = defined(svcs.find((s) => s.name === name));
    const family = String(Array.isArray(spec.clusterIP) ? spec.clusterIP[0] : spec.clusterIP).includes(":")
      ? "IPv6"
      : "IPv4";
    return slice(
      { service: name, family },
      spec.ports.map((p) => ({ name: p.name ?? "", port: 8000 + p.port, protocol: p.protocol ?? "TCP" })),
      list,
    );
  });
  const c = compileIptables({ services, endpointSlices, node, config, ...extra });
  return defined(c.results[0]);
}
const lines = (r: IptablesResult, needle: string) => r.text.split("\n").filter((l) => l.includes(needle));

describe("ClusterIP and endpoints", () => {
  it("spreads over endpoints with kube-proxy's probabilities, masquerading off-cluster sources", () => {
    const r = compile([{ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] }], {
      web: ["10.244.1.1", "10.244.1.2", "10.244.1.10"],
    });
    const svc = lines(r, "-A KUBE-SVC-");
    expect(svc[0]).toMatch(
      /--comment "default\/web:http cluster IP" .* --dport 80 ! -s 10.244.0.0\/16 -j KUBE-MARK-MASQ$/,
    );
    // sorted as strings "ip:port": "10.244.1.10:8080" < "10.244.1.1:8080" < "10.244.1.2:8080"
    expect(
      svc
        .slice(1)
        .map((l) => defined(/ -> (\S+)" (?:-m statistic --mode random --probability (\S+) )?/.exec(l)).slice(1)),
    ).toEqual([
      ["10.244.1.10:8080", "0.3333333333"],
      ["10.244.1.1:8080", "0.5000000000"],
      ["10.244.1.2:8080", undefined],
    ]);
    expect(r.stats.largeClusterMode).toBe(false);
  });

  it("prints probabilities as Go's %0.10f does, half-to-even", () => {
    expect([probability(1), probability(3), probability(7), probability(2048), probability(100001)]).toEqual([
      "1.0000000000",
      "0.3333333333",
      "0.1428571429",
      "0.0004882812",
      "0.0000099999",
    ]);
  });

  it("uses masqueradeAll, or no masquerade rule without a local-traffic detector", () => {
    const svcs: SvcSpec[] = [{ name: "web", clusterIP: "10.96.0.10", ports: [{ port: 80 }] }];
    const all = compile(svcs, { web: ["10.244.1.1"] }, { iptables: { masqueradeAll: true } });
    expect(lines(all, "-A KUBE-SVC-")[0]).toMatch(/--dport 80 -j KUBE-MARK-MASQ$/);
    const none = compile(svcs, { web: ["10.244.1.1"] }, {});
    expect(lines(none, "KUBE-MARK-MASQ").filter((l) => l.startsWith("-A KUBE-SVC-"))).toEqual([]);
  });

  it("supports the bridge and interface-prefix detectors", () => {
    const svcs: SvcSpec[] = [
      { name: "web", type: "NodePort", clusterIP: "10.96.0.10", ports: [{ port: 80, nodePort: 30080 }], eTP: "Local" },
    ];
    const eps = { web: [{ ip: "10.244.1.1", node: NODE }] };
    const br = compile(svcs, eps, { detectLocalMode: "BridgeInterface", detectLocal: { bridgeInterface: "cbr0" } });
    expect(lines(br, "-A KUBE-SVC-")[0]).toContain("--dport 80 ! -i cbr0 -j KUBE-MARK-MASQ");
    expect(lines(br, "pod traffic")[0]).toContain(" -i cbr0 -j KUBE-SVC-");
    const pfx = compile(svcs, eps, {
      detectLocalMode: "InterfaceNamePrefix",
      detectLocal: { interfaceNamePrefix: "veth" },
    });
    expect(lines(pfx, "-A KUBE-SVC-")[0]).toContain("! -i veth+ -j KUBE-MARK-MASQ");
    const nodeCidr = compile(
      svcs,
      eps,
      { detectLocalMode: "NodeCIDR" },
      { node: { ...node, podCIDRs: ["10.244.7.0/24"] } },
    );
    expect(lines(nodeCidr, "-A KUBE-SVC-")[0]).toContain("! -s 10.244.7.0/24 -j KUBE-MARK-MASQ");
  });

  it("speaks UDP and SCTP", () => {
    const r = compile(
      [
        {
          name: "dns",
          clusterIP: "10.96.0.10",
          ports: [
            { name: "u", port: 53, protocol: "UDP" },
            { name: "s", port: 53, protocol: "SCTP" },
          ],
        },
      ],
      { dns: ["10.244.1.1"] },
    );
    expect(lines(r, "-j DNAT")).toEqual([
      expect.stringContaining("-m udp -p udp -j DNAT --to-destination 10.244.1.1:8053"),
      expect.stringContaining("-m sctp -p sctp -j DNAT --to-destination 10.244.1.1:8053"),
    ]);
  });

  it("skips headless and ExternalName Services and proxy-mode LB ingress", () => {
    const services = [
      service({ name: "web", type: "LoadBalancer", clusterIP: "10.96.0.10", ports: [{ port: 80, nodePort: 30080 }] }),
      { metadata: { namespace: "default", name: "headless" }, spec: { clusterIP: "None", ports: [{ port: 80 }] } },
      { metadata: { namespace: "default", name: "ext" }, spec: { type: "ExternalName", externalName: "example.com" } },
    ];
    (defined(services[0]).status as { loadBalancer: unknown }).loadBalancer = {
      ingress: [
        { ip: "203.0.113.1", ipMode: "VIP" },
        { ip: "203.0.113.2", ipMode: "Proxy" },
      ],
    };
    const r = defined(compileIptables({ services, endpointSlices: [], node }).ipv4);
    expect(r.text).not.toContain("headless");
    expect(r.text).not.toContain("default/ext");
    expect(r.text).toContain("-d 203.0.113.1 --dport 80 -j REJECT");
    expect(r.text).not.toContain("203.0.113.2");
  });
});

describe("policies and endpoint selection", () => {
  it("drops ClusterIP traffic for internalTrafficPolicy Local without local endpoints", () => {
    const r = compile([{ name: "web", clusterIP: "10.96.0.10", ports: [{ port: 80 }], iTP: "Local" }], {
      web: [{ ip: "10.244.2.1", node: "other" }],
    });
    expect(lines(r, "has no local endpoints")).toEqual([
      '-A KUBE-SERVICES -m comment --comment "default/web has no local endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j DROP',
    ]);
    expect(r.text).not.toContain("-A KUBE-SVL-");
  });

  it("sends ClusterIP traffic to KUBE-SVL with internalTrafficPolicy Local", () => {
    const r = compile([{ name: "web", clusterIP: "10.96.0.10", ports: [{ port: 80 }], iTP: "Local" }], {
      web: [
        { ip: "10.244.2.1", node: "other" },
        { ip: "10.244.1.1", node: NODE },
      ],
    });
    expect(lines(r, 'cluster IP" -m tcp')[0]).toMatch(/-j KUBE-SVL-/);
    expect(lines(r, "-A KUBE-SVL-")).toHaveLength(2); // masquerade rule + the local endpoint
  });

  it("falls back to serving terminating endpoints, independently for Cluster and Local", () => {
    const r = compile(
      [
        {
          name: "web",
          type: "NodePort",
          clusterIP: "10.96.0.10",
          ports: [{ port: 80, nodePort: 30080 }],
          eTP: "Local",
        },
      ],
      {
        web: [
          { ip: "10.244.2.1", node: "other", ready: true },
          { ip: "10.244.1.1", node: NODE, ready: false, serving: true, terminating: true },
          { ip: "10.244.1.2", node: NODE, ready: false, serving: false, terminating: true },
        ],
      },
    );
    expect(lines(r, "-A KUBE-SVC-").filter((l) => l.includes("-j KUBE-SEP-"))).toHaveLength(1);
    const svl = lines(r, "-A KUBE-SVL-");
    expect(svl).toHaveLength(1);
    expect(svl[0]).toContain("10.244.1.1:8080");
    expect(r.text).not.toContain("10.244.1.2:8080");
  });

  it("uses zone hints, and node hints before them (PreferSameNode)", () => {
    const svcs: SvcSpec[] = [{ name: "web", clusterIP: "10.96.0.10", ports: [{ port: 80 }] }];
    const zoned = compile(svcs, {
      web: [
        { ip: "10.244.1.1", zones: ["z1"] },
        { ip: "10.244.1.2", zones: ["z2"] },
      ],
    });
    expect(lines(zoned, "-j DNAT").map((l) => l.split(" ").at(-1))).toEqual(["10.244.1.1:8080"]);
    const partly = compile(svcs, { web: [{ ip: "10.244.1.1", zones: ["z1"] }, { ip: "10.244.1.2" }] });
    expect(lines(partly, "-j DNAT")).toHaveLength(2);
    const otherZone = compile(svcs, { web: [{ ip: "10.244.1.2", zones: ["z2"] }] });
    expect(lines(otherZone, "-j DNAT")).toHaveLength(1);
    const noded = compile(svcs, {
      web: [
        { ip: "10.244.1.1", zones: ["z1"], nodes: ["other"] },
        { ip: "10.244.1.2", zones: ["z1"], nodes: [NODE] },
      ],
    });
    expect(lines(noded, "-j DNAT").map((l) => l.split(" ").at(-1))).toEqual(["10.244.1.2:8080"]);
    const gateOff = compile(
      svcs,
      {
        web: [
          { ip: "10.244.1.1", zones: ["z1"], nodes: ["other"] },
          { ip: "10.244.1.2", zones: ["z1"], nodes: [NODE] },
        ],
      },
      { clusterCIDR: "10.244.0.0/16", featureGates: { PreferSameTrafficDistribution: false } },
    );
    expect(lines(gateOff, "-j DNAT")).toHaveLength(2);
  });

  it("writes the health check node port only for LoadBalancer with externalTrafficPolicy Local", () => {
    const lb: SvcSpec = {
      name: "lb",
      type: "LoadBalancer",
      clusterIP: "10.96.0.10",
      ports: [{ port: 80, nodePort: 30080 }],
      lbIPs: ["203.0.113.5"],
      eTP: "Local",
      healthCheckNodePort: 32000,
    };
    expect(lines(compile([lb], {}), "health check")).toEqual([
      '-A KUBE-NODEPORTS -m comment --comment "default/lb health check node port" -m tcp -p tcp --dport 32000 -j ACCEPT',
    ]);
    expect(lines(compile([{ ...lb, eTP: "Cluster" }], {}), "health check")).toEqual([]);
  });

  it("lets the node through a source-range firewall that contains the node IP", () => {
    const r = compile(
      [
        {
          name: "lb",
          type: "LoadBalancer",
          clusterIP: "10.96.0.10",
          ports: [{ port: 80, nodePort: 30080 }],
          lbIPs: ["203.0.113.5"],
          sourceRanges: ["192.168.0.0/24"],
        },
      ],
      { lb: ["10.244.1.1"] },
    );
    expect(lines(r, "-A KUBE-FW-").map((l) => l.replace(/KUBE-(FW|EXT)-\w+/g, "$1"))).toEqual([
      '-A FW -m comment --comment "default/lb loadbalancer IP" -s 192.168.0.0/24 -j EXT',
      '-A FW -m comment --comment "default/lb loadbalancer IP" -s 203.0.113.5 -j EXT',
      '-A FW -m comment --comment "other traffic to default/lb will be dropped by KUBE-PROXY-FIREWALL"',
    ]);
  });
});

describe("node ports and node facts", () => {
  const np: SvcSpec = { name: "np", type: "NodePort", clusterIP: "10.96.0.10", ports: [{ port: 80, nodePort: 30080 }] };

  it("accepts NodePorts on localhost by default (IPv4), with the anti-martian rule", () => {
    const r = compile([np], { np: ["10.244.1.1"] });
    expect(lines(r, "nodeports; NOTE")).toEqual([
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]);
    expect(lines(r, "-A KUBE-FIREWALL")).toHaveLength(1);
    expect(r.text).not.toContain("nfacct"); // only when the counters exist (HostFacts.nfacct)
  });

  it("excludes localhost when localhostNodePorts is off, or nodePortAddresses leave it out", () => {
    const off = compile([np], {}, { iptables: { localhostNodePorts: false } });
    expect(lines(off, "nodeports; NOTE")[0]).toContain(
      "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
    );
    expect(off.text).not.toContain(":KUBE-FIREWALL");
    const some = compile([np], {}, { nodePortAddresses: ["192.168.0.0/24", "127.0.0.1/32"] });
    expect(lines(some, "nodeports; NOTE").map((l) => l.split(" -d ")[1])).toEqual([
      "192.168.0.1 -j KUBE-NODEPORTS",
      "127.0.0.1 -j KUBE-NODEPORTS",
    ]);
    const primary = compile([np], {}, { nodePortAddresses: ["primary"] });
    expect(lines(primary, "nodeports; NOTE").map((l) => l.split(" -d ")[1])).toEqual(["192.168.0.1 -j KUBE-NODEPORTS"]);
    expect(primary.text).not.toContain(":KUBE-FIREWALL"); // localhost not in nodePortAddresses
  });

  it("prints the mark as kube-proxy does and honours masqueradeBit and tcpBeLiberal", () => {
    const r = compile([], {});
    expect(lines(r, "-A KUBE-MARK-MASQ")).toEqual(["-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000"]);
    expect(lines(r, "MASQUERADE")[0]).toMatch(/-j MASQUERADE --random-fully$/);
    const bit = compile([], {}, { iptables: { masqueradeBit: 0 }, conntrack: { tcpBeLiberal: true } });
    expect(lines(bit, "--or-mark")[0]).toContain("0x00000001");
    expect(bit.text).not.toContain("INVALID");
  });
});

describe("IPv6 and dual-stack", () => {
  it("writes IPv6 rules: bracketed endpoints, no localhost NodePorts", () => {
    const r = compile(
      [
        {
          name: "v6",
          type: "NodePort",
          clusterIP: "fd00:96::10",
          ports: [{ name: "http", port: 80, nodePort: 30080 }],
        },
      ],
      { v6: ["fd00:10:244::1"] },
      { clusterCIDR: "10.244.0.0/16,fd00:10:244::/56" },
      { node: { name: NODE, addresses: ["2001:db8::1"] } },
    );
    expect(r.family).toBe("IPv6");
    expect(lines(r, "-j DNAT")[0]).toMatch(/--to-destination \[fd00:10:244::1\]:8080$/);
    expect(lines(r, "-> [fd00:10:244::1]:8080")).toHaveLength(1);
    expect(lines(r, "-A KUBE-SVC-")[0]).toContain("! -s fd00:10:244::/56 -j KUBE-MARK-MASQ");
    expect(lines(r, "nodeports; NOTE")[0]).toContain("-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS");
    expect(r.text).not.toContain("KUBE-FIREWALL");
    expect(r.jumpsText).toContain(":KUBE-FIREWALL - [0:0]"); // the jump target the payload lacks
  });

  it("gives one result per family with the same chain names", () => {
    const services = [
      service({
        name: "web",
        type: "NodePort",
        clusterIP: ["10.96.0.10", "fd00:96::10"],
        ports: [{ port: 80, nodePort: 30080 }],
      }),
    ];
    const endpointSlices = [
      slice({ service: "web", name: "web-v4" }, [{ port: 8080 }], ["10.244.1.1"]),
      slice({ service: "web", name: "web-v6", family: "IPv6" }, [{ port: 8080 }], ["fd00:10:244::1"]),
    ];
    const c = compileIptables({
      services,
      endpointSlices,
      node: { name: NODE, addresses: ["192.168.0.1", "2001:db8::1"] },
      config: { clusterCIDR: "10.244.0.0/16,fd00:10:244::/56" },
    });
    expect(c.results.map((r) => r.family)).toEqual(["IPv4", "IPv6"]);
    const svcChain = (r: IptablesResult) => defined(/-j (KUBE-SVC-\w+)/.exec(r.text))[1];
    expect(svcChain(defined(c.ipv4))).toBe(svcChain(defined(c.ipv6)));
    expect(defined(c.ipv4).text).toContain("--to-destination 10.244.1.1:8080");
    expect(defined(c.ipv6).text).toContain("--to-destination [fd00:10:244::1]:8080");
    expect(defined(c.ipv4).text).not.toContain("fd00");
  });
});

describe("output", () => {
  it("gives the structured form the text was rendered from", () => {
    const r = compile([{ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] }], {
      web: ["10.244.1.1"],
    });
    const svc = defined(r.tables.nat.chains.find((c) => c.name === "KUBE-SERVICES"));
    expect(defined(svc.rules[0]).args).toEqual([
      "-m",
      "comment",
      "--comment",
      "default/web:http cluster IP",
      "-m",
      "tcp",
      "-p",
      "tcp",
      "-d",
      "10.96.0.10",
      "--dport",
      "80",
      "-j",
      expect.stringMatching(/^KUBE-SVC-/),
    ]);
    let rebuilt = "";
    for (const t of [r.tables.filter, r.tables.nat]) {
      rebuilt += `*${t.name}\n`;
      for (const c of t.chains) rebuilt += `:${c.name} - [0:0]\n`;
      for (const c of t.chains) for (const rl of c.rules) rebuilt += `-A ${c.name}${rl.text ? ` ${rl.text}` : ""}\n`;
      rebuilt += "COMMIT\n";
    }
    expect(rebuilt).toBe(r.text);
    expect(r.stats.natRules).toBe(r.tables.nat.chains.reduce((n, c) => n + c.rules.length, 0));
  });

  it("lists the jumps kube-proxy ensures in built-in chains", () => {
    expect(IPTABLES_JUMPS.map((j) => `${j.table} ${j.chain} -> ${j.target}`)).toContain(
      "nat PREROUTING -> KUBE-SERVICES",
    );
    expect(IPTABLES_JUMPS).toHaveLength(14);
    const r = compile([], {});
    expect(r.jumpsText).toContain(
      '-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    );
    expect(r.jumpsText).not.toContain(":KUBE-SERVICES"); // it must not flush the payload's chains
  });

  it("never lets a comment break out of its argument", () => {
    expect(quoteComment("ns/svc:p")).toBe("ns/svc:p");
    expect(quoteComment("a b")).toBe('"a b"');
    expect(quoteComment('x" -j ACCEPT\n-A INPUT -j DROP')).toBe('"x? -j ACCEPT?-A INPUT -j DROP"');
    expect(quoteComment("x".repeat(300))).toHaveLength(257);
  });

  it("switches to large-cluster mode above the threshold", () => {
    const r = defined(
      compileIptables(
        {
          services: [service({ name: "web", clusterIP: "10.96.0.10", ports: [{ port: 80 }] })],
          endpointSlices: [slice({ service: "web" }, [{ port: 8080 }], ["10.244.1.1", "10.244.1.2"])],
          node,
        },
        { largeClusterEndpointsThreshold: 1 },
      ).ipv4,
    );
    expect(r.stats.largeClusterMode).toBe(true);
    expect(lines(r, "-A KUBE-SEP-").every((l) => !l.includes("--comment"))).toBe(true);
    expect(lines(r, "-A KUBE-SERVICES")[0]).toContain('"default/web cluster IP"'); // service-level comments stay
  });
});

describe("an address repeated within a slice, with another slice beside it", () => {
  it("gives one endpoint chain, declared once and deleted once", () => {
    const svc = service({ name: "d", clusterIP: "10.96.0.13", ports: [{ name: "p", port: 80 }] });
    const udp = service({ name: "d", clusterIP: "10.96.0.13", ports: [{ name: "p", port: 80, protocol: "UDP" }] });
    const twice = slice({ service: "d", name: "d-1" }, [{ name: "p", port: 8080 }], ["10.244.1.4", "10.244.1.4"]);
    const empty = slice({ service: "d", name: "d-2" }, [{ name: "p", port: 8080 }], []);
    const proxier = createProxier({ mode: "iptables", partialResults: true });
    const first = appliedSync(proxier, { services: [svc], endpointSlices: [twice, empty], node });
    const decls = defined(first.ipv4)
      .text.split("\n")
      .filter((l) => l.startsWith(":KUBE-SEP-"));
    expect(decls).toHaveLength(1);
    expect(lines(defined(first.ipv4), "-j DNAT")).toHaveLength(1);
    // the Service turns UDP: its TCP slices no longer match, its chains go, each once
    const next = proxier.sync({ services: [udp], endpointSlices: [twice, empty], node });
    const deletions = defined(next.ipv4)
      .text.split("\n")
      .filter((l) => l.startsWith("-X "));
    expect(deletions).toHaveLength(new Set(deletions).size);
    expect(deletions).toContain(`-X ${defined(decls[0]).slice(1, defined(decls[0]).indexOf(" "))}`);
  });
});
