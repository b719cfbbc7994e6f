// Parity with kube-proxy's packet-flow tests (pkg/proxy/iptables/proxier_test.go): the same
// Services and slices, traced with the same tracer semantics (test/support/tracer.ts), reach the
// same endpoints with the same masquerading. Scenarios and expectations are kube-proxy's, written
// here as facts.

import { describe, expect, it } from "vitest";
import { compileIptables, type EndpointSlice, type IptablesResult, type Service } from "../src/index.js";
import { defined } from "./support/defined.js";
import {
  fakeOptions,
  fakeProxierInput,
  makeTestEndpointSlice,
  makeTestService,
  testNodeIP,
  testNodeIPAlt,
  testNodeIPv6,
  testNodeIPv6Alt,
  testNodeName,
} from "./support/kube-proxy-fixtures.js";
import { tracePacket } from "./support/tracer.js";

const testExternalClient = "203.0.113.2";
const testExternalClientBlocked = "203.0.113.130";
const testNodeIPs = [testNodeIP, testNodeIPAlt, "192.168.99.11", testNodeIPv6, testNodeIPv6Alt];

interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol?: string;
  output: string;
  masq?: boolean;
}

function check(result: IptablesResult, flows: Flow[]): void {
  for (const f of flows) {
    const t = tracePacket(result, testNodeIPs, f.sourceIP, (f.protocol ?? "TCP").toLowerCase(), f.destIP, f.destPort);
    expect({ name: f.name, output: t.output, masq: t.masq }, t.matches.join("\n")).toEqual({
      name: f.name,
      output: f.output,
      masq: f.masq ?? false,
    });
  }
}

function compileFake(
  services: Service[],
  slices: EndpointSlice[],
  tweak: (i: ReturnType<typeof fakeProxierInput>) => ReturnType<typeof fakeProxierInput> = (i) => i,
  family: "IPv4" | "IPv6" = "IPv4",
): IptablesResult {
  return defined(
    compileIptables(tweak(fakeProxierInput(services, slices, family)), { ...fakeOptions, families: [family] })
      .results[0],
  );
}

const tcp = (name: string, port: number) => ({ name, port, protocol: "TCP" });

describe("kube-proxy parity: packet flows", () => {
  it("TestNoEndpointsReject", () => {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = "172.30.0.41";
      s.spec.externalIPs = ["192.168.99.11"];
      s.spec.ports = [{ name: "p80", protocol: "TCP", port: 80, nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
    });
    check(compileFake([svc], []), [
      { name: "pod to cluster IP", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: "REJECT" },
      {
        name: "external to external IP",
        sourceIP: testExternalClient,
        destIP: "192.168.99.11",
        destPort: 80,
        output: "REJECT",
      },
      { name: "pod to NodePort", sourceIP: "10.0.0.2", destIP: testNodeIP, destPort: 3001, output: "REJECT" },
      {
        name: "external to NodePort",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: "REJECT",
      },
      { name: "pod to LB IP", sourceIP: "10.0.0.2", destIP: "1.2.3.4", destPort: 80, output: "REJECT" },
      { name: "external to LB IP", sourceIP: testExternalClient, destIP: "1.2.3.4", destPort: 80, output: "REJECT" },
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
    check(compileFake(svcs, slices), [
      {
        name: "simple clusterIP",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.41",
        destPort: 80,
        output: "10.180.0.1:80",
      },
      {
        name: "hairpin",
        sourceIP: "10.180.0.1",
        destIP: "172.30.0.41",
        destPort: 80,
        output: "10.180.0.1:80",
        masq: true,
      },
      {
        name: "multiple",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.42",
        destPort: 80,
        output: "10.180.0.1:80, 10.180.2.1:80",
      },
      {
        name: "targetPort",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.42",
        destPort: 443,
        output: "10.180.0.1:8443, 10.180.2.1:8443",
      },
      {
        name: "TCP",
        sourceIP: "10.180.0.2",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:5353, 10.180.2.1:5353",
      },
      {
        name: "UDP",
        sourceIP: "10.180.0.2",
        protocol: "UDP",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      {
        name: "SCTP",
        sourceIP: "10.180.0.2",
        protocol: "SCTP",
        destIP: "172.30.0.42",
        destPort: 53,
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      {
        name: "TCP-only port",
        sourceIP: "10.180.0.2",
        protocol: "UDP",
        destIP: "172.30.0.42",
        destPort: 80,
        output: "",
      },
      { name: "other Service's port", sourceIP: "10.180.0.2", destIP: "172.30.0.41", destPort: 443, output: "" },
    ]);
  });

  it("TestLoadBalancer", () => {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = "172.30.0.41";
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }, { ip: "5.6.7.8" }] } };
      s.spec.loadBalancerSourceRanges = ["192.168.0.0/24", " 203.0.113.0/25"];
    });
    const eps = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.endpoints = [{ addresses: ["10.180.0.1"] }];
      e.ports = [tcp("p80", 80)];
    });
    const ep = "10.180.0.1:80";
    check(compileFake([svc], [eps]), [
      { name: "pod to cluster IP", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: ep },
      {
        name: "external to nodePort",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: ep,
        masq: true,
      },
      {
        name: "nodePort bypasses ranges",
        sourceIP: testExternalClientBlocked,
        destIP: testNodeIP,
        destPort: 3001,
        output: ep,
        masq: true,
      },
      {
        name: "accepted to LB1",
        sourceIP: testExternalClient,
        destIP: "1.2.3.4",
        destPort: 80,
        output: ep,
        masq: true,
      },
      {
        name: "accepted to LB2",
        sourceIP: testExternalClient,
        destIP: "5.6.7.8",
        destPort: 80,
        output: ep,
        masq: true,
      },
      { name: "blocked to LB1", sourceIP: testExternalClientBlocked, destIP: "1.2.3.4", destPort: 80, output: "DROP" },
      { name: "blocked to LB2", sourceIP: testExternalClientBlocked, destIP: "5.6.7.8", destPort: 80, output: "DROP" },
      { name: "pod to LB1", sourceIP: "10.0.0.2", destIP: "1.2.3.4", destPort: 80, output: "DROP" },
      { name: "pod to LB2", sourceIP: "10.0.0.2", destIP: "5.6.7.8", destPort: 80, output: "DROP" },
      { name: "node to LB1", sourceIP: testNodeIP, destIP: "1.2.3.4", destPort: 80, output: ep, masq: true },
      { name: "node to LB2", sourceIP: testNodeIP, destIP: "5.6.7.8", destPort: 80, output: ep, masq: true },
      { name: "LB1 SNAT", sourceIP: "1.2.3.4", destIP: "1.2.3.4", destPort: 80, output: ep, masq: true },
      { name: "LB2 SNAT", sourceIP: "5.6.7.8", destIP: "5.6.7.8", destPort: 80, output: ep, masq: true },
    ]);
  });

  describe("TestNodePorts", () => {
    const cases = [
      { name: "ipv4, localhost-nodeports enabled", family: "IPv4", lnp: true, npa: undefined, alt: true, fw: true },
      { name: "ipv4, localhost-nodeports disabled", family: "IPv4", lnp: false, npa: undefined, alt: true, fw: false },
      {
        name: "ipv4, localhost in nodeport-addresses",
        family: "IPv4",
        lnp: false,
        npa: ["192.168.0.0/24", "127.0.0.1/32"],
        alt: false,
        fw: false,
      },
      {
        name: "ipv4, multiple nodeport-addresses",
        family: "IPv4",
        lnp: false,
        npa: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"],
        alt: true,
        fw: false,
      },
      { name: "ipv6, localhost-nodeports enabled", family: "IPv6", lnp: true, npa: undefined, alt: true, fw: false },
      { name: "ipv6, localhost-nodeports disabled", family: "IPv6", lnp: false, npa: undefined, alt: true, fw: false },
      {
        name: "ipv6, multiple nodeport-addresses",
        family: "IPv6",
        lnp: false,
        npa: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"],
        alt: false,
        fw: false,
      },
    ] as const;
    for (const tc of cases) {
      it(tc.name, () => {
        const v4 = tc.family === "IPv4";
        const svcIP = v4 ? "172.30.0.41" : "fd00:172:30::41";
        const [ep1, ep2] = v4 ? ["10.180.0.1", "10.180.2.1"] : ["fd00:10:180::1", "fd00:10:180::2:1"];
        const svc = makeTestService("ns1", "svc1", (s) => {
          s.spec.type = "NodePort";
          s.spec.clusterIP = svcIP;
          s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        });
        const eps = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
          e.addressType = tc.family;
          e.endpoints = [{ addresses: [ep1] }, { addresses: [ep2], nodeName: testNodeName }];
          e.ports = [tcp("p80", 80)];
        });
        const r = compileFake(
          [svc],
          [eps],
          (i) => ({
            ...i,
            config: {
              ...i.config,
              iptables: { localhostNodePorts: tc.lnp },
              ...(tc.npa ? { nodePortAddresses: tc.npa } : {}),
            },
          }),
          tc.family,
        );
        const join = (ip: string) => (v4 ? `${ip}:80` : `[${ip}]:80`);
        const output = `${join(ep1)}, ${join(ep2)}`;
        const [pod, ext, nodeIP, alt, lo] = v4
          ? ["10.0.0.2", testExternalClient, testNodeIP, testNodeIPAlt, "127.0.0.1"]
          : ["fd00:10::2", "2600:5200::1", testNodeIPv6, testNodeIPv6Alt, "::1"];
        check(r, [
          { name: "pod to cluster IP", sourceIP: pod, destIP: svcIP, destPort: 80, output },
          { name: "external to nodePort", sourceIP: ext, destIP: nodeIP, destPort: 3001, output, masq: true },
          { name: "node to nodePort", sourceIP: nodeIP, destIP: nodeIP, destPort: 3001, output, masq: true },
          v4 && tc.lnp
            ? { name: "localhost to nodePort", sourceIP: lo, destIP: lo, destPort: 3001, output, masq: true }
            : { name: "localhost ignored", sourceIP: lo, destIP: lo, destPort: 3001, output: "" },
          tc.alt
            ? { name: "secondary IP", sourceIP: ext, destIP: alt, destPort: 3001, output, masq: true }
            : { name: "secondary IP ignored", sourceIP: ext, destIP: alt, destPort: 3001, output: "" },
        ]);
        const fw = r.tables.filter.chains.find((c) => c.name === "KUBE-FIREWALL");
        expect(fw?.text ?? "").toBe(
          tc.fw
            ? '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n'
            : "",
        );
      });
    }
  });

  it("TestHealthCheckNodePort", () => {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = "172.30.0.42";
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      s.spec.healthCheckNodePort = 30000;
      s.spec.externalTrafficPolicy = "Local";
    });
    const npa = (i: ReturnType<typeof fakeProxierInput>) => ({
      ...i,
      config: { ...i.config, nodePortAddresses: ["127.0.0.0/8"] },
    });
    const flow = { name: "health check", sourceIP: "1.2.3.4", destIP: testNodeIP, destPort: 30000 };
    check(compileFake([svc], [], npa), [{ ...flow, output: "ACCEPT" }]);
    check(compileFake([], [], npa), [{ ...flow, output: "" }]);
  });

  for (const policy of ["Local", "Cluster"] as const) {
    it(`TestExternalTrafficPolicy${policy}`, () => {
      const svc = makeTestService("ns1", "svc1", (s) => {
        s.spec.type = "LoadBalancer";
        s.spec.externalTrafficPolicy = policy;
        s.spec.clusterIP = "172.30.0.41";
        s.spec.externalIPs = ["192.168.99.11"];
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        s.spec.healthCheckNodePort = 30000;
        s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } };
      });
      const eps = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
        e.endpoints = [{ addresses: ["10.180.0.1"] }, { addresses: ["10.180.2.1"], nodeName: testNodeName }];
        e.ports = [tcp("p80", 80)];
      });
      const both = "10.180.0.1:80, 10.180.2.1:80";
      const local = policy === "Local";
      check(compileFake([svc], [eps]), [
        { name: "pod to cluster IP", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: both },
        {
          name: "pod to external IP",
          sourceIP: "10.0.0.2",
          destIP: "192.168.99.11",
          destPort: 80,
          output: both,
          masq: !local,
        },
        {
          name: "external to external IP",
          sourceIP: testExternalClient,
          destIP: "192.168.99.11",
          destPort: 80,
          output: local ? "10.180.2.1:80" : both,
          masq: !local,
        },
        { name: "pod to LB", sourceIP: "10.0.0.2", destIP: "1.2.3.4", destPort: 80, output: both, masq: !local },
        {
          name: "external to LB",
          sourceIP: testExternalClient,
          destIP: "1.2.3.4",
          destPort: 80,
          output: local ? "10.180.2.1:80" : both,
          masq: !local,
        },
        {
          name: "pod to NodePort",
          sourceIP: "10.0.0.2",
          destIP: testNodeIP,
          destPort: 3001,
          output: both,
          masq: !local,
        },
        {
          name: "external to NodePort",
          sourceIP: testExternalClient,
          destIP: testNodeIP,
          destPort: 3001,
          output: local ? "10.180.2.1:80" : both,
          masq: !local,
        },
      ]);
    });
  }

  describe("TestInternalTrafficPolicy", () => {
    const cases = [
      {
        name: "cluster",
        itp: "Cluster",
        eps: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        out: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
      },
      {
        name: "local, one local",
        itp: "Local",
        eps: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        out: "10.0.1.1:80",
      },
      {
        name: "local, two local",
        itp: "Local",
        eps: [
          ["10.0.1.1", testNodeName],
          ["10.0.1.2", testNodeName],
          ["10.0.1.3", "node2"],
        ],
        out: "10.0.1.1:80, 10.0.1.2:80",
      },
      {
        name: "local, none local",
        itp: "Local",
        eps: [
          ["10.0.1.1", "node0"],
          ["10.0.1.2", "node1"],
          ["10.0.1.3", "node2"],
        ],
        out: "DROP",
      },
    ] as const;
    for (const tc of cases) {
      it(tc.name, () => {
        const svc: Service = {
          metadata: { name: "svc1", namespace: "ns1" },
          spec: {
            clusterIP: "172.30.1.1",
            selector: { foo: "bar" },
            ports: [tcp("", 80)],
            internalTrafficPolicy: tc.itp,
          },
        };
        const eps: EndpointSlice = {
          metadata: { name: "svc1-1", namespace: "ns1", labels: { "kubernetes.io/service-name": "svc1" } },
          ports: [tcp("", 80)],
          addressType: "IPv4",
          endpoints: tc.eps.map(([ip, nodeName]) => ({ addresses: [ip], conditions: { ready: true }, nodeName })),
        };
        const flow = { name: "pod to ClusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80 };
        check(compileFake([svc], [eps]), [{ ...flow, output: tc.out }]);
        check(compileFake([svc], []), [{ ...flow, output: "REJECT" }]);
      });
    }
  });

  describe("TestTerminatingEndpoints", () => {
    const ep = (ip: string, ready: boolean, serving: boolean, terminating: boolean, nodeName: string) => ({
      addresses: [ip],
      conditions: { ready, serving, terminating },
      nodeName,
    });
    const cases = [
      {
        name: "ready endpoints exist",
        eps: [
          ep("10.0.1.1", true, true, false, testNodeName),
          ep("10.0.1.2", true, true, false, testNodeName),
          ep("10.0.1.3", false, true, true, testNodeName),
          ep("10.0.1.4", false, false, true, testNodeName),
          ep("10.0.1.5", true, true, false, "node-1"),
        ],
        local: ["10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80"],
      },
      {
        name: "only terminating endpoints exist",
        eps: [
          ep("10.0.1.2", false, true, true, testNodeName),
          ep("10.0.1.3", false, true, true, testNodeName),
          ep("10.0.1.4", false, false, true, testNodeName),
          ep("10.0.1.5", true, true, false, "node-1"),
        ],
        local: ["10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80"],
      },
      {
        name: "terminating endpoints on remote node",
        eps: [ep("10.0.1.5", false, true, true, "node-1")],
        local: ["10.0.1.5:80", "DROP"],
      },
      {
        name: "no usable endpoints on any node",
        eps: [ep("10.0.1.5", false, false, true, testNodeName), ep("10.0.1.5", false, false, true, "node-1")],
        local: ["REJECT", "REJECT"],
      },
    ];
    const clusterCases = [
      {
        name: "ready endpoints exist",
        eps: [
          ep("10.0.1.1", true, true, false, testNodeName),
          ep("10.0.1.2", true, true, false, testNodeName),
          ep("10.0.1.3", false, true, true, "another-node"),
          ep("10.0.1.4", false, false, true, "another-node"),
          ep("10.0.1.5", true, true, false, "another-node"),
        ],
        out: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
      },
      {
        name: "only terminating endpoints exist",
        eps: [
          ep("10.0.1.2", false, true, true, testNodeName),
          ep("10.0.1.3", false, true, true, testNodeName),
          ep("10.0.1.4", false, false, true, "another-node"),
          ep("10.0.1.5", false, true, true, "another-node"),
        ],
        out: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
      },
      {
        name: "terminating endpoints on remote node",
        eps: [ep("10.0.1.5", false, true, true, "node-1")],
        out: "10.0.1.5:80",
      },
      {
        name: "no usable endpoints on any node",
        eps: [ep("10.0.1.5", false, false, true, testNodeName), ep("10.0.1.5", false, false, true, "node-1")],
        out: "REJECT",
      },
    ];
    const svc = (policy: "Local" | "Cluster"): Service => ({
      metadata: { name: "svc1", namespace: "ns1" },
      spec: {
        clusterIP: "172.30.1.1",
        type: "LoadBalancer",
        externalTrafficPolicy: policy,
        ports: [tcp("", 80)],
        healthCheckNodePort: 30000,
      },
      status: { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } },
    });
    const slice = (eps: EndpointSlice["endpoints"]): EndpointSlice => ({
      metadata: { name: "svc1-1", namespace: "ns1", labels: { "kubernetes.io/service-name": "svc1" } },
      ports: [tcp("", 80)],
      addressType: "IPv4",
      endpoints: eps,
    });
    const pod = { name: "pod to clusterIP", sourceIP: "10.0.0.2", destIP: "172.30.1.1", destPort: 80 };
    const ext = { name: "external to LB", sourceIP: testExternalClient, destIP: "1.2.3.4", destPort: 80 };
    for (const tc of cases) {
      it(`eTP Local: ${tc.name}`, () => {
        check(compileFake([svc("Local")], [slice(tc.eps)]), [
          { ...pod, output: defined(tc.local[0]) },
          { ...ext, output: defined(tc.local[1]) },
        ]);
        check(compileFake([svc("Local")], []), [
          { ...pod, output: "REJECT" },
          { ...ext, output: "REJECT" },
        ]);
      });
    }
    for (const tc of clusterCases) {
      it(`eTP Cluster: ${tc.name}`, () => {
        const usable = tc.out !== "REJECT";
        check(compileFake([svc("Cluster")], [slice(tc.eps)]), [
          { ...pod, output: tc.out },
          { ...ext, output: tc.out, masq: usable },
        ]);
      });
    }
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
    const base: Flow[] = [
      { name: "pod to ClusterIP", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: all(1) },
      { name: "pod to NodePort", sourceIP: "10.0.0.2", destIP: testNodeIP, destPort: 3001, output: all(1), masq: true },
      { name: "pod to LB", sourceIP: "10.0.0.2", destIP: "1.2.3.4", destPort: 80, output: all(1), masq: true },
      {
        name: "node to ClusterIP",
        sourceIP: testNodeIP,
        destIP: "172.30.0.41",
        destPort: 80,
        output: all(1),
        masq: true,
      },
      {
        name: "node to NodePort",
        sourceIP: testNodeIP,
        destIP: testNodeIP,
        destPort: 3001,
        output: all(1),
        masq: true,
      },
      {
        name: "localhost to NodePort",
        sourceIP: "127.0.0.1",
        destIP: "127.0.0.1",
        destPort: 3001,
        output: all(1),
        masq: true,
      },
      { name: "node to LB", sourceIP: testNodeIP, destIP: "1.2.3.4", destPort: 80, output: all(1), masq: true },
      {
        name: "external to ClusterIP",
        sourceIP: testExternalClient,
        destIP: "172.30.0.41",
        destPort: 80,
        output: all(1),
        masq: true,
      },
      {
        name: "external to NodePort",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3001,
        output: all(1),
        masq: true,
      },
      {
        name: "external to LB",
        sourceIP: testExternalClient,
        destIP: "1.2.3.4",
        destPort: 80,
        output: all(1),
        masq: true,
      },
      {
        name: "pod to ClusterIP with eTP:Local",
        sourceIP: "10.0.0.2",
        destIP: "172.30.0.42",
        destPort: 80,
        output: all(2),
      },
      {
        name: "pod to NodePort with eTP:Local",
        sourceIP: "10.0.0.2",
        destIP: testNodeIP,
        destPort: 3002,
        output: all(2),
      },
      { name: "pod to LB with eTP:Local", sourceIP: "10.0.0.2", destIP: "5.6.7.8", destPort: 80, output: all(2) },
      {
        name: "node to ClusterIP with eTP:Local",
        sourceIP: testNodeIP,
        destIP: "172.30.0.42",
        destPort: 80,
        output: all(2),
        masq: true,
      },
      {
        name: "node to NodePort with eTP:Local",
        sourceIP: testNodeIP,
        destIP: testNodeIP,
        destPort: 3001,
        output: all(1),
        masq: true,
      },
      {
        name: "localhost to NodePort with eTP:Local",
        sourceIP: "127.0.0.1",
        destIP: "127.0.0.1",
        destPort: 3002,
        output: all(2),
        masq: true,
      },
      {
        name: "node to LB with eTP:Local",
        sourceIP: testNodeIP,
        destIP: "5.6.7.8",
        destPort: 80,
        output: all(2),
        masq: true,
      },
      {
        name: "external to ClusterIP with eTP:Local",
        sourceIP: testExternalClient,
        destIP: "172.30.0.42",
        destPort: 80,
        output: all(2),
        masq: true,
      },
      {
        name: "external to NodePort with eTP:Local",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3002,
        output: "10.180.0.2:80",
      },
      {
        name: "external to LB with eTP:Local",
        sourceIP: testExternalClient,
        destIP: "5.6.7.8",
        destPort: 80,
        output: "10.180.0.2:80",
      },
      {
        name: "pod to ClusterIP with iTP:Local",
        sourceIP: "10.0.0.2",
        destIP: "172.30.0.43",
        destPort: 80,
        output: "10.180.0.3:80",
      },
      {
        name: "pod to NodePort with iTP:Local",
        sourceIP: "10.0.0.2",
        destIP: testNodeIP,
        destPort: 3003,
        output: all(3),
        masq: true,
      },
      {
        name: "pod to LB with iTP:Local",
        sourceIP: "10.0.0.2",
        destIP: "9.10.11.12",
        destPort: 80,
        output: all(3),
        masq: true,
      },
      {
        name: "node to ClusterIP with iTP:Local",
        sourceIP: testNodeIP,
        destIP: "172.30.0.43",
        destPort: 80,
        output: "10.180.0.3:80",
        masq: true,
      },
      {
        name: "node to NodePort with iTP:Local",
        sourceIP: testNodeIP,
        destIP: testNodeIP,
        destPort: 3003,
        output: all(3),
        masq: true,
      },
      {
        name: "localhost to NodePort with iTP:Local",
        sourceIP: "127.0.0.1",
        destIP: "127.0.0.1",
        destPort: 3003,
        output: all(3),
        masq: true,
      },
      {
        name: "node to LB with iTP:Local",
        sourceIP: testNodeIP,
        destIP: "9.10.11.12",
        destPort: 80,
        output: all(3),
        masq: true,
      },
      {
        name: "external to ClusterIP with iTP:Local",
        sourceIP: testExternalClient,
        destIP: "172.30.0.43",
        destPort: 80,
        output: "10.180.0.3:80",
        masq: true,
      },
      {
        name: "external to NodePort with iTP:Local",
        sourceIP: testExternalClient,
        destIP: testNodeIP,
        destPort: 3003,
        output: all(3),
        masq: true,
      },
      {
        name: "external to LB with iTP:Local",
        sourceIP: testExternalClient,
        destIP: "9.10.11.12",
        destPort: 80,
        output: all(3),
        masq: true,
      },
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
    const variants = [
      { name: "base", masqAll: false, detector: true, overrides: {} },
      { name: "no LocalTrafficDetector", masqAll: false, detector: false, overrides: noDetector },
      { name: "masqueradeAll", masqAll: true, detector: true, overrides: masqueradeAll },
      {
        name: "masqueradeAll, no LocalTrafficDetector",
        masqAll: true,
        detector: false,
        overrides: {
          ...masqueradeAll,
          "pod to NodePort with eTP:Local": { output: "10.180.0.2:80" },
          "pod to LB with eTP:Local": { output: "10.180.0.2:80" },
        },
      },
    ];
    for (const v of variants) {
      it(v.name, () => {
        const r = compileFake(services, slices, (i) => ({
          ...i,
          config: {
            ...(v.detector ? { clusterCIDR: i.config?.clusterCIDR } : {}),
            iptables: { localhostNodePorts: true, masqueradeAll: v.masqAll },
          },
        }));
        check(
          r,
          base.map((f) => ({ ...f, ...(v.overrides as Record<string, Partial<Flow>>)[f.name] })),
        );
      });
    }
  });
});
