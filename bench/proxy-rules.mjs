// Benchmarks @nodekit/proxy-rules' compileIptables. Prints ratios against baselines measured in
// the same run on the same machine (absolute times are for orientation only):
//
//   node --expose-gc bench/proxy-rules.mjs      (after npm run build; npm run bench does both)
//
// 1. full compile of 10,000 Services x 10 endpoints vs the time `iptables-restore` needs to load
//    the same text into a fresh network namespace (root only; skipped otherwise).   Target <= 0.02
// 2. peak V8 heap of a process that builds the input and compiles it once.         Target <= 300 MB
// 3. incremental sync (one changed EndpointSlice, a proxier) at 10,000 Services.   Target <= 5 ms
// 4. growth: 10,000-Service compile vs 1,000-Service compile.                        Target <= 12
//
// The machine is shared and its speed drifts over minutes, so measurement 1 interleaves the two:
// BENCH_ROUNDS rounds of one restore into a fresh namespace followed by BENCH_RUNS compiles (each
// after a forced GC); the ratio is the median compile over the median restore, and each round's
// own ratio is printed too.
//
// Environment: BENCH_SERVICES (10000), BENCH_RUNS (5), BENCH_ROUNDS (3), BENCH_RESTORE=0 to skip
// the kernel baseline.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { compileIptables, createProxier } = await import(resolve(here, "../packages/proxy-rules/dist/index.js"));

const N = Number(process.env.BENCH_SERVICES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const EPS = 10;
const gc = globalThis.gc ?? (() => {});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ip4 = (base, k) => `${base + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

/** A cluster of n Services (half ClusterIP, half NodePort), each with one slice of EPS endpoints. */
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
    endpointSlices.push(slice(namespace, name, i, EPS));
  }
  return {
    services,
    endpointSlices,
    node: { name: "node-1", addresses: ["192.168.0.1"] },
    config: { clusterCIDR: "10.128.0.0/9" },
  };
}

function slice(namespace, name, i, count, offset = 0) {
  const endpoints = [];
  for (let e = 0; e < count; e++) {
    const k = i * EPS + e + offset;
    endpoints.push({ addresses: [`10.${ip4(128, k)}`], conditions: { ready: true }, nodeName: `node-${k % 50}` });
  }
  return {
    metadata: { namespace, name: `${name}-abcde`, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

function compileTimes(input, runs) {
  const times = [];
  for (let r = 0; r < runs; r++) {
    gc();
    const t0 = performance.now();
    compileIptables(input);
    times.push(performance.now() - t0);
  }
  return times;
}

function timeFull(input, runs) {
  compileIptables(input); // warm-up (JIT)
  return { ms: median(compileTimes(input, runs)) };
}

/** Rounds of one restore of the payload, then `runs` compiles: medians of both, each round's ratio. */
function fullVsRestore(input, runs, rounds) {
  const text = compileIptables(input).ipv4.text; // also the warm-up
  const compiles = [];
  const restores = [];
  const perRound = [];
  let reason;
  for (let r = 0; r < rounds; r++) {
    const restore = restoreMs(text);
    reason = restore.reason;
    const times = compileTimes(input, runs);
    compiles.push(...times);
    if (restore.ms !== null) {
      restores.push(restore.ms);
      perRound.push(+(median(times) / restore.ms).toFixed(4));
    }
  }
  return {
    text,
    compileMs: median(compiles),
    restoreMs: restores.length > 0 ? median(restores) : null,
    restores,
    perRound,
    reason,
  };
}

function timeIncremental(input, iterations) {
  const proxier = createProxier({ mode: "iptables" });
  proxier.sync(input);
  proxier.applied();
  const times = [];
  const slices = input.endpointSlices.slice();
  for (let r = 0; r < iterations; r++) {
    const at = (r * 7919) % slices.length;
    const old = slices[at];
    const svc = old.metadata.labels["kubernetes.io/service-name"];
    slices[at] = slice(old.metadata.namespace, svc, at, r % 2 ? EPS - 1 : EPS, 0);
    const next = { ...input, endpointSlices: slices.slice() };
    gc();
    const t0 = performance.now();
    const c = proxier.sync(next);
    times.push(performance.now() - t0);
    if (!c.ipv4.partial) throw new Error("expected a partial sync");
    proxier.applied();
  }
  return median(times);
}

function peakHeapMB() {
  // a child builds the input and compiles once; the peak is the largest heap seen by any GC
  const r = spawnSync(process.execPath, ["--trace-gc", fileURLToPath(import.meta.url), "--heap-child"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`heap child failed: ${r.stderr}`);
  let peak = 0;
  for (const m of r.stdout.matchAll(/(?:Scavenge|Mark-Compact|Mark-sweep)[^\n]*? ([\d.]+) \([\d.]+\) -> /g)) {
    peak = Math.max(peak, Number(m[1]));
  }
  const final = /heapUsedAfterCompile=([\d.]+)/.exec(r.stdout);
  if (final) peak = Math.max(peak, Number(final[1]));
  return peak;
}

function restoreMs(text) {
  if (process.env.BENCH_RESTORE === "0") return { ms: null, reason: "BENCH_RESTORE=0" };
  if (process.getuid?.() !== 0) return { ms: null, reason: "not root" };
  try {
    execFileSync("sh", ["-c", "command -v ip && command -v iptables-restore"], { stdio: "ignore" });
  } catch {
    return { ms: null, reason: "ip or iptables-restore missing" };
  }
  const dir = mkdtempSync(join(tmpdir(), "kpr-bench-"));
  const file = join(dir, "rules");
  writeFileSync(file, text);
  const ns = `kprb${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const t0 = performance.now();
    execFileSync("sh", ["-c", `ip netns exec ${ns} iptables-restore < ${file}`], { stdio: "ignore" });
    return { ms: performance.now() - t0, reason: undefined };
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--heap-child") {
  const result = compileIptables(cluster(N));
  const mb = process.memoryUsage().heapUsed / 1e6;
  console.log(`heapUsedAfterCompile=${mb.toFixed(1)} bytes=${result.ipv4.text.length}`);
} else {
  const big = cluster(N);
  const small = cluster(N / 10);
  const vs = fullVsRestore(big, RUNS, Number(process.env.BENCH_ROUNDS ?? 3));
  const full = { ms: vs.compileMs, text: vs.text };
  const fullSmall = timeFull(small, RUNS * 2 - 1);
  const incremental = timeIncremental(big, 31);
  const heap = peakHeapMB();
  const restore = { ms: vs.restoreMs, reason: vs.reason };
  const lines = full.text.split("\n").length - 1;
  const result = {
    bench: "proxy-rules",
    services: N,
    endpointsPerService: EPS,
    payloadLines: lines,
    fullCompileVsRestore: {
      ratio: restore.ms === null ? null : +(full.ms / restore.ms).toFixed(4),
      target: 0.02,
      compileMs: +full.ms.toFixed(1),
      restoreMs: restore.ms === null ? null : +restore.ms.toFixed(0),
      restoresMs: vs.restores.map((ms) => +ms.toFixed(0)),
      ratioPerRound: vs.perRound,
      restore: "iptables-restore (default backend) into a fresh network namespace",
      ...(restore.reason ? { skipped: restore.reason } : {}),
    },
    peakHeap: { mb: +heap.toFixed(0), target: 300 },
    incrementalOneService: { ms: +incremental.toFixed(2), target: 5 },
    growth: {
      ratio: +(full.ms / fullSmall.ms).toFixed(2),
      target: 12,
      compileMs10x: +full.ms.toFixed(1),
      compileMs1x: +fullSmall.ms.toFixed(1),
    },
  };
  const ok =
    (result.fullCompileVsRestore.ratio === null || result.fullCompileVsRestore.ratio <= 0.02) &&
    result.peakHeap.mb <= 300 &&
    result.incrementalOneService.ms <= 5 &&
    result.growth.ratio <= 12;
  result.pass = ok;
  console.log(JSON.stringify(result, null, 2));
  process.exitCode = ok ? 0 : 1;
}
