// End-to-end: the reconciler against a real containerd (the harness of @nodekit/cri's tests).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api } from "@kubernetes/client-node";
import {
  createImageClient,
  createRuntimeClient,
  type ImageClient,
  PodSandboxState,
  type RuntimeClient,
} from "@nodekit/cri";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "../../cri/test/harness/containerd.js";
import { createNodeAgent } from "../src/apiserver/index.js";
import { createReconciler, labels, type Pod, type PodEvent, type PodStatus, type Reconciler } from "../src/index.js";
import { createTestApiServer } from "./support/api-server/index.js";
import { defined } from "./support/defined.js";

const describeE2e = describeWithContainerd();

describeE2e("@nodekit/kubelet-core against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  let image: ImageClient;
  const run = randomUUID().slice(0, 6);

  beforeAll(async () => {
    h = await startContainerd();
    runtime = createRuntimeClient(h.endpoint);
    image = createImageClient(h.endpoint);
  });
  afterAll(async () => {
    runtime?.close();
    image?.close();
    await h?.dispose();
  });

  const pod = (name: string, spec: Partial<NonNullable<Pod["spec"]>>): Pod => ({
    metadata: { name, namespace: "e2e", uid: `${run}-${name}` },
    spec: { terminationGracePeriodSeconds: 10, containers: [], ...spec },
  });
  const c = (name: string, script: string, extra: object = {}) => ({
    name,
    image: h.busyboxImage,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", script],
    ...extra,
  });
  // Exits promptly on SIGTERM, so graceful stops are quick and exit 0.
  const serve = 'trap "exit 0" TERM; while true; do sleep 0.2; done';

  function reconciler(extra: Partial<Parameters<typeof createReconciler>[0]> = {}) {
    const events: PodEvent[] = [];
    const r = createReconciler({
      runtime,
      image,
      nodeName: "e2e",
      podLogsRoot: join(h.dir, "pods"),
      cgroupParent: (p) => `${h.cgroupParent}/pod${p.metadata?.uid}`,
      eventSink: (e) => events.push(e),
      ...extra,
    });
    return { r, events };
  }

  async function syncUntil(
    r: Reconciler,
    uid: string,
    done: (s: PodStatus) => boolean,
    timeoutMs = 30_000,
  ): Promise<PodStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await r.syncAll();
      const s = r.podStatus(uid);
      if (s && done(s)) return s;
      if (Date.now() > until) throw new Error(`timed out; last status ${JSON.stringify(s)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  const isReady = (s: PodStatus) => s.conditions?.find((x) => x.type === "Ready")?.status === "True";

  async function podObjects(uid: string) {
    const filter = { labelSelector: { [labels.podUid]: uid } };
    const { items } = await runtime.listPodSandbox({ filter });
    const { containers } = await runtime.listContainers({ filter });
    return { items, containers };
  }

  it("starts an init container, a sidecar and the app in order, and reports Ready", async () => {
    const { r, events } = reconciler();
    const p = pod("ordered", {
      initContainers: [c("init", "echo init done"), c("sidecar", serve, { restartPolicy: "Always" })],
      containers: [c("app", serve)],
    });
    r.updatePods([p]);
    const s = await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    expect(s.phase).toBe("Running");
    expect(s.podIP?.startsWith(h.podSubnet.split(".").slice(0, 3).join("."))).toBe(true);
    expect(events.filter((e) => e.reason === "Started").map((e) => e.container)).toEqual(["init", "sidecar", "app"]);
    expect(s.initContainerStatuses?.map((x) => [x.name, Object.keys(x.state ?? {})[0]])).toEqual([
      ["init", "terminated"],
      ["sidecar", "running"],
    ]);
    expect(s.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
    r.updatePods([]);
    await r.syncAll();
    expect(await podObjects(defined(defined(p.metadata).uid))).toEqual({ items: [], containers: [] });
  });

  it("runs nothing for pods whose name, namespace or uid would leave the log root (issue 10)", async () => {
    const { r, events } = reconciler();
    const before = readdirSync(h.dir).sort();
    // Each would have put its log folder (and the container's output) at <h.dir>/escaped… .
    const hostile: Pod[] = [
      {
        ...pod("x", { containers: [c("app", "echo pwned")] }),
        metadata: { name: "x/../../escaped", namespace: "e2e", uid: `${run}-h1` },
      },
      {
        ...pod("x", { containers: [c("app", "echo pwned")] }),
        metadata: { name: "x", namespace: "../escaped", uid: `${run}-h2` },
      },
      {
        ...pod("x", { containers: [c("app", "echo pwned")] }),
        metadata: { name: "x", namespace: "e2e", uid: `../../escaped-${run}` },
      },
    ];
    r.updatePods(hostile);
    for (let i = 0; i < 3; i++) await r.syncAll();
    for (const p of hostile) {
      const st = r.podStatus(defined(defined(p.metadata).uid));
      expect(st?.phase).toBe("Failed");
      expect(st?.reason).toBe("InvalidPod");
      expect(await podObjects(defined(defined(p.metadata).uid))).toEqual({ items: [], containers: [] });
    }
    expect(events.filter((e) => e.reason === "FailedValidation")).toHaveLength(3);
    expect(readdirSync(h.dir).sort()).toEqual(before);
    r.updatePods([]);
    await r.syncAll();
  });

  it("kills pods that left the desired set even when the node's listing is over the receive limit (issue 10)", async () => {
    // containerd 1.6 has no Stream* lists: the unary ListPodSandbox of four pods with 255 KiB of
    // annotations each is over a 900 KiB receive limit, while each pod's own listing is not.
    const small = { maxReceiveMessageBytes: 900 * 1024 };
    const smallRuntime = createRuntimeClient(h.endpoint, small);
    const smallImage = createImageClient(h.endpoint, small);
    try {
      const { r } = reconciler({ runtime: smallRuntime, image: smallImage });
      const big = (i: number): Pod => ({
        ...pod(`big-${i}`, { containers: [c("app", serve)] }),
        metadata: {
          name: `big-${i}`,
          namespace: "e2e",
          uid: `${run}-big-${i}`,
          annotations: { "example.com/blob": String(i).repeat(255 * 1024) },
        },
      });
      const pods = [0, 1, 2, 3].map(big);
      r.updatePods(pods.slice(0, 3));
      await syncUntil(r, defined(defined(defined(pods[2]).metadata).uid), isReady);
      r.updatePods(pods);
      await syncUntil(r, defined(defined(defined(pods[3]).metadata).uid), isReady).catch(() => undefined);
      expect((await podObjects(defined(defined(defined(pods[3]).metadata).uid))).containers).toHaveLength(1);
      await expect(r.syncAll()).rejects.toMatchObject({ reason: "RelistFailed" });
      r.updatePods([defined(pods[0])]);
      await expect(r.syncAll()).rejects.toMatchObject({ reason: "RelistFailed" });
      for (const p of pods.slice(1))
        expect(await podObjects(defined(defined(p.metadata).uid))).toEqual({ items: [], containers: [] });
      expect((await podObjects(defined(defined(defined(pods[0]).metadata).uid))).containers).toHaveLength(1);
      r.updatePods([]);
      await r.syncAll();
      expect(await podObjects(defined(defined(defined(pods[0]).metadata).uid))).toEqual({ items: [], containers: [] });
    } finally {
      smallRuntime.close();
      smallImage.close();
    }
  });

  it("runs a pod created in the API server on containerd, writes its status, and finishes its deletion", async () => {
    const api = await createTestApiServer({ namespaces: ["default", "kube-system", "kube-node-lease", "e2e"] });
    const agent = createNodeAgent({
      kubeConfig: api.kubeConfig(),
      nodeName: "e2e-node",
      runtime,
      image,
      relistPeriodMs: 200,
      podLogsRoot: join(h.dir, "pods"),
      cgroupParent: (p) => `${h.cgroupParent}/pod${p.metadata?.uid}`,
    });
    try {
      await agent.start();
      const node = api.store.get("nodes", undefined, "e2e-node") as {
        status: { nodeInfo: { containerRuntimeVersion: string } };
      };
      expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
      const core = api.kubeConfig().makeApiClient(CoreV1Api);
      await core.createNamespacedPod({
        namespace: "e2e",
        body: {
          metadata: { name: "from-api", namespace: "e2e" },
          spec: { nodeName: "e2e-node", terminationGracePeriodSeconds: 5, containers: [c("app", serve)] },
        },
      });
      // biome-ignore lint/suspicious/noExplicitAny: the API's pod, read field by field
      const get = (): any => api.store.get("pods", "e2e", "from-api");
      await api.waitFor(() => get()?.status?.phase === "Running", { timeoutMs: 30_000, message: "from-api Running" });
      const uid = defined(get()).metadata.uid as string;
      expect(defined(get()).status.containerStatuses[0].containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
      expect((await podObjects(uid)).containers).toHaveLength(1);
      await core.deleteNamespacedPod({ name: "from-api", namespace: "e2e" });
      await api.waitFor(() => get() === undefined, { timeoutMs: 30_000, message: "from-api deleted" });
      const until = Date.now() + 10_000;
      while ((await podObjects(uid)).items.length && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await podObjects(uid)).toEqual({ items: [], containers: [] });
    } finally {
      await agent.stop();
      await api.close();
    }
  });

  it("restarts a failing container with backoff and reports CrashLoopBackOff", async () => {
    const { r, events } = reconciler({ crashLoopBackOff: { initialMs: 1_000, maxMs: 4_000 } });
    const p = pod("crasher", { containers: [c("app", "echo crashing; exit 1")] });
    r.updatePods([p]);
    const s = await syncUntil(
      r,
      defined(defined(p.metadata).uid),
      (st) =>
        (st.containerStatuses?.[0]?.restartCount ?? 0) >= 3 &&
        st.containerStatuses?.[0]?.state?.waiting?.reason === "CrashLoopBackOff",
      60_000,
    );
    const app = defined(defined(s.containerStatuses)[0]);
    expect(app.state?.waiting?.message).toMatch(/^back-off \ds restarting failed container=app pod=crasher_e2e\(/);
    expect(app.lastState?.terminated).toMatchObject({ exitCode: 1, reason: "Error" });
    const starts = events.filter((e) => e.reason === "Started").map((e) => e.time);
    // After the first restart, each waits at least the doubling backoff (1 s, 2 s, 4 s).
    for (let i = 2; i < starts.length; i++)
      expect(defined(starts[i]) - defined(starts[i - 1])).toBeGreaterThanOrEqual(1_000 * 2 ** (i - 2) - 50);
    expect(events.some((e) => e.reason === "BackOff")).toBe(true);
    r.updatePods([]);
    await r.syncAll();
  });

  it("restarts only the container whose spec changed", async () => {
    const { r } = reconciler();
    const p = pod("changing", { containers: [c("a", serve), c("b", serve)] });
    r.updatePods([p]);
    await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    const before = await podObjects(defined(defined(p.metadata).uid));
    const changed = structuredClone(p);
    defined(defined(changed.spec).containers[1]).command = ["sh", "-c", `echo v2; ${serve}`];
    defined(defined(changed.spec).containers[1]).image = h.extraImage;
    r.updatePods([changed]);
    const s = await syncUntil(
      r,
      defined(defined(p.metadata).uid),
      (st) => isReady(st) && st.containerStatuses?.find((x) => x.name === "b")?.restartCount === 1,
    );
    const after = await podObjects(defined(defined(p.metadata).uid));
    const running = (list: typeof before, name: string) =>
      list.containers.filter((x) => x.metadata?.name === name && x.state === 1).map((x) => x.id);
    expect(running(after, "a")).toEqual(running(before, "a"));
    expect(running(after, "b")).toHaveLength(1);
    expect(running(after, "b")).not.toEqual(running(before, "b"));
    expect(after.items.map((x) => x.id)).toEqual(before.items.map((x) => x.id));
    expect(s.containerStatuses?.find((x) => x.name === "a")?.restartCount).toBe(0);
    r.updatePods([]);
    await r.syncAll();
  });

  it("kills a deleted pod gracefully, preStop hook first, within its grace period", async () => {
    const { r, events } = reconciler();
    const p = pod("graceful", {
      terminationGracePeriodSeconds: 8,
      containers: [
        c("app", serve, {
          lifecycle: { preStop: { exec: { command: ["sh", "-c", "echo stopping > /tmp/prestop"] } } },
        }),
      ],
    });
    r.updatePods([p]);
    await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    const [ctr] = (await podObjects(defined(defined(p.metadata).uid))).containers;
    const started = Date.now();
    r.updatePods([
      { ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 8 } },
    ]);
    const s = await syncUntil(
      r,
      defined(defined(p.metadata).uid),
      (st) => st.containerStatuses?.[0]?.state?.terminated !== undefined,
    );
    const took = Date.now() - started;
    // The container trapped SIGTERM and exited 0: it was stopped, not SIGKILLed after the grace period.
    expect(s.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0 });
    expect(took).toBeLessThan(8_000);
    expect(events.filter((e) => e.reason === "Killing").map((e) => e.container)).toEqual(["app"]);
    expect(events.some((e) => e.reason === "FailedPreStopHook")).toBe(false);
    const { items } = await podObjects(defined(defined(p.metadata).uid));
    expect(items.map((x) => x.state)).toEqual([PodSandboxState.SANDBOX_NOTREADY]);
    expect(ctr).toBeDefined();
    r.updatePods([]);
    await r.syncAll();
    expect(await podObjects(defined(defined(p.metadata).uid))).toEqual({ items: [], containers: [] });
  });

  it("converges with no duplicate sandbox or container after a reconciler is killed mid-sync", async () => {
    const p = pod("survivor", { containers: [c("a", serve), c("b", serve), c("c", serve)] });
    const podsFile = join(h.dir, "survivor.json");
    writeFileSync(podsFile, JSON.stringify([p]));
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileURLToPath(new URL("./support/reconcile-child.ts", import.meta.url)),
        h.endpoint,
        h.cgroupParent,
        join(h.dir, "pods"),
        podsFile,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    // Kill it (SIGKILL: no cleanup) right after it created the first container.
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes('"reason":"Created"')) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.once("exit", () => resolve());
      setTimeout(() => reject(new Error(`the child did not create a container: ${out}`)), 30_000);
    });
    await new Promise((res) => child.once("exit", res));
    const { r } = reconciler();
    r.updatePods([p]);
    const s = await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    await r.syncAll();
    const { items, containers } = await podObjects(defined(defined(p.metadata).uid));
    expect(items.filter((x) => x.state === PodSandboxState.SANDBOX_READY)).toHaveLength(1);
    const runningNames = containers
      .filter((x) => x.state === 1)
      .map((x) => x.metadata?.name)
      .sort();
    expect(runningNames).toEqual(["a", "b", "c"]);
    expect(s.containerStatuses?.every((x) => x.ready)).toBe(true);
    r.updatePods([]);
    await r.syncAll();
  });
});
