// explainPacket checked against the kernel, nftables mode: the traffic cases of
// nftables-kernel.e2e.test.ts (the shared scenario of test/support/kernel-scenario.ts, the topology
// of test/support/netns.ts), explained from the node's own `nft list ruleset`. The transaction is
// loaded as compiled except that every rule gets a `counter` (before its first statement) and every
// verdict map the `counter` flag (one counter per element): a rule "matched" when its counter grew,
// a map lookup when one of the map's element counters grew. For every case the prediction must
// equal what the traffic showed (endpoints reached, masquerading seen by the pod, refused, dropped),
// and the rules it says the first packet matches must be rules whose counters grew; every rule
// whose counter grew must be one a packet of the flow matches (the first, the connection's later
// packets, the replies: each also explained). Required in CI (CI=true); skipped with a reason
// elsewhere.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffRulesets } from "../src/diff/index.js";
import { compileNftables, type NftablesCompilation, type ProxyInput } from "../src/index.js";
import {
  explainPacket,
  type NftablesRuleset,
  type PacketExplanation,
  type PacketSpec,
  parseNftablesRuleset,
} from "../src/trace/index.js";
import { E2E_NODE, kernelServices, kernelSlices, webSlice } from "./support/kernel-scenario.js";
import {
  BRIDGE_IP,
  BRIDGE_IP6,
  CLIENT_IP,
  CLIENT_IP6,
  NODE_IP,
  NODE_IP6,
  nftKernelTestBlocker,
  POD_IP6S,
  POD_IPS,
  type ProbeCounts,
  Topology,
} from "./support/netns.js";
import { NftDriver } from "./support/nftables-driver.js";

const blocker = nftKernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required) console.warn(`nftables explainPacket kernel e2e tests skipped: ${blocker}`);

const [pod1, pod2, pod3] = POD_IPS;
const services = kernelServices({ dualStackWeb: true, draining: true });
const slices = kernelSlices({ dualStackWeb: true, draining: true });
// the input of nftables-kernel.e2e.test.ts
const input = (eps = slices, svcs = services): ProxyInput => ({
  services: svcs,
  endpointSlices: eps,
  node: { name: E2E_NODE, addresses: [NODE_IP, NODE_IP6] },
  config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
});
const options = { serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"] };

// statements kube-proxy's rules use; the counter goes before the first one (after the matches)
const STATEMENTS = new Set([
  "jump",
  "goto",
  "drop",
  "reject",
  "return",
  "accept",
  "dnat",
  "snat",
  "masquerade",
  "update",
  "comment",
]);

/** A rule with `counter` after its matches; verdict-map lookups unchanged (their elements count). */
function countedRule(rule: string): string {
  const tokens = rule.match(/"[^"]*"|\S+/g) ?? [];
  let depth = 0;
  for (const [i, t] of tokens.entries()) {
    if (depth === 0) {
      if (t === "vmap" && tokens[i + 1]?.startsWith("@")) return rule;
      if (t === "numgen" && i === 0) return `counter ${rule}`;
      const setStmt = (t === "mark" && tokens[i + 1] === "set") || (t === "meta" && tokens[i + 2] === "set");
      if (STATEMENTS.has(t) || setStmt) return [...tokens.slice(0, i), "counter", ...tokens.slice(i)].join(" ");
    }
    if (t === "{") depth++;
    else if (t === "}") depth--;
  }
  return `${rule} counter`;
}

/** The transaction with counters: `counter` in every rule, the `counter` flag on every verdict map. */
function withCounters(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const rule = /^(add rule \S+ \S+ \S+ )(.*)$/.exec(line);
      if (rule) return `${rule[1]}${countedRule(rule[2] ?? "")}`;
      const map = /^(add map \S+ \S+ \S+ \{ type [^;]*: verdict ;)(.*)$/.exec(line);
      if (map) return `${map[1]} counter ;${map[2]}`;
      return line;
    })
    .join("\n");
}

interface Case {
  name: string;
  family: 4 | 6;
  /** The namespace the probes start in: the node, the client, or a pod 1–3. */
  ns: "node" | "client" | 1 | 2 | 3;
  dst: string;
  port: number;
  n: number;
  udp?: boolean;
  timeoutMs?: number;
}

// every traffic case of nftables-kernel.e2e.test.ts
const cases: Case[] = [
  { name: "ClusterIP from the node", family: 4, ns: "node", dst: "10.96.0.10", port: 80, n: 60 },
  { name: "ClusterIP from a pod (itself through the hairpin)", family: 4, ns: 1, dst: "10.96.0.10", port: 80, n: 60 },
  { name: "UDP ClusterIP from a pod", family: 4, ns: 2, dst: "10.96.0.11", port: 53, n: 60, udp: true },
  { name: "NodePort from outside", family: 4, ns: "client", dst: NODE_IP, port: 30080, n: 30 },
  { name: "ExternalIP from outside", family: 4, ns: "client", dst: "192.168.99.10", port: 80, n: 30 },
  { name: "LoadBalancer IP from outside", family: 4, ns: "client", dst: "203.0.113.10", port: 80, n: 30 },
  { name: "no endpoints, from the node", family: 4, ns: "node", dst: "10.96.0.30", port: 80, n: 3 },
  { name: "no endpoints, from a pod", family: 4, ns: 1, dst: "10.96.0.30", port: 80, n: 2 },
  { name: "no endpoints, NodePort from outside", family: 4, ns: "client", dst: NODE_IP, port: 30090, n: 3 },
  { name: "another port of a ClusterIP (REJECT)", family: 4, ns: 1, dst: "10.96.0.10", port: 81, n: 2 },
  { name: "an unallocated ClusterIP (DROP)", family: 4, ns: 1, dst: "10.96.0.99", port: 80, n: 1, timeoutMs: 400 },
  {
    name: "eTP Local without local endpoints: NodePort",
    family: 4,
    ns: "client",
    dst: NODE_IP,
    port: 30100,
    n: 2,
    timeoutMs: 700,
  },
  {
    name: "eTP Local without local endpoints: LB IP",
    family: 4,
    ns: "client",
    dst: "203.0.113.20",
    port: 80,
    n: 2,
    timeoutMs: 700,
  },
  {
    name: "eTP Local without local endpoints: pods still get through",
    family: 4,
    ns: 1,
    dst: "10.96.0.50",
    port: 80,
    n: 5,
  },
  {
    name: "eTP Local without local endpoints: a pod's traffic to the LB IP is short-circuited",
    family: 4,
    ns: 1,
    dst: "203.0.113.20",
    port: 80,
    n: 5,
  },
  {
    name: "eTP Local with a local endpoint keeps the client's address",
    family: 4,
    ns: "client",
    dst: NODE_IP,
    port: 30101,
    n: 20,
  },
  { name: "ClientIP affinity from the node", family: 4, ns: "node", dst: "10.96.0.40", port: 80, n: 25 },
  { name: "ClientIP affinity from outside", family: 4, ns: "client", dst: "10.96.0.40", port: 80, n: 25 },
  { name: "ClientIP affinity from pod1", family: 4, ns: 1, dst: "10.96.0.40", port: 80, n: 25 },
  { name: "ClientIP affinity from pod2", family: 4, ns: 2, dst: "10.96.0.40", port: 80, n: 25 },
  { name: "ClientIP affinity from pod3", family: 4, ns: 3, dst: "10.96.0.40", port: 80, n: 25 },
  { name: "loadBalancerSourceRanges: listed source", family: 4, ns: "client", dst: "203.0.113.30", port: 80, n: 5 },
  {
    name: "loadBalancerSourceRanges: unlisted source",
    family: 4,
    ns: "client",
    dst: "203.0.113.31",
    port: 80,
    n: 2,
    timeoutMs: 700,
  },
  { name: "only terminating endpoints: the serving one", family: 4, ns: 3, dst: "10.96.0.70", port: 80, n: 10 },
  { name: "IPv6 ClusterIP from a pod", family: 6, ns: 3, dst: "fd00:96::10", port: 80, n: 60 },
  { name: "IPv6 NodePort from outside", family: 6, ns: "client", dst: NODE_IP6, port: 30080, n: 20 },
];

const podOf = new Map<string, string>([
  ...POD_IPS.map((ip, i) => [ip, `pod${i + 1}`] as const),
  ...POD_IP6S.map((ip, i) => [ip, `pod${i + 1}`] as const),
]);

/** Where the probe's packet enters, as explainPacket takes it. */
function packetOf(c: Case): PacketSpec {
  const v4 = c.family === 4;
  const base = { destination: c.dst, port: c.port, protocol: c.udp ? "udp" : "tcp" };
  if (c.ns === "node") return { ...base, from: "node", source: v4 ? NODE_IP : NODE_IP6 };
  if (c.ns === "client") return { ...base, from: "outside", source: v4 ? CLIENT_IP : CLIENT_IP6, inInterface: "ext0" };
  const source = (v4 ? POD_IPS : POD_IP6S)[c.ns - 1];
  if (source === undefined) throw new Error(`no pod ${c.ns}`);
  return { ...base, from: "pod", source, inInterface: "cbr0", bridgePort: `vethp${c.ns}` };
}

const ruleKey = (table: string, chain: string, position: number) => `${table}/${chain}#${position}`;

function rulesOf(
  e: Pick<PacketExplanation, "outcomes">,
  only?: (o: PacketExplanation["outcomes"][number]) => boolean,
): Set<string> {
  const s = new Set<string>();
  for (const o of e.outcomes) {
    if (only && !only(o)) continue;
    for (const st of o.path) if (st.kind === "rule") s.add(ruleKey(st.table, st.chain, st.position));
  }
  return s;
}

interface NftJsonObject {
  rule?: { family: string; table: string; chain: string; expr: Record<string, unknown>[] };
  map?: { family: string; table: string; name: string; elem?: unknown[] };
}

/** The sum of the `counter.packets` found anywhere in a JSON value. */
function packetsIn(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + packetsIn(x), 0);
  if (typeof v !== "object" || v === null) return 0;
  let s = 0;
  for (const [k, x] of Object.entries(v)) {
    if (
      k === "counter" &&
      typeof x === "object" &&
      x !== null &&
      typeof (x as { packets?: unknown }).packets === "number"
    )
      s += (x as { packets: number }).packets;
    else s += packetsIn(x);
  }
  return s;
}

describe.skipIf(!!blocker && !required)("kernel: explainPacket predicts nftables traffic and the rule counters", () => {
  const topo = new Topology();
  const tmp = mkdtempSync(join(tmpdir(), "nft-explain-e2e-"));
  const nft = (text: string) => {
    if (text !== "") topo.exec(topo.node, ["nft", "-f", "-"], text);
  };
  const load = (c: NftablesCompilation) => {
    for (const r of c.results) {
      nft(withCounters(r.cleanupText));
      nft(withCounters(r.text));
    }
  };
  /**
   * Packets per rule (`ip kube-proxy/chain#position`): a rule's own counter, or for a verdict-map
   * lookup the sum of the map's element counters.
   */
  const counters = () => {
    const json = JSON.parse(topo.exec(topo.node, ["nft", "-j", "list", "ruleset"])) as { nftables: NftJsonObject[] };
    const positions = new Map<string, number>();
    const maps = new Map<string, number>();
    const lookups: [string, string][] = [];
    const m = new Map<string, number>();
    for (const o of json.nftables) {
      if (o.map) maps.set(`${o.map.family} ${o.map.table} @${o.map.name}`, packetsIn(o.map.elem ?? []));
      if (!o.rule) continue;
      const r = o.rule;
      const chain = `${r.family} ${r.table}/${r.chain}`;
      const position = (positions.get(chain) ?? 0) + 1;
      positions.set(chain, position);
      const key = `${chain}#${position}`;
      const vmap = r.expr.find((x) => "vmap" in x)?.vmap as { data?: unknown } | undefined;
      if (typeof vmap?.data === "string") lookups.push([key, `${r.family} ${r.table} ${vmap.data}`]);
      else m.set(key, packetsIn(r.expr));
    }
    for (const [key, map] of lookups) m.set(key, maps.get(map) ?? 0);
    return m;
  };
  const dump = () => topo.exec(topo.node, ["nft", "list", "ruleset"]);
  let rules: NftablesRuleset | undefined;
  let compiled: NftablesCompilation | undefined;
  const local = [NODE_IP, BRIDGE_IP, NODE_IP6, BRIDGE_IP6];

  /** Waits until no counter moves for two seconds (the namespaces' own start-up traffic). */
  const quiet = async () => {
    const still = (a: Map<string, number>, b: Map<string, number>) => [...a].every(([k, v]) => b.get(k) === v);
    let last = counters();
    for (let calm = 0, waited = 0; calm < 4 && waited < 60; waited++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = counters();
      calm = still(last, now) ? calm + 1 : 0;
      last = now;
    }
  };

  beforeAll(async () => {
    if (blocker) throw new Error(`nftables kernel e2e tests are required in CI but cannot run: ${blocker}`);
    await topo.create();
    compiled = compileNftables(input(), options);
    load(compiled);
    await quiet();
    rules = parseNftablesRuleset({ name: "nft list ruleset", text: dump() });
  });
  afterAll(() => {
    topo.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the node's ruleset equals the compiled transaction (diffRulesets, counters aside)", () => {
    for (const r of compiled?.results ?? []) {
      const table = `table ${r.family === "IPv4" ? "ip" : "ip6"} kube-proxy`;
      const listed = topo.exec(topo.node, ["nft", "list", ...table.split(" ")]);
      expect(diffRulesets(r.text, listed).identical, table).toBe(true);
    }
  });

  for (const c of cases)
    it(c.name, async () => {
      if (!rules) throw new Error("the ruleset was not read");
      await checkCase(c, rules);
    });

  /** Probes once, then checks the explanation against the replies and the counters. */
  async function checkCase(c: Case, rs: NftablesRuleset): Promise<PacketExplanation> {
    const packet = packetOf(c);
    const e = explainPacket(rs, packet, { localAddresses: local });
    expect(e.unknown).toBeUndefined();
    const ns = c.ns === "node" ? topo.node : c.ns === "client" ? topo.client : topo.pods[c.ns - 1];
    if (ns === undefined) throw new Error(`no namespace for ${c.ns}`);
    const before = counters();
    const counts: ProbeCounts = await topo.probe(ns, c.dst, c.port, c.n, {
      ...(c.udp ? { udp: true } : {}),
      ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }),
    });
    const after = counters();
    const grown = new Set([...after].filter(([k, v]) => v > (before.get(k) ?? 0)).map(([k]) => k));

    // 1. the traffic is what the explanation says
    const replies = Object.entries(counts).filter(([k]) => k.startsWith("pod"));
    const others = Object.keys(counts).filter((k) => !k.startsWith("pod"));
    const masqSource = c.family === 4 ? BRIDGE_IP : BRIDGE_IP6;
    let firstOutcomes = e.outcomes;
    if (e.verdict === "dnat") {
      expect(others, JSON.stringify(counts)).toEqual([]);
      const predicted = new Map(e.endpoints.map((x) => [podOf.get(x.address), x]));
      const seenPods = new Set(replies.map(([k]) => k.split(" ")[0]));
      if (e.affinity) {
        // one source, one endpoint: the first connection's, then every other goes there too
        expect(seenPods.size).toBe(1);
        const pod = [...seenPods][0];
        expect(predicted.has(pod)).toBe(true);
        const next = e.affinity.next.find((n) => podOf.get(n.after.address) === pod);
        expect(next?.endpoints.map((x) => podOf.get(x.address))).toEqual([pod]);
        firstOutcomes = e.outcomes.filter((o) => o.endpoint && podOf.get(o.endpoint.address) === pod);
      } else expect([...seenPods].sort()).toEqual([...predicted.keys()].sort());
      for (const [key] of replies) {
        const [pod, seen] = key.split(" ");
        const masq = predicted.get(pod)?.masquerade;
        expect(seen === packet.source ? "kept" : seen === masqSource ? "masqueraded" : seen, key).toBe(
          masq ? "masqueraded" : "kept",
        );
      }
    } else if (e.verdict === "reject") {
      expect(replies).toEqual([]);
      // TCP over IPv4 sees the ICMP port-unreachable as a refused connection
      if (c.family === 4 && !c.udp) expect(counts).toEqual({ refused: c.n });
    } else {
      expect(["drop", "no-match"]).toContain(e.verdict);
      expect(counts).toEqual({ timeout: c.n });
    }

    // 2. the rules the first packet matches are rules whose counters grew
    const first = rulesOf({ outcomes: firstOutcomes });
    if (e.affinity)
      for (const n of e.affinity.next)
        if (firstOutcomes.some((o) => o.endpoint?.address === n.after.address))
          for (const k of rulesOf(n)) first.add(k);
    expect(first.size).toBeGreaterThan(0);
    for (const k of first) expect(grown, `${k} matched by the first packet but its counter did not grow`).toContain(k);

    // 3. every counter that grew belongs to a rule of the first packet, a later packet of the
    //    connection, or a reply (the REJECT's ICMP error is taken as a packet from the node)
    const allowed = new Set(first);
    for (const o of firstOutcomes) {
      const later = explainPacket(
        rs,
        {
          ...packet,
          destination: o.endpoint?.address ?? packet.destination,
          port: o.endpoint?.port ?? packet.port,
          state: "ESTABLISHED",
        },
        { localAddresses: local },
      );
      for (const k of rulesOf(later)) allowed.add(k);
      const back: PacketSpec | undefined =
        o.verdict === "dnat" && o.endpoint
          ? {
              from: "pod",
              source: o.endpoint.address,
              destination: packet.source,
              port: 40000,
              sourcePort: o.endpoint.port,
              protocol: packet.protocol,
              inInterface: "cbr0",
              bridgePort: `vethp${podOf.get(o.endpoint.address)?.slice(3)}`,
              state: "ESTABLISHED",
            }
          : o.verdict === "reject"
            ? {
                from: "node",
                source: packet.destination,
                destination: packet.source,
                port: 40000,
                protocol: packet.protocol,
                state: "RELATED",
              }
            : undefined;
      if (back) for (const k of rulesOf(explainPacket(rs, back, { localAddresses: local }))) allowed.add(k);
    }
    const unexplained = [...grown].filter((k) => !allowed.has(k));
    expect(unexplained, "counters grew for rules no packet of the flow matches").toEqual([]);
    return e;
  }

  it("nodekit-proxy explains a packet from the node's nft list ruleset and finds no difference with the compiled transaction", () => {
    const cli = new URL("../dist/cli/nodekit-proxy.js", import.meta.url).pathname;
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm test does)`);
    const listed = join(tmp, "node.nft");
    writeFileSync(listed, dump());
    const compiledFile = join(tmp, "compiled.nft");
    writeFileSync(compiledFile, (compiled?.results ?? []).map((r) => r.text).join(""));
    const explain = spawnSync(
      process.execPath,
      [
        cli,
        "explain",
        "--rules",
        listed,
        "--from",
        "outside",
        "--src",
        CLIENT_IP,
        "--dst",
        NODE_IP,
        "--port",
        "30101",
        "--local-ip",
        NODE_IP,
        "--in-interface",
        "ext0",
        "--json",
      ],
      { encoding: "utf8" },
    );
    expect(explain.status, explain.stderr).toBe(0);
    const j = JSON.parse(explain.stdout);
    expect([j.verdict, j.masquerade, j.endpoints.map((x: { address: string }) => x.address)]).toEqual([
      "dnat",
      false,
      [pod3],
    ]);
    // the listing has counters (rules and map elements) the compiled transaction has not
    const diff = spawnSync(process.execPath, [cli, "diff", compiledFile, listed], { encoding: "utf8" });
    expect([diff.status, diff.stdout]).toEqual([0, "no difference\n"]);
  });

  it("after partial syncs (an endpoint removed, its stale chain deleted, a Service deleted), each new ruleset is explained as the traffic goes", async () => {
    // nftables-kernel.e2e.test.ts' partial sync: a proxier's first sync, then web without pod3
    const driver = new NftDriver(options);
    load(driver.sync(input()));
    driver.applied();
    const next = [...slices];
    next[0] = webSlice([pod1, pod2]);
    const second = driver.sync(input(next));
    expect(second.ipv4?.partial).toBe(true);
    load(second);
    driver.applied();
    await quiet();
    const afterPartial = parseNftablesRuleset(dump());
    const e = await checkCase(
      { name: "after the partial sync", family: 4, ns: "node", dst: "10.96.0.10", port: 80, n: 60 },
      afterPartial,
    );
    expect(e.endpoints.map((x) => x.address)).toEqual([pod1, pod2]);
    expect(e.endpoints.map((x) => x.probability)).toEqual([0.5, 0.5]);
    // pod3's endpoint chain is still there, flushed, until the grace has passed
    const full = compileNftables(input(next), options);
    const stale = diffRulesets(full.results.map((r) => r.text).join(""), afterPartial);
    expect(stale.services).toEqual([]);
    expect(stale.chains.added).toEqual([
      expect.stringMatching(/^ip kube-proxy\/endpoint-[A-Z2-7]{8}-default\/web\/tcp\/http__10\.244\.0\.13\/8080$/),
    ]);

    driver.ageStaleChains();
    const third = driver.sync(input(next));
    expect(third.ipv4?.cleanupText).toContain(`__${pod3}/8080`);
    load(third);
    driver.applied();
    await quiet();
    const cleaned = parseNftablesRuleset(dump());
    // now the node's tables are what one full sync of the same objects writes
    expect(diffRulesets(full.results.map((r) => r.text).join(""), cleaned).identical).toBe(true);
    await checkCase(
      { name: "source range after the clean-up", family: 4, ns: "client", dst: "203.0.113.30", port: 80, n: 3 },
      cleaned,
    );

    const gone = driver.sync(
      input(
        next.filter((x) => x.metadata?.labels?.["kubernetes.io/service-name"] !== "sticky"),
        services.filter((x) => x.metadata?.name !== "sticky"),
      ),
    );
    load(gone);
    driver.applied();
    await quiet();
    const deleted = await checkCase(
      { name: "a deleted Service", family: 4, ns: "node", dst: "10.96.0.40", port: 80, n: 1, timeoutMs: 300 },
      parseNftablesRuleset(dump()),
    );
    // its ClusterIP is no longer allocated: cluster-ips-check's drop of the Service CIDR
    expect(deleted.verdict).toBe("drop");
  });
});
