// Property: whatever the input (odd names with quotes, blanks, line breaks, non-ASCII; bad and
// IPv6 addresses; out-of-range ports; many endpoints), the compiler either reports the object as
// invalid or writes rules that iptables-restore accepts, and nothing in an object can add a rule,
// a chain or an option of its own. The kernel half runs `iptables-restore --test` in a fresh
// network namespace (root only; required in CI).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileIptables, type EndpointSlice, type IptablesResult, type Service } from "../src/index.js";
import { parseArgs } from "../src/iptables/render.js";
import { defined } from "./support/defined.js";
import { kernelTestBlocker } from "./support/netns.js";

const odd = fc.constantFrom(
  'a"b',
  "a b",
  "a\nb",
  "a\\b",
  "é",
  "-j",
  "A",
  "a;b",
  "a$(x)",
  "",
  "x".repeat(70),
  "a-",
  "1a",
);
const label = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/) },
  { weight: 1, arbitrary: odd },
);
const portName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("", "http", "dns-tcp", "p80") },
  { weight: 1, arbitrary: odd },
);
const v4 = fc.ipV4();
const address = fc.oneof(
  { weight: 5, arbitrary: v4 },
  { weight: 2, arbitrary: fc.ipV6() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "010.001.002.003",
      "1.2.3",
      "300.1.1.1",
      "::ffff:1.2.3.4",
      "fe80::1%eth0",
      " 1.2.3.4",
      "x",
    ),
  },
);
const port = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 70000 }) },
);
const protocol = fc.constantFrom("TCP", "UDP", "SCTP", "TCP", "ICMP", undefined);

const serviceArb = fc.record({
  ns: label,
  name: label,
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "Weird"),
  clusterIP: fc.oneof(v4, fc.ipV6(), fc.constantFrom("None", "", "1.2.3.999")),
  ports: fc.array(fc.record({ name: portName, port, protocol, nodePort: fc.option(port, { nil: undefined }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  externalIPs: fc.array(address, { maxLength: 2 }),
  lbIPs: fc.array(address, { maxLength: 2 }),
  ranges: fc.array(
    fc.oneof(
      v4.map((ip) => `${ip}/24`),
      fc.constantFrom(" 10.0.0.0/8", "10.0.0.0/33", "fd00::/64"),
    ),
    {
      maxLength: 2,
    },
  ),
  eTP: fc.constantFrom("Cluster", "Local", undefined),
  iTP: fc.constantFrom("Cluster", "Local", undefined),
  affinity: fc.option(fc.integer({ min: 0, max: 90000 }), { nil: undefined }),
  hcnp: fc.option(port, { nil: undefined }),
});

const sliceArb = fc.record({
  name: label,
  service: fc.integer({ min: 0, max: 5 }),
  addressType: fc.constantFrom("IPv4", "IPv6", "FQDN", "IPv4"),
  endpoints: fc.array(
    fc.record({
      ip: address,
      node: fc.constantFrom("node-1", "other", undefined, "bad node"),
      ready: fc.option(fc.boolean(), { nil: undefined }),
      terminating: fc.option(fc.boolean(), { nil: undefined }),
    }),
    { maxLength: 6 },
  ),
  portFrom: fc.integer({ min: 0, max: 2 }),
  targetPort: port,
});

function build(specs: ServiceSpec[], slices: SliceSpec[]) {
  const services: Service[] = specs.map((s) => ({
    metadata: { namespace: s.ns, name: s.name },
    spec: {
      type: s.type,
      clusterIP: s.clusterIP,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })),
      externalIPs: s.externalIPs,
      loadBalancerSourceRanges: s.ranges,
      externalTrafficPolicy: s.eTP,
      internalTrafficPolicy: s.iTP,
      healthCheckNodePort: s.hcnp,
      ...(s.affinity !== undefined
        ? { sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinity } } }
        : {}),
    },
    status: { loadBalancer: { ingress: s.lbIPs.map((ip) => ({ ip })) } },
  }));
  const endpointSlices: EndpointSlice[] = slices.map((sl, i) => {
    const svc = specs[sl.service % Math.max(specs.length, 1)];
    const p = svc?.ports[sl.portFrom % svc.ports.length];
    return {
      metadata: {
        namespace: svc?.ns ?? "default",
        name: `${sl.name}-${i}`,
        labels: { "kubernetes.io/service-name": svc?.name ?? "none" },
      },
      addressType: sl.addressType,
      endpoints: sl.endpoints.map((e) => ({
        addresses: [e.ip],
        nodeName: e.node,
        conditions: { ready: e.ready, terminating: e.terminating },
      })),
      ports: [{ name: p?.name ?? "", port: sl.targetPort, protocol: p?.protocol }],
    };
  });
  return { services, endpointSlices };
}
type ServiceSpec = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;
type SliceSpec = typeof sliceArb extends fc.Arbitrary<infer T> ? T : never;

const ALLOWED_OPTIONS = new Set([
  "-m",
  "-p",
  "-d",
  "-s",
  "-i",
  "--dport",
  "-j",
  "--comment",
  "--probability",
  "--mode",
  "--name",
  "--set",
  "--rcheck",
  "--seconds",
  "--reap",
  "--to-destination",
  "--dst-type",
  "--src-type",
  "--mark",
  "--xor-mark",
  "--or-mark",
  "--ctstate",
  "--nfacct-name",
  "--random-fully",
  "!",
]);

/** Structural check of a payload: only the lines and options kube-proxy writes. */
function checkPayload(r: IptablesResult): void {
  const lines = r.text.split("\n");
  expect(lines.at(-1)).toBe("");
  let declared = 0;
  for (const line of lines.slice(0, -1)) {
    expect(line).toMatch(
      /^(\*(filter|nat)|COMMIT|:KUBE-[A-Z0-9-]+ - \[0:0\]|-X KUBE-[A-Z0-9-]+|-A KUBE-[A-Z0-9-]+( .*)?)$/,
    );
    if (line.startsWith(":")) declared++;
    // every character printable ASCII; a quote only around a comment value
    expect(line).toMatch(/^[\x20-\x7e]*$/);
  }
  let rules = 0;
  for (const t of [r.tables.filter, r.tables.nat]) {
    for (const c of t.chains) {
      for (const rule of c.rules) {
        rules++;
        const args = parseArgs(rule.text);
        for (let i = 0; i < args.length; i++) {
          const a = defined(args[i]);
          if (a.startsWith("-")) {
            const prev = args[i - 1];
            // an option, or the value of --comment (comments are the only free text)
            if (prev !== "--comment") expect(ALLOWED_OPTIONS, `${a} in ${rule.text}`).toContain(a);
          }
          if (args[i - 1] === "--comment") expect(a).not.toMatch(/["\\\n]/);
        }
      }
    }
  }
  expect(rules).toBe(r.stats.filterRules + r.stats.natRules);
  expect(declared).toBeGreaterThanOrEqual(r.tables.nat.chains.length + r.tables.filter.chains.length);
}

const blocker = kernelTestBlocker();
const required = process.env.CI === "true";
const ns = `kprt${randomBytes(3).toString("hex")}`;
let nsCreated = false;

function restoreTest(r: IptablesResult): void {
  const tool = r.family === "IPv4" ? "iptables-restore" : "ip6tables-restore";
  execFileSync("ip", ["netns", "exec", ns, tool, "--test"], { input: r.text, stdio: ["pipe", "ignore", "pipe"] });
}

describe("rules from odd input (property)", () => {
  beforeAll(() => {
    if (blocker && required) throw new Error(`required in CI: ${blocker}`);
    if (!blocker) {
      execFileSync("ip", ["netns", "add", ns]);
      nsCreated = true;
    }
  });
  afterAll(() => {
    if (nsCreated) execFileSync("ip", ["netns", "del", ns]);
  });

  it("reports invalid objects and writes only well-formed rules for the rest", () => {
    fc.assert(
      fc.property(fc.array(serviceArb, { maxLength: 6 }), fc.array(sliceArb, { maxLength: 6 }), (specs, slices) => {
        const input = build(specs, slices);
        const c = compileIptables(
          {
            ...input,
            node: { name: "node-1", addresses: ["192.168.0.1", "2001:db8::1"] },
            config: { clusterCIDR: "10.0.0.0/8,fd00::/48" },
          },
          { partialResults: true },
        );
        for (const r of c.results) {
          checkPayload(r);
          for (const bad of ['a"b', "a b", "a\nb", "a\\b", "é", "$(x)"]) expect(r.text).not.toContain(bad);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it.skipIf(!!blocker && !required)("iptables-restore --test accepts every payload (fresh namespace)", () => {
    fc.assert(
      fc.property(fc.array(serviceArb, { maxLength: 5 }), fc.array(sliceArb, { maxLength: 5 }), (specs, slices) => {
        const input = build(specs, slices);
        const c = compileIptables(
          {
            ...input,
            node: { name: "node-1", addresses: ["192.168.0.1", "2001:db8::1"] },
            config: { clusterCIDR: "10.0.0.0/8,fd00::/48" },
          },
          { partialResults: true },
        );
        for (const r of c.results) restoreTest(r);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS_KERNEL ?? 60) },
    );
  });

  it.skipIf(!!blocker && !required)("accepts a huge Service: 2,000 endpoints, 20 ports, affinity", () => {
    const ports = Array.from({ length: 20 }, (_, i) => ({
      name: `p${i}`,
      port: 1000 + i,
      protocol: i % 3 ? "TCP" : "UDP",
    }));
    const svc: Service = {
      metadata: { namespace: "big", name: "big" },
      spec: {
        type: "LoadBalancer",
        clusterIP: "10.96.0.1",
        ports: ports.map((p, i) => ({ ...p, nodePort: 30000 + i })),
        externalIPs: ["192.168.99.1"],
        sessionAffinity: "ClientIP",
      },
      status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } },
    };
    const endpoints = Array.from({ length: 2000 }, (_, i) => ({
      addresses: [`10.1.${i >> 8}.${i & 255}`],
      nodeName: i % 7 === 0 ? "node-1" : "other",
    }));
    const eps: EndpointSlice = {
      metadata: { namespace: "big", name: "big-1", labels: { "kubernetes.io/service-name": "big" } },
      addressType: "IPv4",
      endpoints,
      // two ports with all the endpoints, eighteen without any (REJECT rules)
      ports: ports
        .slice(0, 2)
        .map((p) => ({ name: p.name, port: 8000 + Number(p.name.slice(1)), protocol: p.protocol })),
    };
    const r = defined(compileIptables({ services: [svc], endpointSlices: [eps], node: { name: "node-1" } }).ipv4);
    expect(r.stats.endpoints).toBe(4_000);
    expect(r.text).toContain("--probability 0.0005000000 ");
    checkPayload(r);
    restoreTest(r);
  });
});
