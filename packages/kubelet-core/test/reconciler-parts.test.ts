// The reconciler's parts on their own: pod workers, status manager, garbage collector, relister
// and executor, each as a small factory with its own state.
import { Code, CriError, PodSandboxState } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { describe, expect, it } from "vitest";
import {
  createBackoff,
  createEventRecorder,
  createExecHookRunner,
  createExecutor,
  createGarbageCollector,
  createImagePuller,
  createPodWorkers,
  createRelister,
  createStatusManager,
  type Executor,
  type Pod,
  type PodActions,
  type PodEvent,
  type PodStatus,
  type PodStatusUpdate,
} from "../src/index.js";
import { createFakeClock } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("createPodWorkers", () => {
  it("syncs one pod one at a time; updates during a sync fold into one more sync, which reads the runtime again", async () => {
    const log: string[] = [];
    let release: (() => void) | undefined;
    const workers = createPodWorkers({
      async sync(uid, fresh) {
        log.push(`${uid}:${fresh ? "fresh" : "snapshot"}`);
        if (log.length === 1) await new Promise<void>((r) => (release = r));
      },
      onError: () => {},
    });
    const first = workers.update("p");
    await tick();
    expect(workers.isBusy("p")).toBe(true);
    void workers.update("p");
    void workers.update("p");
    void workers.update("p");
    await tick();
    expect(log).toEqual(["p:snapshot"]);
    defined(release)();
    await first;
    expect(log).toEqual(["p:snapshot", "p:fresh"]);
    expect(workers.isBusy("p")).toBe(false);
  });

  it("runs at most maxConcurrent pods at once, and goes on after a sync that throws", async () => {
    let active = 0;
    let peak = 0;
    const errors: string[] = [];
    const workers = createPodWorkers({
      maxConcurrent: 2,
      async sync(uid) {
        active++;
        peak = Math.max(peak, active);
        await tick();
        active--;
        if (uid === "bad") throw new Error("boom");
      },
      onError: (uid, err) => errors.push(`${uid}: ${(err as Error).message}`),
    });
    await Promise.all(["a", "bad", "c", "d", "e"].map((u) => workers.update(u)));
    expect(peak).toBe(2);
    expect(errors).toEqual(["bad: boom"]);
    await workers.update("bad").catch(() => undefined);
    await workers.idle();
    expect(errors).toHaveLength(2);
  });
});

describe("createStatusManager", () => {
  it("hands a status on only when it changed, a lastTransitionTime alone is no change, and not for a pod it does not know", () => {
    const seen: PodStatusUpdate[] = [];
    const m = createStatusManager();
    m.onStatus((u) => seen.push(u));
    const p: Pod = { metadata: { uid: "u", name: "p", namespace: "d" }, spec: { containers: [] } };
    const st = (t: string): PodStatus => ({
      phase: "Running",
      conditions: [{ type: "Ready", status: "True", lastTransitionTime: t }],
    });
    m.setStatus("u", p, st("2026-01-01T00:00:00Z"));
    m.setStatus("u", p, st("2026-01-01T00:00:05Z"));
    expect(seen).toHaveLength(1);
    expect(m.getStatus("u")?.conditions?.[0]?.lastTransitionTime).toBe("2026-01-01T00:00:05Z");
    m.setStatus("u", p, { phase: "Succeeded" });
    expect(seen.map((u) => u.status.phase)).toEqual(["Running", "Succeeded"]);
    m.setStatus("orphan", undefined, { phase: "Running" });
    expect(seen).toHaveLength(2);
    expect(m.getStatus("orphan")?.phase).toBe("Running");
    m.forget("u");
    expect(m.getStatus("u")).toBeUndefined();
  });
});

const podOf = (name: string, extra: Partial<NonNullable<Pod["spec"]>> = {}): Pod => ({
  metadata: { name, namespace: "default", uid: `uid-${name}` },
  spec: {
    terminationGracePeriodSeconds: 5,
    containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }],
    ...extra,
  },
});

function parts() {
  const clock = createFakeClock();
  const runtime = createFakeRuntime({ registry: ["*"], clock });
  const events: PodEvent[] = [];
  const recorder = createEventRecorder({ clock });
  recorder.onEvent((e) => events.push(e));
  const executor = createExecutor({
    runtime,
    clock,
    puller: createImagePuller({ image: runtime, clock }),
    hooks: createExecHookRunner(runtime, clock),
    crashLoop: createBackoff(clock, { initialMs: 10_000, maxMs: 300_000 }),
    events: recorder,
    podLogsRoot: "/var/log/pods",
  });
  const relister = createRelister({ runtime, clock });
  return { clock, runtime, events, executor, relister };
}

const emptyActions: PodActions = {
  killPod: false,
  createSandbox: true,
  createSandboxReason: "first sandbox",
  sandboxId: "",
  attempt: 0,
  initContainersToStart: [],
  containersToStart: [0],
  containersToKill: new Map(),
  ephemeralContainersToStart: [],
};

/** Starts a pod that has nothing on the node yet: a sandbox and its container. */
const startFresh = (executor: Executor, p: Pod) =>
  executor.syncPod(
    p,
    {
      uid: defined(defined(p.metadata).uid),
      name: "",
      namespace: "",
      ips: [],
      sandboxStatuses: [],
      containerStatuses: [],
    },
    emptyActions,
    { startFailures: new Map(), signal: new AbortController().signal },
  );

describe("createExecutor and createRelister, without a reconciler", () => {
  it("starts one pod, and kills one pod on request (as an eviction manager would), with the grace period given", async () => {
    const { runtime, events, executor, relister } = parts();
    const a = podOf("a");
    const b = podOf("b");
    for (const p of [a, b]) await startFresh(executor, p);
    const snapshot = await relister.relist();
    expect([...snapshot.keys()].sort()).toEqual(["uid-a", "uid-b"]);
    expect(snapshot.get("uid-a")?.containerStatuses[0]?.state).toBe("running");
    await executor.killPod(a, defined(snapshot.get("uid-a")), 0);
    const after = await relister.relist();
    expect(after.get("uid-a")?.containerStatuses[0]?.state).toBe("exited");
    expect(after.get("uid-a")?.sandboxStatuses[0]?.state).toBe(PodSandboxState.SANDBOX_NOTREADY);
    expect(after.get("uid-b")?.containerStatuses[0]?.state).toBe("running");
    expect(events.filter((e) => e.reason === "Killing").map((e) => e.pod.name)).toEqual(["a"]);
    // The kubelet's minimum of 2 s, not the 0 asked for.
    const stop = runtime.callLog.find((c) => c.method === "StopContainer");
    expect(stop?.request).toMatchObject({ timeout: 2n });
    await executor.removePod(defined(after.get("uid-a")));
    expect([...(await relister.relist()).keys()]).toEqual(["uid-b"]);
  });

  it("the relister marks pods acted on as stale, and leaves out a pod it could not read", async () => {
    const { runtime, executor, relister } = parts();
    for (const p of [podOf("a"), podOf("b")]) await startFresh(executor, p);
    await relister.relist();
    expect(relister.isStale("uid-a")).toBe(false);
    relister.markActed("uid-a");
    expect(relister.isStale("uid-a")).toBe(true);
    // Reads of a new state are not cached: stop b's container so its status is read again, and fail that read.
    const b = defined(await relister.inspectPod("uid-b"));
    await runtime.stopContainer({ containerId: defined(b.containerStatuses[0]).id, timeout: 0n });
    runtime.injectError("ContainerStatus", new CriError(Code.Unavailable, "flaky", { method: "ContainerStatus" }));
    const snapshot = await relister.relist();
    expect(relister.isStale("uid-a")).toBe(false);
    expect([...snapshot.keys()]).toEqual(["uid-a"]);
    expect(relister.wasInspected("uid-b")).toBe(false);
    await relister.relist();
    expect(relister.wasInspected("uid-b")).toBe(true);
  });
});

describe("createGarbageCollector", () => {
  it("keeps the newest dead containers of each name and the sandboxes still in use", async () => {
    const { clock, runtime, executor, relister } = parts();
    const p = podOf("gc", { restartPolicy: "Always" });
    await startFresh(executor, p);
    // Three dead instances of "app" in the same sandbox.
    let rs = defined((await relister.relist()).get("uid-gc"));
    const sandboxId = defined(rs.sandboxStatuses[0]).id;
    for (let i = 0; i < 2; i++) {
      await runtime.stopContainer({ containerId: defined(rs.containerStatuses[0]).id, timeout: 0n });
      clock.advanceTo(clock.now() + 60_000); // past the CrashLoopBackOff of the restart
      await executor.syncPod(
        p,
        defined((await relister.relist()).get("uid-gc")),
        { ...emptyActions, createSandbox: false, sandboxId },
        { startFailures: new Map(), signal: new AbortController().signal },
      );
      rs = defined((await relister.relist()).get("uid-gc"));
    }
    await runtime.stopContainer({ containerId: defined(rs.containerStatuses[0]).id, timeout: 0n });
    rs = defined((await relister.relist()).get("uid-gc"));
    expect(rs.containerStatuses.map((c) => c.state)).toEqual(["exited", "exited", "exited"]);
    const newest = defined(rs.containerStatuses[0]).id;
    await createGarbageCollector({ runtime, maxDeadPerContainer: 1 }).collect([rs], relister.sandboxOf);
    const left = defined((await relister.relist()).get("uid-gc"));
    expect(left.containerStatuses.map((c) => c.id)).toEqual([newest]);
    expect(left.sandboxStatuses.map((s) => s.id)).toEqual([sandboxId]);
  });
});
