// End to end on the real kernel: compile, load with iptables-restore into a namespace topology
// (a node, pods behind a bridge with hairpin, an external client) and send real TCP/UDP traffic.
// Required in CI (CI=true); skipped with a reason elsewhere when not root or tools are missing.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canaryFlushed, createProxier, type IptablesCompilation, type ProxyInput, renderCanary } from "../src/index.js";
import { defined } from "./support/defined.js";
import { E2E_NODE, errorKinds, kernelServices, kernelSlices, webService, webSlice } from "./support/kernel-scenario.js";
import {
  BRIDGE_IP,
  byPod,
  CLIENT_IP,
  chiSquareUniform,
  kernelTestBlocker,
  NODE_IP,
  POD_IPS,
  Topology,
} from "./support/netns.js";

const blocker = kernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required)
  console.warn(`kernel e2e tests skipped: ${blocker} (they run as root with iproute2 and iptables)`);

const NODE = E2E_NODE;
// chi-square critical value, 2 degrees of freedom, p = 0.001
const CHI2_2DF = 13.82;

const [pod1, pod2, pod3] = POD_IPS;
const services = kernelServices();
const slices = kernelSlices();

const input = (svcs = services, eps = slices): ProxyInput => ({
  services: svcs,
  endpointSlices: eps,
  node: { name: NODE, addresses: [NODE_IP] },
  config: { clusterCIDR: "10.244.0.0/16" },
  host: { nfacct: false },
});

describe.skipIf(!!blocker && !required)("kernel: rules loaded with iptables-restore carry real traffic", () => {
  const topo = new Topology();
  let first: IptablesCompilation;
  /** The proxier of the tests that sync in turn: each payload is restored, then acknowledged. */
  const proxier = createProxier({ mode: "iptables" });
  /** The compilation last loaded by the tests that sync in turn. */
  let last: IptablesCompilation;

  beforeAll(async () => {
    if (blocker) throw new Error(`kernel e2e tests are required in CI but cannot run: ${blocker}`);
    await topo.create();
    first = proxier.sync(input());
    const v4 = defined(first.ipv4);
    topo.restore(v4.text, "IPv4", ["--test"]);
    // a fresh host: the whole payload without --noflush (fast with iptables-nft), then the jumps
    topo.exec(topo.node, ["iptables-restore"], v4.text);
    topo.restore(v4.jumpsText);
    proxier.applied();
  });
  afterAll(() => topo.destroy());

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

  it("NodePort on 127.0.0.1 works from the node (localhost NodePorts)", async () => {
    const counts = await topo.probe(topo.node, "127.0.0.1", 30080, 10);
    expect(errorKinds(counts)).toBe(0);
  });

  it("a Service without endpoints is REJECTed (refused), an unknown IP is not", async () => {
    expect(await topo.probe(topo.node, "10.96.0.30", 80, 3)).toEqual({ refused: 3 });
    expect(await topo.probe(defined(topo.pods[0]), "10.96.0.30", 80, 2)).toEqual({ refused: 2 });
    expect(await topo.probe(topo.client, NODE_IP, 30090, 3)).toEqual({ refused: 3 });
    expect(await topo.probe(topo.node, "10.96.0.99", 80, 1, { timeoutMs: 300 })).toEqual({ timeout: 1 });
  });

  it("externalTrafficPolicy Local without local endpoints DROPs external traffic, pods still get through", async () => {
    expect(await topo.probe(topo.client, NODE_IP, 30100, 2, { timeoutMs: 700 })).toEqual({ timeout: 2 });
    expect(await topo.probe(topo.client, "203.0.113.20", 80, 2, { timeoutMs: 700 })).toEqual({ timeout: 2 });
    expect(byPod(await topo.probe(defined(topo.pods[0]), "10.96.0.50", 80, 5))).toEqual({ pod2: 5 });
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

  it("a partial sync applied with --noflush while traffic flows moves new connections only", async () => {
    const second = proxier.sync(
      input([...services.slice(1), webService()], [webSlice([pod1, pod2]), ...slices.slice(1)]),
    );
    const v4 = defined(second.ipv4);
    expect(v4.partial).toBe(true);
    expect(v4.stats.rewrittenServices).toBe(1);
    expect(v4.tables.nat.deletedChains).toHaveLength(1);
    let finished = false;
    const background = topo.probe(topo.client, NODE_IP, 30080, 1500).finally(() => {
      finished = true;
    });
    await new Promise((r) => setTimeout(r, 250));
    topo.restore(v4.text);
    proxier.applied();
    expect(finished).toBe(false); // the update landed while the client was still connecting
    const during = await background;
    expect(errorKinds(during)).toBe(0);
    expect(byPod(during).pod3).toBeGreaterThan(0); // before the update
    const after = byPod(await topo.probe(topo.node, "10.96.0.10", 80, 200));
    expect(Object.keys(after).sort()).toEqual(["pod1", "pod2"]);
    expect(chiSquareUniform(after, ["pod1", "pod2"])).toBeLessThan(10.83); // 1 dof, p = 0.001
    // the other services were not rewritten and still work
    expect(byPod(await topo.probe(topo.client, "203.0.113.30", 80, 3))).toEqual({ pod1: 3 });
    const saved = topo.exec(topo.node, ["iptables-save", "-t", "nat"]);
    expect(saved).not.toContain(`default/web:http -> ${pod3}:8080`);
    expect(saved).not.toContain(`--comment default/web:http -m tcp -j DNAT --to-destination ${pod3}:8080`);
    expect(saved).toContain(`--comment "default/sticky -> ${pod3}:8080"`);
  });

  it("the canary tells an outside flush, and a full sync with the jumps and canary restores service", async () => {
    topo.restore(renderCanary());
    expect(canaryFlushed(topo.exec(topo.node, ["iptables-save"]))).toBe(false);
    // what a firewall reload does: every table flushed, user chains deleted
    topo.exec(topo.node, ["iptables-restore"], "*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n");
    expect(canaryFlushed(topo.exec(topo.node, ["iptables-save"]))).toBe(true);
    expect(await topo.probe(topo.node, "10.96.0.10", 80, 2, { timeoutMs: 500 })).not.toHaveProperty("pod1");
    const resynced = proxier.sync(input(), { fullSync: true });
    const resync = defined(resynced.ipv4);
    expect(resync.partial).toBe(false);
    topo.restore(resync.text);
    proxier.applied();
    topo.restore(resync.jumpsText);
    topo.restore(renderCanary());
    expect(canaryFlushed(topo.exec(topo.node, ["iptables-save"]))).toBe(false);
    const counts = await topo.probe(topo.node, "10.96.0.10", 80, 30);
    expect(errorKinds(counts)).toBe(0);
    last = proxier.sync(input());
    topo.restore(defined(last.ipv4).text);
    proxier.applied();
  });

  it("a sync that throws changes nothing: the retry removes a deleted Service's chains and DNAT rules", async () => {
    // the Service "sticky" and the chains it has in the kernel now
    const natChains = () =>
      topo
        .exec(topo.node, ["iptables-save", "-t", "nat"])
        .split("\n")
        .filter((l) => l.startsWith(":KUBE-"))
        .map((l) => l.slice(1, l.indexOf(" ")));
    const stickyChains = topo
      .exec(topo.node, ["iptables-save", "-t", "nat"])
      .split("\n")
      .filter((l) => /^-A KUBE-(SVC|SEP)-/.test(l) && l.includes("default/sticky"))
      .map((l) => defined(l.split(" ")[1]));
    expect(stickyChains.length).toBeGreaterThan(3); // its service chain and three endpoint chains
    expect(byPod(await topo.probe(topo.node, "10.96.0.40", 80, 3))).not.toEqual({});
    // an informer replaces sticky with a broken object (same position): the compilation throws
    const at = services.findIndex((s) => s.metadata?.name === "sticky");
    const broken = services.slice();
    broken[at] = { metadata: { namespace: "default", name: "sticky" }, spec: { clusterIP: "10.96.0.400" } };
    expect(() => proxier.sync(input(broken))).toThrow(/sticky/);
    // then sticky is deleted; the next sync is loaded
    const gone = input(
      services.filter((s) => s.metadata?.name !== "sticky"),
      slices.filter((s) => s.metadata?.labels?.["kubernetes.io/service-name"] !== "sticky"),
    );
    const retry = defined(proxier.sync(gone).ipv4);
    topo.restore(retry.text);
    proxier.applied();
    const saved = topo.exec(topo.node, ["iptables-save", "-t", "nat"]);
    expect(saved).not.toContain("default/sticky");
    expect(saved).not.toMatch(/sticky.*-j DNAT/); // (its endpoints' DNAT rules)
    for (const pod of [pod1, pod2, pod3]) expect(saved).toContain(`--to-destination ${pod}:8080`); // the others'

    const left = natChains();
    for (const chain of stickyChains) expect(left).not.toContain(chain);
    expect(await topo.probe(topo.node, "10.96.0.40", 80, 1, { timeoutMs: 300 })).toEqual({ timeout: 1 });
    expect(errorKinds(await topo.probe(topo.node, "10.96.0.10", 80, 10))).toBe(0);
  });
});
