// Parity with kube-proxy's nftables packet-flow tests (pkg/proxy/nftables/proxier_test.go, the
// tests that call runPacketFlowTests): the same Services and EndpointSlices, compiled by
// compileNftables with NewFakeProxier's settings, traced by explainPacket through the compiled
// transaction (test/support/nftables-flows.ts), reach the same endpoints with the same
// masquerading. Test and case names and expectations are kube-proxy's, written here as facts.

import { describe, expect, it } from "vitest";
import { compileNftables, type EndpointSlice, type ProxyInput, type Service } from "../src/index.js";
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
function runPacketFlowTests(text: string, flows: readonly Flow[]): void {
  for (const f of flows) {
    const t = nftTracePacket(text, testNodeIPs, f.sourceIP, (f.protocol ?? "TCP").toLowerCase(), f.destIP, f.destPort);
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

const tcp = (name: string, port: number) => ({ name, port, protocol: "TCP" });

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
});
