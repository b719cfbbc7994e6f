// planConntrackCleanup: which UDP conntrack entries kube-proxy's reconciler deletes after a sync
// (pkg/proxy/conntrack/cleanup.go, with the fixes for Services scaled to zero endpoints, #139629,
// and for deleted Services, #141371), and parseConntrack over real `conntrack -L` lines.

import { describe, expect, it } from "vitest";
import {
  type ConntrackEntry,
  conntrackArgs,
  InvalidInputError,
  type ProxyInput,
  parseConntrack,
  planConntrackCleanup,
} from "../src/index.js";
import { service, slice } from "./support/objects.js";

const CLIENT = "192.168.1.50";
const NODE_IP = "192.168.1.1";
const [A, B, C, D] = ["10.244.1.1", "10.244.1.2", "10.244.1.3", "10.244.1.4"];

/** An entry of `protocol` from the client to dst:dport, answered by replySrc. */
function entry(dst: string, dport: number, replySrc: string, protocol = "udp"): ConntrackEntry {
  return {
    protocol,
    original: { src: CLIENT, dst, sport: 40_000, dport },
    reply: { src: replySrc, dst: CLIENT, sport: 8053, dport: 40_000 },
  };
}

const dns = service({
  name: "dns",
  type: "LoadBalancer",
  clusterIP: "10.96.0.10",
  ports: [{ name: "dns", port: 53, protocol: "UDP", nodePort: 30053 }],
  externalIPs: ["192.0.2.10"],
  lbIPs: ["203.0.113.10"],
});
const dnsSlice = (eps: Parameters<typeof slice>[2]) =>
  slice({ service: "dns" }, [{ name: "dns", port: 8053, protocol: "UDP" }], eps);

function input(services = [dns], slices = [dnsSlice([A, { ip: B, ready: false, serving: true, terminating: true }])]) {
  return {
    services,
    endpointSlices: slices,
    node: { name: "node-a", addresses: [NODE_IP] },
  } satisfies ProxyInput;
}

describe("planConntrackCleanup", () => {
  it("deletes flows to a UDP Service's IPs and NodePort whose reply is not from a serving endpoint", () => {
    const entries = [
      entry("10.96.0.10", 53, A), // serving: kept
      entry("10.96.0.10", 53, B), // terminating but serving: kept
      entry("10.96.0.10", 53, C), // an endpoint that is gone
      entry("10.96.0.10", 53, "10.96.0.10"), // never DNATed (sent before the rules existed)
      entry("203.0.113.10", 53, D), // load-balancer VIP
      entry("192.0.2.10", 53, C), // external IP
      entry(NODE_IP, 30053, C), // NodePort, any destination address
      entry("10.96.0.10", 54, C), // another port of that IP: not the Service's
      entry("10.96.0.10", 53, C, "tcp"), // TCP is never touched
    ];
    expect(planConntrackCleanup(input(), entries)).toEqual([
      { family: "IPv4", protocol: "udp", origPortDst: 30053, replySrc: C },
      { family: "IPv4", protocol: "udp", origDst: "10.96.0.10", origPortDst: 53, replySrc: C },
      { family: "IPv4", protocol: "udp", origDst: "10.96.0.10", origPortDst: 53, replySrc: "10.96.0.10" },
      { family: "IPv4", protocol: "udp", origDst: "192.0.2.10", origPortDst: 53, replySrc: C },
      { family: "IPv4", protocol: "udp", origDst: "203.0.113.10", origPortDst: 53, replySrc: D },
    ]);
  });

  it("ignores traffic policies and topology: every serving endpoint counts", () => {
    const local = service({
      name: "dns",
      type: "NodePort",
      clusterIP: "10.96.0.10",
      ports: [{ name: "dns", port: 53, protocol: "UDP", nodePort: 30053 }],
      eTP: "Local",
      iTP: "Local",
    });
    const eps = dnsSlice([
      { ip: A, node: "node-b", zones: ["other"] },
      { ip: B, node: "node-a" },
    ]);
    expect(planConntrackCleanup(input([local], [eps]), [entry("10.96.0.10", 53, A), entry(NODE_IP, 30053, A)])).toEqual(
      [],
    );
  });

  it("cleans a Service scaled to zero endpoints (the REJECT rule cannot catch established flows)", () => {
    const plan = planConntrackCleanup(input([dns], [dnsSlice([])]), [entry("10.96.0.10", 53, A)]);
    expect(plan).toEqual([{ family: "IPv4", protocol: "udp", origDst: "10.96.0.10", origPortDst: 53, replySrc: A }]);
    // no slice at all, or only endpoints that are not serving, are the same
    expect(planConntrackCleanup(input([dns], []), [entry("10.96.0.10", 53, A)])).toEqual(plan);
    const notServing = dnsSlice([{ ip: A, ready: false, serving: false }]);
    expect(planConntrackCleanup(input([dns], [notServing]), [entry("10.96.0.10", 53, A)])).toEqual(plan);
  });

  it("cleans the frontends of UDP Service ports deleted since the previous input", () => {
    const before = input();
    const entries = [entry("10.96.0.10", 53, A), entry(NODE_IP, 30053, A), entry("192.0.2.10", 53, A)];
    // without the previous input the deleted Service is unknown: nothing to do
    expect(planConntrackCleanup(input([], []), entries)).toEqual([]);
    expect(planConntrackCleanup(input([], []), entries, { previous: before })).toHaveLength(3);
    // a current Service that took over the cluster IP is judged by its own endpoints
    const taken = service({ name: "new", clusterIP: "10.96.0.10", ports: [{ port: 53, protocol: "UDP" }] });
    const takenSlice = slice({ service: "new" }, [{ port: 8053, protocol: "UDP" }], [A]);
    expect(planConntrackCleanup(input([taken], [takenSlice]), entries, { previous: before })).toEqual([
      { family: "IPv4", protocol: "udp", origPortDst: 30053, replySrc: A },
      { family: "IPv4", protocol: "udp", origDst: "192.0.2.10", origPortDst: 53, replySrc: A },
    ]);
  });

  it("works per family, comparing addresses in canonical form", () => {
    const v6 = service({
      name: "dns",
      clusterIP: ["10.96.0.10", "fd00:96::a"],
      ports: [{ name: "dns", port: 53, protocol: "UDP" }],
    });
    const v6Slice = slice(
      { service: "dns", name: "dns-v6", family: "IPv6" },
      [{ name: "dns", port: 8053, protocol: "UDP" }],
      ["fd00:244::1"],
    );
    const entries = [
      { ...entry("fd00:96:0:0:0:0:0:a", 53, "fd00:244:0::1") }, // serving, spelled long
      entry("fd00:96::a", 53, "fd00:244::2"),
      entry("10.96.0.10", 53, A), // IPv4 frontend without IPv4 endpoints
    ];
    expect(planConntrackCleanup(input([v6], [v6Slice]), entries)).toEqual([
      { family: "IPv4", protocol: "udp", origDst: "10.96.0.10", origPortDst: 53, replySrc: A },
      { family: "IPv6", protocol: "udp", origDst: "fd00:96::a", origPortDst: 53, replySrc: "fd00:244::2" },
    ]);
  });

  it("rejects invalid input as compileIptables does, or leaves it out with partialResults", () => {
    const bad = service({ name: "bad", clusterIP: "10.96.0.99", ports: [{ port: 70_000, protocol: "UDP" }] });
    expect(() => planConntrackCleanup(input([dns, bad]), [])).toThrow(InvalidInputError);
    const plan = planConntrackCleanup(input([dns, bad]), [entry("10.96.0.10", 53, C)], { partialResults: true });
    expect(plan).toHaveLength(1);
  });
});

describe("parseConntrack and conntrackArgs", () => {
  it("reads conntrack -L lines of any protocol and family", () => {
    const text = [
      "udp      17 29 src=192.168.77.2 dst=10.96.0.70 sport=40053 dport=53 [UNREPLIED] src=10.244.0.11 dst=192.168.77.2 sport=8053 dport=40053 mark=0 use=1",
      "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=5000 [ASSURED] mark=0 use=1",
      "ipv6     10 udp      17 28 src=fd00::2 dst=fd00:96::a sport=41000 dport=53 src=fd00:244::1 dst=fd00::2 sport=8053 dport=41000 mark=0 use=1",
      "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.",
      "",
    ].join("\n");
    expect(parseConntrack(text)).toEqual([
      {
        protocol: "udp",
        original: { src: "192.168.77.2", dst: "10.96.0.70", sport: 40053, dport: 53 },
        reply: { src: "10.244.0.11", dst: "192.168.77.2", sport: 8053, dport: 40053 },
      },
      {
        protocol: "tcp",
        original: { src: "10.0.0.1", dst: "10.0.0.2", sport: 5000, dport: 80 },
        reply: { src: "10.0.0.2", dst: "10.0.0.1", sport: 80, dport: 5000 },
      },
      {
        protocol: "udp",
        original: { src: "fd00::2", dst: "fd00:96::a", sport: 41000, dport: 53 },
        reply: { src: "fd00:244::1", dst: "fd00::2", sport: 8053, dport: 41000 },
      },
    ]);
  });

  it("turns a filter into conntrack -D arguments", () => {
    expect(
      conntrackArgs({ family: "IPv4", protocol: "udp", origDst: "10.96.0.10", origPortDst: 53, replySrc: A }),
    ).toEqual(["-D", "-f", "ipv4", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53", "--reply-src", A]);
    expect(conntrackArgs({ family: "IPv6", protocol: "udp", origPortDst: 30053, replySrc: "fd00::1" })).toEqual([
      "-D",
      "-f",
      "ipv6",
      "-p",
      "udp",
      "--orig-port-dst",
      "30053",
      "--reply-src",
      "fd00::1",
    ]);
  });
});
