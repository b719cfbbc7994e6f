// Benchmarks @nodekit/proxy-rules' explainPacket on a large ruleset. Prints ratios against a
// baseline measured in the same run on the same machine (absolute times are for orientation):
//
//   node --expose-gc bench/proxy-explain.mjs      (after npm run build; npm run bench does both)
//
// 1. parse once: parseIptablesRuleset of the 10,000-Service × 10-endpoint payload (~450k lines)
//    vs compileIptables of the same input (the baseline). Rules are read lazily (a rule's argv
//    when a packet first reaches it); also reported: with `validate: true` (every rule read up
//    front) and the first packet (which reads and indexes the long chains).  Reported (no target)
// 2. per packet, on the parsed ruleset: explainPacket of pod → ClusterIP (10 random branches,
//    each walked through every hook), outside → NodePort, and an unknown address.  Target ≤ 1 ms
// 3. the same on the node's `iptables-save` spelling is not measured here (the same rules, the
//    same parser; see test/explain.test.ts for the equivalence).
// 4. nftables: parseNftablesRuleset of compileNftables' transaction for the same cluster vs
//    compileNftables (the baseline), then the same packets on the parsed ruleset.  Target ≤ 1 ms
//
// Environment: BENCH_SERVICES (10000), BENCH_RUNS (5), BENCH_PACKETS (2000).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { compileIptables, compileNftables, explainPacket, parseIptablesRuleset, parseNftablesRuleset } = await import(
  resolve(here, "../packages/proxy-rules/dist/index.js")
);

const N = Number(process.env.BENCH_SERVICES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PACKETS = Number(process.env.BENCH_PACKETS ?? 2000);
const EPS = 10;
const gc = globalThis.gc ?? (() => {});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ip4 = (base, k) => `${base + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

/** The cluster of bench/proxy-rules.mjs: n Services (half ClusterIP, half NodePort), EPS endpoints each. */
function cluster(n) {
  const services = [];
  const endpointSlices = [];
  for (let i = 0; i < n; i++) {
    const namespace = `ns-${i % 100}`;
    const name = `svc-${i}`;
    const nodePort = i % 2 === 1;
    services.push({
      metadata: { namespace, name },
      spec: {
        type: nodePort ? "NodePort" : "ClusterIP",
        clusterIP: `10.${ip4(96, i)}`,
        ports: [{ name: "http", port: 80, protocol: "TCP", ...(nodePort ? { nodePort: 30000 + (i >> 1) } : {}) }],
      },
    });
    const endpoints = [];
    for (let e = 0; e < EPS; e++) {
      const k = i * EPS + e;
      endpoints.push({ addresses: [`10.${ip4(128, k)}`], conditions: { ready: true }, nodeName: `node-${k % 50}` });
    }
    endpointSlices.push({
      metadata: { namespace, name: `${name}-abcde`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints,
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
  }
  return {
    services,
    endpointSlices,
    node: { name: "node-1", addresses: ["192.168.0.1"] },
    config: { clusterCIDR: "10.128.0.0/9" },
  };
}

const input = cluster(N);
const text = compileIptables(input).ipv4.text; // also the warm-up
const lines = text.split("\n").length;
parseIptablesRuleset(text); // warm-up

const compiles = [];
const parses = [];
const validated = [];
const firsts = [];
let ruleset;
const local = { localAddresses: ["192.168.0.1"] };
const first = { from: "pod", source: "10.200.1.7", destination: "10.96.0.0", port: 80 };
for (let r = 0; r < RUNS; r++) {
  gc();
  let t0 = performance.now();
  compileIptables(input);
  compiles.push(performance.now() - t0);
  gc();
  t0 = performance.now();
  parseIptablesRuleset(text, { validate: true });
  validated.push(performance.now() - t0);
  gc();
  t0 = performance.now();
  ruleset = parseIptablesRuleset(text);
  parses.push(performance.now() - t0);
  // the first packet reads (and indexes) the long chains it walks: KUBE-SERVICES, KUBE-NODEPORTS
  t0 = performance.now();
  explainPacket(ruleset, first, local);
  firsts.push(performance.now() - t0);
}

const packets = [];
for (let p = 0; p < PACKETS; p++) {
  const i = (p * 7919) % N;
  const kind = p % 3;
  if (kind === 0) packets.push({ from: "pod", source: "10.200.1.7", destination: `10.${ip4(96, i)}`, port: 80 });
  else if (kind === 1)
    packets.push({
      from: "outside",
      source: "203.0.113.9",
      destination: "192.168.0.1",
      port: 30000 + (((i | 1) >> 1) % (N >> 1)),
    });
  else packets.push({ from: "pod", source: "10.200.1.7", destination: "10.250.9.9", port: 80 });
}
for (const p of packets.slice(0, 200)) explainPacket(ruleset, p, local); // warm-up
const check = explainPacket(ruleset, packets[0], local);
if (check.verdict !== "dnat" || check.endpoints.length !== EPS) throw new Error(`unexpected: ${check.verdict}`);
const nodePort = explainPacket(ruleset, packets[1], local);
if (nodePort.verdict !== "dnat") throw new Error(`unexpected NodePort verdict: ${nodePort.verdict}`);
gc();
const t0 = performance.now();
let outcomes = 0;
for (const p of packets) outcomes += explainPacket(ruleset, p, local).outcomes.length;
const perPacketMs = (performance.now() - t0) / packets.length;

// nftables: the same cluster in kube-proxy's nftables mode, the same packets.
const nftText = compileNftables(input).ipv4.text; // also the warm-up
parseNftablesRuleset(nftText); // warm-up
const nftCompiles = [];
const nftParses = [];
const nftFirsts = [];
let nftRuleset;
for (let r = 0; r < RUNS; r++) {
  gc();
  let t1 = performance.now();
  compileNftables(input);
  nftCompiles.push(performance.now() - t1);
  gc();
  t1 = performance.now();
  nftRuleset = parseNftablesRuleset(nftText);
  nftParses.push(performance.now() - t1);
  t1 = performance.now();
  explainPacket(nftRuleset, first, local);
  nftFirsts.push(performance.now() - t1);
}
for (const p of packets.slice(0, 200)) explainPacket(nftRuleset, p, local); // warm-up
const nftCheck = explainPacket(nftRuleset, packets[0], local);
if (nftCheck.verdict !== "dnat" || nftCheck.endpoints.length !== EPS)
  throw new Error(`unexpected nftables verdict: ${nftCheck.verdict} (${nftCheck.endpoints.length} endpoints)`);
if (explainPacket(nftRuleset, packets[1], local).verdict !== "dnat")
  throw new Error("unexpected nftables NodePort verdict");
gc();
const t2 = performance.now();
let nftOutcomes = 0;
for (const p of packets) nftOutcomes += explainPacket(nftRuleset, p, local).outcomes.length;
const nftPerPacketMs = (performance.now() - t2) / packets.length;
const nftCompileMs = median(nftCompiles);
const nftParseMs = median(nftParses);

const compileMs = median(compiles);
const parseMs = median(parses);
console.log(
  JSON.stringify(
    {
      services: N,
      endpointsPerService: EPS,
      lines,
      rules: ruleset.ruleCount,
      compileMs: +compileMs.toFixed(1),
      parseMs: +parseMs.toFixed(1),
      parseOverCompile: +(parseMs / compileMs).toFixed(2),
      validatedParseMs: +median(validated).toFixed(1),
      validatedParseOverCompile: +(median(validated) / compileMs).toFixed(2),
      firstPacketMs: +median(firsts).toFixed(1),
      perPacketMs: +perPacketMs.toFixed(4),
      outcomesPerPacket: +(outcomes / packets.length).toFixed(2),
      packets: packets.length,
      targetPerPacketMs: 1,
      nftables: {
        lines: nftText.split("\n").length,
        rules: nftRuleset.ruleCount,
        compileMs: +nftCompileMs.toFixed(1),
        parseMs: +nftParseMs.toFixed(1),
        parseOverCompile: +(nftParseMs / nftCompileMs).toFixed(2),
        firstPacketMs: +median(nftFirsts).toFixed(1),
        perPacketMs: +nftPerPacketMs.toFixed(4),
        outcomesPerPacket: +(nftOutcomes / packets.length).toFixed(2),
      },
      pass: perPacketMs <= 1 && nftPerPacketMs <= 1,
    },
    null,
    2,
  ),
);
if (perPacketMs > 1 || nftPerPacketMs > 1) process.exitCode = 1;
