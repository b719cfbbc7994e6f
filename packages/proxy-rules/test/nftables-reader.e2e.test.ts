// parseNftablesRuleset on what a kernel prints: compiled transactions (both families) loaded with
// `nft -f` into a throw-away network namespace, then read back with `nft list ruleset`,
// `nft -a list ruleset` and `nft list table`. The listing must hold the same tables, chains,
// rules and elements as the transaction, and explainPacket must give the same answer from the
// listing as from the transaction. Needs root and nft; required in CI (CI=true), skipped with a
// reason elsewhere.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compileNftables,
  explainPacket,
  type NftablesRuleset,
  type PacketSpec,
  parseNftablesRuleset,
} from "../src/index.js";
import {
  makeTestEndpointSlice,
  makeTestService,
  testNodeIP,
  testNodeIPv6,
  testNodeName,
} from "./support/kube-proxy-fixtures.js";
import { nftKernelTestBlocker } from "./support/netns.js";
import { fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";

const blocker = nftKernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required) console.warn(`nftables reader kernel e2e tests skipped: ${blocker}`);

const p80 = [{ name: "p80", port: 80, protocol: "TCP" }];

function scenario(family: "IPv4" | "IPv6"): string {
  const v4 = family === "IPv4";
  const ip = (a: string, b: string) => (v4 ? a : b);
  const services = [
    makeTestService("ns1", "svc1", (s) => {
      s.spec.clusterIP = ip("172.30.0.41", "fd00:172:30::41");
      s.spec.ports = p80;
    }),
    makeTestService("ns2", "svc2", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = "Local";
      s.spec.clusterIP = ip("172.30.0.42", "fd00:172:30::42");
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      s.spec.healthCheckNodePort = 30000;
      s.spec.loadBalancerSourceRanges = [ip("203.0.113.0/25", "2001:db8:113::/64")];
      s.spec.sessionAffinity = "ClientIP";
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
      s.status = { loadBalancer: { ingress: [{ ip: ip("1.2.3.4", "2001:db8:1234::4") }] } };
    }),
    makeTestService("ns3", "svc3", (s) => {
      s.spec.type = "NodePort";
      s.spec.clusterIP = ip("172.30.0.43", "fd00:172:30::43");
      s.spec.ports = [{ name: "p80", port: 80, protocol: "UDP", nodePort: 3003 }];
    }),
    makeTestService("ns4", "svc4", (s) => {
      s.spec.clusterIP = ip("172.30.0.44", "fd00:172:30::44");
      s.spec.ports = p80;
    }),
  ];
  const slices = [
    makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.addressType = family;
      e.endpoints = [
        { addresses: [ip("10.180.0.1", "fd00:10:180::1")] },
        { addresses: [ip("10.180.0.2", "fd00:10:180::2")] },
      ];
      e.ports = p80;
    }),
    makeTestEndpointSlice("ns2", "svc2", 1, (e) => {
      e.addressType = family;
      e.endpoints = [
        { addresses: [ip("10.180.0.3", "fd00:10:180::3")], nodeName: testNodeName },
        { addresses: [ip("10.180.0.4", "fd00:10:180::4")] },
      ];
      e.ports = p80;
    }),
    makeTestEndpointSlice("ns3", "svc3", 1, (e) => {
      e.addressType = family;
      e.endpoints = [{ addresses: [ip("10.180.0.5", "fd00:10:180::5")] }];
      e.ports = [{ name: "p80", port: 80, protocol: "UDP" }];
    }),
  ];
  const c = compileNftables(fakeNftInput(services, slices, family), fakeNftOptions(family));
  const text = (v4 ? c.ipv4 : c.ipv6)?.text;
  if (text === undefined) throw new Error(`no ${family} transaction`);
  return text;
}

/** The packets explained from both the transaction and the listing. */
function packets(v4: boolean): PacketSpec[] {
  const ip = (a: string, b: string) => (v4 ? a : b);
  const pod = ip("10.0.0.2", "fd00:10::2");
  const ext = ip("203.0.113.2", "2001:db8:113::2");
  const blocked = ip("203.0.113.130", "2001:db8:114::2");
  const node = v4 ? testNodeIP : testNodeIPv6;
  return [
    { from: "pod", source: pod, destination: ip("172.30.0.41", "fd00:172:30::41"), port: 80 },
    {
      from: "pod",
      source: ip("10.180.0.1", "fd00:10:180::1"),
      destination: ip("172.30.0.41", "fd00:172:30::41"),
      port: 80,
    },
    { from: "outside", source: ext, destination: ip("1.2.3.4", "2001:db8:1234::4"), port: 80 },
    { from: "outside", source: blocked, destination: ip("1.2.3.4", "2001:db8:1234::4"), port: 80 },
    { from: "outside", source: ext, destination: node, port: 3001 },
    { from: "node", source: node, destination: node, port: 3001 },
    { from: "pod", source: pod, destination: node, port: 3003, protocol: "udp" },
    { from: "pod", source: pod, destination: ip("172.30.0.44", "fd00:172:30::44"), port: 80 },
    { from: "pod", source: pod, destination: ip("172.30.0.41", "fd00:172:30::41"), port: 443 },
    { from: "pod", source: pod, destination: ip("172.30.9.9", "fd00:172:30::9:9"), port: 80 },
  ];
}

function summary(rs: NftablesRuleset, p: PacketSpec) {
  const e = explainPacket(rs, p, { localAddresses: [testNodeIP, testNodeIPv6] });
  return {
    verdict: e.verdict,
    endpoints: e.endpoints,
    masquerade: e.masquerade,
    unknown: e.unknown,
    affinity: e.affinity?.next.map((n) => [n.after, n.endpoints]),
    path: e.outcomes.map((o) =>
      o.path.map((s) =>
        s.kind === "rule"
          ? `${s.table} ${s.chain}#${s.position}`
          : s.kind === "hook"
            ? `${s.table} ${s.chain}`
            : s.kind,
      ),
    ),
  };
}

/** Tables → chains → rule count, and sets → element keys, comparable between the two readings. */
function shape(rs: NftablesRuleset) {
  return rs.tables.map((t) => ({
    table: `${t.family} ${t.name}`,
    chains: Object.fromEntries(
      [...t.chains.values()].map((c) => [c.name, { hook: c.hook, priority: c.priority, rules: c.rules.length }]),
    ),
    sets: Object.fromEntries(
      [...t.sets.values()].map((s) => [
        s.name,
        {
          kind: s.kind,
          keyType: s.keyType,
          valueType: s.valueType,
          timeout: s.timeout,
          elements: s.elements.map((e) => `${e.key.join(" . ")}${e.value ? ` : ${e.value}` : ""}`).sort(),
        },
      ]),
    ),
  }));
}

describe.skipIf(!!blocker && !required)("kernel: parseNftablesRuleset reads nft list output", () => {
  const ns = `nkxread${randomBytes(3).toString("hex")}`;
  const v4 = scenario("IPv4");
  const v6 = scenario("IPv6");
  const listings: Record<string, string> = {};
  const nft = (args: string[], input?: string) =>
    execFileSync("ip", ["netns", "exec", ns, "nft", ...args], {
      input,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });

  beforeAll(() => {
    if (blocker) throw new Error(`kernel test prerequisites missing: ${blocker}`);
    execFileSync("ip", ["netns", "add", ns]);
    nft(["-f", "-"], v4);
    nft(["-f", "-"], v6);
    listings.plain = nft(["list", "ruleset"]);
    listings.handles = nft(["-a", "list", "ruleset"]);
    listings.table = nft(["list", "table", "ip6", "kube-proxy"]);
  });
  afterAll(() => {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // not created
    }
  });

  const compiled = () => parseNftablesRuleset([v4, v6]);

  it("the listing holds the transaction's tables, chains, rules and elements", () => {
    const fromKernel = parseNftablesRuleset(listings.plain ?? "");
    expect(shape(fromKernel)).toEqual(shape(compiled()));
    expect(fromKernel.ruleCount).toBe(compiled().ruleCount);
  });

  it("nft -a: every rule has its handle, and the line it is printed on", () => {
    const text = listings.handles ?? "";
    const rs = parseNftablesRuleset({ text, name: "nft -a list ruleset" });
    const lines = text.split("\n");
    let rules = 0;
    for (const t of rs.tables)
      for (const c of t.chains.values())
        for (const r of c.rules) {
          rules++;
          expect(r.handle, r.text).toBeTypeOf("number");
          expect(lines[r.line - 1]?.trim()).toBe(`${r.text} # handle ${r.handle}`);
          expect(r.source).toBe("nft -a list ruleset");
        }
    expect(rules).toBe(compiled().ruleCount);
  });

  it("nft list table: one table", () => {
    const rs = parseNftablesRuleset(listings.table ?? "");
    expect(rs.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["ip6 kube-proxy"]);
    expect(shape(rs)).toEqual(shape(compiled()).filter((t) => t.table === "ip6 kube-proxy"));
  });

  it("explainPacket answers the same from the listing as from the transaction", () => {
    const a = compiled();
    const b = parseNftablesRuleset(listings.handles ?? "");
    for (const p of [...packets(true), ...packets(false)]) {
      const fromTx = summary(a, p);
      expect(fromTx.unknown, JSON.stringify(p)).toBeUndefined();
      expect(summary(b, p), JSON.stringify(p)).toEqual(fromTx);
    }
  });
});
