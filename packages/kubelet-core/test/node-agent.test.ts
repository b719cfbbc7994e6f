// The node agent against a local API server that speaks the real protocol, through
// @kubernetes/client-node unchanged: pods bound to the node run on the fake runtime, their
// statuses reach the API, deletions are graceful, watches break and expire, the agent restarts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { createFakeRuntime, type FakeRuntime } from "@nodekit/cri/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createApiServerSource, createNodeAgent, type NodeAgent, registerNode } from "../src/apiserver/index.js";
import type { Pod, PodSourceSink } from "../src/index.js";
import { createTestApiServer, type TestApiServer } from "./support/api-server/index.js";
import { defined } from "./support/defined.js";

const NODE = "node-1";

// biome-ignore lint/suspicious/noExplicitAny: API objects, read field by field in assertions
type Obj = any;

/** Waits until `predicate` holds, checked every 20 ms (no wall-clock assertion: the timeout only ends a hung test). */
async function until(_api: TestApiServer, predicate: () => unknown, timeoutMs = 30_000, message = "condition") {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const podManifest = (name: string, extra: Partial<NonNullable<V1Pod["spec"]>> = {}): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: {
    nodeName: NODE,
    terminationGracePeriodSeconds: 5,
    containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }],
    ...extra,
  },
});

describe("createNodeAgent against a Kubernetes API server (client-node unchanged)", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setUp(options: { runtime?: FakeRuntime; staticPodPath?: string } = {}) {
    const api: TestApiServer = await createTestApiServer({ bookmarkIntervalMs: 100 });
    cleanup.push(() => api.close());
    const runtime = options.runtime ?? createFakeRuntime({ registry: ["*"], runtimeName: "nodekit-fake" });
    const agent = startAgent(api, runtime, options.staticPodPath);
    await agent.start();
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    return { api, runtime, agent, core };
  }
  function startAgent(api: TestApiServer, runtime: FakeRuntime, staticPodPath?: string): NodeAgent {
    const agent = createNodeAgent({
      kubeConfig: api.kubeConfig(),
      nodeName: NODE,
      runtime,
      image: runtime,
      relistPeriodMs: 50,
      useContainerEvents: false,
      staticPodPath,
      lease: { renewIntervalMs: 100 },
      watch: { initialBackoffMs: 20, maxBackoffMs: 200 },
      statusRetryMs: 20,
      node: { addresses: [{ type: "InternalIP", address: "192.168.49.2" }], capacity: { cpu: "2", pods: "110" } },
      nodeIPs: ["192.168.49.2"],
    });
    cleanup.push(() => agent.stop());
    return agent;
  }
  const pod = (api: TestApiServer, name: string): Obj => api.store.get("pods", "default", name);
  const runningContainers = async (runtime: FakeRuntime, podName?: string) =>
    (await runtime.listContainers({ filter: { state: { state: 1 } } })).containers.filter(
      (c) => !podName || c.labels["io.kubernetes.pod.name"] === podName,
    );

  it("registers the Node and keeps its Lease", async () => {
    const { api, agent } = await setUp();
    const node: Obj = defined(api.store.get("nodes", undefined, NODE));
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^nodekit-fake:\/\//);
    expect(node.status.addresses).toEqual([{ type: "InternalIP", address: "192.168.49.2" }]);
    expect(node.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
    expect(node.metadata.labels["kubernetes.io/hostname"]).toBe(NODE);
    expect(agent.node?.metadata?.uid).toBe(node.metadata.uid);
    await until(api, () => api.store.get("leases", "kube-node-lease", NODE) !== undefined);
    const lease: Obj = defined(api.store.get("leases", "kube-node-lease", NODE));
    expect(lease.spec).toMatchObject({ holderIdentity: NODE, leaseDurationSeconds: 40 });
    expect(lease.metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Node", name: NODE, uid: node.metadata.uid },
    ]);
    // It is renewed: its resourceVersion moves on.
    const first = lease.metadata.resourceVersion;
    await until(
      api,
      () => (api.store.get("leases", "kube-node-lease", NODE) as Obj).metadata.resourceVersion !== first,
    );
  });

  it("runs a pod created in the API and writes its status with the kubelet's patch; pods of other nodes are not run", async () => {
    const { api, runtime, core } = await setUp();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("web") });
    await core.createNamespacedPod({ namespace: "default", body: podManifest("elsewhere", { nodeName: "node-2" }) });
    await until(api, () => pod(api, "web")?.status?.phase === "Running", 30_000, "web Running in the API");
    const st = defined(pod(api, "web")).status;
    expect(st.containerStatuses.map((c: { name: string; ready: boolean }) => [c.name, c.ready])).toEqual([
      ["app", true],
    ]);
    expect(st.hostIP).toBe("192.168.49.2");
    expect(st.podIP).toMatch(/^10\.88\./);
    expect(st.conditions.map((c: { type: string }) => c.type)).toContain("Ready");
    expect(await runningContainers(runtime, "web")).toHaveLength(1);
    expect(await runningContainers(runtime, "elsewhere")).toHaveLength(0);
    const patches = api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/pods/web/status"));
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.every((p) => p.contentType === "application/strategic-merge-patch+json")).toBe(true);
    expect((defined(patches[0]).body as { metadata: { uid: string } }).metadata.uid).toBe(
      defined(pod(api, "web")).metadata.uid,
    );
  });

  it("kills a deleted pod gracefully, then deletes it from the API with grace 0", async () => {
    const { api, runtime, core } = await setUp();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("doomed") });
    await until(api, () => pod(api, "doomed")?.status?.phase === "Running", 30_000, "doomed Running");
    const uid = defined(pod(api, "doomed")).metadata.uid;
    await core.deleteNamespacedPod({ name: "doomed", namespace: "default" });
    expect(pod(api, "doomed")?.metadata.deletionTimestamp).toBeDefined();
    await until(api, () => pod(api, "doomed") === undefined, 30_000, "doomed gone from the API");
    expect(await runningContainers(runtime, "doomed")).toHaveLength(0);
    const stop = runtime.callLog.find((c) => c.method === "StopContainer");
    expect(stop?.request).toMatchObject({ timeout: 5n });
    const finalDelete = api.requests.filter((r) => r.method === "DELETE" && r.path.endsWith("/pods/doomed")).at(-1);
    expect(finalDelete?.body).toMatchObject({ gracePeriodSeconds: 0, preconditions: { uid } });
    // The pod's runtime objects go once it left the API.
    for (let i = 0; i < 100 && (await runtime.listPodSandbox({})).items.length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await runtime.listPodSandbox({})).items).toEqual([]);
  });

  it("resumes a broken watch from its resourceVersion without duplicate sandboxes or containers", async () => {
    const { api, runtime, core, agent } = await setUp();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("a") });
    await until(api, () => pod(api, "a")?.status?.phase === "Running", 30_000, "a Running");
    await until(api, () => api.openWatches > 0);
    api.breakWatches();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("b") });
    await until(api, () => pod(api, "b")?.status?.phase === "Running", 30_000, "b Running after the break");
    expect(agent.apiSource.lists).toBe(1); // resumed, not listed again
    expect(runtime.calls.filter((c) => c === "RunPodSandbox")).toHaveLength(2);
    expect(await runningContainers(runtime)).toHaveLength(2);
  });

  it("lists again after 410 Gone, and removes a pod whose deletion it missed", async () => {
    const { api, runtime, core, agent } = await setUp();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("keep") });
    await core.createNamespacedPod({ namespace: "default", body: podManifest("missed") });
    await until(
      api,
      () => pod(api, "keep")?.status?.phase === "Running" && pod(api, "missed")?.status?.phase === "Running",
      30_000,
      "both Running",
    );
    await until(api, () => api.openWatches > 0);
    // While the agent is disconnected the pod goes and the history is compacted: resuming gets 410.
    api.failNext(3, 503, { method: "GET", path: /^\/api\/v1\/pods$/ });
    api.breakWatches();
    api.store.remove("pods", "default", "missed");
    api.compact();
    await until(
      api,
      () => api.requests.some((r) => r.path === "/api/v1/pods" && r.status === 503),
      10_000,
      "a failed reconnect",
    );
    await until(api, () => agent.apiSource.lists >= 2, 30_000, "a second list");
    for (let i = 0; i < 200 && (await runningContainers(runtime, "missed")).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await runningContainers(runtime, "missed")).toHaveLength(0);
    expect(await runningContainers(runtime, "keep")).toHaveLength(1);
  });

  it("picks up where it stopped after a restart: no new sandbox, statuses still written", async () => {
    const { api, runtime, core, agent } = await setUp();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("steady") });
    await until(api, () => pod(api, "steady")?.status?.phase === "Running", 30_000, "steady Running");
    await agent.stop();
    const again = startAgent(api, runtime);
    await again.start();
    await core.createNamespacedPod({ namespace: "default", body: podManifest("later") });
    await until(api, () => pod(api, "later")?.status?.phase === "Running", 30_000, "later Running");
    expect(runtime.calls.filter((c) => c === "RunPodSandbox")).toHaveLength(2);
    expect(await runningContainers(runtime, "steady")).toHaveLength(1);
  });

  it("runs static pods from a folder and mirrors them into the API, owned by the Node", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nk-agent-static-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, "etcd.yaml"),
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: etcd\n    image: busybox:1.36\n",
    );
    const { api, runtime } = await setUp({ staticPodPath: dir });
    const mirror = (): Obj => api.store.get("pods", "kube-system", `etcd-${NODE}`);
    await until(api, () => mirror()?.status?.phase === "Running", 30_000, "the mirror pod Running");
    const m = defined(mirror());
    const node: Obj = defined(api.store.get("nodes", undefined, NODE));
    expect(m.metadata.annotations["kubernetes.io/config.mirror"]).toBe(
      m.metadata.annotations["kubernetes.io/config.hash"],
    );
    expect(m.metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Node", name: NODE, uid: node.metadata.uid, controller: true },
    ]);
    // The mirror pod is not run a second time.
    expect(await runningContainers(runtime)).toHaveLength(1);
  });

  it("writes the latest status after an outage of the API server, retrying without losing it", async () => {
    const { api, core } = await setUp();
    api.failNext(6, 503, { path: /\/pods\/flaky(\/status)?$/ });
    await core.createNamespacedPod({ namespace: "default", body: podManifest("flaky") });
    await until(api, () => pod(api, "flaky")?.status?.phase === "Running", 30_000, "flaky Running after the outage");
    expect(api.requests.filter((r) => r.path.includes("/pods/flaky") && r.status === 503).length).toBe(6);
    expect(defined(pod(api, "flaky")).status.containerStatuses[0].ready).toBe(true);
  });

  it("stops while the API server is away, without waiting for the statuses it cannot write", async () => {
    const { api, agent } = await setUp();
    // Every read and write of the pod fails: its status stays queued, retried.
    api.failNext(1_000_000, 503, { path: /\/pods\/late(\/status)?$/ });
    api.store.put("pods", podManifest("late") as Obj);
    await until(api, () => api.requests.some((r) => r.path.endsWith("/pods/late") && r.status === 503));
    let stopped = false;
    const stopping = agent.stop().then(() => {
      stopped = true;
    });
    await until(api, () => stopped, 20_000, "stop() to resolve");
    await stopping;
  });

  it("removes from the API a pod that had finished before it was deleted", async () => {
    const { api, core } = await setUp();
    await core.createNamespacedPod({
      namespace: "default",
      body: podManifest("job", {
        restartPolicy: "Never",
        containers: [{ name: "app", image: "busybox:1.36", command: ["sh", "-c", "echo done"] }],
      }),
    });
    await until(api, () => pod(api, "job")?.status?.phase === "Succeeded", 30_000, "job Succeeded");
    // A graceful deletion as a registry that keeps finished pods would record it.
    const p: Obj = pod(api, "job");
    api.store.put("pods", {
      ...p,
      metadata: {
        ...p.metadata,
        deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        deletionGracePeriodSeconds: 5,
      },
    });
    await until(api, () => pod(api, "job") === undefined, 30_000, "job removed from the API");
  });

  it("drops a status the API server refuses for good (403), instead of retrying it forever", async () => {
    const { api, core, agent } = await setUp();
    api.failNext(1_000_000, 403, { method: "PATCH", path: /\/pods\/refused\/status$/ });
    await core.createNamespacedPod({ namespace: "default", body: podManifest("refused") });
    await until(api, () => api.requests.some((r) => r.path.endsWith("/pods/refused/status") && r.status === 403));
    let flushed = false;
    void agent.flushStatuses().then(() => {
      flushed = true;
    });
    await until(api, () => flushed, 20_000, "the status queue to drain");
  });

  it("updates a Node that exists already, keeping its uid and others' labels", async () => {
    const api = await createTestApiServer();
    cleanup.push(() => api.close());
    const before: Obj = api.store.put("nodes", {
      metadata: { name: NODE, labels: { "example.com/zone": "a" } },
      spec: {},
      status: {
        addresses: [{ type: "InternalIP", address: "10.0.0.9" }],
        conditions: [{ type: "example.com/Gpu", status: "True" }],
      },
    });
    const node = await registerNode(api.kubeConfig(), {
      nodeName: NODE,
      runtime: { runtimeName: "containerd", runtimeVersion: "1.6.20" },
      capacity: { cpu: "4", pods: "110" },
    });
    expect(node.metadata?.uid).toBe(before.metadata.uid);
    const stored: Obj = defined(api.store.get("nodes", undefined, NODE));
    expect(stored.metadata.labels).toMatchObject({ "example.com/zone": "a", "kubernetes.io/hostname": NODE });
    expect(stored.status.nodeInfo.containerRuntimeVersion).toBe("containerd://1.6.20");
    expect(stored.status.capacity).toEqual({ cpu: "4", pods: "110" });
    // What this registration did not know stays as the Node had it.
    expect(stored.status.addresses).toEqual([{ type: "InternalIP", address: "10.0.0.9" }]);
    expect(stored.status.conditions.map((c: Obj) => c.type).sort()).toEqual(["Ready", "example.com/Gpu"]);
  });

  it("the API source hands over its whole set again on its resync period, without asking the API", async () => {
    const api = await createTestApiServer();
    cleanup.push(() => api.close());
    api.store.put("pods", podManifest("r") as Obj);
    const sets: string[][] = [];
    const sink: PodSourceSink = {
      add() {},
      update() {},
      remove() {},
      synced() {},
      set: (pods: readonly Pod[]) => sets.push(pods.map((p) => p.metadata?.name ?? "")),
    };
    const source = createApiServerSource({ kubeConfig: api.kubeConfig(), nodeName: NODE, resyncPeriodMs: 50 });
    const stop = new AbortController();
    cleanup.push(() => stop.abort());
    void source.start(sink, stop.signal);
    await until(api, () => sets.length >= 3, 10_000, "two resyncs");
    expect(sets.slice(0, 3)).toEqual([["r"], ["r"], ["r"]]);
    expect(source.lists).toBe(1);
    expect(api.requests.filter((r) => r.path === "/api/v1/pods" && r.query.watch === undefined)).toHaveLength(1);
  });

  it("runs 1,000 pods bound at once", async () => {
    const { api, runtime, core } = await setUp();
    const n = 1000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        core.createNamespacedPod({ namespace: "default", body: podManifest(`bulk-${i}`) }),
      ),
    );
    await until(
      api,
      () => api.store.list("pods", "default").filter((p: Obj) => p.status?.phase === "Running").length === n,
      120_000,
      "1,000 pods Running in the API",
    );
    expect(await runningContainers(runtime)).toHaveLength(n);
    expect(runtime.calls.filter((c) => c === "RunPodSandbox")).toHaveLength(n);
  }, 180_000);
});
