// Pod sources merged by the pod config, as the kubelet's config.PodConfig and sourcesReady: pods
// come one by one or as a set, from several sources; runtime pods nobody named are removed only
// once every source has synced.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { describe, expect, it } from "vitest";
import {
  createFileSource,
  createPodConfig,
  createReconciler,
  type Pod,
  type PodConfigChange,
  type PodSource,
} from "../src/index.js";
import { createScenario, type Scenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

const pod = (name: string, meta: Partial<NonNullable<Pod["metadata"]>> = {}): Pod => ({
  metadata: { name, namespace: "default", uid: `uid-${name}`, ...meta },
  spec: {
    terminationGracePeriodSeconds: 0,
    containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }],
  },
});

/** A node where a, b and c run, then a second reconciler on the same runtime (a restarted kubelet). */
async function restartedNode(extra: Partial<Parameters<typeof createReconciler>[0]> = {}) {
  const s: Scenario = createScenario({ pods: [pod("a"), pod("b"), pod("c")] });
  await s.runUntil(() => ["a", "b", "c"].every((n) => s.status(n)?.phase === "Running"));
  await s.reconciler.stop();
  const r = createReconciler({
    runtime: s.runtime,
    image: s.runtime,
    clock: s.clock,
    nodeName: "node-1",
    useContainerEvents: false,
    ...extra,
  });
  const runningPods = async () => {
    const { containers } = await s.runtime.listContainers({ filter: { state: { state: 1 } } });
    return containers.map((c) => c.labels["io.kubernetes.pod.name"]).sort();
  };
  const sandboxes = async () => (await s.runtime.listPodSandbox({})).items.map((i) => i.metadata?.name).sort();
  return { s, r, runningPods, sandboxes };
}

describe("pod sources", () => {
  it("an informer's first ADDs never make the reconciler remove pods it has not named yet", async () => {
    const { r, runningPods, sandboxes } = await restartedNode();
    const api = r.source("api");
    api.add(pod("a"));
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
    api.add(pod("b"));
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
    api.synced(); // the first list is complete: c is an orphan now
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b"]);
    expect(await sandboxes()).toEqual(["a", "b"]);
  });

  it("orphans wait until every source has synced", async () => {
    const { r, runningPods } = await restartedNode();
    const file = r.source("file");
    const api = r.source("api");
    file.set([pod("a")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
    api.set([pod("b")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b"]);
  });

  it("a source's remove kills and removes that pod only, and an update with deletionTimestamp kills it but keeps it", async () => {
    const { r, runningPods, sandboxes } = await restartedNode();
    const api = r.source("api");
    api.set([pod("a"), pod("b"), pod("c")]);
    await r.syncAll();
    api.remove(pod("b"));
    api.update(pod("c", { deletionTimestamp: "2026-12-02T00:00:00Z" }));
    await r.syncAll();
    expect(await runningPods()).toEqual(["a"]);
    expect(await sandboxes()).toEqual(["a", "c"]);
    expect(r.podStatus("uid-b")).toBeUndefined();
    expect(r.podStatus("uid-c")?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
  });

  it("a pod removed after a forced deletion is killed with its grace period of 0 (the kubelet's minimum 2 s), not its spec's", async () => {
    const { s, r } = await restartedNode();
    const api = r.source("api");
    const slow = pod("a");
    defined(slow.spec).terminationGracePeriodSeconds = 30;
    api.set([slow, pod("b"), pod("c")]);
    await r.syncAll();
    s.runtime.clearCalls();
    api.remove({
      ...slow,
      metadata: { ...slow.metadata, deletionTimestamp: "2026-12-02T00:00:00Z", deletionGracePeriodSeconds: 0 },
    });
    await r.syncAll();
    const stops = s.runtime.callLog.filter((c) => c.method === "StopContainer");
    expect(stops.map((c) => c.request)).toEqual([expect.objectContaining({ timeout: 2n })]);
  });

  it("a pod named by two sources stays while either names it", async () => {
    const { r, runningPods } = await restartedNode();
    const file = r.source("file");
    const api = r.source("api");
    file.set([pod("a"), pod("b")]);
    api.set([pod("a"), pod("c")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
    file.set([pod("b")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
    api.set([pod("c")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["b", "c"]);
  });

  it("updatePods is one source among others", async () => {
    const { r, runningPods } = await restartedNode();
    r.updatePods([pod("a")]);
    const api = r.source("api");
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]); // api has not synced
    api.set([pod("c")]);
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "c"]);
  });

  it("starts the sources given in its options on the first pass, and stops them with stop()", async () => {
    let stopped = false;
    const source: PodSource = {
      name: "static",
      start(sink, signal) {
        sink.set([pod("a"), pod("c")]);
        signal.addEventListener("abort", () => {
          stopped = true;
        });
      },
    };
    const { r, runningPods } = await restartedNode({ sources: [source] });
    await r.syncAll(); // the source starts here and delivers its set
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "c"]);
    await r.stop();
    expect(stopped).toBe(true);
    // Started again by the next start() or pass.
    stopped = false;
    await r.syncAll();
    await r.stop();
    expect(stopped).toBe(true);
  });

  it("a source registered in the options blocks orphan removal until it has synced", async () => {
    const never: PodSource = { name: "slow", start() {} };
    const { r, runningPods } = await restartedNode({ sources: [never] });
    r.updatePods([pod("a")]);
    await r.syncAll();
    await r.syncAll();
    expect(await runningPods()).toEqual(["a", "b", "c"]);
  });
});

describe("static pods from a folder through the reconciler", () => {
  it("runs the folder's pods as <name>-<node>, with the kubelet's config annotations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nk-static-"));
    try {
      writeFileSync(
        join(dir, "web.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: busybox:1.36\n",
      );
      const runtime = createFakeRuntime({ registry: ["*"] });
      const r = createReconciler({
        runtime,
        image: runtime,
        nodeName: "Edge-1",
        useContainerEvents: false,
        sources: [createFileSource({ path: dir, nodeName: "Edge-1", watch: false })],
      });
      let running = false;
      for (let i = 0; i < 20 && !running; i++) {
        await r.syncAll();
        const { items } = await runtime.listPodSandbox({});
        running = items.length === 1;
        if (!running) await new Promise((res) => setTimeout(res, 20));
      }
      const { items } = await runtime.listPodSandbox({});
      expect(items.map((i) => [i.metadata?.name, i.metadata?.namespace])).toEqual([["web-edge-1", "default"]]);
      expect(items[0]?.annotations["kubernetes.io/config.source"]).toBe("file");
      expect(items[0]?.annotations["kubernetes.io/config.hash"]).toBe(items[0]?.metadata?.uid);
      await r.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("createPodConfig", () => {
  it("merges sources by uid, the newest update winning, and tells when every source has synced", () => {
    const changes: string[] = [];
    const config = createPodConfig((c: PodConfigChange) =>
      changes.push(c.kind === "upsert" ? `${c.source}+${c.pod.metadata?.name}` : `${c.source}-${c.uid}`),
    );
    expect(config.sourcesReady()).toBe(false);
    const a = config.sink("a");
    const b = config.sink("b");
    expect(config.sink("a")).toBe(a);
    a.add(pod("x"));
    b.add(pod("x", { labels: { from: "b" } }));
    expect(config.pod("uid-x")?.metadata?.labels).toEqual({ from: "b" });
    a.synced();
    expect(config.sourcesReady()).toBe(false);
    b.set([pod("x", { labels: { from: "b" } }), pod("y")]);
    expect(config.sourcesReady()).toBe(true);
    b.remove(pod("x")); // a still names x: its pod counts again
    expect(config.pod("uid-x")?.metadata?.labels).toBeUndefined();
    a.remove(pod("x"));
    expect(config.pod("uid-x")).toBeUndefined();
    a.remove(pod("never-added")); // nothing happens
    expect(config.pods().map((p) => p.metadata?.name)).toEqual(["y"]);
    expect(changes).toEqual(["a+x", "b+x", "b+x", "b+y", "a+x", "a-uid-x"]);
  });

  it("ignores pods without a uid", () => {
    const changes: PodConfigChange[] = [];
    const config = createPodConfig((c) => changes.push(c));
    config.sink("s").set([{ metadata: { name: "no-uid" }, spec: { containers: [] } }]);
    expect(changes).toEqual([]);
    expect(config.sourcesReady()).toBe(true);
  });
});
