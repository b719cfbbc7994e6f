// The eviction manager wired into the reconciler, in virtual time on the fake runtime with scripted
// stats: the chosen pod is killed with the eviction's grace period, stays Failed/Evicted, the others
// run on, and the node pressure follows the kubelet's transition period.
import { ContainerState } from "@nodekit/cri";
import { describe, expect, it } from "vitest";
import type { StatsSummary } from "../src/eviction/stats.js";
import { parseEvictionThresholds } from "../src/eviction/thresholds.js";
import type { Pod } from "../src/index.js";
import { createScenario, type Scenario } from "../src/testing/index.js";

const Mi = 1024 * 1024;

/** A pod with one container, a priority and a memory request (fields `Pod` reads structurally). */
function pod(name: string, priority: number, memoryRequest: string): Pod {
  const spec = {
    priority,
    terminationGracePeriodSeconds: 30,
    containers: [{ name: "app", image: "busybox", resources: { requests: { memory: memoryRequest } } }],
  };
  return { metadata: { name, namespace: "default", uid: `uid-${name}` }, spec };
}

/** What each pod's container uses while it runs. */
const usage: Record<string, number> = {
  "uid-low-small": 10 * Mi, // lowest priority, below its 64Mi request
  "uid-mid-hog": 300 * Mi, // exceeds its 16Mi request, middle priority: the one to go
  "uid-high-hog": 300 * Mi, // exceeds its 16Mi request, high priority
};
const capacity = 1024 * Mi;

/** Scripted stats: the node's memory is what the running containers of the fake runtime use. */
async function summaryOf(sc: Scenario): Promise<StatsSummary> {
  const { containers } = await sc.runtime.listContainers({});
  const running = containers.filter((c) => c.state === ContainerState.CONTAINER_RUNNING);
  const pods: StatsSummary["pods"] = [];
  let used = 0;
  for (const c of running) {
    const uid = c.labels["io.kubernetes.pod.uid"] ?? "";
    const bytes = usage[uid] ?? 0;
    used += bytes;
    pods.push({
      podRef: { uid, name: c.labels["io.kubernetes.pod.name"] ?? "", namespace: "default" },
      memory: { workingSetBytes: bytes },
      containers: [{ name: "app", memory: { workingSetBytes: bytes } }],
    });
  }
  return { node: { memory: { availableBytes: capacity - used, workingSetBytes: used } }, pods };
}

/** Runs `work` while moving virtual time to each timer that falls due (pod kills wait on the clock). */
async function drive<T>(sc: Scenario, work: Promise<T>): Promise<T> {
  let done = false;
  const result = work.finally(() => {
    done = true;
  });
  while (!done) {
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
    if (done) break;
    const next = sc.clock.nextTimerAt();
    if (next !== undefined) sc.clock.advanceTo(next);
  }
  return result;
}

function scenario(evictionHard: Record<string, string>) {
  const holder: { sc?: Scenario } = {};
  const sc = createScenario({
    pods: [pod("low-small", -10, "64Mi"), pod("mid-hog", 0, "16Mi"), pod("high-hog", 1000, "16Mi")],
    reconciler: {
      eviction: {
        thresholds: parseEvictionThresholds({ evictionHard }),
        statsProvider: () => summaryOf(holder.sc as Scenario),
      },
    },
  });
  holder.sc = sc;
  return sc;
}

function managerOf(sc: Scenario) {
  const manager = sc.reconciler.eviction;
  if (!manager) throw new Error("no eviction manager");
  return manager;
}

const running = async (sc: Scenario, uid: string) =>
  (await sc.runtime.listContainers({ filter: { labelSelector: { "io.kubernetes.pod.uid": uid } } })).containers.filter(
    (c) => c.state === ContainerState.CONTAINER_RUNNING,
  ).length;

describe("eviction in the reconciler (virtual time, fake runtime)", () => {
  it("evicts the lowest-priority pod that exceeds its request, and only it", async () => {
    // 610Mi used of 1Gi: 414Mi available, under the 500Mi threshold; 714Mi once mid-hog is gone.
    const sc = scenario({ "memory.available": "500Mi" });
    await sc.sync();
    for (const uid of ["uid-low-small", "uid-mid-hog", "uid-high-hog"]) expect(await running(sc, uid)).toBe(1);
    const manager = sc.reconciler.eviction;
    if (!manager) throw new Error("no eviction manager");
    const nodeEvents: string[] = [];
    manager.onEvent((e) => {
      if (e.involvedObject.kind === "Node") nodeEvents.push(`${e.type} ${e.reason} ${e.message}`);
    });

    const first = await drive(sc, manager.synchronize());
    expect(first.evicted.map((p) => p.metadata?.name)).toEqual(["mid-hog"]);
    const message =
      "The node was low on resource: memory. Threshold quantity: 500Mi, available: 414Mi. Container app was using 300Mi, request is 16Mi, has larger consumption of memory. ";
    const status = sc.reconciler.podStatus("uid-mid-hog");
    expect(status?.phase).toBe("Failed");
    expect(status?.reason).toBe("Evicted");
    expect(status?.message).toBe(message);
    expect(status?.conditions?.find((c) => c.type === "DisruptionTarget")).toMatchObject({
      status: "True",
      reason: "TerminationByKubelet",
      message,
    });
    expect(status?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
    expect(await running(sc, "uid-mid-hog")).toBe(0);
    expect(nodeEvents).toEqual(["Warning EvictionThresholdMet Attempting to reclaim memory"]);
    expect(sc.events.filter((e) => e.reason === "Evicted").map((e) => [e.type, e.pod.name, e.message])).toEqual([
      ["Warning", "mid-hog", message],
    ]);
    expect(manager.pressure()).toEqual({ memory: true, disk: false, pid: false });

    // The next pass finds 714Mi available: no one else goes, the pressure is held.
    const second = await drive(sc, manager.synchronize());
    expect(second.evicted).toEqual([]);
    expect(manager.pressure().memory).toBe(true);

    // The evicted pod stays down and Failed; the others run on.
    await sc.runFor(60_000, { stepMs: 5_000 });
    expect(await running(sc, "uid-mid-hog")).toBe(0);
    expect(sc.reconciler.podStatus("uid-mid-hog")?.reason).toBe("Evicted");
    expect(await running(sc, "uid-low-small")).toBe(1);
    expect(await running(sc, "uid-high-hog")).toBe(1);
    expect(sc.reconciler.podStatus("uid-high-hog")?.phase).toBe("Running");

    // Five minutes after it was last seen the pressure is gone (evictionPressureTransitionPeriod).
    sc.clock.advance(5 * 60_000);
    await drive(sc, manager.synchronize());
    expect(manager.pressure().memory).toBe(false);
  });

  it("kills a hard-threshold eviction with the kubelet's 1 s grace (the runtime's 2 s minimum), not the pod's 30 s", async () => {
    const sc = scenario({ "memory.available": "500Mi" });
    await sc.sync();
    const manager = sc.reconciler.eviction;
    if (!manager) throw new Error("no eviction manager");
    sc.runtime.clearCalls();
    await drive(sc, manager.synchronize());
    const stops = sc.runtime.callLog.filter((c) => c.method === "StopContainer");
    expect(stops.map((c) => (c.request as { timeout?: bigint }).timeout)).toEqual([2n]);
  });

  it("runs on its cadence once started: one eviction, then no more while the pressure is relieved", async () => {
    const sc = scenario({ "memory.available": "500Mi" });
    await sc.sync();
    const evicted: string[] = [];
    sc.reconciler.eviction?.onEvent((e) => {
      if (e.involvedObject.kind === "Pod") evicted.push(e.involvedObject.name);
    });
    sc.reconciler.start();
    try {
      const until = sc.clock.now() + 120_000;
      while (sc.clock.now() < until) {
        for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
        const next = sc.clock.nextTimerAt();
        sc.clock.advanceTo(next === undefined ? until : Math.min(next, until));
      }
    } finally {
      await drive(sc, sc.reconciler.stop());
    }
    expect(evicted).toEqual(["mid-hog"]);
    expect(sc.reconciler.podStatus("uid-mid-hog")?.reason).toBe("Evicted");
  });

  it("refuses new BestEffort pods under memory pressure as the kubelet's admission does, and admits the others", async () => {
    const sc = scenario({ "memory.available": "500Mi" });
    await sc.sync();
    await drive(sc, managerOf(sc).synchronize());
    expect(sc.reconciler.eviction?.conditions()).toEqual(["MemoryPressure"]);
    const bestEffort: Pod = {
      metadata: { name: "late-be", namespace: "default", uid: "uid-late-be" },
      spec: { containers: [{ name: "app", image: "busybox" }] },
    };
    const burstable = pod("late-burstable", 0, "16Mi");
    sc.reconciler.source("late").set([bestEffort, burstable]);
    await sc.sync();
    const message = "Pod was rejected: The node had condition: [MemoryPressure]. ";
    expect(sc.reconciler.podStatus("uid-late-be")).toEqual({
      phase: "Failed",
      reason: "Evicted",
      message,
      conditions: [],
    });
    expect(sc.events.filter((e) => e.pod.name === "late-be").map((e) => [e.type, e.reason, e.message])).toEqual([
      ["Warning", "Evicted", "The node had condition: [MemoryPressure]. "],
    ]);
    expect(await running(sc, "uid-late-be")).toBe(0);
    expect(await running(sc, "uid-late-burstable")).toBe(1);
    // Refused for good: once the pressure is gone it still does not run.
    sc.clock.advance(6 * 60_000);
    await drive(sc, managerOf(sc).synchronize());
    expect(sc.reconciler.eviction?.conditions()).toEqual([]);
    sc.reconciler
      .source("late")
      .set([{ ...bestEffort, metadata: { ...bestEffort.metadata, labels: { changed: "yes" } } }, burstable]);
    await sc.runFor(10_000);
    expect(await running(sc, "uid-late-be")).toBe(0);
    expect(sc.reconciler.podStatus("uid-late-be")?.reason).toBe("Evicted");
  });

  it("with no eviction option the reconciler has no manager", () => {
    const sc = createScenario({});
    expect(sc.reconciler.eviction).toBeUndefined();
  });
});
