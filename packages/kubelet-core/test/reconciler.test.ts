import { Code, CriError, PodSandboxState } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { describe, expect, it } from "vitest";
import { createReconciler, hashContainer, labels, type Pod } from "../src/index.js";
import { createFakeClock, createScenario, type Scenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

function pod(
  name: string,
  spec: Partial<NonNullable<Pod["spec"]>> = {},
  meta: Partial<NonNullable<Pod["metadata"]>> = {},
): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", uid: `uid-${name}`, ...meta },
    spec: {
      containers: [{ name: "app", image: "busybox:1.36", command: ["sh", "-c", "sleep 3600"] }],
      terminationGracePeriodSeconds: 30,
      ...spec,
    },
  };
}

const stateOf = (c: { state?: object } | undefined) => Object.keys(c?.state ?? {})[0];
const ready = (s: Scenario, name: string) =>
  s.status(name)?.conditions?.find((c) => c.type === "Ready")?.status === "True";

/** What the runtime holds: ready sandboxes and running containers per pod uid. */
async function inventory(s: Scenario) {
  const { items } = await s.runtime.listPodSandbox({});
  const { containers } = await s.runtime.listContainers({});
  return {
    sandboxes: items.length,
    readySandboxes: items.filter((i) => i.state === PodSandboxState.SANDBOX_READY).length,
    containers: containers.length,
    running: containers
      .filter((c) => c.state === 1)
      .map((c) => c.labels[labels.containerName])
      .sort(),
  };
}

describe("reconciler over the fake runtime, in virtual time", () => {
  it("starts the init container, then the sidecar, then the app, and reports Running and Ready", async () => {
    const s = createScenario({
      pods: [
        pod("web", {
          initContainers: [
            { name: "setup", image: "busybox:1.36", command: ["sh", "-c", "echo ready"] },
            { name: "proxy", image: "busybox:1.36", restartPolicy: "Always", command: ["sh", "-c", "sleep 3600"] },
          ],
        }),
      ],
    });
    expect(await s.runUntil(() => ready(s, "web"), 30_000)).toBe(true);
    const st = defined(s.status("web"));
    expect(st.phase).toBe("Running");
    expect(st.initContainerStatuses?.map((c) => [c.name, stateOf(c), c.ready])).toEqual([
      ["setup", "terminated", true],
      ["proxy", "running", true],
    ]);
    expect(st.containerStatuses?.map((c) => [c.name, stateOf(c), c.ready, c.restartCount])).toEqual([
      ["app", "running", true, 0],
    ]);
    expect(st.conditions?.map((c) => [c.type, c.status])).toEqual([
      ["PodReadyToStartContainers", "True"],
      ["Initialized", "True"],
      ["Ready", "True"],
      ["ContainersReady", "True"],
      ["PodScheduled", "True"],
    ]);
    expect(s.events.filter((e) => e.reason === "Started").map((e) => e.container)).toEqual(["setup", "proxy", "app"]);
    expect(st.podIP).toMatch(/^10\.88\.\d+\.\d+$/);
    // While the init container ran, the pod was Pending with PodInitializing.
    const first = defined(s.statuses[0]).status;
    expect(first.phase).toBe("Pending");
    expect(first.containerStatuses?.[0]?.state?.waiting?.reason).toBe("PodInitializing");
  });

  it("writes the kubelet's labels and annotations, so the runtime shows kubelet-style pods", async () => {
    const p = pod("labels", {}, { labels: { app: "x" } });
    const s = createScenario({ pods: [p] });
    await s.runUntil(() => ready(s, "labels"));
    const { items } = await s.runtime.listPodSandbox({});
    expect(items[0]?.labels).toEqual({
      app: "x",
      "io.kubernetes.pod.name": "labels",
      "io.kubernetes.pod.namespace": "default",
      "io.kubernetes.pod.uid": "uid-labels",
    });
    expect(items[0]?.metadata).toEqual({ name: "labels", namespace: "default", uid: "uid-labels", attempt: 0 });
    const { containers } = await s.runtime.listContainers({});
    expect(containers[0]?.labels).toEqual({
      "io.kubernetes.container.name": "app",
      "io.kubernetes.pod.name": "labels",
      "io.kubernetes.pod.namespace": "default",
      "io.kubernetes.pod.uid": "uid-labels",
    });
    expect(containers[0]?.annotations).toMatchObject({
      "io.kubernetes.container.hash": hashContainer(defined(defined(p.spec).containers[0])),
      "io.kubernetes.container.restartCount": "0",
      "io.kubernetes.pod.terminationGracePeriod": "30",
      "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
    });
    const status = defined(s.runtime.getContainer(defined(containers[0]).id));
    expect(status.logPath).toBe("/var/log/pods/default_labels_uid-labels/app/0.log");
  });

  it("CrashLoopBackOff: restarts after 10 s, 20 s, 40 s … up to 5 min, and says so in the status", async () => {
    const s = createScenario({
      pods: [pod("crash", { containers: [{ name: "app", image: "busybox:1.36", command: ["sh", "-c", "exit 1"] }] })],
    });
    const t0 = s.clock.now();
    const wall = performance.now();
    await s.runFor(10 * 60_000);
    const elapsedWallMs = performance.now() - wall;
    // Starts (virtual seconds): at once, then the first restart at once (no backoff entry yet, as the
    // kubelet does), then 10, 20, 40, 80, 160 s after each crash; the next (300 s) is past 10 min.
    const starts = s.events.filter((e) => e.reason === "Started").map((e) => (e.time - t0) / 1000);
    expect(starts).toEqual([0, 1, 11, 31, 71, 151, 311]);
    const st = defined(s.status("crash"));
    const c = defined(defined(st.containerStatuses)[0]);
    expect(c.restartCount).toBe(6);
    expect(c.state?.waiting).toEqual({
      reason: "CrashLoopBackOff",
      message: "back-off 5m0s restarting failed container=app pod=crash_default(uid-crash)",
    });
    expect(c.lastState?.terminated).toMatchObject({ exitCode: 1, reason: "Error" });
    expect(st.phase).toBe("Running");
    expect(st.conditions?.find((x) => x.type === "Ready")).toMatchObject({
      status: "False",
      reason: "ContainersNotReady",
      message: "containers with unready status: [app]",
    });
    expect(s.events.filter((e) => e.reason === "BackOff").length).toBeGreaterThan(100);
    // Only the newest dead instance is kept.
    expect((await inventory(s)).containers).toBe(1);
    expect(elapsedWallMs).toBeGreaterThan(0); // ten virtual minutes; figures in docs/performance.md
  });

  it("resets the crash loop after 10 minutes of running", async () => {
    let runs = 0;
    const s = createScenario({
      pods: [pod("flaky")],
      runtime: {
        // Crashes twice quickly, then runs 11 minutes, then crashes again.
        containerBehaviour: () => {
          runs++;
          return runs <= 2
            ? { exitAfterMs: 0, exitCode: 2 }
            : runs === 3
              ? { exitAfterMs: 11 * 60_000, exitCode: 2 }
              : undefined;
        },
      },
    });
    const t0 = s.clock.now();
    await s.runFor(13 * 60_000);
    const starts = s.events.filter((e) => e.reason === "Started").map((e) => (e.time - t0) / 1000);
    // 0, 1 (first restart), 11 (after 10 s), then it runs 660 s, crashes at 671 and, more than
    // 10 minutes after the last backoff update, is restarted at once: the crash loop was reset.
    expect(starts).toEqual([0, 1, 11, 671]);
  });

  it("restarts only the container whose spec changed", async () => {
    const p = pod("change", {
      containers: [
        { name: "a", image: "busybox:1.36", command: ["sleep", "3600"] },
        { name: "b", image: "busybox:1.36", command: ["sleep", "3600"] },
      ],
    });
    const s = createScenario({ pods: [p] });
    await s.runUntil(() => ready(s, "change"));
    const before = await s.runtime.listContainers({});
    const idOf = (list: typeof before, name: string) =>
      list.containers.find((c) => c.metadata?.name === name && c.state === 1)?.id;
    const changed: Pod = structuredClone(p);
    defined(defined(changed.spec).containers[1]).image = "busybox:1.37";
    s.reconciler.updatePods([changed]);
    await s.runFor(2_000);
    const after = await s.runtime.listContainers({});
    expect(idOf(after, "a")).toBe(idOf(before, "a"));
    expect(idOf(after, "b")).not.toBe(idOf(before, "b"));
    expect(s.events.find((e) => e.reason === "Killing")?.message).toBe(
      "Container b definition changed, will be restarted",
    );
    const b = defined(defined(defined(s.status("change")).containerStatuses).find((c) => c.name === "b"));
    expect([b.restartCount, b.image]).toEqual([1, "busybox:1.37"]);
    expect((await inventory(s)).readySandboxes).toBe(1);
  });

  it("kills a deleted pod gracefully: preStop first, then StopContainer with what is left of the grace period", async () => {
    const p = pod("bye", {
      terminationGracePeriodSeconds: 20,
      containers: [
        {
          name: "app",
          image: "busybox:1.36",
          command: ["sleep", "3600"],
          lifecycle: { preStop: { sleep: { seconds: 5 } } },
        },
      ],
    });
    const s = createScenario({ pods: [p] });
    await s.runUntil(() => ready(s, "bye"));
    s.runtime.clearCalls();
    const t = s.clock.now();
    s.reconciler.updatePods([
      {
        ...p,
        metadata: { ...p.metadata, deletionTimestamp: new Date(t).toISOString(), deletionGracePeriodSeconds: 20 },
      },
    ]);
    await s.sync();
    const stop = defined(s.runtime.callLog.find((c) => c.method === "StopContainer")).request as { timeout: bigint };
    expect(s.clock.now() - t).toBe(5_000); // the preStop sleep ran in virtual time
    expect(stop.timeout).toBe(15n); // 20 s grace − 5 s of preStop
    expect(s.runtime.calls.filter((c) => c === "StopPodSandbox")).toHaveLength(1);
    const st = defined(s.status("bye"));
    expect(stateOf(defined(st.containerStatuses)[0])).toBe("terminated");
    expect(st.phase).toBe("Failed"); // killed (137) while terminal: not all succeeded
    // Leaving the desired set removes everything.
    s.reconciler.updatePods([]);
    await s.sync();
    expect(await inventory(s)).toEqual({ sandboxes: 0, readySandboxes: 0, containers: 0, running: [] });
  });

  it("stops regular containers before sidecars, and sidecars in reverse order", async () => {
    const p = pod("order", {
      initContainers: [
        { name: "side-1", image: "busybox:1.36", restartPolicy: "Always", command: ["sleep", "3600"] },
        { name: "side-2", image: "busybox:1.36", restartPolicy: "Always", command: ["sleep", "3600"] },
      ],
    });
    const s = createScenario({ pods: [p] });
    await s.runUntil(() => ready(s, "order"));
    const names = new Map((await s.runtime.listContainers({})).containers.map((c) => [c.id, c.metadata?.name]));
    s.runtime.clearCalls();
    s.reconciler.updatePods([]);
    await s.sync();
    const stopped = s.runtime.callLog
      .filter((c) => c.method === "StopContainer")
      .map((c) => names.get((c.request as { containerId: string }).containerId));
    expect(stopped.slice(0, 3)).toEqual(["app", "side-2", "side-1"]);
  });

  it("runs restartPolicy Never and OnFailure pods to Succeeded and Failed", async () => {
    const s = createScenario({
      pods: [
        pod("ok", { restartPolicy: "Never", containers: [{ name: "job", image: "busybox:1.36", command: ["true"] }] }),
        pod("bad", {
          restartPolicy: "Never",
          containers: [{ name: "job", image: "busybox:1.36", command: ["sh", "-c", "exit 4"] }],
        }),
        pod("retry", {
          restartPolicy: "OnFailure",
          containers: [{ name: "job", image: "busybox:1.36", command: ["sh", "-c", "exit 4"] }],
        }),
      ],
    });
    await s.runFor(30_000);
    expect(s.status("ok")?.phase).toBe("Succeeded");
    expect(s.status("ok")?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 0,
      reason: "Completed",
    });
    expect(s.status("bad")?.phase).toBe("Failed");
    expect(s.status("bad")?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(s.status("retry")?.phase).toBe("Running");
    expect(s.status("retry")?.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(2);
    // Finished pods have their sandbox stopped.
    const { items } = await s.runtime.listPodSandbox({ filter: { labelSelector: { [labels.podName]: "ok" } } });
    expect(items.map((i) => i.state)).toEqual([PodSandboxState.SANDBOX_NOTREADY]);
  });

  it("fails an init container under restartPolicy Never: the pod fails, the app never starts", async () => {
    const s = createScenario({
      pods: [
        pod("init-fail", {
          restartPolicy: "Never",
          initContainers: [{ name: "init", image: "busybox:1.36", command: ["sh", "-c", "exit 3"] }],
        }),
      ],
    });
    await s.runFor(10_000);
    expect(s.status("init-fail")?.phase).toBe("Failed");
    expect(s.events.filter((e) => e.reason === "Started").map((e) => e.container)).toEqual(["init"]);
  });

  it("reports image pull errors: ErrImagePull, then ImagePullBackOff, and ErrImageNeverPull", async () => {
    const s = createScenario({
      runtime: { registry: [] },
      pods: [
        pod("nopull", { containers: [{ name: "app", image: "registry.local/missing:1" }] }),
        pod("never", { containers: [{ name: "app", image: "registry.local/missing:1", imagePullPolicy: "Never" }] }),
      ],
    });
    await s.sync();
    expect(s.status("nopull")?.containerStatuses?.[0]?.state?.waiting?.reason).toBe("ErrImagePull");
    expect(s.status("nopull")?.containerStatuses?.[0]?.state?.waiting?.message).toContain(
      'Failed to pull image "registry.local/missing:1"',
    );
    await s.runFor(3_000);
    expect(s.status("nopull")?.containerStatuses?.[0]?.state?.waiting).toEqual({
      reason: "ImagePullBackOff",
      message: 'Back-off pulling image "registry.local/missing:1"',
    });
    expect(s.status("never")?.containerStatuses?.[0]?.state?.waiting).toEqual({
      reason: "ErrImageNeverPull",
      message: 'Container image "registry.local/missing:1" is not present with pull policy of Never',
    });
    // The pull is retried after the backoff (10 s), then 20 s.
    const pulls = () => s.runtime.calls.filter((c) => c === "PullImage").length;
    const before = pulls();
    await s.runFor(30_000);
    expect(pulls() - before).toBe(2);
    expect(s.status("nopull")?.phase).toBe("Pending");
  });

  it("shows ContainerCreating while the image pulls, then Running", async () => {
    const s = createScenario({
      pods: [pod("slow", { containers: [{ name: "app", image: "registry.local/big:1", command: ["sleep", "9"] }] })],
    });
    s.runtime.scriptPull("registry.local/big:1", { delayMs: 20_000 });
    const seen: string[] = [];
    s.reconciler.onEvent((e) => seen.push(e.reason));
    await s.sync();
    expect(seen).toEqual(expect.arrayContaining(["Pulling", "Pulled", "Created", "Started"]));
    const pulled = defined(s.events.find((e) => e.reason === "Pulled"));
    expect(pulled.message).toBe('Successfully pulled image "registry.local/big:1" in 20.000s');
    expect(s.statuses[0]?.status.containerStatuses?.[0]?.state?.waiting?.reason).toBe("ContainerCreating");
  });

  it("pulls one image at a time by default, as the kubelet's serializeImagePulls", async () => {
    const pods = [
      pod("one", { containers: [{ name: "app", image: "registry.local/one:1", command: ["sleep", "9"] }] }),
      pod("two", { containers: [{ name: "app", image: "registry.local/two:1", command: ["sleep", "9"] }] }),
    ];
    const timeline = async (maxParallelImagePulls?: number) => {
      const s = createScenario({ pods, reconciler: maxParallelImagePulls ? { maxParallelImagePulls } : {} });
      s.runtime.scriptPull("registry.local/one:1", { delayMs: 5_000 });
      s.runtime.scriptPull("registry.local/two:1", { delayMs: 5_000 });
      const t0 = s.clock.now();
      await s.sync();
      return s.events.filter((e) => e.reason === "Pulled").map((e) => (e.time - t0) / 1000);
    };
    expect(await timeline()).toEqual([5, 10]);
    expect(await timeline(2)).toEqual([5, 5]);
  });

  it("rejects invalid pods with a per-pod error while other pods keep syncing", async () => {
    const dup = pod("dup", {
      containers: [
        { name: "a", image: "busybox:1.36" },
        { name: "a", image: "busybox:1.36" },
      ],
    });
    const noImage = pod("noimage", { containers: [{ name: "a" }] });
    const badPolicy = pod("badpolicy", { restartPolicy: "Sometimes" });
    const s = createScenario({ pods: [dup, noImage, badPolicy, pod("good")] });
    await s.runUntil(() => ready(s, "good"));
    expect(s.reconciler.podError("uid-dup")?.message).toBe(
      'pod default/dup is invalid: spec.containers[1].name: duplicate container name "a"',
    );
    expect(s.reconciler.podError("uid-noimage")?.message).toContain("spec.containers[0].image: required");
    expect(s.reconciler.podError("uid-badpolicy")?.message).toContain(
      'spec.restartPolicy: unsupported value "Sometimes"',
    );
    expect(s.status("dup")).toMatchObject({ phase: "Failed", reason: "InvalidPod" });
    expect(s.events.filter((e) => e.reason === "FailedValidation")).toHaveLength(3);
    expect(await inventory(s)).toMatchObject({ sandboxes: 1, running: ["app"] });
  });

  it("picks up where a dead reconciler stopped: no duplicate sandbox or container", async () => {
    const clock = createFakeClock();
    const runtime = createFakeRuntime({ clock, registry: ["*"] });
    const p = pod("survivor", {
      containers: [
        { name: "a", image: "busybox:1.36", command: ["sleep", "9"] },
        { name: "b", image: "registry.local/slow:1", command: ["sleep", "9"] },
      ],
    });
    runtime.scriptPull("registry.local/slow:1", { delayMs: 60_000 });
    const first = createReconciler({ runtime, image: runtime, clock, nodeName: "n", useContainerEvents: false });
    first.updatePods([p]);
    // The first reconciler dies while pulling b's image: a is started, b is not.
    void first.syncAll();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(runtime.calls).toContain("PullImage");
    runtime.scriptPull("registry.local/slow:1", {});
    const second = createReconciler({ runtime, image: runtime, clock, nodeName: "n", useContainerEvents: false });
    second.updatePods([p]);
    await second.syncAll();
    await second.syncAll();
    const { items } = await runtime.listPodSandbox({});
    const { containers } = await runtime.listContainers({});
    expect(items.length).toBe(1);
    expect(containers.map((c) => `${c.metadata?.name}:${c.state}`).sort()).toEqual(["a:1", "b:1"]);
    expect(second.podStatus("uid-survivor")?.phase).toBe("Running");
  });

  it("retries through injected runtime errors, reports them, converges, and leaks nothing", async () => {
    const methods = [
      "RunPodSandbox",
      "PodSandboxStatus",
      "ListPodSandbox",
      "ListContainers",
      "ContainerStatus",
      "CreateContainer",
      "StartContainer",
      "StopContainer",
      "StopPodSandbox",
      "RemoveContainer",
      "RemovePodSandbox",
      "ImageStatus",
      "PullImage",
    ];
    for (const method of methods) {
      const s = createScenario({
        pods: [
          pod("faulty", {
            initContainers: [{ name: "init", image: "busybox:1.36", command: ["true"] }],
            containers: [{ name: "app", image: "registry.local/app:1", command: ["sleep", "9"] }],
          }),
        ],
      });
      s.runtime.injectError(method, new CriError(Code.Unavailable, `injected ${method} failure`), { times: 2 });
      expect(await s.runUntil(() => ready(s, "faulty"), 120_000), method).toBe(true);
      // Change the pod (forces a kill and a restart), then delete it: still nothing leaks.
      s.runtime.injectError(method, new CriError(Code.Unknown, `injected ${method} failure`), { times: 2 });
      const changed = pod("faulty", {
        initContainers: [{ name: "init", image: "busybox:1.36", command: ["true"] }],
        containers: [{ name: "app", image: "registry.local/app:2", command: ["sleep", "9"] }],
      });
      s.reconciler.updatePods([changed]);
      expect(
        await s.runUntil(
          () => ready(s, "faulty") && s.status("faulty")?.containerStatuses?.[0]?.image === "registry.local/app:2",
          120_000,
        ),
        method,
      ).toBe(true);
      const inv = await inventory(s);
      expect(inv.readySandboxes, method).toBe(1);
      expect(inv.running, method).toEqual(["app"]);
      s.reconciler.updatePods([]);
      await s.runUntil(() => s.runtime.size().sandboxes === 0 && s.runtime.size().containers === 0, 120_000);
      expect(await inventory(s), method).toEqual({ sandboxes: 0, readySandboxes: 0, containers: 0, running: [] });
      if (["RunPodSandbox", "CreateContainer", "StartContainer", "PullImage"].includes(method)) {
        expect(
          s.events.some((e) => e.type === "Warning" && e.message.includes(`injected ${method} failure`)),
          method,
        ).toBe(true);
      }
      const waitingReason = {
        CreateContainer: "CreateContainerError",
        StartContainer: "RunContainerError",
        PullImage: "ErrImagePull",
      }[method as "CreateContainer"];
      if (waitingReason) {
        const reasons = s.statuses.flatMap((x) => [
          ...(x.status.initContainerStatuses ?? []),
          ...(x.status.containerStatuses ?? []),
        ]);
        expect(
          reasons.some(
            (c) => c.state?.waiting?.reason === waitingReason && c.state.waiting.message?.includes("injected"),
          ),
          method,
        ).toBe(true);
      }
    }
  });

  it("syncs each pod one at a time and at most maxConcurrentSyncs pods at once", async () => {
    const clock = createFakeClock();
    const fake = createFakeRuntime({ clock, registry: ["*"] });
    let active = 0;
    let peak = 0;
    const runtime = Object.create(fake) as typeof fake;
    runtime.createContainer = async (req, o) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 2));
      try {
        return await fake.createContainer(req, o);
      } finally {
        active--;
      }
    };
    const r = createReconciler({
      runtime,
      image: fake,
      clock,
      nodeName: "n",
      maxConcurrentSyncs: 3,
      useContainerEvents: false,
    });
    r.updatePods(Array.from({ length: 10 }, (_, i) => pod(`p${i}`)));
    await r.syncAll();
    expect(peak).toBe(3);
    expect((await fake.listContainers({})).containers).toHaveLength(10);
  });

  it("publishes statuses and events through callbacks and an AsyncIterable", async () => {
    const s = createScenario();
    const ac = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of s.reconciler.events(ac.signal)) seen.push(`${e.reason}:${e.container ?? ""}`);
    })();
    s.reconciler.updatePods([pod("obs")]);
    await s.runUntil(() => ready(s, "obs"));
    ac.abort();
    await reading;
    expect(seen).toEqual(["Pulling:app", "Pulled:app", "Created:app", "Started:app"]);
    expect(s.statuses.map((x) => x.status.phase)).toEqual(["Pending", "Running"]);
  });
});
