// End to end on the real kernel, nftables mode: compile, load with `nft -f` into the namespace
// topology of the iptables kernel tests (a node, pods behind a bridge with hairpin, an external
// client) and send real TCP/UDP traffic, IPv4 and IPv6. Then a partial-sync transaction applied
// while traffic flows. Required in CI (CI=true); skipped with a reason elsewhere.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NftablesCompilation, ProxyInput } from "../src/index.js";
import { defined } from "./support/defined.js";
import { E2E_NODE, errorKinds, kernelServices, kernelSlices, webSlice } from "./support/kernel-scenario.js";
import {
  BRIDGE_IP,
  BRIDGE_IP6,
  byPod,
  CLIENT_IP,
  CLIENT_IP6,
  chiSquareUniform,
  NODE_IP,
  NODE_IP6,
  nftKernelTestBlocker,
  POD_IPS,
  Topology,
} from "./support/netns.js";
import { NftDriver } from "./support/nftables-driver.js";

const blocker = nftKernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required) console.warn(`nftables kernel e2e tests skipped: ${blocker}`);

const NODE = E2E_NODE;
const CHI2_2DF = 13.82; // chi-square critical value, 2 degrees of freedom, p = 0.001
const [pod1, pod2, pod3] = POD_IPS;
const services = kernelServices({ dualStackWeb: true, draining: true });
const slices = kernelSlices({ dualStackWeb: true, draining: true });

const input = (svcs = services, eps = slices): ProxyInput => ({
  services: svcs,
  endpointSlices: eps,
  node: { name: NODE, addresses: [NODE_IP, NODE_IP6] },
  config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
});
const options = { serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"] };

describe.skipIf(!!blocker && !required)("kernel: nftables transactions loaded with nft -f carry real traffic", () => {
  const topo = new Topology();
  const driver = new NftDriver(options);
  const nft = (text: string, check = false) => {
    if (text !== "") topo.exec(topo.node, ["nft", ...(check ? ["-c"] : []), "-f", "-"], text);
  };
  const load = (c: NftablesCompilation) => {
    for (const r of c.results) {
      nft(r.cleanupText);
      nft(r.text);
    }
  };

  beforeAll(async () => {
    if (blocker) throw new Error(`nftables kernel e2e tests are required in CI but cannot run: ${blocker}`);
    await topo.create();
    const first = driver.sync(input());
    expect(first.results.map((r) => r.family)).toEqual(["IPv4", "IPv6"]);
    for (const r of first.results) nft(r.text, true);
    load(first);
    driver.applied();
  });
  afterAll(() => topo.destroy());

  it("the tables are kube-proxy's: ip and ip6 kube-proxy with the base chains at kube-proxy's hooks", () => {
    const v4 = topo.exec(topo.node, ["nft", "list", "table", "ip", "kube-proxy"]);
    expect(v4).toContain("type nat hook prerouting priority dstnat; policy accept;");
    expect(v4).toContain("type filter hook prerouting priority dstnat - 10; policy accept;");
    expect(v4).toMatch(/numgen random mod 3 vmap/);
    const v6 = topo.exec(topo.node, ["nft", "list", "table", "ip6", "kube-proxy"]);
    expect(v6).toContain("fd00:96::10 . tcp . 80");
  });

  it("ClusterIP from the node splits evenly over the endpoints (300 samples, chi-square)", async () => {
    const counts = await topo.probe(topo.node, "10.96.0.10", 80, 300);
    expect(errorKinds(counts)).toBe(0);
    const pods = byPod(counts);
    expect(Object.keys(pods).sort()).toEqual(["pod1", "pod2", "pod3"]);
    expect(chiSquareUniform(pods, ["pod1", "pod2", "pod3"])).toBeLessThan(CHI2_2DF);
  });

  it("ClusterIP from a pod reaches every endpoint, itself through the hairpin (masqueraded)", async () => {
    const counts = await topo.probe(defined(topo.pods[0]), "10.96.0.10", 80, 60);
    expect(errorKinds(counts)).toBe(0);
    expect(counts[`pod1 ${BRIDGE_IP}`]).toBeGreaterThan(0);
    expect(counts[`pod2 ${pod1}`]).toBeGreaterThan(0);
    expect(counts[`pod3 ${pod1}`]).toBeGreaterThan(0);
  });

  it("UDP ClusterIP answers from every endpoint", async () => {
    const counts = await topo.probe(defined(topo.pods[1]), "10.96.0.11", 53, 60, { udp: true });
    expect(errorKinds(counts)).toBe(0);
    expect(Object.keys(byPod(counts)).sort()).toEqual(["pod1", "pod2", "pod3"]);
  });

  it("NodePort, ExternalIP and LoadBalancer IP work from outside, masqueraded (eTP Cluster)", async () => {
    for (const [host, port] of [
      [NODE_IP, 30080],
      ["192.168.99.10", 80],
      ["203.0.113.10", 80],
    ] as const) {
      const counts = await topo.probe(topo.client, host, port, 30);
      expect(errorKinds(counts), `${host}:${port}`).toBe(0);
      expect(
        Object.keys(counts).every((k) => k.endsWith(` ${BRIDGE_IP}`)),
        `${host}:${port}`,
      ).toBe(true);
    }
  });

  it("no endpoints: REJECT; another port of a ClusterIP: REJECT; an unallocated ClusterIP: DROP", async () => {
    expect(await topo.probe(topo.node, "10.96.0.30", 80, 3)).toEqual({ refused: 3 });
    expect(await topo.probe(defined(topo.pods[0]), "10.96.0.30", 80, 2)).toEqual({ refused: 2 });
    expect(await topo.probe(topo.client, NODE_IP, 30090, 3)).toEqual({ refused: 3 });
    expect(await topo.probe(defined(topo.pods[0]), "10.96.0.10", 81, 2)).toEqual({ refused: 2 });
    expect(await topo.probe(defined(topo.pods[0]), "10.96.0.99", 80, 1, { timeoutMs: 400 })).toEqual({ timeout: 1 });
  });

  it("externalTrafficPolicy Local without local endpoints DROPs external traffic, pods still get through", async () => {
    expect(await topo.probe(topo.client, NODE_IP, 30100, 2, { timeoutMs: 700 })).toEqual({ timeout: 2 });
    expect(await topo.probe(topo.client, "203.0.113.20", 80, 2, { timeoutMs: 700 })).toEqual({ timeout: 2 });
    expect(byPod(await topo.probe(defined(topo.pods[0]), "10.96.0.50", 80, 5))).toEqual({ pod2: 5 });
    // pod traffic to the LB VIP is short-circuited to the cluster endpoints
    expect(byPod(await topo.probe(defined(topo.pods[0]), "203.0.113.20", 80, 5))).toEqual({ pod2: 5 });
  });

  it("externalTrafficPolicy Local with a local endpoint keeps the client's source address", async () => {
    expect(await topo.probe(topo.client, NODE_IP, 30101, 20)).toEqual({ [`pod3 ${CLIENT_IP}`]: 20 });
  });

  it("ClientIP session affinity keeps each source on one endpoint", async () => {
    for (const ns of [topo.node, topo.client, ...topo.pods]) {
      const pods = byPod(await topo.probe(ns, "10.96.0.40", 80, 25));
      expect(Object.keys(pods), ns).toHaveLength(1);
      expect(Object.values(pods)[0], ns).toBe(25);
    }
  });

  it("loadBalancerSourceRanges admit listed sources and drop others", async () => {
    expect(byPod(await topo.probe(topo.client, "203.0.113.30", 80, 5))).toEqual({ pod1: 5 });
    expect(await topo.probe(topo.client, "203.0.113.31", 80, 2, { timeoutMs: 700 })).toEqual({ timeout: 2 });
  });

  it("only terminating endpoints: traffic goes to the serving one (terminating fallback)", async () => {
    expect(byPod(await topo.probe(defined(topo.pods[2]), "10.96.0.70", 80, 10))).toEqual({ pod2: 10 });
  });

  it("IPv6: ClusterIP over both IPv6 endpoints, NodePort from outside masqueraded", async () => {
    const counts = await topo.probe(defined(topo.pods[2]), "fd00:96::10", 80, 60);
    expect(errorKinds(counts)).toBe(0);
    expect(Object.keys(byPod(counts)).sort()).toEqual(["pod1", "pod2"]);
    const np = await topo.probe(topo.client, NODE_IP6, 30080, 20);
    expect(errorKinds(np)).toBe(0);
    expect(Object.keys(np).every((k) => k.endsWith(` ${BRIDGE_IP6}`))).toBe(true);
    expect(CLIENT_IP6).toBeTruthy();
  });

  it("a partial-sync transaction applied while traffic flows fails no connection", async () => {
    const next = [...slices];
    next[0] = webSlice([pod1, pod2]);
    const second = driver.sync(input(services, next));
    const v4 = defined(second.ipv4);
    expect(v4.partial).toBe(true);
    expect(v4.stats.rewrittenServices).toBe(1);
    expect(defined(second.ipv6).text).toBe(""); // nothing changed in IPv6
    let finished = false;
    const background = topo.probe(topo.client, NODE_IP, 30080, 1500).finally(() => {
      finished = true;
    });
    await new Promise((r) => setTimeout(r, 250));
    load(second);
    driver.applied();
    expect(finished).toBe(false); // the update landed while the client was still connecting
    const during = await background;
    expect(errorKinds(during)).toBe(0);
    expect(byPod(during).pod3).toBeGreaterThan(0); // before the update
    const after = byPod(await topo.probe(topo.node, "10.96.0.10", 80, 200));
    expect(Object.keys(after).sort()).toEqual(["pod1", "pod2"]);
    expect(chiSquareUniform(after, ["pod1", "pod2"])).toBeLessThan(10.83); // 1 dof, p = 0.001
    // the old endpoint chain is flushed now and deleted by the cleanup transaction after the grace
    const listChains = () => topo.exec(topo.node, ["nft", "list", "table", "ip", "kube-proxy"]);
    expect(listChains()).toContain(`default/web/tcp/http__${pod3}/8080`);
    driver.ageStaleChains();
    const third = driver.sync(input(services, next));
    expect(defined(third.ipv4).cleanupText).toContain(`__${pod3}/8080`);
    load(third);
    driver.applied();
    expect(listChains()).not.toContain(`default/web/tcp/http__${pod3}/8080`);
    expect(byPod(await topo.probe(topo.client, "203.0.113.30", 80, 3))).toEqual({ pod1: 3 });
  });
});
