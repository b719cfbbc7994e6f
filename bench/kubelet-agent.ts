// Benchmarks the node agent of @nodekit/kubelet-core/apiserver. Run: node --expose-gc --import tsx bench/kubelet-agent.ts
// (npm run bench runs it after building). Prints JSON figures and the ratio against a baseline
// measured in the same run.
//
// 1,000 pods bound at once, arriving through the API server's watch (the local test API server of
// the package's tests, over HTTPS, with client-node), until all are Running on the in-process fake
// runtime — against the same 1,000 given to a reconciler through updatePods (target: ≤ 2×).
import { createFakeRuntime } from "@nodekit/cri/testing";
import { createNodeAgent } from "../packages/kubelet-core/dist/apiserver.js";
import { createReconciler, type Pod } from "../packages/kubelet-core/dist/index.js";
import { createTestApiServer } from "../packages/kubelet-core/test/support/api-server/index.js";

const N = 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const spec = () => ({
  nodeName: "bench",
  containers: [{ name: "app", image: "registry.local/app:1", command: ["sleep", "3600"] }],
  terminationGracePeriodSeconds: 0,
});

async function viaUpdatePods(): Promise<number> {
  const fake = createFakeRuntime({ registry: ["*"] });
  const r = createReconciler({
    runtime: fake,
    image: fake,
    nodeName: "bench",
    useContainerEvents: false,
    relistPeriodMs: 50,
  });
  let running = 0;
  r.onStatus((u) => {
    if (u.status.phase === "Running") running++;
  });
  const pods: Pod[] = Array.from({ length: N }, (_, i) => ({
    metadata: { name: `p-${i}`, namespace: "default", uid: `uid-${i}` },
    spec: spec(),
  }));
  const t = performance.now();
  r.updatePods(pods);
  r.start();
  while (running < N) await new Promise((res) => setTimeout(res, 5));
  const ms = performance.now() - t;
  await r.stop();
  return ms;
}

async function viaWatch(): Promise<number> {
  const api = await createTestApiServer({ historyLimit: 20_000 });
  const fake = createFakeRuntime({ registry: ["*"] });
  const agent = createNodeAgent({
    kubeConfig: api.kubeConfig(),
    nodeName: "bench",
    runtime: fake,
    image: fake,
    useContainerEvents: false,
    relistPeriodMs: 50,
  });
  let running = 0;
  agent.reconciler.onStatus((u) => {
    if (u.status.phase === "Running") running++;
  });
  await agent.start();
  while (api.openWatches === 0) await new Promise((res) => setTimeout(res, 5));
  // 1,000 pods bound at once: each arrives as an ADDED event of the agent's watch.
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    api.store.put("pods", { metadata: { name: `p-${i}`, namespace: "default" }, spec: spec() });
  }
  while (running < N) await new Promise((res) => setTimeout(res, 5));
  const ms = performance.now() - t;
  await agent.stop();
  await api.close();
  return ms;
}

const direct: number[] = [];
const watched: number[] = [];
for (let round = 0; round < 3; round++) {
  direct.push(await viaUpdatePods());
  watched.push(await viaWatch());
}
console.log(
  JSON.stringify(
    {
      start1000PodsThroughTheApiServer: {
        viaWatchMs: Math.round(median(watched)),
        viaUpdatePodsMs: Math.round(median(direct)),
        ratio: +(median(watched) / median(direct)).toFixed(2),
        target: "<= 2",
        rounds: { viaWatchMs: watched.map(Math.round), viaUpdatePodsMs: direct.map(Math.round) },
      },
    },
    null,
    2,
  ),
);
