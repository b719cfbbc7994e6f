// Benchmarks @nodekit/cri/testing's fake runtime.
//
//   node --expose-gc bench/cri-fake.mjs      (after npm run build)
//
// 1. A full sandbox + container lifecycle in-process (RunPodSandbox, CreateContainer,
//    StartContainer, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox).
//    Target: >= 10,000 lifecycles per second. Baseline in the same run: the same seven awaited
//    calls to no-op async functions (what any in-process implementation pays at least).
// 2. 10,000 containers held by the fake (2,500 sandboxes x 4): heap they take, and ListContainers
//    in-process vs over a unix socket through the gRPC client and the server kit (ratio).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cri = await import(resolve(here, "../packages/cri/dist/index.js"));
const { createFakeRuntime } = await import(resolve(here, "../packages/cri/dist/testing.js"));

const LIFECYCLES = Number(process.env.BENCH_LIFECYCLES ?? 20_000);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function lifecycles(fake, n, offset) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const config = { metadata: { name: `p${offset + i}`, namespace: "bench", uid: `u${offset + i}` } };
    const { podSandboxId } = await fake.runPodSandbox({ config });
    const { containerId } = await fake.createContainer({
      podSandboxId,
      config: { metadata: { name: "app" }, image: { image: "busybox" }, command: ["sleep", "3600"] },
      sandboxConfig: config,
    });
    await fake.startContainer({ containerId });
    await fake.stopContainer({ containerId, timeout: 0n });
    await fake.removeContainer({ containerId });
    await fake.stopPodSandbox({ podSandboxId });
    await fake.removePodSandbox({ podSandboxId });
  }
  return n / ((performance.now() - t0) / 1000);
}

const noop = async (x) => x;
async function baseline(n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 7; k++) await noop(i);
  }
  return n / ((performance.now() - t0) / 1000);
}

// --- 1. lifecycle rate ----------------------------------------------------------------------
const fake = createFakeRuntime();
await lifecycles(fake, 2000, 0); // warm up
await baseline(2000);
const rates = [];
const baseRates = [];
for (let r = 0; r < 5; r++) {
  globalThis.gc?.();
  rates.push(await lifecycles(fake, LIFECYCLES / 5, (r + 1) * 1_000_000));
  baseRates.push(await baseline(LIFECYCLES / 5));
  fake.clearCalls(); // the call log would otherwise grow with every call
}
const perSecond = median(rates);

// --- 2. 10,000 containers -------------------------------------------------------------------
globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const big = createFakeRuntime();
for (let s = 0; s < 2500; s++) {
  const config = { metadata: { name: `pod-${s}`, namespace: "bench", uid: `uid-${s}` }, labels: { app: `a${s % 10}` } };
  const { podSandboxId } = await big.runPodSandbox({ config });
  for (let c = 0; c < 4; c++) {
    const { containerId } = await big.createContainer({
      podSandboxId,
      config: {
        metadata: { name: `c${c}` },
        image: { image: "busybox" },
        labels: { "io.kubernetes.pod.name": `pod-${s}`, "io.kubernetes.container.name": `c${c}` },
        annotations: { "io.kubernetes.container.hash": "abcd1234" },
        command: ["sleep", "3600"],
      },
      sandboxConfig: config,
    });
    await big.startContainer({ containerId });
  }
}
big.clearCalls();
globalThis.gc?.();
const heapMB = (process.memoryUsage().heapUsed - heapBefore) / 1e6;

const dir = mkdtempSync(join(tmpdir(), "nk-bench-fake-"));
const server = cri.createCriServer({ runtime: big, image: big });
await server.listen(join(dir, "fake.sock"));
const client = cri.createRuntimeClient(join(dir, "fake.sock"), { useStreaming: false });
const inProc = [];
const overSocket = [];
async function time(fn) {
  globalThis.gc?.();
  const t0 = performance.now();
  const res = await fn();
  if (res.containers.length !== 10_000) throw new Error(`expected 10000, got ${res.containers.length}`);
  return performance.now() - t0;
}
await time(() => big.listContainers({}));
await time(() => client.listContainers({}));
for (let r = 0; r < 7; r++) {
  inProc.push(await time(() => big.listContainers({})));
  overSocket.push(await time(() => client.listContainers({})));
  big.clearCalls();
}
const filtered = [];
for (let r = 0; r < 7; r++) {
  globalThis.gc?.();
  const t0 = performance.now();
  const res = await big.listContainers({ filter: { labelSelector: { "io.kubernetes.pod.name": "pod-42" } } });
  if (res.containers.length !== 4) throw new Error("label filter");
  filtered.push(performance.now() - t0);
}
client.close();
await server.close();
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify(
    {
      lifecycle: {
        perSecond: Math.round(perSecond),
        target: ">= 10000 per second",
        baselineNoopPerSecond: Math.round(median(baseRates)),
        ratioToNoopBaseline: +(median(baseRates) / perSecond).toFixed(1),
      },
      tenThousandContainers: {
        heapMB: +heapMB.toFixed(1),
        listInProcessMs: +median(inProc).toFixed(1),
        listOverSocketMs: +median(overSocket).toFixed(1),
        socketToInProcessRatio: +(median(overSocket) / median(inProc)).toFixed(2),
        labelFilteredListMs: +median(filtered).toFixed(2),
      },
    },
    null,
    2,
  ),
);
