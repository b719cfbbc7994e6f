// Benchmarks @nodekit/kubelet-core. Run: node --expose-gc --import tsx bench/kubelet-core.ts
// (npm run bench runs it after building). Prints JSON figures and ratios against baselines
// measured in the same run.
//
// 1. computePodActions over 10,000 running pods (target: ≤ 50 ms in total). Baseline: a JSON
//    round trip of each pod, the cheapest "look at every field" pass.
// 2. A steady-state pass (syncAll) over 1,000 running pods on the in-process fake runtime
//    (target: ≤ 20 ms). Baseline: the relist alone (ListPodSandbox + ListContainers).
// 3. Starting 50 pods on real containerd with bounded concurrency (8 syncs at once) against one
//    at a time, in the same run (the speed-up). Needs root and containerd; skipped otherwise.
import { createImageClient, createRuntimeClient, NamespaceMode, PodSandboxState, PodSandboxStatus } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { containerdPrerequisites, startContainerd } from "../packages/cri/test/harness/containerd.js";
import {
  computePodActions,
  createReconciler,
  hashContainer,
  type Pod,
  type PodRuntimeStatus,
} from "../packages/kubelet-core/dist/index.js";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function pod(i: number, image = "registry.local/app:1"): Pod {
  return {
    metadata: { name: `pod-${i}`, namespace: "bench", uid: `uid-${i}`, labels: { app: `a${i % 10}` } },
    spec: {
      restartPolicy: "Always",
      initContainers: i % 4 === 0 ? [{ name: "init", image, command: ["true"] }] : [],
      containers: [
        { name: "app", image, command: ["sleep", "3600"] },
        { name: "log", image, command: ["sleep", "3600"] },
      ],
    },
  };
}

function runningStatus(p: Pod): PodRuntimeStatus {
  const now = 1_767_225_600_000_000_000n;
  const uid = p.metadata?.uid ?? "";
  const cs = [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c, k) => ({
    id: `${uid}-${c.name}`,
    name: c.name,
    state: (c.name === "init" ? "exited" : "running") as "exited" | "running",
    createdAt: now + BigInt(k),
    startedAt: now + BigInt(k),
    finishedAt: c.name === "init" ? now + 5n : 0n,
    exitCode: 0,
    reason: c.name === "init" ? "Completed" : "",
    message: "",
    image: c.image ?? "",
    imageRef: "sha256:x",
    hash: hashContainer(c),
    restartCount: 0,
  }));
  return {
    uid,
    name: p.metadata?.name ?? "",
    namespace: "bench",
    ips: ["10.88.0.2"],
    sandboxStatuses: [
      PodSandboxStatus.fromPartial({
        id: `sb-${uid}`,
        state: PodSandboxState.SANDBOX_READY,
        metadata: { attempt: 0 },
        network: { ip: "10.88.0.2" },
        linux: { namespaces: { options: { network: NamespaceMode.POD } } },
        createdAt: now,
      }),
    ],
    containerStatuses: cs.reverse(),
  };
}

// --- 1. computePodActions ------------------------------------------------------------------------
const pods = Array.from({ length: 10_000 }, (_, i) => pod(i));
const statuses = pods.map(runningStatus);
const planAll = () => {
  let work = 0;
  pods.forEach((p, i) => {
    const s = statuses[i]; // one status per pod
    if (s) work += computePodActions(p, s).containersToStart.length;
  });
  return work;
};
const copyAll = () => {
  let n = 0;
  for (const p of pods) n += (JSON.parse(JSON.stringify(p)) as Pod).spec?.containers.length ?? 0;
  return n;
};
for (let i = 0; i < 5; i++) {
  planAll();
  copyAll();
}
const planMs: number[] = [];
const copyMs: number[] = [];
for (let r = 0; r < 9; r++) {
  gc();
  let t = performance.now();
  if (planAll() !== 0) throw new Error("steady pods should need no action");
  planMs.push(performance.now() - t);
  gc();
  t = performance.now();
  copyAll();
  copyMs.push(performance.now() - t);
}

// A first pass over pods never seen before also computes every container hash (later passes find
// them remembered): time 20,000 hashes of unique (name, image) pairs.
const coldHashMs: number[] = [];
for (let r = 0; r < 5; r++) {
  gc();
  const t = performance.now();
  for (let i = 0; i < 20_000; i++) hashContainer({ name: `c${i % 2}`, image: `registry.local/app:${r}-${i}` });
  coldHashMs.push(performance.now() - t);
}

// --- 2. steady-state pass over 1,000 pods on the fake ---------------------------------------------
const fake = createFakeRuntime({ registry: ["*"] });
const reconciler = createReconciler({ runtime: fake, image: fake, nodeName: "bench", useContainerEvents: false });
reconciler.updatePods(Array.from({ length: 1_000 }, (_, i) => pod(i)));
let running = 0;
for (let i = 0; i < 10 && running < 2_000; i++) {
  await reconciler.syncAll();
  await new Promise((r) => setTimeout(r, 5)); // init containers exit on a timer of the fake
  running = (await fake.listContainers({ filter: { state: { state: 1 } } })).containers.length;
}
await reconciler.syncAll();
if (running !== 2_000) throw new Error(`expected 2000 running containers, got ${running}`);
const passMs: number[] = [];
const relistMs: number[] = [];
for (let r = 0; r < 15; r++) {
  fake.clearCalls();
  gc();
  let t = performance.now();
  await reconciler.syncAll();
  passMs.push(performance.now() - t);
  gc();
  t = performance.now();
  await Promise.all([fake.listPodSandbox({}), fake.listContainers({})]);
  relistMs.push(performance.now() - t);
}
const callsPerPass = (() => {
  fake.clearCalls();
  return reconciler.syncAll().then(() => fake.calls.length);
})();

// --- 3. 50 pods on containerd ---------------------------------------------------------------------
let containerd: Record<string, unknown> = { skipped: "" };
const pre = containerdPrerequisites();
if (!pre.ok) {
  containerd = { skipped: pre.reason };
} else {
  const h = await startContainerd();
  try {
    const runtime = createRuntimeClient(h.endpoint);
    const image = createImageClient(h.endpoint);
    const startAll = async (concurrency: number, tag: string) => {
      const r = createReconciler({
        runtime,
        image,
        nodeName: "bench",
        maxConcurrentSyncs: concurrency,
        useContainerEvents: false,
        podLogsRoot: `${h.dir}/pods`,
        cgroupParent: (p) => `${h.cgroupParent}/pod${p.metadata?.uid}`,
      });
      const list = Array.from(
        { length: 50 },
        (_, i): Pod => ({
          metadata: { name: `${tag}-${i}`, namespace: "bench", uid: `${tag}-${i}` },
          spec: {
            terminationGracePeriodSeconds: 2,
            hostNetwork: true,
            containers: [
              {
                name: "app",
                image: h.busyboxImage,
                imagePullPolicy: "IfNotPresent",
                command: ["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 0.2; done'],
              },
            ],
          },
        }),
      );
      r.updatePods(list);
      const t = performance.now();
      await r.syncAll();
      const ms = performance.now() - t;
      const up = (await runtime.listContainers({ filter: { state: { state: 1 } } })).containers.length;
      if (up !== 50) throw new Error(`${tag}: ${up} running`);
      r.updatePods([]);
      await r.syncAll();
      return ms;
    };
    const serialMs: number[] = [];
    const boundedMs: number[] = [];
    for (let round = 0; round < 2; round++) {
      serialMs.push(await startAll(1, `serial${round}`));
      boundedMs.push(await startAll(8, `bounded${round}`));
    }
    runtime.close();
    image.close();
    containerd = {
      oneAtATimeMs: Math.round(median(serialMs)),
      eightAtOnceMs: Math.round(median(boundedMs)),
      speedUp: +(median(serialMs) / median(boundedMs)).toFixed(2),
    };
  } finally {
    await h.dispose();
  }
}

console.log(
  JSON.stringify(
    {
      computePodActions10k: {
        totalMs: +median(planMs).toFixed(1),
        target: "<= 50 ms",
        firstPassHashingMs: +median(coldHashMs).toFixed(1),
        firstPassTotalMs: +(median(planMs) + median(coldHashMs)).toFixed(1),
        jsonRoundTripBaselineMs: +median(copyMs).toFixed(1),
        ratioToBaseline: +(median(planMs) / median(copyMs)).toFixed(2),
      },
      steadyStatePass1000Pods: {
        passMs: +median(passMs).toFixed(1),
        target: "<= 20 ms",
        relistOnlyMs: +median(relistMs).toFixed(1),
        ratioToRelist: +(median(passMs) / median(relistMs)).toFixed(2),
        runtimeCallsPerPass: await callsPerPass,
      },
      start50PodsOnContainerd: containerd,
    },
    null,
    2,
  ),
);
