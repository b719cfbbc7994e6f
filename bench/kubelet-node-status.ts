// Benchmarks computeNodeStatus of @nodekit/kubelet-core. Run: node --expose-gc --import tsx bench/kubelet-node-status.ts
// (npm run bench runs it after building). Prints JSON figures and the ratio against a baseline
// measured in the same run.
//
// A node with 1,000 pods' worth of inputs: 1,000 images in the runtime's ListImages answer (sorted,
// capped at 50, names capped at 5), a previous status with 50 images and the four conditions,
// kube-reserved, system-reserved and the default hard eviction thresholds. Baseline: a JSON
// round-trip (stringify + parse) of the same inputs. Target: ≤ 1 ms per computation.
import { computeNodeStatus, type NodeStatusFacts, observeRuntimeStatus } from "../packages/kubelet-core/dist/index.js";

const N = 1000;
const ROUNDS = 15;
const PER_ROUND = 200;
const now = Date.parse("2026-12-02T12:00:00Z");
const images = Array.from({ length: N }, (_, i) => ({
  id: `sha256:${i.toString(16).padStart(64, "0")}`,
  repoTags: [`registry.local/team-${i % 37}/app-${i}:v${i % 11}`, `registry.local/app-${i}:latest`],
  repoDigests: [`registry.local/app-${i}@sha256:${(i * 7919).toString(16).padStart(64, "0")}`],
  size: BigInt(20_000_000 + ((i * 104_729) % 900_000_000)),
}));
const facts: NodeStatusFacts = {
  now,
  machine: {
    numCores: 32,
    memoryCapacityBytes: 128 * 2 ** 30,
    machineID: "3d1219c7c4c5404aaa1f6d2a48adfda4",
    systemUUID: "",
    bootID: "572d12ad-f79b-4115-9178-0dbb0145cdf8",
    hugePages: [{ pageSizeKiB: 2048, numPages: 0 }],
  },
  version: { kernelVersion: "6.1.0-18-amd64", osImage: "Debian GNU/Linux 12 (bookworm)" },
  platform: { operatingSystem: "linux", architecture: "amd64" },
  runtimeVersion: { runtimeName: "containerd", runtimeVersion: "1.6.20~ds1" },
  runtime: observeRuntimeStatus(
    undefined,
    {
      status: {
        conditions: [
          { type: "RuntimeReady", status: true, reason: "", message: "" },
          { type: "NetworkReady", status: true, reason: "", message: "" },
        ],
      },
    },
    now,
  ),
  rootfsCapacityBytes: 500 * 2 ** 30,
  images,
  pressure: { memory: false, disk: false, pid: false },
  interfaceAddresses: ["10.0.0.5"],
};
const options = {
  nodeName: "bench",
  nodeIPs: ["10.0.0.5"],
  maxPods: 1000,
  kubeReserved: { cpu: "500m", memory: "1Gi", "ephemeral-storage": "10Gi" },
  systemReserved: { cpu: "250m", memory: "512Mi" },
};
const previous = computeNodeStatus({ ...facts, now: now - 10_000 }, undefined, options).status;

const replacer = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);
const roundTrip = () => JSON.parse(JSON.stringify({ facts, previous, options }, replacer));
const compute = () => computeNodeStatus(facts, previous, options);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
function perCall(fn: () => unknown): number {
  for (let i = 0; i < PER_ROUND; i++) fn();
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    const t = performance.now();
    for (let i = 0; i < PER_ROUND; i++) fn();
    times.push((performance.now() - t) / PER_ROUND);
  }
  return median(times);
}

const baseline = perCall(roundTrip);
const ms = perCall(compute);
const result = compute();
console.log(
  JSON.stringify(
    {
      bench: "computeNodeStatus, 1,000 images",
      images: N,
      reportedImages: result.status.images?.length,
      computeMs: Number(ms.toFixed(4)),
      jsonRoundTripMs: Number(baseline.toFixed(4)),
      ratio: Number((ms / baseline).toFixed(3)),
      targetMs: 1,
      withinTarget: ms <= 1,
    },
    null,
    2,
  ),
);
