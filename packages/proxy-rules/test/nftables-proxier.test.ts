// kube-proxy's nftables proxier tests (pkg/proxy/nftables/proxier_test.go) that pin down the table
// or what kube-proxy derives from the same Service map, beyond TestOverallNFTablesRules,
// TestBadIPs and TestSyncProxyRulesRepeated (their own files): TestSyncProxyRulesStartup, the
// service-map tests through what our API shows of that map (proxied ports, health-check node
// ports), TestHealthCheckNodePortWhenTerminating through the health-check answers,
// TestNoEndpointsMetric through the verdicts it counts, TestProxier_OnServiceCIDRsChanged
// through the `serviceCIDRs` option, and TestProxyRulesInUserNS (proxier_userns_test.go). The
// tests that only send packets through upstream's tracer are ported with the nftables tracer.

import { describe, expect, it } from "vitest";
import {
  compileNftables,
  type EndpointSlice,
  type NftablesResult,
  type Service,
  serviceHealthChecks,
} from "../src/index.js";
import { type MService, makeTestEndpointSlice, makeTestService, testNodeName } from "./support/kube-proxy-fixtures.js";
import { NftDriver } from "./support/nftables-driver.js";
import { baseRules, fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";
import { dedent, listFormat, NftTableModel, sortNFTablesTransaction } from "./support/nftables-model.js";

function ipv4Of(r: { readonly ipv4: NftablesResult | undefined }): NftablesResult {
  if (r.ipv4 === undefined) throw new Error("no IPv4 result");
  return r.ipv4;
}

function dumpOf(text: string): string {
  const model = new NftTableModel("ip");
  model.apply(text);
  return model.dump();
}

/**
 * upstream's addTestPort, without its targetPort (the proxier takes endpoint ports from the
 * EndpointSlices; our Service type has no targetPort)
 */
function addTestPort(svc: MService, name: string, protocol: string, port: number, nodePort: number): void {
  svc.spec.ports = [...(svc.spec.ports ?? []), { name, protocol, port, nodePort }];
}

describe("TestSyncProxyRulesStartup", () => {
  const P = "add rule ip kube-proxy";
  // what kube-proxy left in the kernel before it restarted (the Fake's ParseDump)
  const existing =
    baseRules +
    dedent(`
		add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
		add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
		add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
		add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080

		${P} service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
		${P} service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
		${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
		${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

		${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
		${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
		${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
		${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080

		add element ip kube-proxy cluster-ips { 172.30.0.41 }
		add element ip kube-proxy cluster-ips { 172.30.0.42 }
		add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
		add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
	`);
  const clusterIP = (ns: string, name: string, ip: string, port: string, portNum: number): Service =>
    makeTestService(ns, name, (svc) => {
      svc.spec.type = "ClusterIP";
      svc.spec.clusterIP = ip;
      svc.spec.ports = [{ name: port, port: portNum, protocol: "TCP" }];
    });
  // the state kube-proxy starts with, which differs from the table: svc1 has a second
  // endpoint, svc3 is new
  const services = [
    clusterIP("ns1", "svc1", "172.30.0.41", "p80", 80),
    clusterIP("ns2", "svc2", "172.30.0.42", "p8080", 8080),
    clusterIP("ns3", "svc3", "172.30.0.43", "p80", 80),
  ];
  const slices = [
    makeTestEndpointSlice("ns1", "svc1", 1, (eps) => {
      eps.endpoints = [{ addresses: ["10.0.1.1"] }, { addresses: ["10.0.1.2"] }];
      eps.ports = [{ name: "p80", port: 80, protocol: "TCP" }];
    }),
    makeTestEndpointSlice("ns2", "svc2", 1, (eps) => {
      eps.endpoints = [{ addresses: ["10.0.2.1"] }];
      eps.ports = [{ name: "p8080", port: 8080, protocol: "TCP" }];
    }),
  ];
  const expected =
    baseRules +
    dedent(`
		add element ip kube-proxy cluster-ips { 172.30.0.41 }
		add element ip kube-proxy cluster-ips { 172.30.0.42 }
		add element ip kube-proxy cluster-ips { 172.30.0.43 }
		add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
		add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
		add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }

		add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
		${P} service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
		${P} service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 , 1 : goto endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 }
		add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
		${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
		${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80
		add chain ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80
		${P} endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 ip saddr 10.0.1.2 jump mark-for-masquerade
		${P} endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 meta l4proto tcp dnat to 10.0.1.2:80

		add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
		${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
		${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
		add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
		${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
		${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080
	`);

  it("the first sync over a table left by an earlier kube-proxy leaves kube-proxy's expected table", () => {
    // the operations of a first sync over an empty kernel
    const setupOps = ipv4Of(new NftDriver({ ...fakeNftOptions(), existingRuleset: "" }).sync(fakeNftInput([], [])))
      .stats.operations;

    // a new proxier, over the table as nft lists it
    const table = new NftTableModel("ip");
    table.apply(existing);
    const driver = new NftDriver({ ...fakeNftOptions(), existingRuleset: listFormat(table) });
    const c = ipv4Of(driver.sync(fakeNftInput(services, slices)));
    expect(c.cleanupText).toBe("");
    table.apply(c.text);
    expect(sortNFTablesTransaction(table.dump())).toBe(sortNFTablesTransaction(expected));
    // setup, then only what differs: svc3's cluster-ips and no-endpoint-services elements (2),
    // both service chains added, flushed and their 2 rules (8), svc1's new endpoint chain (4)
    expect(c.stats.operations).toBe(setupOps + 14);
    expect(c.stats.staleChains).toBe(0);
  });

  it("without the kernel's ruleset the same first sync rewrites everything and gives the same table", () => {
    const table = new NftTableModel("ip");
    table.apply(existing);
    const c = ipv4Of(new NftDriver(fakeNftOptions()).sync(fakeNftInput(services, slices)));
    table.apply(c.text);
    expect(sortNFTablesTransaction(table.dump())).toBe(sortNFTablesTransaction(expected));
  });
});

describe("TestBuildServiceMapAddRemove", () => {
  const services = [
    makeTestService("somewhere-else", "cluster-ip", (svc) => {
      svc.spec.type = "ClusterIP";
      svc.spec.clusterIP = "172.30.55.4";
      addTestPort(svc, "something", "UDP", 1234, 4321);
      addTestPort(svc, "somethingelse", "UDP", 1235, 5321);
      addTestPort(svc, "sctpport", "SCTP", 1236, 6321);
    }),
    makeTestService("somewhere-else", "node-port", (svc) => {
      svc.spec.type = "NodePort";
      svc.spec.clusterIP = "172.30.55.10";
      addTestPort(svc, "blahblah", "UDP", 345, 678);
      addTestPort(svc, "moreblahblah", "TCP", 344, 677);
      addTestPort(svc, "muchmoreblah", "SCTP", 343, 676);
    }),
    makeTestService("somewhere", "load-balancer", (svc) => {
      svc.spec.type = "LoadBalancer";
      svc.spec.clusterIP = "172.30.55.11";
      addTestPort(svc, "foobar", "UDP", 8675, 30061);
      addTestPort(svc, "baz", "UDP", 8676, 30062);
      svc.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
    }),
    makeTestService("somewhere", "only-local-load-balancer", (svc) => {
      svc.spec.type = "LoadBalancer";
      svc.spec.clusterIP = "172.30.55.12";
      addTestPort(svc, "foobar2", "UDP", 8677, 30063);
      addTestPort(svc, "baz", "UDP", 8678, 30064);
      svc.status = { loadBalancer: { ingress: [{ ip: "5.6.7.8" }] } };
      svc.spec.externalTrafficPolicy = "Local";
      svc.spec.healthCheckNodePort = 345;
    }),
  ];

  it("ten service ports, one health-check node port; after removals one port and none", () => {
    const driver = new NftDriver(fakeNftOptions());
    const first = ipv4Of(driver.sync(fakeNftInput(services, [])));
    driver.applied();
    expect(first.stats.servicePorts).toBe(10);
    const checks = serviceHealthChecks(fakeNftInput(services, []));
    expect(checks.map((c) => [`${c.namespace}/${c.name}`, c.nodePort])).toEqual([
      ["somewhere/only-local-load-balancer", 345],
    ]);

    // services[0] without its first port; services[1..3] deleted
    const oneService = makeTestService("somewhere-else", "cluster-ip", (svc) => {
      svc.spec.type = "ClusterIP";
      svc.spec.clusterIP = "172.30.55.4";
      addTestPort(svc, "somethingelse", "UDP", 1235, 5321);
    });
    const second = ipv4Of(driver.sync(fakeNftInput([oneService], [])));
    driver.applied();
    expect(second.stats.servicePorts).toBe(1);
    expect(serviceHealthChecks(fakeNftInput([oneService], []))).toEqual([]);
  });
});

describe("TestBuildServiceMapServiceHeadless", () => {
  it("headless Services are not proxied and have no health check", () => {
    const services = [
      makeTestService("somewhere-else", "headless", (svc) => {
        svc.spec.type = "ClusterIP";
        svc.spec.clusterIP = "None";
        addTestPort(svc, "rpc", "UDP", 1234, 0);
      }),
      makeTestService("somewhere-else", "headless-without-port", (svc) => {
        svc.spec.type = "ClusterIP";
        svc.spec.clusterIP = "None";
      }),
    ];
    const r = ipv4Of(compileNftables(fakeNftInput(services, []), fakeNftOptions()));
    expect(r.stats.servicePorts).toBe(0);
    expect(sortNFTablesTransaction(dumpOf(r.text))).toBe(sortNFTablesTransaction(baseRules));
    expect(serviceHealthChecks(fakeNftInput(services, []))).toEqual([]);
  });
});

describe("TestBuildServiceMapServiceTypeExternalName", () => {
  it("an ExternalName Service is not proxied and has no health check", () => {
    const services = [
      makeTestService("somewhere-else", "external-name", (svc) => {
        svc.spec.type = "ExternalName";
        svc.spec.clusterIP = "172.30.55.4"; // ignored
        svc.spec.externalName = "foo2.bar.com";
        addTestPort(svc, "blah", "UDP", 1235, 5321);
      }),
    ];
    const r = ipv4Of(compileNftables(fakeNftInput(services, []), fakeNftOptions()));
    expect(r.stats.servicePorts).toBe(0);
    expect(sortNFTablesTransaction(dumpOf(r.text))).toBe(sortNFTablesTransaction(baseRules));
    expect(serviceHealthChecks(fakeNftInput(services, []))).toEqual([]);
  });
});

describe("TestBuildServiceMapServiceUpdate", () => {
  it("ClusterIP to LoadBalancer (eTP Local) and back: two ports throughout, a health check only as LoadBalancer", () => {
    const servicev1 = makeTestService("somewhere", "some-service", (svc) => {
      svc.spec.type = "ClusterIP";
      svc.spec.clusterIP = "172.30.55.4";
      addTestPort(svc, "something", "UDP", 1234, 4321);
      addTestPort(svc, "somethingelse", "TCP", 1235, 5321);
    });
    const servicev2 = makeTestService("somewhere", "some-service", (svc) => {
      svc.spec.type = "LoadBalancer";
      svc.spec.clusterIP = "172.30.55.4";
      addTestPort(svc, "something", "UDP", 1234, 4321);
      addTestPort(svc, "somethingelse", "TCP", 1235, 5321);
      svc.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
      svc.spec.externalTrafficPolicy = "Local";
      svc.spec.healthCheckNodePort = 345;
    });
    const driver = new NftDriver(fakeNftOptions());
    const step = (svc: Service) => {
      const r = ipv4Of(driver.sync(fakeNftInput([svc], [])));
      driver.applied();
      return { r, checks: serviceHealthChecks(fakeNftInput([svc], [])).map((c) => c.nodePort) };
    };
    let s = step(servicev1);
    expect([s.r.stats.servicePorts, s.checks]).toEqual([2, []]);
    // change the Service to a LoadBalancer
    s = step(servicev2);
    expect([s.r.stats.servicePorts, s.checks]).toEqual([2, [345]]);
    // no change: the same map, no health-check change, nothing to write
    s = step(servicev2);
    expect([s.r.stats.servicePorts, s.checks]).toEqual([2, [345]]);
    expect(s.r.text).toBe("");
    // and back to ClusterIP
    s = step(servicev1);
    expect([s.r.stats.servicePorts, s.checks]).toEqual([2, []]);
  });
});

describe("TestHealthCheckNodePortWhenTerminating", () => {
  // upstream counts EndpointsMap.LocalReadyEndpoints of a ClusterIP Service with port 0 (which
  // the API server and our validation refuse); what those counts feed is the health check of a
  // Service with a healthCheckNodePort, so the same endpoints are given to one
  const svc = makeTestService("ns1", "svc1", (s) => {
    s.spec.type = "LoadBalancer";
    s.spec.externalTrafficPolicy = "Local";
    s.spec.healthCheckNodePort = 30000;
    s.spec.clusterIP = "172.30.1.1";
    s.spec.selector = { foo: "bar" };
    s.spec.ports = [{ name: "", port: 80, protocol: "TCP", nodePort: 30080 }];
  });
  const sliceOf = (conditions: { ready: boolean; serving?: boolean; terminating?: boolean }[]) =>
    makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.ports = [{ name: "", port: 80, protocol: "TCP" }];
      e.endpoints = conditions.map((c, i) => ({
        addresses: [`10.0.1.${i + 1}`],
        conditions: c,
        nodeName: testNodeName,
      }));
    });

  it("local endpoints that are all terminating (or not ready) do not make the node healthy", () => {
    // three ready local endpoints, one not ready (ignored)
    const ready = sliceOf([{ ready: true }, { ready: true }, { ready: true }, { ready: false }]);
    expect(serviceHealthChecks(fakeNftInput([svc], [ready])).map((c) => [c.localEndpoints, c.status])).toEqual([
      [3, 200],
    ]);
    // every endpoint not ready: serving or not, terminating or not
    const terminating = sliceOf([
      { ready: false, serving: true, terminating: false },
      { ready: false, serving: true, terminating: true },
      { ready: false, serving: true, terminating: true },
      { ready: false, serving: false, terminating: true },
    ]);
    expect(serviceHealthChecks(fakeNftInput([svc], [terminating])).map((c) => [c.localEndpoints, c.status])).toEqual([
      [0, 503],
    ]);
  });
});

describe("TestNoEndpointsMetric", () => {
  // kube-proxy's sync_proxy_rules_no_endpoints_total counts, per sync, the Service ports whose
  // internal (ClusterIP) or external (NodePort, …) traffic gets the "drop" verdict because the
  // Local policy finds no local endpoint: counted here from those verdicts in the table.
  type Ep = readonly [ip: string, nodeName: string];
  const threeNodes: readonly Ep[] = [
    ["10.0.1.1", testNodeName],
    ["10.0.1.2", "node1"],
    ["10.0.1.3", "node2"],
  ];
  const noLocal: readonly Ep[] = [
    ["10.0.1.1", "node0"],
    ["10.0.1.2", "node1"],
    ["10.0.1.3", "node2"],
  ];
  it.each([
    ["internalTrafficPolicy is set and there are local endpoints", "Local", undefined, threeNodes, 0, 0],
    ["externalTrafficPolicy is set and there are local endpoints", undefined, "Local", threeNodes, 0, 0],
    ["both policies are set and there are local endpoints", "Local", "Local", threeNodes, 0, 0],
    ["internalTrafficPolicy is set and there are no local endpoints", "Local", undefined, noLocal, 1, 0],
    ["externalTrafficPolicy is set and there are no local endpoints", undefined, "Local", noLocal, 0, 1],
    ["both policies are set and there are no local endpoints", "Local", "Local", noLocal, 1, 1],
    ["both policies are set and there are no endpoints at all", "Local", "Local", [], 0, 0],
  ] as const)("%s", (_name, iTP, eTP, endpoints, internal, external) => {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.clusterIP = "172.30.1.1";
      s.spec.selector = { foo: "bar" };
      s.spec.ports = [{ name: "", port: 80, protocol: "TCP", nodePort: 123 }];
      if (iTP !== undefined) s.spec.internalTrafficPolicy = iTP;
      if (eTP !== undefined) {
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = eTP;
      }
    });
    const eps: EndpointSlice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.ports = [{ name: "", port: 80, protocol: "TCP" }];
      e.endpoints = endpoints.map(([ip, nodeName]) => ({ addresses: [ip], conditions: { ready: true }, nodeName }));
    });
    const table = new NftTableModel("ip");
    table.apply(ipv4Of(compileNftables(fakeNftInput([svc], [eps]), fakeNftOptions())).text);
    const verdict = (map: string, key: string) => table.containers.get(map)?.elements.get(key);
    const dropped = (v: string | undefined) => (v?.endsWith(" : drop") ? 1 : 0);
    expect(dropped(verdict("no-endpoint-services", "172.30.1.1 . tcp . 80"))).toBe(internal);
    expect(dropped(verdict("no-endpoint-nodeports", "tcp . 123"))).toBe(external);
  });
});

describe("TestProxier_OnServiceCIDRsChanged", () => {
  // kube-proxy's per-family proxier keeps the CIDRs of its family, joined by ","; they are the
  // set of cluster-ips-check's drop rule
  const dropRule = (r: NftablesResult | undefined) =>
    r?.text
      .split("\n")
      .find(
        (l) => l.includes("cluster-ips-check") && l.endsWith('drop comment "Drop traffic to unallocated ClusterIPs"'),
      );
  const compile = (serviceCIDRs: string[]) =>
    compileNftables(fakeNftInput([], []), { ...fakeNftOptions(), families: ["IPv4", "IPv6"], serviceCIDRs });

  it("each family keeps the CIDRs of its own family", () => {
    let c = compile(["172.30.0.0/16", "fd00:10:96::/112"]);
    expect(dropRule(c.ipv4)).toBe(
      'add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"',
    );
    expect(dropRule(c.ipv6)).toBe(
      'add rule ip6 kube-proxy cluster-ips-check ip6 daddr { fd00:10:96::/112 } drop comment "Drop traffic to unallocated ClusterIPs"',
    );
    c = compile(["172.30.0.0/16", "172.50.0.0/16", "fd00:10:96::/112", "fd00:172:30::/112"]);
    expect(dropRule(c.ipv4)).toContain("ip daddr { 172.30.0.0/16,172.50.0.0/16 } drop");
    expect(dropRule(c.ipv6)).toContain("ip6 daddr { fd00:10:96::/112,fd00:172:30::/112 } drop");
  });
});

describe("TestProxyRulesInUserNS", () => {
  it("a sync with no Services gives exactly kube-proxy's baseRules", () => {
    const r = ipv4Of(compileNftables(fakeNftInput([], []), fakeNftOptions()));
    expect(sortNFTablesTransaction(dumpOf(r.text))).toBe(sortNFTablesTransaction(baseRules));
  });
});

// Not an upstream test: kube-proxy builds its nftables proxier from the `nftables` section of its
// configuration (server_linux.go passes config.NFTables.MasqueradeAll and MasqueradeBit), so the
// nftables mode must not follow the iptables section's settings.
describe("the nftables section of KubeProxyConfiguration", () => {
  const svc = makeTestService("ns1", "svc1", (s) => {
    s.spec.clusterIP = "172.30.0.41";
    addTestPort(s, "p80", "TCP", 80, 0);
  });
  const eps = makeTestEndpointSlice("ns1", "svc1", 1, (s) => {
    s.endpoints = [{ addresses: ["10.180.0.1"] }];
    s.ports = [{ name: "p80", port: 80, protocol: "TCP" }];
  });
  const rules = (config: NonNullable<Parameters<typeof compileNftables>[0]["config"]>) => {
    const input = fakeNftInput([svc], [eps]);
    const { masqueradeMark: _unused, ...options } = fakeNftOptions();
    return ipv4Of(compileNftables({ ...input, config: { ...input.config, ...config } }, options)).text;
  };
  const serviceRule = (text: string) =>
    text.split("\n").find((l) => l.startsWith("add rule ip kube-proxy service-") && l.includes("mark-for-masquerade"));

  it("nftables.masqueradeAll masquerades every packet to the cluster IP; iptables.masqueradeAll does not", () => {
    expect(serviceRule(rules({}))).toBe(
      "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
    );
    expect(serviceRule(rules({ iptables: { masqueradeAll: true } }))).toBe(serviceRule(rules({})));
    expect(serviceRule(rules({ nftables: { masqueradeAll: true } }))).toBe(
      "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 jump mark-for-masquerade",
    );
  });

  it("nftables.masqueradeBit sets the mark (Go's %#08x of 1 << bit); iptables.masqueradeBit does not", () => {
    const markRules = (text: string) =>
      text.split("\n").filter((l) => / (mark-for-masquerade|masquerading) mark /.test(l));
    expect(markRules(rules({ nftables: { masqueradeBit: 12 } }))).toEqual([
      "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00001000",
      "add rule ip kube-proxy masquerading mark and 0x00001000 == 0 return",
      "add rule ip kube-proxy masquerading mark set mark xor 0x00001000",
    ]);
    expect(markRules(rules({ iptables: { masqueradeBit: 12 } }))).toEqual([
      "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00004000",
      "add rule ip kube-proxy masquerading mark and 0x00004000 == 0 return",
      "add rule ip kube-proxy masquerading mark set mark xor 0x00004000",
    ]);
  });
});
