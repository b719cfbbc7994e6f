// Property: whatever the input (odd names with quotes, blanks, line breaks, non-ASCII; bad and
// IPv6 addresses; odd ports), compileIpvs either reports the object as invalid or writes texts of
// kube-proxy's line shapes only (nothing in an object can add a set, an entry option, a rule or a
// command of its own), and the kernel accepts them: `ipset restore` loads the sets in a fresh
// network namespace and `ipset save` lists every entry back, `iptables-restore --test` accepts the
// rules that match them. Root only for the kernel half; required in CI.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileIpvs, type EndpointSlice, type IpvsResult, parseIpsetSave, type Service } from "../src/index.js";
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
      "::ffff:1.2.3.4",
      "fe80::1%eth0",
      " 1.2.3.4",
      "x",
      "1.2.3.4 -j ACCEPT",
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
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
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
      fc.constantFrom("192.168.0.0/16", "10.0.0.0/33", "fd00::/64"),
    ),
    { maxLength: 2 },
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
type ServiceSpec = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;
type SliceSpec = typeof sliceArb extends fc.Arbitrary<infer T> ? T : never;

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
  return {
    services,
    endpointSlices,
    node: { name: "node-1", addresses: ["192.168.0.1", "2001:db8::1"] },
    config: { clusterCIDR: "10.0.0.0/8,fd00::/48", ipvs: { scheduler: "mh" } },
  };
}

// the shapes of every line
const IP4 = String.raw`\d{1,3}(?:\.\d{1,3}){3}`;
const IP6 = "[0-9a-f:]*:[0-9a-f:]*";
const IP = `(?:${IP4}|${IP6})`;
const HOSTPORT = `(?:${IP4}|\\[${IP6}\\]):\\d{1,5}`;
const PROTO = "(?:tcp|udp|sctp)";
const SET = "KUBE-(?:6-)?[A-Z0-9-]{2,30}";
const ENTRY = new RegExp(`^(?:${IP},${PROTO}:\\d{1,5}(?:,${IP}(?:/\\d{1,3})?)?|\\d{1,5}|${IP})$`);
const IPSET_LINE = new RegExp(
  `^(?:create ${SET} (?:hash:ip,port|hash:ip,port,ip|hash:ip,port,net|hash:ip) family inet6? hashsize 1024 maxelem 65536|create ${SET} bitmap:port range 0-65535|add ${SET} \\S+)$`,
);
const IPVSADM_LINE = new RegExp(
  `^(?:-A (?:-t|-u|--sctp-service) ${HOSTPORT} -s mh(?: -p \\d+)? -b mh-port|-a (?:-t|-u|--sctp-service) ${HOSTPORT} -r ${HOSTPORT} -m -w 1)$`,
);
const IP_LINE = new RegExp(`^(?:link add kube-ipvs0 type dummy|addr add ${IP}/(?:32|128) dev kube-ipvs0)$`);
const RULE_TOKEN =
  /^(?:-[A-Za-z]|--[a-z-]+|!|[A-Z0-9-]+|[A-Z]+(?:,[A-Z]+)+|[a-z,:+-]+|\d+|0x[0-9a-f]+(?:\/0x[0-9a-f]+)?|[0-9a-f.:]+(?:\/\d+)?|"[A-Za-z0-9 .:+=,'-]+")$/;

function checkTexts(r: IpvsResult): void {
  for (const l of r.ipsetText.split("\n").filter((x) => x !== "")) {
    expect(l).toMatch(IPSET_LINE);
    if (l.startsWith("add ")) expect(l.split(" ")[2]).toMatch(ENTRY);
  }
  for (const l of r.ipvsadmText.split("\n").filter((x) => x !== "")) expect(l).toMatch(IPVSADM_LINE);
  for (const l of r.ipText.split("\n").filter((x) => x !== "")) expect(l).toMatch(IP_LINE);
  const lines = r.iptablesText.split("\n").filter((x) => x !== "");
  for (const l of lines) {
    if (l === "*nat" || l === "*filter" || l === "COMMIT" || /^:KUBE-[A-Z-]+ - \[0:0\]$/.test(l)) continue;
    expect(l).toMatch(/^-A KUBE-[A-Z-]+ /);
    // tokens, with quoted comments kept whole
    for (const t of defined(l.match(/"[^"]*"|\S+/g))) expect(t).toMatch(RULE_TOKEN);
  }
  for (const bad of ['a"b', "a b", "a\nb", "a\\b", "é", "$(x)", "-j ACCEPT"]) {
    expect(r.ipsetText + r.ipvsadmText + r.ipText).not.toContain(bad);
  }
  expect(lines.filter((l) => l.startsWith(":")).length).toBe(11);
}

const blocker = kernelTestBlocker();
const required = process.env.CI === "true";
const ns = `kpri${randomBytes(3).toString("hex")}`;
let nsCreated = false;
const inNs = (args: string[], input?: string) =>
  execFileSync("ip", ["netns", "exec", ns, ...args], { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });

describe("IPVS texts from odd input (property)", () => {
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

  it("reports invalid objects and writes only kube-proxy's line shapes for the rest", () => {
    fc.assert(
      fc.property(fc.array(serviceArb, { maxLength: 6 }), fc.array(sliceArb, { maxLength: 6 }), (specs, slices) => {
        const c = compileIpvs(build(specs, slices), { partialResults: true });
        for (const r of c.results) checkTexts(r);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it.skipIf(!!blocker && !required)(
    "ipset restore loads every set (entries listed back) and iptables-restore --test accepts the rules",
    () => {
      fc.assert(
        fc.property(fc.array(serviceArb, { maxLength: 5 }), fc.array(sliceArb, { maxLength: 5 }), (specs, slices) => {
          const c = compileIpvs(build(specs, slices), { partialResults: true });
          inNs(["ipset", "destroy"]);
          for (const r of c.results) inNs(["ipset", "restore"], r.ipsetText);
          const listed = parseIpsetSave(inNs(["ipset", "save"]));
          for (const r of c.results) {
            for (const s of r.ipsets)
              expect([...defined(listed.get(s.name)).entries].sort(), s.name).toEqual([...s.entries].sort());
            inNs([r.family === "IPv4" ? "iptables-restore" : "ip6tables-restore", "--test"], r.iptablesText);
          }
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS_KERNEL ?? 40) },
      );
    },
  );
});
