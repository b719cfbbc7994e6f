// Benchmarks @nodekit/proxy-rules' IPVS mode. Prints ratios against baselines measured in the
// same run on the same machine (absolute times are for orientation only):
//
//   node --expose-gc bench/proxy-ipvs.mjs      (after npm run build; npm run bench does both)
//
// 1. full compile of 10,000 Services x 10 endpoints (half of them NodePort), texts included
//    (ipvsadm-restore, ipset restore, iptables-restore, ip -batch), vs the time `ipset restore` +
//    `iptables-restore` need to load its ipset and iptables texts into a fresh network namespace
//    (root only; this VM has no IPVS, so the ipvsadm text is not loaded).          Target <= 0.01
// 2. one changed EndpointSlice (an endpoint removed) at 10,000 Services: a sync from the applied
//    state gives its reconcile plan (`changes`).                                    Target <= 1 ms
//    For comparison: planIpvsReconcile from the parsed kernel state (a full diff), and the
//    iptables mode's full compile of the same input.
//
// Interleaved as bench/proxy-rules.mjs does: BENCH_ROUNDS rounds of one load into a fresh
// namespace followed by BENCH_RUNS compiles (each after a forced GC); medians.
// Environment: BENCH_SERVICES (10000), BENCH_RUNS (5), BENCH_ROUNDS (3), BENCH_RESTORE=0 to skip
// the kernel baseline.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { compileIpvs, compileIptables, syncIpvs, planIpvsReconcile, ipvsKernelState } = await import(
  resolve(here, "../packages/proxy-rules/dist/index.js")
);

const N = Number(process.env.BENCH_SERVICES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EPS = 10;
const gc = globalThis.gc ?? (() => {});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ip4 = (base, k) => `${base + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

function slice(namespace, name, i, count) {
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

/** n Services (half ClusterIP, half NodePort), one slice of EPS endpoints each (as bench/proxy-rules.mjs). */
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

/** Compile and render every text (what a node loads). */
function compileAll(input) {
  const r = compileIpvs(input).ipv4;
  return { r, size: r.ipvsadmText.length + r.ipsetText.length + r.iptablesText.length + r.ipText.length };
}

/** A minimal undo log (the shape src/plan/undo-log.ts has), for a proxier-like sync here. */
function undoLog() {
  const undo = [];
  const remember = (m, k) => {
    if (m.has(k)) {
      const old = m.get(k);
      undo.push(() => m.set(k, old));
    } else undo.push(() => m.delete(k));
  };
  return {
    mapSet(m, k, v) {
      remember(m, k);
      m.set(k, v);
    },
    mapDelete(m, k) {
      if (!m.has(k)) return;
      remember(m, k);
      m.delete(k);
    },
    setAdd(s, v) {
      if (s.has(v)) return;
      s.add(v);
      undo.push(() => s.delete(v));
    },
    setDelete(s, v) {
      if (!s.delete(v)) return;
      undo.push(() => s.add(v));
    },
    arraySet(a, i, v) {
      const old = a[i];
      a[i] = v;
      undo.push(() => {
        a[i] = old;
      });
    },
    rollback() {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      undo.length = 0;
    },
  };
}

const input = cluster(N);
const out = { services: N, endpointsPerService: EPS };

// 1. compile vs kernel load
const canRestore =
  process.env.BENCH_RESTORE !== "0" &&
  process.getuid?.() === 0 &&
  spawnSync("sh", ["-c", "command -v ipset && command -v iptables-restore"], { stdio: "ignore" }).status === 0;
compileAll(input); // warm up
const compiles = [];
const restores = [];
const rounds = [];
const iptablesCompiles = [];
const { r: first } = compileAll(input);
const dir = mkdtempSync(join(tmpdir(), "kpr-ipvs-"));
writeFileSync(join(dir, "ipset"), first.ipsetText);
writeFileSync(join(dir, "iptables"), first.iptablesText);
for (let round = 0; round < (canRestore ? ROUNDS : 1); round++) {
  let restore;
  if (canRestore) {
    const ns = `kprb${randomBytes(3).toString("hex")}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      const t0 = process.hrtime.bigint();
      execFileSync("sh", [
        "-c",
        `ip netns exec ${ns} ipset restore < ${dir}/ipset && ip netns exec ${ns} iptables-restore < ${dir}/iptables`,
      ]);
      restore = Number(process.hrtime.bigint() - t0) / 1e6;
      restores.push(restore);
    } finally {
      execFileSync("ip", ["netns", "del", ns]);
    }
  }
  const mine = [];
  for (let i = 0; i < RUNS; i++) {
    gc();
    const t0 = process.hrtime.bigint();
    compileAll(input);
    mine.push(Number(process.hrtime.bigint() - t0) / 1e6);
    gc();
    const t1 = process.hrtime.bigint();
    compileIptables(input).ipv4.text.length;
    iptablesCompiles.push(Number(process.hrtime.bigint() - t1) / 1e6);
  }
  compiles.push(...mine);
  if (restore !== undefined) rounds.push(+(median(mine) / restore).toFixed(4));
}
rmSync(dir, { recursive: true, force: true });
out.compileMs = +median(compiles).toFixed(1);
// for scale: the iptables mode's full compile of the same input, same run
out.iptablesCompileMs = +median(iptablesCompiles).toFixed(1);
out.compileOverIptablesCompile = +(out.compileMs / out.iptablesCompileMs).toFixed(2);
out.virtualServers = first.stats.virtualServers;
out.realServers = first.stats.realServers;
out.ipsetEntries = first.stats.ipsetEntries;
if (canRestore) {
  out.ipsetPlusIptablesRestoreMs = +median(restores).toFixed(1);
  out.compileOverRestore = +(out.compileMs / out.ipsetPlusIptablesRestoreMs).toFixed(4);
  out.compileOverRestoreRounds = rounds;
  out.compileOverRestoreTarget = 0.01;
} else out.restore = "skipped (needs root, ipset and iptables-restore)";

// 2. one changed slice: the reconcile plan
const from = { state: undefined, partialAllowed: false, failedObjects: new Map(), fullSync: false };
let applied = syncIpvs(input, {}, from, undoLog()).state;
const times = [];
let ops = 0;
let changedSlices = input.endpointSlices;
for (let i = 0; i < 101; i++) {
  const k = (i * 7919) % N;
  const s = changedSlices[k];
  const next = { ...s, endpoints: s.endpoints.slice(i % 2) }; // remove one endpoint, then put it back
  changedSlices = changedSlices.slice();
  changedSlices[k] = next;
  const changed = { ...input, endpointSlices: changedSlices };
  gc();
  const t0 = process.hrtime.bigint();
  const res = syncIpvs(
    changed,
    {},
    { state: applied, partialAllowed: true, failedObjects: new Map(), fullSync: false },
    undoLog(),
  );
  const plan = res.compilation.ipv4.changes;
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  ops += plan.operations.length;
  applied = res.state;
}
out.oneSliceChangeReconcileMs = +median(times.slice(1)).toFixed(3);
out.oneSliceChangeReconcileTargetMs = 1;
out.oneSliceChangeOperations = ops / times.length;
// the full diff from a parsed kernel state, for comparison
const kernel = ipvsKernelState({
  ipvsadmSave: first.ipvsadmText,
  ipsetSave: first.ipsetText,
  ipAddrShow: first.addresses.map((a) => `inet ${a}/32`).join("\n"),
});
const changedResult = compileIpvs({ ...input, endpointSlices: changedSlices }).ipv4;
changedResult.virtualServers; // (views built outside the timing)
changedResult.ipsets;
const fulls = [];
for (let i = 0; i < 3; i++) {
  gc();
  const t0 = process.hrtime.bigint();
  planIpvsReconcile(kernel, changedResult);
  fulls.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
out.fullReconcileFromKernelStateMs = +median(fulls).toFixed(1);

console.log(JSON.stringify(out, null, 2));
const fails = [];
if (out.compileOverRestore !== undefined && out.compileOverRestore > 0.01) fails.push("compile/restore > 0.01");
if (out.oneSliceChangeReconcileMs > 1) fails.push("one-slice reconcile > 1 ms");
if (fails.length) console.log(`targets missed: ${fails.join(", ")}`);
