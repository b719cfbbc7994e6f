// diffRulesets: per Service port changes between two compilations (expected values reasoned from
// the objects: which endpoints, which shares, which policies), and no difference between a
// compilation and the node's iptables-save dump of it (fixtures/iptables-save-web.txt, taken from
// a network namespace loaded with the compiled rules of the input below).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diffRulesets, servicePortRules } from "../src/diff/index.js";
import { compileIptables, type ProxyInput } from "../src/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const NODE = "n1";
const web = (extra: Partial<Parameters<typeof service>[0]> = {}) =>
  service({
    name: "web",
    type: "LoadBalancer",
    clusterIP: "10.96.0.10",
    ports: [{ name: "http", port: 80, nodePort: 30080 }],
    externalIPs: ["192.168.99.10"],
    lbIPs: ["203.0.113.10"],
    sourceRanges: ["192.168.77.0/24"],
    ...extra,
  });
const webSlice = (ips: string[]) =>
  slice(
    { service: "web" },
    [{ name: "http", port: 8080 }],
    ips.map((ip) => ({ ip, node: NODE })),
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

const input = (
  services = [web(), sticky(600), local, empty],
  endpointSlices = [webSlice(["10.244.0.11", "10.244.0.12", "10.244.0.13"]), stickySlice, localSlice],
): ProxyInput => ({
  services,
  endpointSlices,
  node: { name: NODE, addresses: ["192.168.77.1"] },
  config: { clusterCIDR: "10.244.0.0/16" },
});
const text = (i: ProxyInput) => defined(compileIptables(i).ipv4).text;

describe("diffRulesets", () => {
  it("a compilation and the node's iptables-save dump of it are identical", () => {
    const saved = readFileSync(new URL("./fixtures/iptables-save-web.txt", import.meta.url), "utf8");
    const d = diffRulesets(text(input()), saved);
    expect(d).toEqual({ services: [], chains: { added: [], removed: [], rewritten: [] }, identical: true });
  });

  it("an endpoint removed: its chain goes, the others' shares grow from a third to a half", () => {
    const d = diffRulesets(
      text(input()),
      text(input(undefined, [webSlice(["10.244.0.11", "10.244.0.12"]), stickySlice, localSlice])),
    );
    expect(d.services).toHaveLength(1);
    const s = defined(d.services[0]);
    expect(s.servicePort).toBe("default/web:http");
    expect(s.change).toBe("changed");
    expect(s.vips).toEqual({ added: [], removed: [] });
    expect(s.endpoints.added).toEqual([]);
    expect(s.endpoints.removed.map((e) => [e.endpoint, e.probability.toFixed(4)])).toEqual([
      ["10.244.0.13:8080", "0.3333"],
    ]);
    expect(s.endpoints.changed.map((e) => [e.endpoint, e.before.toFixed(4), e.after.toFixed(4)])).toEqual([
      ["10.244.0.11:8080", "0.3333", "0.5000"],
      ["10.244.0.12:8080", "0.3333", "0.5000"],
    ]);
    expect(s.policies).toEqual([]);
    expect(s.chains.removed).toHaveLength(1);
    expect(s.chains.removed[0]).toMatch(/^nat\/KUBE-SEP-/);
    expect(s.chains.rewritten).toEqual(["nat/KUBE-SVC-CDGGSHYLG3RE2FKL"]);
    expect(d.chains.removed).toEqual(s.chains.removed);
  });

  it("Services added and removed, an external IP added, affinity and source ranges changed", () => {
    const extra = service({
      name: "extra",
      clusterIP: "10.96.0.77",
      ports: [{ name: "dns", port: 53, protocol: "UDP" }],
    });
    const before = text(input());
    const after = text(
      input(
        [
          web({ externalIPs: ["192.168.99.10", "192.168.99.20"], sourceRanges: ["10.0.0.0/8"] }),
          sticky(),
          local,
          extra,
        ],
        [webSlice(["10.244.0.11", "10.244.0.12", "10.244.0.13"]), stickySlice, localSlice],
      ),
    );
    const d = diffRulesets(before, after);
    const by = new Map(d.services.map((s) => [s.servicePort, s]));
    expect([...by.keys()]).toEqual(["default/empty", "default/extra:dns", "default/sticky", "default/web:http"]);
    expect(defined(by.get("default/empty")).change).toBe("removed");
    expect(defined(by.get("default/empty")).vips.removed).toEqual(["10.96.0.30:80/tcp", "nodePort 30090/tcp"]);
    const extraDiff = defined(by.get("default/extra:dns"));
    expect(extraDiff.change).toBe("added");
    expect(extraDiff.vips.added).toEqual(["10.96.0.77:53/udp"]);
    expect(extraDiff.policies).toEqual([{ policy: "noEndpoints", before: undefined, after: "REJECT" }]);
    expect(defined(by.get("default/sticky")).policies).toEqual([
      { policy: "affinitySeconds", before: "600", after: undefined },
    ]);
    const w = defined(by.get("default/web:http"));
    expect(w.vips).toEqual({ added: ["192.168.99.20:80/tcp"], removed: [] });
    // the load-balancer IP itself is admitted only while a range holds the node IP (kube-proxy's allowFromNode)
    expect(w.policies).toEqual([
      { policy: "sourceRanges", before: "192.168.77.0/24,203.0.113.10", after: "10.0.0.0/8" },
    ]);
    expect(w.chains.rewritten).toEqual(["nat/KUBE-FW-CDGGSHYLG3RE2FKL"]);
  });

  it("policy changes: masquerade all, external traffic policy Local, scaled to zero", () => {
    const base = input();
    const masqAll = diffRulesets(
      text(base),
      text({ ...base, config: { ...base.config, iptables: { masqueradeAll: true } } }),
    );
    for (const s of masqAll.services)
      expect(s.policies.find((p) => p.policy === "masquerade")).toEqual({
        policy: "masquerade",
        before: "sources outside 10.244.0.0/16",
        after: "all",
      });
    const localWeb = diffRulesets(
      text(base),
      text(input([web({ eTP: "Local", healthCheckNodePort: 32001 }), sticky(600), local, empty])),
    );
    const w = defined(localWeb.services.find((s) => s.servicePort === "default/web:http"));
    expect(w.policies).toEqual([
      { policy: "externalMasquerade", before: "all", after: "node-local sources" },
      { policy: "externalTrafficPolicy", before: "Cluster", after: "Local" },
      { policy: "healthCheckNodePort", before: undefined, after: "32001" },
    ]);
    // every endpoint is on this node: the local chain gets them all, a third each
    expect(w.endpoints.added.map((e) => [e.endpoint, e.scope, e.probability.toFixed(4)])).toEqual([
      ["10.244.0.11:8080", "local", "0.3333"],
      ["10.244.0.12:8080", "local", "0.3333"],
      ["10.244.0.13:8080", "local", "0.3333"],
    ]);
    expect(w.chains.added).toEqual([expect.stringMatching(/^nat\/KUBE-SVL-/)]);
    const zero = diffRulesets(text(base), text(input(undefined, [stickySlice, localSlice])));
    const z = defined(zero.services.find((s) => s.servicePort === "default/web:http"));
    expect(z.endpoints.removed).toHaveLength(3);
    expect(z.policies.find((p) => p.policy === "noEndpoints")).toEqual({
      policy: "noEndpoints",
      before: undefined,
      after: "REJECT",
    });
    expect(z.vips.removed).toEqual([]); // the REJECT rules answer on the same addresses
  });

  it("servicePortRules reads one ruleset alone", () => {
    const v = servicePortRules(text(input()));
    expect(v.get("default/sticky")).toMatchObject({
      vips: ["10.96.0.40:80/tcp"],
      policies: {
        internalTrafficPolicy: "Cluster",
        affinitySeconds: "600",
        masquerade: "sources outside 10.244.0.0/16",
      },
    });
    expect(defined(v.get("default/local")).policies).toMatchObject({
      externalTrafficPolicy: "Local",
      noLocalEndpoints: "DROP",
      healthCheckNodePort: "32000",
    });
  });
});
