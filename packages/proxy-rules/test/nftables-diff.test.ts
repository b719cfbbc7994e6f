// diffRulesets on nftables rulesets: per Service port changes between two compileNftables
// transactions before and after a real change (expected reports written from kube-proxy's
// nftables layout: which chains, which elements, which numgen shares), no difference between a
// compilation and the kernel's `nft list ruleset` of it (fixtures/nft-list-ruleset-diff.txt, taken
// from a network namespace loaded with the compiled transaction of the input below), and a typed
// error for an iptables ruleset compared with an nftables one.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diffRulesets, servicePortRules } from "../src/diff/index.js";
import { compileIptables, compileNftables, InvalidInputError, type ProxyInput } from "../src/index.js";
import { service, slice } from "./support/objects.js";

const NODE = "n1";
const web = (extra: Partial<Parameters<typeof service>[0]> = {}) =>
  service({
    name: "web",
    type: "LoadBalancer",
    clusterIP: ["10.96.0.10", "fd00:96::10"],
    ports: [{ name: "http", port: 80, nodePort: 30080 }],
    externalIPs: ["192.168.99.10"],
    lbIPs: ["203.0.113.10"],
    ...extra,
  });
const webSlice = (ips: string[]) =>
  slice(
    { service: "web" },
    [{ name: "http", port: 8080 }],
    ips.map((ip) => ({ ip, node: NODE })),
  );
const webSlice6 = slice(
  { service: "web", name: "web-v6", family: "IPv6" },
  [{ name: "http", port: 8080 }],
  [{ ip: "fd00:244::11", node: NODE }],
);
const sticky = (affinity?: number) =>
  service({ name: "sticky", clusterIP: "10.96.0.40", ports: [{ port: 80 }], ...(affinity ? { affinity } : {}) });
const stickySlice = slice(
  { service: "sticky" },
  [{ port: 8080 }],
  ["10.244.0.11", "10.244.0.12"].map((ip) => ({ ip, node: NODE })),
);
const local = service({
  name: "local",
  type: "LoadBalancer",
  clusterIP: "10.96.0.50",
  ports: [{ port: 80, nodePort: 30100 }],
  lbIPs: ["203.0.113.20"],
  eTP: "Local",
  healthCheckNodePort: 32000,
});
const localSlice = slice({ service: "local" }, [{ port: 8080 }], [{ ip: "10.244.0.12", node: "other" }]);
const empty = service({
  name: "empty",
  type: "NodePort",
  clusterIP: "10.96.0.30",
  ports: [{ port: 80, nodePort: 30090 }],
});
const db = service({ name: "db", clusterIP: "10.96.0.20", ports: [{ port: 5432 }] });
const dbSlice = slice({ service: "db" }, [{ port: 5432 }], [{ ip: "10.244.0.21", node: NODE }]);

const input = (
  services = [web(), sticky(600), local, empty, db],
  endpointSlices = [webSlice(["10.244.0.11", "10.244.0.12"]), webSlice6, stickySlice, localSlice, dbSlice],
): ProxyInput => ({
  services,
  endpointSlices,
  node: { name: NODE, addresses: ["192.168.77.1", "fd00:77::1"] },
  config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
});
const options = { serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"] };
/** Both families' transactions, as `compile --mode nftables` prints them. */
const text = (i: ProxyInput) =>
  compileNftables(i, options)
    .results.map((r) => r.text)
    .join("");

// kube-proxy's chain names: the first 8 characters of base32(sha256(name)), then the name
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
function hash8(name: string): string {
  const bytes = createHash("sha256").update(name).digest();
  let bits = "";
  for (const b of bytes.subarray(0, 5)) bits += b.toString(2).padStart(8, "0");
  return Array.from({ length: 8 }, (_, i) => BASE32[Number.parseInt(bits.slice(i * 5, i * 5 + 5), 2)]).join("");
}
const chain = (family: "ip" | "ip6", kind: string, name: string) =>
  `${family} kube-proxy/${kind}-${hash8(name)}-${name}`;
const none = { added: [], removed: [], rewritten: [] };

describe("diffRulesets (nftables)", () => {
  it("a compilation and the kernel's nft list ruleset of it are identical", () => {
    const listed = readFileSync(new URL("./fixtures/nft-list-ruleset-diff.txt", import.meta.url), "utf8");
    // the kernel's spelling differs (meta mark, 0x00004000, dstnat - 10, 3h, no braces around one prefix)
    expect(listed).toContain("meta mark set meta mark | 0x00004000");
    expect(listed).toContain("timeout 10m");
    expect(diffRulesets(text(input()), listed)).toEqual({ services: [], chains: none, sets: none, identical: true });
    expect(diffRulesets(listed, text(input())).identical).toBe(true);
  });

  it("the kernel's listing with one thing changed differs there, and only there", () => {
    const listed = readFileSync(new URL("./fixtures/nft-list-ruleset-diff.txt", import.meta.url), "utf8");
    const compiled = text(input());
    const changed = (from: string, to: string) => {
      expect(listed).toContain(from);
      const d = diffRulesets(compiled, listed.replace(from, to));
      return { chains: d.chains.rewritten, sets: d.sets?.rewritten, services: d.services.map((x) => x.servicePort) };
    };
    // an endpoint's DNAT address: its chain, and the endpoint the port reports
    expect(changed("dnat to 10.244.0.21:5432", "dnat to 10.244.0.29:5432")).toEqual({
      chains: [chain("ip", "endpoint", "default/db/tcp/__10.244.0.21/5432")],
      sets: [],
      services: ["default/db"],
    });
    // the masquerading chain's mark test, and a base chain's priority (dstnat is -100)
    expect(
      changed("meta mark & 0x00004000 == 0x00000000 return", "meta mark & 0x00004000 == 0x00004000 return"),
    ).toEqual({
      chains: ["ip kube-proxy/masquerading"],
      sets: [],
      services: [],
    });
    expect(
      changed("type nat hook prerouting priority dstnat;", "type nat hook prerouting priority dstnat - 1;"),
    ).toEqual({
      chains: ["ip kube-proxy/nat-prerouting"],
      sets: [],
      services: [],
    });
    // the unallocated-ClusterIP drop, listed without braces
    expect(changed("ip daddr 10.96.0.0/16 drop", "ip daddr 10.96.0.0/15 drop")).toEqual({
      chains: ["ip kube-proxy/cluster-ips-check"],
      sets: [],
      services: [],
    });
    // an affinity set's timeout (10m = 600 s)
    expect(changed("timeout 10m", "timeout 11m")).toEqual({
      chains: [],
      sets: [chain("ip", "affinity", "default/sticky/tcp/__10.244.0.11/8080")],
      services: ["default/sticky"],
    });
  });

  it("an endpoint added: its chain is new, the numgen map splits three ways", () => {
    const after = input(undefined, [
      webSlice(["10.244.0.11", "10.244.0.12", "10.244.0.13"]),
      webSlice6,
      stickySlice,
      localSlice,
      dbSlice,
    ]);
    const d = diffRulesets(text(input()), text(after));
    const newChain = chain("ip", "endpoint", "default/web/tcp/http__10.244.0.13/8080");
    const serviceChain = chain("ip", "service", "default/web/tcp/http");
    expect(d.services).toEqual([
      {
        servicePort: "default/web:http",
        family: 4,
        change: "changed",
        vips: { added: [], removed: [] },
        endpoints: {
          added: [{ endpoint: "10.244.0.13:8080", scope: "cluster", probability: 1 / 3 }],
          removed: [],
          changed: [
            { endpoint: "10.244.0.11:8080", scope: "cluster", before: 0.5, after: 1 / 3 },
            { endpoint: "10.244.0.12:8080", scope: "cluster", before: 0.5, after: 1 / 3 },
          ],
        },
        policies: [],
        chains: { added: [newChain], removed: [], rewritten: [serviceChain] },
      },
    ]);
    // the IPv6 table is untouched; no map changes (the VIPs still lead to the same chain)
    expect(d.chains).toEqual({ added: [newChain], removed: [], rewritten: [serviceChain] });
    expect(d.sets).toEqual(none);
    expect(d.identical).toBe(false);
  });

  it("externalTrafficPolicy Local: a local chain, external traffic masqueraded only from the node, in both families", () => {
    const d = diffRulesets(
      text(input()),
      text(input([web({ eTP: "Local", healthCheckNodePort: 32001 }), sticky(600), local, empty, db])),
    );
    const policies = [
      { policy: "externalMasquerade", before: "all", after: "node-local sources" },
      { policy: "externalTrafficPolicy", before: "Cluster", after: "Local" },
    ];
    const chains = (f: "ip" | "ip6") => ({
      added: [chain(f, "local", "default/web/tcp/http")],
      removed: [],
      rewritten: [chain(f, "external", "default/web/tcp/http")],
    });
    expect(d.services).toEqual([
      {
        servicePort: "default/web:http",
        family: 4,
        change: "changed",
        vips: { added: [], removed: [] },
        // every endpoint is on this node: the local chain gets both, half each
        endpoints: {
          added: [
            { endpoint: "10.244.0.11:8080", scope: "local", probability: 0.5 },
            { endpoint: "10.244.0.12:8080", scope: "local", probability: 0.5 },
          ],
          removed: [],
          changed: [],
        },
        policies,
        chains: chains("ip"),
      },
      {
        servicePort: "default/web:http",
        family: 6,
        change: "changed",
        vips: { added: [], removed: [] },
        endpoints: {
          added: [{ endpoint: "[fd00:244::11]:8080", scope: "local", probability: 1 }],
          removed: [],
          changed: [],
        },
        policies,
        chains: chains("ip6"),
      },
    ]);
    // the health check node port is not a rule in the nftables mode
    expect(d.sets).toEqual(none);
  });

  it("loadBalancerSourceRanges: a firewall chain and its firewall-ips element", () => {
    const d = diffRulesets(
      text(input()),
      text(input([web({ sourceRanges: ["198.51.100.0/24"] }), sticky(600), local, empty, db])),
    );
    expect(d.services).toEqual([
      {
        servicePort: "default/web:http",
        family: 4,
        change: "changed",
        // the load-balancer IP was already an address of the port (service-ips)
        vips: { added: [], removed: [] },
        endpoints: { added: [], removed: [], changed: [] },
        policies: [{ policy: "sourceRanges", before: undefined, after: "198.51.100.0/24" }],
        chains: { added: [chain("ip", "firewall", "default/web/tcp/http")], removed: [], rewritten: [] },
      },
    ]);
    // IPv6 has no load-balancer IP of the port: no firewall there
    expect(d.sets).toEqual({ added: [], removed: [], rewritten: ["ip kube-proxy/firewall-ips"] });
  });

  it("a Service removed: its addresses, endpoint, policies and chains go", () => {
    const d = diffRulesets(
      text(input()),
      text(
        input(
          [web(), sticky(600), local, empty],
          [webSlice(["10.244.0.11", "10.244.0.12"]), webSlice6, stickySlice, localSlice],
        ),
      ),
    );
    expect(d.services).toEqual([
      {
        servicePort: "default/db",
        family: 4,
        change: "removed",
        vips: { added: [], removed: ["10.96.0.20:5432/tcp"] },
        endpoints: {
          added: [],
          removed: [{ endpoint: "10.244.0.21:5432", scope: "cluster", probability: 1 }],
          changed: [],
        },
        policies: [
          { policy: "internalTrafficPolicy", before: "Cluster", after: undefined },
          { policy: "masquerade", before: "sources outside 10.244.0.0/16", after: undefined },
        ],
        chains: {
          added: [],
          removed: [
            chain("ip", "endpoint", "default/db/tcp/__10.244.0.21/5432"),
            chain("ip", "service", "default/db/tcp/"),
          ],
          rewritten: [],
        },
      },
    ]);
    expect(d.sets).toEqual({
      added: [],
      removed: [],
      rewritten: ["ip kube-proxy/cluster-ips", "ip kube-proxy/service-ips"],
    });
  });

  it("scaled to zero: the endpoints go, the addresses stay in the no-endpoint maps with REJECT", () => {
    const d = diffRulesets(text(input()), text(input(undefined, [webSlice6, stickySlice, localSlice, dbSlice])));
    expect(d.services).toHaveLength(1);
    const w = d.services[0];
    expect(w?.family).toBe(4);
    expect(w?.vips).toEqual({ added: [], removed: [] });
    expect(w?.endpoints.removed.map((e) => [e.endpoint, e.scope, e.probability])).toEqual([
      ["10.244.0.11:8080", "cluster", 0.5],
      ["10.244.0.12:8080", "cluster", 0.5],
    ]);
    expect(w?.policies).toEqual([
      { policy: "externalMasquerade", before: "all", after: undefined },
      { policy: "externalTrafficPolicy", before: "Cluster", after: undefined },
      { policy: "internalTrafficPolicy", before: "Cluster", after: undefined },
      { policy: "masquerade", before: "sources outside 10.244.0.0/16", after: undefined },
      { policy: "noEndpoints", before: undefined, after: "REJECT" },
    ]);
    expect(w?.chains.removed).toEqual(
      [
        chain("ip", "endpoint", "default/web/tcp/http__10.244.0.11/8080"),
        chain("ip", "endpoint", "default/web/tcp/http__10.244.0.12/8080"),
        chain("ip", "external", "default/web/tcp/http"),
        chain("ip", "service", "default/web/tcp/http"),
      ].sort(),
    );
    expect(d.sets?.rewritten).toEqual([
      "ip kube-proxy/no-endpoint-nodeports",
      "ip kube-proxy/no-endpoint-services",
      "ip kube-proxy/service-ips",
      "ip kube-proxy/service-nodeports",
    ]);
  });

  it("internalTrafficPolicy Local: the cluster IP's element leads to the local chain, which gets the masquerade rule; masqueradeAll", () => {
    // one endpoint here, one on another node; IPv4 only
    const oneLocal = slice(
      { service: "web" },
      [{ name: "http", port: 8080 }],
      [
        { ip: "10.244.0.11", node: NODE },
        { ip: "10.244.0.12", node: "other" },
      ],
    );
    const v4 = (svc = web(), config = {}): ProxyInput => ({
      ...input([svc], [oneLocal]),
      node: { name: NODE, addresses: ["192.168.77.1"] },
      config: { clusterCIDR: "10.244.0.0/16", ...config },
    });
    const d = diffRulesets(text(v4()), text(v4(web({ iTP: "Local" }))));
    expect(d.services).toEqual([
      {
        servicePort: "default/web:http",
        family: 4,
        change: "changed",
        vips: { added: [], removed: [] },
        endpoints: {
          added: [{ endpoint: "10.244.0.11:8080", scope: "local", probability: 1 }],
          removed: [],
          changed: [],
        },
        // the masquerade rule moves with the cluster IP, so it still reads the same
        policies: [{ policy: "internalTrafficPolicy", before: "Cluster", after: "Local" }],
        chains: {
          added: [chain("ip", "local", "default/web/tcp/http")],
          removed: [],
          // external traffic (Cluster policy) still uses the service chain, without the rule
          rewritten: [chain("ip", "service", "default/web/tcp/http")],
        },
      },
    ]);
    expect(d.sets).toEqual({ added: [], removed: [], rewritten: ["ip kube-proxy/service-ips"] });
    const all = diffRulesets(text(v4()), text(v4(web(), { nftables: { masqueradeAll: true } })));
    expect(all.services.map((x) => [x.servicePort, x.policies])).toEqual([
      ["default/web:http", [{ policy: "masquerade", before: "sources outside 10.244.0.0/16", after: "all" }]],
    ]);
  });

  it("servicePortRules reads one family's table alone: affinity, no endpoints, no local endpoints", () => {
    const rs = text(input());
    const v4 = servicePortRules(rs);
    expect(v4.get("default/sticky")).toMatchObject({
      family: 4,
      vips: ["10.96.0.40:80/tcp"],
      endpoints: [
        { endpoint: "10.244.0.11:8080", scope: "cluster", probability: 0.5 },
        { endpoint: "10.244.0.12:8080", scope: "cluster", probability: 0.5 },
      ],
      policies: {
        internalTrafficPolicy: "Cluster",
        affinitySeconds: "600",
        masquerade: "sources outside 10.244.0.0/16",
      },
    });
    expect(v4.get("default/empty")).toMatchObject({
      vips: ["10.96.0.30:80/tcp", "nodePort 30090/tcp"],
      endpoints: [],
      policies: { noEndpoints: "REJECT" },
    });
    // eTP Local and the only endpoint elsewhere: external addresses DROP, the cluster IP still works
    expect(v4.get("default/local")).toMatchObject({
      vips: ["10.96.0.50:80/tcp", "203.0.113.20:80/tcp", "nodePort 30100/tcp"],
      endpoints: [{ endpoint: "10.244.0.12:8080", scope: "cluster", probability: 1 }],
      policies: { internalTrafficPolicy: "Cluster", externalTrafficPolicy: "Local", noLocalEndpoints: "DROP" },
    });
    expect(v4.get("default/web:http")?.vips).toEqual([
      "10.96.0.10:80/tcp",
      "192.168.99.10:80/tcp",
      "203.0.113.10:80/tcp",
      "nodePort 30080/tcp",
    ]);
    const v6 = servicePortRules(rs, { family: 6 });
    expect([...v6.keys()]).toEqual(["default/web:http"]);
    expect(v6.get("default/web:http")).toMatchObject({
      family: 6,
      vips: ["[fd00:96::10]:80/tcp", "nodePort 30080/tcp"],
      endpoints: [{ endpoint: "[fd00:244::11]:8080", scope: "cluster", probability: 1 }],
      policies: { masquerade: "sources outside fd00:244::/64", externalTrafficPolicy: "Cluster" },
    });
  });

  it("several texts apply in order, an empty one (a sync's cleanupText) first included", () => {
    const [v4] = compileNftables(input(), options).results;
    expect(v4?.cleanupText).toBe("");
    const d = diffRulesets([v4?.cleanupText ?? "", v4?.text ?? ""], { name: "tx.nft", text: v4?.text ?? "" });
    expect(d.identical).toBe(true);
    expect(servicePortRules(["", v4?.text ?? ""]).get("default/db")?.vips).toEqual(["10.96.0.20:5432/tcp"]);
  });

  it("an iptables ruleset and an nftables ruleset: a typed error naming the second", () => {
    const ipt = compileIptables(input()).ipv4?.text ?? "";
    let caught: unknown;
    try {
      diffRulesets(ipt, { name: "node.nft", text: text(input()) });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    expect(caught).toMatchObject({
      object: { kind: "Ruleset", name: "node.nft" },
      field: "b",
      reason: "nftables rules, but a holds iptables rules: diffRulesets compares two rulesets of one mode",
    });
  });

  it("what is not a ruleset is a typed error naming a or b (and the entry), not a TypeError", () => {
    const nft = text(input());
    const shape = "must be rules text, { text, name }, a list of them, or a parsed ruleset";
    const cases: [() => unknown, string][] = [
      [() => diffRulesets(nft, null as never), "b"],
      [() => diffRulesets(undefined as never, nft), "a"],
      [() => diffRulesets(nft, ["", null] as never), "b[1]"],
      [() => diffRulesets([{ name: "x" }] as never, nft), "a[0]"],
      [() => servicePortRules(42 as never), "ruleset"],
    ];
    for (const [f, field] of cases) {
      let caught: unknown;
      try {
        f();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidInputError);
      expect(caught).toMatchObject({ object: { kind: "Ruleset" }, field, reason: shape });
    }
  });
});
