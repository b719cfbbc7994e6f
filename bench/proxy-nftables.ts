// Speed of the nftables mode (issue 11), same-run ratios:
//
// 1. full compile of 10,000 Services x 10 endpoints vs the time `nft -f` needs to load the
//    transaction into a fresh network namespace.                              Target <= 1 %
// 2. peak V8 heap of a process that builds the input and compiles it once.    Target <= 300 MB
// 3. one changed EndpointSlice at 10,000 Services: the partial transaction's compile time
//    (target <= 1 ms) and size, also at 1,000 Services (it must not grow with the Services).
// 4. end to end for that change: compile + `nft -f` of the partial transaction, next to the
//    iptables mode's compile + `iptables-restore --noflush` of its partial payload, each on top
//    of its full ruleset loaded in a namespace of its own, in this run.
//
// Runs from the sources (tsx), through createProxier({ mode: "nftables" }). Kernel parts need root, ip, nft and
// iptables-restore; without them they print a reason and the compile figures stay.
// Env: BENCH_SERVICES (10000), BENCH_RUNS (5), BENCH_ROUNDS (3), BENCH_RESTORE=0 (no kernel).
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileNftables, createProxier, type ProxyInput } from "../packages/proxy-rules/src/index.js";

const N = Number(process.env.BENCH_SERVICES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EPS = 10;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
/** The IPv4 result of a compile or sync (the bench's inputs are IPv4). */
function ipv4Of<T>(r: { readonly ipv4: T | undefined }): T {
  if (r.ipv4 === undefined) throw new Error("no IPv4 result");
  return r.ipv4;
}
const ip4 = (base: number, k: number) => `${base + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

// the cluster of bench/proxy-rules.mjs: half ClusterIP, half NodePort, one slice of EPS endpoints each
function slice(namespace: string, name: string, i: number, count: number) {
  const endpoints = [];
  for (let e = 0; e < count; e++) {
    const k = i * EPS + e;
    endpoints.push({ addresses: [`10.${ip4(128, k)}`], conditions: { ready: true }, nodeName: `node-${k % 50}` });
  }
  return {
    metadata: { namespace, name: `${name}-abcde`, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}
function cluster(n: number): ProxyInput {
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
const options = { serviceCIDRs: ["10.96.0.0/12"] };

/** A proxier in the nftables mode, each payload taken as applied, its clock past the grace each time. */
function nftProxier() {
  let now = 0;
  const proxier = createProxier({ mode: "nftables", ...options, clock: () => now });
  return {
    sync(input: ProxyInput) {
      const c = proxier.sync(input);
      proxier.applied();
      now += 5000;
      return ipv4Of(c);
    },
  };
}

/** The input with slice `at` replaced by one with one endpoint less (or back): one changed slice. */
function changed(input: ProxyInput, slices: ProxyInput["endpointSlices"][number][], r: number) {
  const at = (r * 7919) % slices.length;
  const old = slices[at];
  if (!old) throw new Error(`no slice ${at}`);
  const svc = old.metadata?.labels?.["kubernetes.io/service-name"] ?? "";
  slices[at] = slice(old.metadata?.namespace ?? "", svc, at, r % 2 ? EPS - 1 : EPS);
  return { ...input, endpointSlices: slices.slice() };
}

function kernelBlocker(): string | undefined {
  if (process.env.BENCH_RESTORE === "0") return "BENCH_RESTORE=0";
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("sh", ["-c", "command -v ip && command -v nft && command -v iptables-restore"], { stdio: "ignore" });
  } catch {
    return "ip, nft or iptables-restore missing";
  }
  return undefined;
}
const newNs = () => {
  const ns = `kpnb${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  return ns;
};
const delNs = (ns: string) => execFileSync("ip", ["netns", "del", ns]);
const inNs = (ns: string, cmd: string[], input: string) => {
  const t0 = performance.now();
  execFileSync("ip", ["netns", "exec", ns, ...cmd], { input, stdio: ["pipe", "ignore", "pipe"], maxBuffer: 1 << 30 });
  return performance.now() - t0;
};

/** `nft -f` of a file in a namespace: wall time and the CPU time (user + system) the load took. */
function nftLoad(ns: string, text: string): { ms: number; cpuMs: number } {
  const dir = mkdtempSync(join(tmpdir(), "kpnb-"));
  const file = join(dir, "t.nft");
  writeFileSync(file, text);
  try {
    const t0 = performance.now();
    const out = execFileSync(
      "bash",
      ["-c", `TIMEFORMAT="%3U %3S"; { time ip netns exec ${ns} nft -f ${file} >/dev/null ; } 2>&1`],
      { encoding: "utf8" },
    );
    const ms = performance.now() - t0;
    const [u, sys] = out.trim().split(/\s+/).slice(-2).map(Number);
    return { ms, cpuMs: ((u ?? Number.NaN) + (sys ?? Number.NaN)) * 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function peakHeapMB(): number {
  const r = spawnSync(
    process.execPath,
    ["--trace-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--heap-child"],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env } },
  );
  if (r.status !== 0) throw new Error(`heap child failed: ${r.stderr}`);
  let peak = 0;
  for (const m of r.stdout.matchAll(/(?:Scavenge|Mark-Compact|Mark-sweep)[^\n]*? ([\d.]+) \([\d.]+\) -> /g)) {
    peak = Math.max(peak, Number(m[1]));
  }
  const final = /heapUsedAfterCompile=([\d.]+)/.exec(r.stdout);
  if (final) peak = Math.max(peak, Number(final[1]));
  return peak;
}

/**
 * Partial syncs of one changed slice each: the median compile time as it comes (collections when
 * V8 wants them), and right after a forced full GC (whose lazy sweeping then lands in the timed
 * sync, a cost that grows with the heap, not with the change).
 */
function partialFigures(input: ProxyInput, iterations: number) {
  const p = nftProxier();
  p.sync(input);
  const slices = input.endpointSlices.slice();
  const times: number[] = [];
  const afterGC: number[] = [];
  let bytes = 0;
  let operations = 0;
  for (let r = 0; r < iterations * 2; r++) {
    const next = changed(input, slices, r);
    const forced = r >= iterations;
    if (forced) gc();
    const t0 = performance.now();
    const res = p.sync(next);
    (forced ? afterGC : times).push(performance.now() - t0);
    if (!res.partial) throw new Error("expected a partial sync");
    bytes = Math.max(bytes, res.text.length);
    operations = Math.max(operations, res.stats.operations);
  }
  return { ms: median(times), msAfterForcedGC: median(afterGC), maxBytes: bytes, maxOperations: operations };
}

if (process.argv[2] === "--heap-child") {
  const result = compileNftables(cluster(N), options);
  const mb = process.memoryUsage().heapUsed / 1e6;
  console.log(`heapUsedAfterCompile=${mb.toFixed(1)} bytes=${ipv4Of(result).text.length}`);
} else {
  const big = cluster(N);
  const blocker = kernelBlocker();
  // 1. full compile vs nft -f into a fresh namespace
  compileNftables(big, options); // warm-up
  const compiles: number[] = [];
  const compileCpu: number[] = [];
  const loads: number[] = [];
  const loadCpu: number[] = [];
  const perRound: number[] = [];
  let text = "";
  for (let round = 0; round < ROUNDS; round++) {
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      gc();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      text = ipv4Of(compileNftables(big, options)).text;
      text.charCodeAt(0); // the text read (flat), as a caller does
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      compileCpu.push((c.user + c.system) / 1000);
    }
    compiles.push(...times);
    if (!blocker) {
      const ns = newNs();
      try {
        const load = nftLoad(ns, text);
        loads.push(load.ms);
        loadCpu.push(load.cpuMs);
        perRound.push(+(median(times) / load.ms).toFixed(5));
      } finally {
        delNs(ns);
      }
    }
  }
  const compileMs = median(compiles);
  const loadMs = loads.length > 0 ? median(loads) : null;
  // 2. heap
  const heap = peakHeapMB();
  // 3. partial transaction at N and N/10 Services
  const partialBig = partialFigures(big, 41);
  const partialSmall = partialFigures(cluster(N / 10), 41);
  // 4. end to end: compile + load of one changed slice, nftables and iptables, same run
  let endToEnd: Record<string, unknown> = { skipped: blocker };
  if (!blocker) {
    const nsNft = newNs();
    const nsIpt = newNs();
    try {
      const nft = nftProxier();
      inNs(nsNft, ["nft", "-f", "-"], nft.sync(big).text);
      const ipt = createProxier({ mode: "iptables" });
      const first = ipv4Of(ipt.sync(big));
      inNs(nsIpt, ["iptables-restore"], first.text);
      ipt.applied();
      const slices = big.endpointSlices.slice();
      const nftTimes: { compile: number; load: number }[] = [];
      const iptTimes: { compile: number; load: number }[] = [];
      for (let r = 0; r < 15; r++) {
        const next = changed(big, slices, r);
        let t0 = performance.now();
        const n = nft.sync(next);
        const nc = performance.now() - t0;
        if (n.cleanupText !== "") inNs(nsNft, ["nft", "-f", "-"], n.cleanupText);
        nftTimes.push({ compile: nc, load: inNs(nsNft, ["nft", "-f", "-"], n.text) });
        t0 = performance.now();
        const i = ipv4Of(ipt.sync(next));
        const ic = performance.now() - t0;
        iptTimes.push({ compile: ic, load: inNs(nsIpt, ["iptables-restore", "--noflush"], i.text) });
        ipt.applied();
      }
      const sum = (xs: { compile: number; load: number }[]) => ({
        compileMs: +median(xs.map((x) => x.compile)).toFixed(3),
        loadMs: +median(xs.map((x) => x.load)).toFixed(2),
        totalMs: +median(xs.map((x) => x.compile + x.load)).toFixed(2),
      });
      const a = sum(nftTimes);
      const b = sum(iptTimes);
      endToEnd = { nftables: a, iptables: b, ratioNftOverIpt: +(a.totalMs / b.totalMs).toFixed(3) };
    } finally {
      delNs(nsNft);
      delNs(nsIpt);
    }
  }
  const lines = text.split("\n").length - 1;
  const result = {
    bench: "proxy-nftables",
    services: N,
    endpointsPerService: EPS,
    full: {
      compileMs: +compileMs.toFixed(1),
      compileCpuMs: +median(compileCpu).toFixed(1),
      transactionBytes: text.length,
      operations: lines,
    },
    nftLoad:
      loadMs === null
        ? { skipped: blocker }
        : { ms: +loadMs.toFixed(0), cpuMs: +median(loadCpu).toFixed(0), perRoundRatio: perRound },
    compileOverLoad: loadMs === null ? null : +(compileMs / loadMs).toFixed(5),
    compileOverLoadCpu: loadMs === null ? null : +(median(compileCpu) / median(loadCpu)).toFixed(5),
    loadAverage: (await import("node:os")).loadavg()[0],
    peakHeapMB: +heap.toFixed(1),
    partial: {
      [`at${N}`]: {
        ms: +partialBig.ms.toFixed(3),
        msAfterForcedGC: +partialBig.msAfterForcedGC.toFixed(3),
        maxBytes: partialBig.maxBytes,
        maxOperations: partialBig.maxOperations,
      },
      [`at${N / 10}`]: {
        ms: +partialSmall.ms.toFixed(3),
        msAfterForcedGC: +partialSmall.msAfterForcedGC.toFixed(3),
        maxBytes: partialSmall.maxBytes,
        maxOperations: partialSmall.maxOperations,
      },
    },
    endToEnd,
    targets: { compileOverLoad: "<= 0.01", peakHeapMB: "<= 300", partialMs: "<= 1" },
  };
  console.log(JSON.stringify(result, null, 2));
}
