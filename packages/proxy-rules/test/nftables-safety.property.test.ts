// Property: whatever the input (odd names with quotes, blanks, line breaks, `;`, `#`, non-ASCII;
// bad and IPv6 addresses; out-of-range ports; many endpoints), compileNftables either reports the
// object as invalid or writes a transaction nft accepts, in which nothing from an object can add
// a statement, an object or a verdict of its own. The kernel half runs `nft -c -f` in a fresh
// network namespace (root only; required in CI).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileNftables, type EndpointSlice, InvalidInputError, type Service } from "../src/index.js";
import { isNftName } from "../src/nftables/names.js";
import { defined } from "./support/defined.js";
import { kernelTestBlocker } from "./support/netns.js";
import { NftTableModel } from "./support/nftables-model.js";

const odd = fc.constantFrom(
  'a"b',
  "a b",
  "a\nb",
  "a\\b",
  "é",
  "a;b",
  "a#b",
  "a}b",
  "a$(x)",
  "",
  "x".repeat(70),
  "a-",
  "1a",
);

/** The arbitraries of one kind of input: `wild` mixes in odd values everywhere, else only valid ones. */
function arbitraries(wild: boolean) {
  const mix = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>, weight = 8): fc.Arbitrary<T | U> =>
    wild ? fc.oneof({ weight, arbitrary: good }, { weight: 1, arbitrary: bad }) : good;
  const label = mix(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/), odd);
  const portName = mix(fc.constantFrom("http", "dns-tcp", "p80"), odd);
  const address = mix(
    fc.ipV4(),
    fc.oneof(fc.ipV6(), fc.constantFrom("010.001.002.003", "1.2.3", "::ffff:1.2.3.4", "fe80::1%eth0", " 1.2.3.4", "x")),
    4,
  );
  const port = mix(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: -3, max: 70000 }));
  const protocol = mix(fc.constantFrom("TCP", "UDP", "SCTP"), fc.constantFrom("ICMP", undefined));
  const serviceArb = fc.record({
    ns: label,
    name: label,
    type: mix(fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"), fc.constant("ExternalName")),
    clusterIP: mix(fc.ipV4(), fc.oneof(fc.ipV6(), fc.constantFrom("None", "", "1.2.3.999")), 4),
    ports: fc.array(fc.record({ name: portName, port, protocol, nodePort: fc.option(port, { nil: undefined }) }), {
      minLength: 1,
      maxLength: 3,
    }),
    externalIPs: fc.array(address, { maxLength: 2 }),
    lbIPs: fc.array(address, { maxLength: 2 }),
    ranges: fc.array(
      mix(
        fc.ipV4().map((ip) => `${ip}/24`),
        fc.constantFrom(" 10.0.0.0/8", "fd00::/64"),
      ),
      {
        maxLength: 2,
      },
    ),
    eTP: fc.constantFrom("Cluster", "Local", undefined),
    iTP: fc.constantFrom("Cluster", "Local", undefined),
    affinity: fc.option(mix(fc.integer({ min: 1, max: 86400 }), fc.constantFrom(0, 90000)), { nil: undefined }),
  });
  const sliceArb = fc.record({
    name: label,
    service: fc.integer({ min: 0, max: 5 }),
    addressType: mix(fc.constant("IPv4"), fc.constantFrom("IPv6", "FQDN")),
    endpoints: fc.array(
      fc.record({
        ip: address,
        node: mix(fc.constantFrom("node-1", "other", undefined), fc.constant("bad node")),
        ready: fc.option(fc.boolean(), { nil: undefined }),
        terminating: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { maxLength: 6 },
    ),
    portFrom: fc.integer({ min: 0, max: 2 }),
    targetPort: port,
  });
  return { serviceArb, sliceArb };
}
const wildArbs = arbitraries(true);
const serviceArb = wildArbs.serviceArb;
const sliceArb = wildArbs.sliceArb;
const cleanArbs = arbitraries(false);
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

const inputArb = fc.oneof(
  fc.tuple(fc.array(serviceArb, { maxLength: 5 }), fc.array(sliceArb, { maxLength: 6 })),
  fc.tuple(fc.array(cleanArbs.serviceArb, { maxLength: 5 }), fc.array(cleanArbs.sliceArb, { maxLength: 6 })),
);

/** The transactions of an input, or undefined when it is refused with the package's error. */
function transactions(specs: ServiceSpec[], slices: SliceSpec[]): string[] {
  const { services, endpointSlices } = build(specs, slices);
  const c = compileNftables(
    {
      services,
      endpointSlices,
      node: { name: "node-1", addresses: ["192.168.1.1", "fd00:1::1"] },
      config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
    },
    { partialResults: true, serviceCIDRs: ["10.96.0.0/12", "fd00:96::/112"] },
  );
  for (const e of c.errors) expect(e).toBeInstanceOf(InvalidInputError);
  return c.results.map((r) => r.text);
}

/** Structural check: only kube-proxy's statements; free text only inside comments, which hold no quote. */
function checkTransaction(text: string): void {
  const lines = text.split("\n");
  expect(lines.at(-1)).toBe("");
  for (const line of lines.slice(0, -1)) {
    expect(line).toMatch(/^[\x20-\x7e]*$/);
    expect(line).toMatch(/^(add|flush|delete) (table|chain|rule|set|map|element) (ip|ip6) kube-proxy( |$)/);
    const words = line.split(" ");
    if (words[1] !== "table") expect(isNftName(defined(words[4])), line).toBe(true);
    // comments are the only quoted text, and cannot end early
    const unquoted = line.replace(/ comment "[^"\\]*"/g, "");
    expect(unquoted, line).not.toMatch(/["#\\]/);
    if (words[1] === "rule" || words[1] === "element") expect(unquoted, line).not.toContain(";");
  }
}

describe("nftables transactions are safe (property)", () => {
  it("every transaction is made of kube-proxy's statements only and replays in the table model", () => {
    fc.assert(
      fc.property(inputArb, ([specs, slices]) => {
        for (const text of transactions(specs, slices)) {
          checkTransaction(text);
          const family = text.startsWith("add table ip6 ") ? "ip6" : "ip";
          new NftTableModel(family).apply(text);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) },
    );
  });
});

const blocker = kernelTestBlocker();
const required = process.env.CI === "true";
let nftMissing: string | undefined;
try {
  execFileSync("sh", ["-c", "command -v nft"], { stdio: "ignore" });
} catch {
  nftMissing = "missing tool: nft (Debian package nftables)";
}
const kernelBlocker = blocker ?? nftMissing;
if (kernelBlocker && !required) console.warn(`nftables kernel property tests skipped: ${kernelBlocker}`);

describe.skipIf(!!kernelBlocker && !required)("nftables transactions are accepted by nft -c (property, kernel)", () => {
  const ns = `kpnft${randomBytes(3).toString("hex")}`;
  beforeAll(() => {
    if (kernelBlocker) throw new Error(`required in CI but cannot run: ${kernelBlocker}`);
    execFileSync("ip", ["netns", "add", ns]);
  });
  afterAll(() => {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      // best effort
    }
  });

  it("nft -c -f accepts every transaction of random inputs", () => {
    fc.assert(
      fc.property(inputArb, ([specs, slices]) => {
        for (const text of transactions(specs, slices)) {
          try {
            execFileSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", "-"], {
              input: text,
              stdio: ["pipe", "pipe", "pipe"],
            });
          } catch (err) {
            throw new Error(`nft refused:\n${(err as { stderr?: Buffer }).stderr}\n${text}`);
          }
        }
      }),
      { numRuns: Number(process.env.PROPERTY_KERNEL_RUNS ?? 40) },
    );
  });
});
