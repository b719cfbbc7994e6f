// Benchmarks the eviction decision of @nodekit/kubelet-core. Run:
// node --expose-gc --import tsx bench/kubelet-eviction.ts (npm run bench runs it after building).
// Prints JSON figures and ratios against a baseline measured in the same run.
//
// One eviction decision over 1,000 pods (target: ≤ 1 ms): an eviction manager pass
// (`synchronize()`) under memory pressure — observations from the stats summary, thresholds met,
// grace periods, node conditions, the ranking of all 1,000 pods (exceeds requests, priority, usage
// above requests, with each pod's requests parsed), the message for the chosen pod — with a pod
// killer that returns at once. Baseline: a JSON round trip of the inputs (the pods and the summary).
// Medians of 101 runs, steady (warm process) and right after a forced full GC.
import {
  createEvictionManager,
  type EvictionPod,
  parseEvictionThresholds,
  type StatsSummary,
} from "../packages/kubelet-core/dist/index.js";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const Mi = 1024 * 1024;
const requests = ["64Mi", "128Mi", "256Mi", "512Mi", "1Gi", "100M", "0.5Gi"];

const pods: EvictionPod[] = Array.from({ length: 1_000 }, (_, i) => ({
  metadata: {
    name: `pod-${i}`,
    namespace: "bench",
    uid: `uid-${i}`,
    annotations: { "kubernetes.io/config.source": "api" },
  },
  spec: {
    priority: (i * 7919) % 2000,
    initContainers: i % 5 === 0 ? [{ name: "init", resources: { requests: { memory: "32Mi" } } }] : [],
    containers: [
      { name: "app", resources: { requests: { memory: requests[i % requests.length] ?? "0", cpu: "100m" } } },
      { name: "sidecar", resources: { requests: { memory: "16Mi" } } },
    ],
  },
}));
const summary: StatsSummary = {
  node: {
    memory: { availableBytes: 80 * Mi, workingSetBytes: 64_000 * Mi },
    systemContainers: [{ name: "pods", memory: { availableBytes: 80 * Mi, workingSetBytes: 63_000 * Mi } }],
    fs: { availableBytes: 50_000 * Mi, capacityBytes: 100_000 * Mi, inodesFree: 5_000_000, inodes: 6_000_000 },
    runtime: { imageFs: { availableBytes: 50_000 * Mi, capacityBytes: 100_000 * Mi, inodesFree: 5e6, inodes: 6e6 } },
    rlimit: { maxpid: 4_194_304, curproc: 20_000 },
  },
  pods: pods.map((p, i) => ({
    podRef: { name: p.metadata?.name ?? "", namespace: "bench", uid: p.metadata?.uid ?? "" },
    memory: { workingSetBytes: ((i * 104_729) % 900) * Mi },
    containers: [
      {
        name: "app",
        memory: { workingSetBytes: ((i * 104_729) % 800) * Mi },
        rootfs: { usedBytes: 10 * Mi },
        logs: { usedBytes: Mi },
      },
      { name: "sidecar", memory: { workingSetBytes: 20 * Mi } },
    ],
  })),
};

let evicted = 0;
const manager = createEvictionManager({
  thresholds: parseEvictionThresholds({
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "15%" },
    evictionSoft: { "memory.available": "500Mi" },
    evictionSoftGracePeriod: { "memory.available": "1m" },
    enforceNodeAllocatable: ["pods"],
  }),
  statsProvider: () => summary,
  activePods: () => pods,
  evictPod: async () => {
    evicted++;
  },
});
const decide = async () => {
  const { evicted: chosen } = await manager.synchronize();
  if (chosen.length !== 1) throw new Error("expected one eviction per pass");
};
const roundTrip = () => {
  const copy = JSON.parse(JSON.stringify({ pods, summary })) as { pods: unknown[] };
  return copy.pods.length;
};

for (let i = 0; i < 50; i++) {
  await decide();
  roundTrip();
}
// Two series of each: in a warm process as a node agent runs passes (steady), and right after a
// forced full GC (the first pass after a collection: a cold heap).
const series = async (forceGc: boolean) => {
  const decideMs: number[] = [];
  const copyMs: number[] = [];
  for (let r = 0; r < 101; r++) {
    if (forceGc) gc();
    let t = performance.now();
    await decide();
    decideMs.push(performance.now() - t);
    if (forceGc) gc();
    t = performance.now();
    roundTrip();
    copyMs.push(performance.now() - t);
  }
  return { decision: median(decideMs), baseline: median(copyMs) };
};
const steady = await series(false);
const cold = await series(true);
const decision = steady.decision;
const baseline = steady.baseline;
console.log(
  JSON.stringify(
    {
      bench: "eviction decision over 1,000 pods (synchronize under memory pressure)",
      pods: pods.length,
      decisionMs: Number(decision.toFixed(3)),
      jsonRoundTripMs: Number(baseline.toFixed(3)),
      ratioToJsonRoundTrip: Number((decision / baseline).toFixed(2)),
      afterFullGc: {
        decisionMs: Number(cold.decision.toFixed(3)),
        jsonRoundTripMs: Number(cold.baseline.toFixed(3)),
        ratioToJsonRoundTrip: Number((cold.decision / cold.baseline).toFixed(2)),
      },
      targetMs: 1,
      withinTarget: decision <= 1,
      evictions: evicted,
    },
    null,
    2,
  ),
);
