// Parity with kube-proxy's nftables packet-flow tests (pkg/proxy/nftables/proxier_test.go, the
// tests that call runPacketFlowTests): the same Services and EndpointSlices, compiled by
// compileNftables with NewFakeProxier's settings, traced by explainPacket through the compiled
// transaction (test/support/nftables-flows.ts), reach the same endpoints with the same
// masquerading. Test and case names and expectations are kube-proxy's, written here as facts.

import { describe, expect, it } from "vitest";
import {
  compileNftables,
  type EndpointSlice,
  type NftablesRuleset,
  type ProxyInput,
  parseNftablesRuleset,
  type Service,
} from "../src/index.js";
import {
  makeTestEndpointSlice,
  makeTestService,
  testExternalIP,
  testNodeIP,
  testNodeIPAlt,
  testNodeIPv6,
  testNodeIPv6Alt,
  testNodeName,
} from "./support/kube-proxy-fixtures.js";
import { NftDriver } from "./support/nftables-driver.js";
import { fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";
import { nftTracePacket } from "./support/nftables-flows.js";

const testExternalClient = "203.0.113.2";
const testExternalClientBlocked = "203.0.113.130";
const testNodeIPs = [testNodeIP, testNodeIPAlt, testExternalIP, testNodeIPv6, testNodeIPv6Alt];

interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol?: string;
  output: string;
  masq?: boolean;
}

/** runPacketFlowTests: every case traced, output and masquerading as kube-proxy expects. */
function runPacketFlowTests(rules: string | readonly string[] | NftablesRuleset, flows: readonly Flow[]): void {
  const rs =
    typeof rules === "string" || Array.isArray(rules)
      ? parseNftablesRuleset(rules as string | readonly string[])
      : (rules as NftablesRuleset);
  for (const f of flows) {
    const t = nftTracePacket(rs, testNodeIPs, f.sourceIP, (f.protocol ?? "TCP").toLowerCase(), f.destIP, f.destPort);
    expect({ name: f.name, output: t.output, masq: t.masq }, t.matches.join("\n")).toEqual({
      name: f.name,
      output: f.output,
      masq: f.masq ?? false,
    });
  }
}

/** NewFakeProxier + syncProxyRules: the transaction of one family. */
function sync(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  family: "IPv4" | "IPv6" = "IPv4",
  tweak: (i: ProxyInput) => ProxyInput = (i) => i,
): string {
  const r = compileNftables(tweak(fakeNftInput(services, slices, family)), fakeNftOptions(family));
  const text = (family === "IPv4" ? r.ipv4 : r.ipv6)?.text;
  if (text === undefined) throw new Error(`no ${family} transaction`);
  return text;
}

/**
 * A proxier's first sync, then a second one with other slices (the slice deleted): the node's
 * transactions in the order they are run (the second sync's cleanup before its text).
 */
function syncThenResync(
  services: readonly Service[],
  first: readonly EndpointSlice[],
  second: readonly EndpointSlice[],
): { first: string; both: string[] } {
  const driver = new NftDriver(fakeNftOptions());
  const a = driver.sync(fakeNftInput(services, first)).ipv4;
  driver.applied();
  const b = driver.sync(fakeNftInput(services, second)).ipv4;
  if (!a || !b) throw new Error("no IPv4 transaction");
  return { first: a.text, both: [a.text, b.cleanupText, b.text].filter((t) => t !== "") };
}

const tcp = (name: string, port: number) => ({ name, port, protocol: "TCP" });

type Conditions = { ready?: boolean; serving?: boolean; terminating?: boolean };
const ep = (ip: string, nodeName: string, conditions: Conditions = { ready: true }) => ({
  addresses: [ip],
  conditions,
  nodeName,
});
const readyC = { ready: true, serving: true, terminating: false };
const servingTerminating = { ready: false, serving: true, terminating: true };
const notServing = { ready: false, serving: false, terminating: true };

describe("kube-proxy nftables parity: packet flows", () => {
  it("TestNoEndpointsReject", () => {
    const svcIP = "172.30.0.41";
    const svcExternalIPs = "192.168.99.11";
    const svcLBIP = "1.2.3.4";
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = svcIP;
      s.spec.externalIPs = [svcExternalIPs];
      s.spec.ports = [{ name: "p80", protocol: "TCP", port: 80, nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: svcLBIP }] } };
    });
    runPacketFlowTests(sync([svc], []), [
      {
        name: "pod to cluster IP with no endpoints",
        sourceIP: "10.0.0.2",
        destIP: svcIP,
        destPort: 80,
        output: "REJECT",
      },
      {
        name: "external to external IP with no endpoints",
        sourceIP: testExternalClient,
        destIP: svcExternalIPs,
        destPort: 80,
        output: "REJECT",
      },
      {
        name: "pod to NodePort with no endpoints",
        sourceIP: "10.0.0.2",
        destIP: testNodeIP,
        destPort: 3001,
        output: "REJECT",
      },
      {
        name: "external to NodePort with no endpoints",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: "REJECT",
      },
      {
        name: "pod to LoadBalancer IP with no endpoints",
        sourceIP: "10.0.0.2",
        destIP: svcLBIP,
        destPort: 80,
        output: "REJECT",
      },
      {
        name: "external to LoadBalancer IP with no endpoints",
        sourceIP: testExternalClient,
        destIP: svcLBIP,
        destPort: 80,
        output: "REJECT",
      },
    ]);
  });

  it("TestClusterIPGeneral", () => {
    const svcs = [
      makeTestService("ns1", "svc1", (s) => {
        s.spec.clusterIP = "172.30.0.41";
        s.spec.ports = [tcp("http", 80)];
      }),
      makeTestService("ns2", "svc2", (s) => {
        s.spec.clusterIP = "172.30.0.42";
        s.spec.ports = [
          tcp("http", 80),
          tcp("https", 443),
          { name: "dns-udp", port: 53, protocol: "UDP" },
          tcp("dns-tcp", 53),
          { name: "dns-sctp", port: 53, protocol: "SCTP" },
        ];
      }),
    ];
    const slices = [
      makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
        e.endpoints = [{ addresses: ["10.180.0.1"], nodeName: testNodeName }];
        e.ports = [tcp("http", 80)];
      }),
      makeTestEndpointSlice("ns2", "svc2", 1, (e) => {
        e.endpoints = [
          { addresses: ["10.180.0.1"], nodeName: testNodeName },
          { addresses: ["10.180.2.1"], nodeName: "node2" },
        ];
        e.ports = [
          tcp("http", 80),
          tcp("https", 8443),
          { name: "dns-udp", port: 53, protocol: "UDP" },
          tcp("dns-tcp", 5353),
          { name: "dns-sctp", port: 53, protocol: "SCTP" },
        ];
      }),
    ];
    runPacketFlowTests(sync(svcs, slices), [
      {
        name: "simple clusterIP",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.41",
        destPort: 80,
        output: "10.180.0.1:80",
      },
      {
        name: "hairpin to cluster IP",
        sourceIP: "10.180.0.1",
        destIP: "172.30.0.41",
        destPort: 80,
        output: "10.180.0.1:80",
        masq: true,
      },
      {
        name: "clusterIP with multiple endpoints",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.42",
        destPort: 80,
        output: "10.180.0.1:80, 10.180.2.1:80",
      },
      {
        name: "clusterIP with TargetPort",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.42",
        destPort: 443,
        output: "10.180.0.1:8443, 10.180.2.1:8443",
      },
      {
        name: "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
        sourceIP: "10.180.0.2",
        protocol: "TCP",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:5353, 10.180.2.1:5353",
      },
      {
        name: "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
        sourceIP: "10.180.0.2",
        protocol: "UDP",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      {
        name: "clusterIP with TCP, UDP, and SCTP on same port (SCTP)",
        sourceIP: "10.180.0.2",
        protocol: "SCTP",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      {
        name: "TCP-only port does not match UDP traffic",
        sourceIP: "10.180.0.2",
        protocol: "UDP",
        destIP: "172.30.0.42",
        destPort: 80,
        output: "REJECT",
      },
      {
        name: "svc1 does not accept svc2's ports",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.41",
        destPort: 443,
        output: "REJECT",
      },
      {
        name: "packet to unallocated cluster ip",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.50",
        destPort: 80,
        output: "DROP",
      },
    ]);
  });

  it("TestLoadBalancer", () => {
    const svcIP = "172.30.0.41";
    const svcLBIP1 = "1.2.3.4";
    const svcLBIP2 = "5.6.7.8";
    const epIP = "10.180.0.1";
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = svcIP;
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: svcLBIP1 }, { ip: svcLBIP2 }] } };
      s.spec.loadBalancerSourceRanges = ["192.168.0.0/24", " 203.0.113.0/25"];
    });
    const slice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.endpoints = [{ addresses: [epIP] }];
      e.ports = [tcp("p80", 80)];
    });
    const ep = `${epIP}:80`;
    runPacketFlowTests(sync([svc], [slice]), [
      { name: "pod to cluster IP", sourceIP: "10.0.0.2", destIP: svcIP, destPort: 80, output: ep },
      {
        name: "external to nodePort",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: ep,
        masq: true,
      },
      {
        name: "nodePort bypasses LoadBalancerSourceRanges",
        sourceIP: testExternalClientBlocked,
        destIP: testNodeIP,
        destPort: 3001,
        output: ep,
        masq: true,
      },
      {
        name: "accepted external to LB1",
        sourceIP: testExternalClient,
        destIP: svcLBIP1,
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "accepted external to LB2",
        sourceIP: testExternalClient,
        destIP: svcLBIP2,
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "blocked external to LB1",
        sourceIP: testExternalClientBlocked,
        destIP: svcLBIP1,
        destPort: 80,
        output: "DROP",
      },
      {
        name: "blocked external to LB2",
        sourceIP: testExternalClientBlocked,
        destIP: svcLBIP2,
        destPort: 80,
        output: "DROP",
      },
      {
        name: "pod to LB1 (blocked by LoadBalancerSourceRanges)",
        sourceIP: "10.0.0.2",
        destIP: svcLBIP1,
        destPort: 80,
        output: "DROP",
      },
      {
        name: "pod to LB2 (blocked by LoadBalancerSourceRanges)",
        sourceIP: "10.0.0.2",
        destIP: svcLBIP2,
        destPort: 80,
        output: "DROP",
      },
      {
        name: "node to LB1 (allowed by LoadBalancerSourceRanges)",
        sourceIP: testNodeIP,
        destIP: svcLBIP1,
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "node to LB2 (allowed by LoadBalancerSourceRanges)",
        sourceIP: testNodeIP,
        destIP: svcLBIP2,
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "same node to LB1, SNATted to LB1 (implicitly allowed)",
        sourceIP: svcLBIP1,
        destIP: svcLBIP1,
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "same node to LB2, SNATted to LB2 (implicitly allowed)",
        sourceIP: svcLBIP2,
        destIP: svcLBIP2,
        destPort: 80,
        output: ep,
        masq: true,
      },
    ]);
  });

  describe("TestNodePorts", () => {
    const cases = [
      { name: "ipv4", family: "IPv4" as const, nodePortAddresses: undefined, allowAltNodeIP: false },
      {
        name: "ipv4, multiple nodeport-addresses",
        family: "IPv4" as const,
        nodePortAddresses: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"],
        allowAltNodeIP: true,
      },
      { name: "ipv6", family: "IPv6" as const, nodePortAddresses: undefined, allowAltNodeIP: false },
      {
        name: "ipv6, multiple nodeport-addresses",
        family: "IPv6" as const,
        nodePortAddresses: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64", "2001:db8:1::2/128"],
        allowAltNodeIP: true,
      },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        const v4 = tc.family === "IPv4";
        const svcIP = v4 ? "172.30.0.41" : "fd00:172:30::41";
        const epIP1 = v4 ? "10.180.0.1" : "fd00:10:180::1";
        const epIP2 = v4 ? "10.180.2.1" : "fd00:10:180::2:1";
        const nodeIP = v4 ? testNodeIP : testNodeIPv6;
        const svc = makeTestService("ns1", "svc1", (s) => {
          s.spec.type = "NodePort";
          s.spec.clusterIP = svcIP;
          s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        });
        const slice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
          e.addressType = tc.family;
          e.endpoints = [{ addresses: [epIP1] }, { addresses: [epIP2], nodeName: testNodeName }];
          e.ports = [tcp("p80", 80)];
        });
        const text = sync([svc], [slice], tc.family, (i) =>
          tc.nodePortAddresses ? { ...i, config: { ...i.config, nodePortAddresses: tc.nodePortAddresses } } : i,
        );
        const podIP = v4 ? "10.0.0.2" : "fd00:10::2";
        const externalClientIP = v4 ? testExternalClient : "2600:5200::1";
        const altNodeIP = v4 ? testNodeIPAlt : testNodeIPv6Alt;
        const hp = (ip: string) => (ip.includes(":") ? `[${ip}]:80` : `${ip}:80`);
        const output = `${hp(epIP1)}, ${hp(epIP2)}`;
        runPacketFlowTests(text, [
          { name: "pod to cluster IP", sourceIP: podIP, destIP: svcIP, destPort: 80, output },
          {
            name: "external to nodePort",
            sourceIP: externalClientIP,
            destIP: nodeIP,
            destPort: 3001,
            output,
            masq: true,
          },
          { name: "node to nodePort", sourceIP: nodeIP, destIP: nodeIP, destPort: 3001, output, masq: true },
        ]);
        if (tc.allowAltNodeIP)
          runPacketFlowTests(text, [
            {
              name: "external to nodePort on secondary IP",
              sourceIP: externalClientIP,
              destIP: altNodeIP,
              destPort: 3001,
              output,
              masq: true,
            },
          ]);
        else
          runPacketFlowTests(text, [
            {
              name: "secondary nodeIP ignores NodePorts",
              sourceIP: externalClientIP,
              destIP: altNodeIP,
              destPort: 3001,
              output: "",
            },
          ]);
      });
    }
  });

  /** TestExternalTrafficPolicyLocal / Cluster's Service: LoadBalancer with an external IP. */
  function etpService(policy: "Local" | "Cluster"): string {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = policy;
      s.spec.clusterIP = "172.30.0.41";
      s.spec.externalIPs = ["192.168.99.11"];
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      if (policy === "Local") s.spec.healthCheckNodePort = 30000;
      s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
    });
    const slice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.endpoints = [{ addresses: ["10.180.0.1"] }, { addresses: ["10.180.2.1"], nodeName: testNodeName }];
      e.ports = [tcp("p80", 80)];
    });
    return sync([svc], [slice]);
  }

  it("TestExternalTrafficPolicyLocal", () => {
    const both = "10.180.0.1:80, 10.180.2.1:80";
    const local = "10.180.2.1:80";
    runPacketFlowTests(etpService("Local"), [
      {
        name: "pod to cluster IP hits both endpoints, unmasqueraded",
        sourceIP: "10.0.0.2",
        destIP: "172.30.0.41",
        destPort: 80,
        output: both,
      },
      {
        name: "pod to external IP hits both endpoints, unmasqueraded",
        sourceIP: "10.0.0.2",
        destIP: "192.168.99.11",
        destPort: 80,
        output: both,
      },
      {
        name: "external to external IP hits only local endpoint, unmasqueraded",
        sourceIP: testExternalClient,
        destIP: "192.168.99.11",
        destPort: 80,
        output: local,
      },
      {
        name: "pod to LB IP hits only both endpoints, unmasqueraded",
        sourceIP: "10.0.0.2",
        destIP: "1.2.3.4",
        destPort: 80,
        output: both,
      },
      {
        name: "external to LB IP hits only local endpoint, unmasqueraded",
        sourceIP: testExternalClient,
        destIP: "1.2.3.4",
        destPort: 80,
        output: local,
      },
      {
        name: "pod to NodePort hits both endpoints, unmasqueraded",
        sourceIP: "10.0.0.2",
        destIP: testNodeIP,
        destPort: 3001,
        output: both,
      },
      {
        name: "external to NodePort hits only local endpoint, unmasqueraded",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: local,
      },
    ]);
  });

  it("TestExternalTrafficPolicyCluster", () => {
    const both = "10.180.0.1:80, 10.180.2.1:80";
    runPacketFlowTests(etpService("Cluster"), [
      {
        name: "pod to cluster IP hits both endpoints, unmasqueraded",
        sourceIP: "10.0.0.2",
        destIP: "172.30.0.41",
        destPort: 80,
        output: both,
      },
      {
        name: "pod to external IP hits both endpoints, masqueraded",
        sourceIP: "10.0.0.2",
        destIP: "192.168.99.11",
        destPort: 80,
        output: both,
        masq: true,
      },
      {
        name: "external to external IP hits both endpoints, masqueraded",
        sourceIP: testExternalClient,
        destIP: "192.168.99.11",
        destPort: 80,
        output: both,
        masq: true,
      },
      {
        name: "pod to LB IP hits both endpoints, masqueraded",
        sourceIP: "10.0.0.2",
        destIP: "1.2.3.4",
        destPort: 80,
        output: both,
        masq: true,
      },
      {
        name: "external to LB IP hits both endpoints, masqueraded",
        sourceIP: testExternalClient,
        destIP: "1.2.3.4",
        destPort: 80,
        output: both,
        masq: true,
      },
      {
        name: "pod to NodePort hits both endpoints, masqueraded",
        sourceIP: "10.0.0.2",
        destIP: testNodeIP,
        destPort: 3001,
        output: both,
        masq: true,
      },
      {
        name: "external to NodePort hits both endpoints, masqueraded",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: both,
        masq: true,
      },
    ]);
  });

  describe("TestInternalTrafficPolicy", () => {
    const cases: { name: string; itp: "Cluster" | "Local"; endpoints: [string, string][]; flowTests: Flow[] }[] = [
      {
        name: "internalTrafficPolicy is cluster",
        itp: "Cluster",
        endpoints: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        flowTests: [
          {
            name: "pod to ClusterIP hits all endpoints",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
          },
        ],
      },
      {
        name: "internalTrafficPolicy is local and there is one local endpoint",
        itp: "Local",
        endpoints: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        flowTests: [
          {
            name: "pod to ClusterIP hits only local endpoint",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.1:80",
          },
        ],
      },
      {
        name: "internalTrafficPolicy is local and there are multiple local endpoints",
        itp: "Local",
        endpoints: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", testNodeName],
          ["10.0.1.3", "node2"],
        ],
        flowTests: [
          {
            name: "pod to ClusterIP hits all local endpoints",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80",
          },
        ],
      },
      {
        name: "internalTrafficPolicy is local and there are no local endpoints",
        itp: "Local",
        endpoints: [
          ["10.0.1.1", "node0"],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        flowTests: [{ name: "no endpoints", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "DROP" }],
      },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        const svc = makeTestService("ns1", "svc1", (s) => {
          s.spec.clusterIP = "172.30.1.1";
          s.spec.ports = [{ name: "", port: 80, protocol: "TCP" }];
          s.spec.internalTrafficPolicy = tc.itp;
        });
        const slice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
          e.ports = [{ name: "", port: 80, protocol: "TCP" }];
          e.endpoints = tc.endpoints.map(([ip, node]) => ep(ip, node));
        });
        const { first, both } = syncThenResync([svc], [slice], []);
        runPacketFlowTests(first, tc.flowTests);
        runPacketFlowTests(both, [
          { name: "endpoints deleted", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "REJECT" },
        ]);
      });
    }
  });

  /** The Service of TestTerminatingEndpointsTrafficPolicyLocal / Cluster. */
  function terminatingService(policy: "Local" | "Cluster"): Service {
    return makeTestService("ns1", "svc1", (s) => {
      s.spec.clusterIP = "172.30.1.1";
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = policy;
      s.spec.ports = [{ name: "", port: 80, protocol: "TCP" }];
      s.spec.healthCheckNodePort = 30000;
      s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
    });
  }

  function terminatingCase(policy: "Local" | "Cluster", endpoints: ReturnType<typeof ep>[], flowTests: Flow[]): void {
    const slice = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.ports = [{ name: "", port: 80, protocol: "TCP" }];
      e.endpoints = endpoints;
    });
    const { first, both } = syncThenResync([terminatingService(policy)], [slice], []);
    runPacketFlowTests(first, flowTests);
    runPacketFlowTests(both, [
      {
        name: "pod to clusterIP after endpoints deleted",
        sourceIP: "10.0.0.2",
        destIP: "172.30.1.1",
        destPort: 80,
        output: "REJECT",
      },
      {
        name: "external to LB after endpoints deleted",
        sourceIP: testExternalClient,
        destIP: "1.2.3.4",
        destPort: 80,
        output: "REJECT",
      },
    ]);
  }

  describe("TestTerminatingEndpointsTrafficPolicyLocal", () => {
    it("ready endpoints exist", () => {
      terminatingCase(
        "Local",
        [
          ep("10.0.1.1", testNodeName, readyC),
          ep("10.0.1.2", testNodeName, readyC),
          ep("10.0.1.3", testNodeName, servingTerminating),
          ep("10.0.1.4", testNodeName, notServing),
          ep("10.0.1.5", "node-1", readyC),
        ],
        [
          {
            name: "pod to clusterIP",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
          },
          {
            name: "external to LB",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80",
          },
        ],
      );
    });
    it("only terminating endpoints exist", () => {
      terminatingCase(
        "Local",
        [
          ep("10.0.1.2", testNodeName, servingTerminating),
          ep("10.0.1.3", testNodeName, servingTerminating),
          ep("10.0.1.4", testNodeName, notServing),
          ep("10.0.1.5", "node-1", readyC),
        ],
        [
          { name: "pod to clusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "10.0.1.5:80" },
          {
            name: "external to LB",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "10.0.1.2:80, 10.0.1.3:80",
          },
        ],
      );
    });
    it("terminating endpoints on remote node", () => {
      terminatingCase(
        "Local",
        [ep("10.0.1.5", "node-1", servingTerminating)],
        [
          { name: "pod to clusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "10.0.1.5:80" },
          {
            name: "external to LB, no locally-usable endpoints",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "DROP",
          },
        ],
      );
    });
    it("no usable endpoints on any node", () => {
      terminatingCase(
        "Local",
        [ep("10.0.1.5", testNodeName, notServing), ep("10.0.1.5", "node-1", notServing)],
        [
          {
            name: "pod to clusterIP, no usable endpoints",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "REJECT",
          },
          {
            name: "external to LB, no usable endpoints",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "REJECT",
          },
        ],
      );
    });
  });

  describe("TestTerminatingEndpointsTrafficPolicyCluster", () => {
    it("ready endpoints exist", () => {
      terminatingCase(
        "Cluster",
        [
          ep("10.0.1.1", testNodeName, readyC),
          ep("10.0.1.2", testNodeName, readyC),
          ep("10.0.1.3", "another-node", servingTerminating),
          ep("10.0.1.4", "another-node", notServing),
          ep("10.0.1.5", "another-node", readyC),
        ],
        [
          {
            name: "pod to clusterIP",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
          },
          {
            name: "external to LB",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
            masq: true,
          },
        ],
      );
    });
    it("only terminating endpoints exist", () => {
      terminatingCase(
        "Cluster",
        [
          ep("10.0.1.2", testNodeName, servingTerminating),
          ep("10.0.1.3", testNodeName, servingTerminating),
          ep("10.0.1.4", "another-node", notServing),
          ep("10.0.1.5", "another-node", servingTerminating),
        ],
        [
          {
            name: "pod to clusterIP",
            sourceIP: "10.0.0.2",
            destIP: "172.30.1.1",
            destPort: 80,
            output: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
          },
          {
            name: "external to LB",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
            masq: true,
          },
        ],
      );
    });
    it("terminating endpoints on remote node", () => {
      terminatingCase(
        "Cluster",
        [ep("10.0.1.5", "node-1", servingTerminating)],
        [
          { name: "pod to clusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "10.0.1.5:80" },
          {
            name: "external to LB",
            sourceIP: testExternalClient,
            destIP: "1.2.3.4",
            destPort: 80,
            output: "10.0.1.5:80",
            masq: true,
          },
        ],
      );
    });
    it("no usable endpoints on any node", () => {
      terminatingCase(
        "Cluster",
        [ep("10.0.1.5", testNodeName, notServing), ep("10.0.1.5", "node-1", notServing)],
        [
          { name: "pod to clusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80, output: "REJECT" },
          { name: "external to LB", sourceIP: testExternalClient, destIP: "1.2.3.4", destPort: 80, output: "REJECT" },
        ],
      );
    });
  });

  describe("TestInternalExternalMasquerade", () => {
    const services = [
      makeTestService("ns1", "svc1", (s) => {
        s.spec.type = "LoadBalancer";
        s.spec.clusterIP = "172.30.0.41";
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        s.spec.healthCheckNodePort = 30001;
        s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
      }),
      makeTestService("ns2", "svc2", (s) => {
        s.spec.type = "LoadBalancer";
        s.spec.clusterIP = "172.30.0.42";
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3002 }];
        s.spec.healthCheckNodePort = 30002;
        s.spec.externalTrafficPolicy = "Local";
        s.status = { loadBalancer: { ingress: [{ ip: "5.6.7.8" }] } };
      }),
      makeTestService("ns3", "svc3", (s) => {
        s.spec.type = "LoadBalancer";
        s.spec.clusterIP = "172.30.0.43";
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3003 }];
        s.spec.healthCheckNodePort = 30003;
        s.spec.internalTrafficPolicy = "Local";
        s.status = { loadBalancer: { ingress: [{ ip: "9.10.11.12" }] } };
      }),
    ];
    const slices = [1, 2, 3].map((n) =>
      makeTestEndpointSlice(`ns${n}`, `svc${n}`, 1, (e) => {
        e.endpoints = [
          { addresses: [`10.180.0.${n}`], nodeName: testNodeName },
          { addresses: [`10.180.1.${n}`], nodeName: "remote" },
        ];
        e.ports = [tcp("p80", 80)];
      }),
    );
    const all = (n: number) => `10.180.0.${n}:80, 10.180.1.${n}:80`;
    const flow = (
      name: string,
      sourceIP: string,
      destIP: string,
      destPort: number,
      output: string,
      masq: boolean,
    ): Flow => ({
      name,
      sourceIP,
      destIP,
      destPort,
      output,
      masq,
    });
    const pod = "10.0.0.2";
    const ext = testExternalClient;
    const flowTests: Flow[] = [
      flow("pod to ClusterIP", pod, "172.30.0.41", 80, all(1), false),
      flow("pod to NodePort", pod, testNodeIP, 3001, all(1), true),
      flow("pod to LB", pod, "1.2.3.4", 80, all(1), true),
      flow("node to ClusterIP", testNodeIP, "172.30.0.41", 80, all(1), true),
      flow("node to NodePort", testNodeIP, testNodeIP, 3001, all(1), true),
      flow("node to LB", testNodeIP, "1.2.3.4", 80, all(1), true),
      flow("external to ClusterIP", ext, "172.30.0.41", 80, all(1), true),
      flow("external to NodePort", ext, testNodeIP, 3001, all(1), true),
      flow("external to LB", ext, "1.2.3.4", 80, all(1), true),
      flow("pod to ClusterIP with eTP:Local", pod, "172.30.0.42", 80, all(2), false),
      flow("pod to NodePort with eTP:Local", pod, testNodeIP, 3002, all(2), false),
      flow("pod to LB with eTP:Local", pod, "5.6.7.8", 80, all(2), false),
      flow("node to ClusterIP with eTP:Local", testNodeIP, "172.30.0.42", 80, all(2), true),
      flow("node to NodePort with eTP:Local", testNodeIP, testNodeIP, 3001, all(1), true),
      flow("node to LB with eTP:Local", testNodeIP, "5.6.7.8", 80, all(2), true),
      flow("external to ClusterIP with eTP:Local", ext, "172.30.0.42", 80, all(2), true),
      flow("external to NodePort with eTP:Local", ext, testNodeIP, 3002, "10.180.0.2:80", false),
      flow("external to LB with eTP:Local", ext, "5.6.7.8", 80, "10.180.0.2:80", false),
      flow("pod to ClusterIP with iTP:Local", pod, "172.30.0.43", 80, "10.180.0.3:80", false),
      flow("pod to NodePort with iTP:Local", pod, testNodeIP, 3003, all(3), true),
      flow("pod to LB with iTP:Local", pod, "9.10.11.12", 80, all(3), true),
      flow("node to ClusterIP with iTP:Local", testNodeIP, "172.30.0.43", 80, "10.180.0.3:80", true),
      flow("node to NodePort with iTP:Local", testNodeIP, testNodeIP, 3003, all(3), true),
      flow("node to LB with iTP:Local", testNodeIP, "9.10.11.12", 80, all(3), true),
      flow("external to ClusterIP with iTP:Local", ext, "172.30.0.43", 80, "10.180.0.3:80", true),
      flow("external to NodePort with iTP:Local", ext, testNodeIP, 3003, all(3), true),
      flow("external to LB with iTP:Local", ext, "9.10.11.12", 80, all(3), true),
    ];
    const noDetector: Record<string, Partial<Flow>> = {
      "node to ClusterIP": { masq: false },
      "node to ClusterIP with eTP:Local": { masq: false },
      "node to ClusterIP with iTP:Local": { masq: false },
      "external to ClusterIP": { masq: false },
      "external to ClusterIP with eTP:Local": { masq: false },
      "external to ClusterIP with iTP:Local": { masq: false },
      "pod to NodePort with eTP:Local": { output: "10.180.0.2:80" },
      "pod to LB with eTP:Local": { output: "10.180.0.2:80" },
    };
    const masqueradeAll: Record<string, Partial<Flow>> = {
      "pod to ClusterIP": { masq: true },
      "pod to ClusterIP with eTP:Local": { masq: true },
      "pod to ClusterIP with iTP:Local": { masq: true },
    };
    const testCases = [
      { name: "base", masqueradeAll: false, localDetector: true, overrides: {} },
      { name: "no LocalTrafficDetector", masqueradeAll: false, localDetector: false, overrides: noDetector },
      { name: "masqueradeAll", masqueradeAll: true, localDetector: true, overrides: masqueradeAll },
      {
        name: "masqueradeAll, no LocalTrafficDetector",
        masqueradeAll: true,
        localDetector: false,
        overrides: {
          ...masqueradeAll,
          "pod to NodePort with eTP:Local": { output: "10.180.0.2:80" },
          "pod to LB with eTP:Local": { output: "10.180.0.2:80" },
        },
      },
    ];
    for (const tc of testCases) {
      it(tc.name, () => {
        const text = sync(services, slices, "IPv4", (i) => ({
          ...i,
          config: {
            nodePortAddresses: i.config?.nodePortAddresses,
            ...(tc.localDetector ? { clusterCIDR: i.config?.clusterCIDR } : {}),
            nftables: { masqueradeAll: tc.masqueradeAll },
          },
        }));
        const overrides = tc.overrides as Record<string, Partial<Flow>>;
        const applied = flowTests.filter((f) => overrides[f.name] !== undefined).length;
        expect(applied, "every override names a flow").toBe(Object.keys(overrides).length);
        runPacketFlowTests(
          text,
          flowTests.map((f) => ({ ...f, ...overrides[f.name] })),
        );
      });
    }
  });
});
