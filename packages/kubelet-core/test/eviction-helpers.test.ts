import { describe, expect, it } from "vitest";
import {
  byPriority,
  byProcesses,
  byUsageAboveRequest,
  compareThresholdValue,
  exceedsRequests,
  type FsStatsType,
  hasThreshold,
  makeSignalObservations,
  nodeConditions,
  nodeConditionsLastObservedAt,
  nodeConditionsObservedSince,
  orderPods,
  type PodComparator,
  type PressureCondition,
  type RankMeasure,
  rankComparators,
  rankPods,
  type SignalObservation,
  signalNodeReclaims,
  sortByEvictionPriority,
  thresholdsFirstObservedAt,
  thresholdsMet,
  thresholdsMetGracePeriod,
  thresholdsUpdatedStats,
} from "../src/eviction/helpers.js";
import type { EvictionPod } from "../src/eviction/pod-resources.js";
import type { PodStats, StatsSummary } from "../src/eviction/stats.js";
import { type EvictionThreshold, parsePercentage, updateContainerFsThresholds } from "../src/eviction/thresholds.js";
import {
  defaultPriority,
  emptyDirVolume,
  hard,
  highPriority,
  lowPriority,
  newContainer,
  newPod,
  newPodDiskStats,
  newPodInodeStats,
  newPodMemoryStats,
  newPodProcessStats,
  newResourceList,
  q,
  quantity,
  statsFn,
} from "./support/eviction-fixtures.js";

// Ported from pkg/kubelet/eviction/helpers_test.go with upstream's case names; the expected orders
// and figures are upstream's.

const allFs: FsStatsType[] = ["root", "logs", "localVolumeSource"];
const memory: RankMeasure = { resource: "memory" };
const disk: RankMeasure = { resource: "ephemeral-storage", fsStats: allFs };
const inodes: RankMeasure = { resource: "inodes", fsStats: allFs };
const names = (pods: EvictionPod[]) => pods.map((p) => p.metadata?.name);

function order(
  pods: EvictionPod[],
  stats: Map<EvictionPod, PodStats>,
  measure: RankMeasure,
  comparators: PodComparator[],
): (string | undefined)[] {
  return names(orderPods(pods, statsFn(stats), measure, comparators));
}

describe("pod ranking (helpers_test.go)", () => {
  it("TestOrderedByExceedsRequestMemory", () => {
    const below = newPod("below-requests", -1, [newContainer("below-requests", newResourceList("", "200Mi"))]);
    const exceeds = newPod("exceeds-requests", 1, [newContainer("exceeds-requests", newResourceList("", "100Mi"))]);
    const stats = new Map([
      [below, newPodMemoryStats(below, "199Mi")],
      [exceeds, newPodMemoryStats(exceeds, "101Mi")],
    ]);
    expect(order([below, exceeds], stats, memory, [exceedsRequests])).toEqual(["exceeds-requests", "below-requests"]);
  });

  it("TestOrderedByExceedsRequestDisk", () => {
    const below = newPod("below-requests", -1, [newContainer("below-requests", { "ephemeral-storage": "200Mi" })]);
    const exceeds = newPod("exceeds-requests", 1, [newContainer("exceeds-requests", { "ephemeral-storage": "100Mi" })]);
    const stats = new Map([
      [below, newPodDiskStats(below, "100Mi", "99Mi", "0Mi")],
      [exceeds, newPodDiskStats(exceeds, "90Mi", "11Mi", "0Mi")],
    ]);
    expect(order([below, exceeds], stats, disk, [exceedsRequests])).toEqual(["exceeds-requests", "below-requests"]);
  });

  it("TestOrderedByPriority", () => {
    const low = newPod("low-priority", -134, [newContainer("low-priority")]);
    const medium = newPod("medium-priority", 1, [
      newContainer("medium-priority", newResourceList("100m", "100Mi"), newResourceList("200m", "200Mi")),
    ]);
    const high = newPod("high-priority", 12534, [
      newContainer("high-priority", newResourceList("200m", "200Mi"), newResourceList("200m", "200Mi")),
    ]);
    expect(order([high, medium, low], new Map(), memory, [byPriority])).toEqual([
      "low-priority",
      "medium-priority",
      "high-priority",
    ]);
  });

  it("TestOrderedbyDisk", () => {
    const mk = (name: string, req: string, lim: string) =>
      newPod(
        name,
        defaultPriority,
        [newContainer(name, newResourceList("", "", req), newResourceList("", "", lim))],
        [emptyDirVolume("local-volume")],
      );
    const pod1 = mk("best-effort-high", "", "");
    const pod2 = mk("best-effort-low", "", "");
    const pod3 = mk("burstable-high", "100Mi", "400Mi");
    const pod4 = mk("burstable-low", "100Mi", "400Mi");
    const pod5 = mk("guaranteed-high", "400Mi", "400Mi");
    const pod6 = mk("guaranteed-low", "400Mi", "400Mi");
    const stats = new Map([
      [pod1, newPodDiskStats(pod1, "50Mi", "100Mi", "150Mi")], // 300Mi - 0 = 300Mi
      [pod2, newPodDiskStats(pod2, "25Mi", "25Mi", "50Mi")], // 100Mi - 0 = 100Mi
      [pod3, newPodDiskStats(pod3, "150Mi", "150Mi", "50Mi")], // 350Mi - 100Mi = 250Mi
      [pod4, newPodDiskStats(pod4, "25Mi", "35Mi", "50Mi")], // 110Mi - 100Mi = 10Mi
      [pod5, newPodDiskStats(pod5, "225Mi", "100Mi", "50Mi")], // 375Mi - 400Mi = -25Mi
      [pod6, newPodDiskStats(pod6, "25Mi", "45Mi", "50Mi")], // 120Mi - 400Mi = -280Mi
    ]);
    expect(order([pod1, pod2, pod3, pod4, pod5, pod6], stats, disk, [byUsageAboveRequest])).toEqual(
      names([pod1, pod3, pod2, pod4, pod5, pod6]),
    );
  });

  it("TestOrderedbyInodes", () => {
    const mk = (name: string) => newPod(name, defaultPriority, [newContainer(name)], [emptyDirVolume("local-volume")]);
    const low = mk("low");
    const medium = mk("medium");
    const high = mk("high");
    const stats = new Map([
      [low, newPodInodeStats(low, "50000", "100000", "50000")], // 200000
      [medium, newPodInodeStats(medium, "100000", "150000", "50000")], // 300000
      [high, newPodInodeStats(high, "200000", "150000", "50000")], // 400000
    ]);
    expect(order([low, medium, high], stats, inodes, [byUsageAboveRequest])).toEqual(["high", "medium", "low"]);
  });

  it("TestOrderedByPriorityDisk", () => {
    const mk = (name: string, priority: number, req: string) =>
      newPod(name, priority, [newContainer(name, newResourceList("", "", req))], [emptyDirVolume("local-volume")]);
    const pod1 = mk("above-requests-low-priority-high-usage", lowPriority, "");
    const pod2 = mk("above-requests-low-priority-low-usage", lowPriority, "");
    const pod3 = mk("above-requests-high-priority-high-usage", highPriority, "100Mi");
    const pod4 = mk("above-requests-high-priority-low-usage", highPriority, "100Mi");
    const pod5 = mk("below-requests-low-priority-high-usage", lowPriority, "1Gi");
    const pod6 = mk("below-requests-low-priority-low-usage", lowPriority, "1Gi");
    const pod7 = mk("below-requests-high-priority-high-usage", highPriority, "1Gi");
    const pod8 = mk("below-requests-high-priority-low-usage", highPriority, "1Gi");
    const stats = new Map([
      [pod1, newPodDiskStats(pod1, "200Mi", "100Mi", "200Mi")], // 500 relative to request
      [pod2, newPodDiskStats(pod2, "10Mi", "10Mi", "30Mi")], // 50 relative to request
      [pod3, newPodDiskStats(pod3, "200Mi", "150Mi", "250Mi")], // 500 relative to request
      [pod4, newPodDiskStats(pod4, "90Mi", "50Mi", "10Mi")], // 50 relative to request
      [pod5, newPodDiskStats(pod5, "500Mi", "200Mi", "100Mi")], // -200 relative to request
      [pod6, newPodDiskStats(pod6, "50Mi", "100Mi", "50Mi")], // -800 relative to request
      [pod7, newPodDiskStats(pod7, "250Mi", "500Mi", "50Mi")], // -200 relative to request
      [pod8, newPodDiskStats(pod8, "100Mi", "60Mi", "40Mi")], // -800 relative to request
    ]);
    const pods = [pod8, pod7, pod6, pod5, pod4, pod3, pod2, pod1];
    expect(order(pods, stats, disk, [exceedsRequests, byPriority, byUsageAboveRequest])).toEqual(
      names([pod1, pod2, pod3, pod4, pod5, pod6, pod7, pod8]),
    );
  });

  it("TestOrderedByPriorityInodes", () => {
    const mk = (name: string, priority: number) =>
      newPod(name, priority, [newContainer(name)], [emptyDirVolume("local-volume")]);
    const pod1 = mk("low-priority-high-usage", lowPriority);
    const pod2 = mk("low-priority-low-usage", lowPriority);
    const pod3 = mk("high-priority-high-usage", highPriority);
    const pod4 = mk("high-priority-low-usage", highPriority);
    const stats = new Map([
      [pod1, newPodInodeStats(pod1, "50000", "100000", "250000")], // 400000
      [pod2, newPodInodeStats(pod2, "60000", "30000", "10000")], // 100000
      [pod3, newPodInodeStats(pod3, "150000", "150000", "50000")], // 350000
      [pod4, newPodInodeStats(pod4, "10000", "40000", "100000")], // 150000
    ]);
    expect(order([pod4, pod3, pod2, pod1], stats, inodes, [byPriority, byUsageAboveRequest])).toEqual(
      names([pod1, pod2, pod3, pod4]),
    );
  });

  it("TestOrderedByMemory", () => {
    const mk = (name: string, req: string, lim: string) =>
      newPod(name, defaultPriority, [newContainer(name, newResourceList("", req), newResourceList("", lim))]);
    const pod1 = mk("best-effort-high", "", "");
    const pod2 = mk("best-effort-low", "", "");
    const pod3 = mk("burstable-high", "100Mi", "1Gi");
    const pod4 = mk("burstable-low", "100Mi", "1Gi");
    const pod5 = mk("guaranteed-high", "1Gi", "1Gi");
    const pod6 = mk("guaranteed-low", "1Gi", "1Gi");
    const stats = new Map([
      [pod1, newPodMemoryStats(pod1, "500Mi")], // 500 relative to request
      [pod2, newPodMemoryStats(pod2, "300Mi")], // 300 relative to request
      [pod3, newPodMemoryStats(pod3, "800Mi")], // 700 relative to request
      [pod4, newPodMemoryStats(pod4, "300Mi")], // 200 relative to request
      [pod5, newPodMemoryStats(pod5, "800Mi")], // -200 relative to request
      [pod6, newPodMemoryStats(pod6, "200Mi")], // -800 relative to request
    ]);
    expect(order([pod1, pod2, pod3, pod4, pod5, pod6], stats, memory, [byUsageAboveRequest])).toEqual(
      names([pod3, pod1, pod2, pod4, pod5, pod6]),
    );
  });

  it("TestOrderedByPriorityMemory", () => {
    const mk = (name: string, priority: number, req: string) =>
      newPod(name, priority, [newContainer(name, newResourceList("", req))]);
    const pod1 = mk("above-requests-low-priority-high-usage", lowPriority, "");
    const pod2 = mk("above-requests-low-priority-low-usage", lowPriority, "");
    const pod3 = mk("above-requests-high-priority-high-usage", highPriority, "100Mi");
    const pod4 = mk("above-requests-high-priority-low-usage", highPriority, "100Mi");
    const pod5 = mk("below-requests-low-priority-high-usage", lowPriority, "1Gi");
    const pod6 = mk("below-requests-low-priority-low-usage", lowPriority, "1Gi");
    const pod7 = mk("below-requests-high-priority-high-usage", highPriority, "1Gi");
    const pod8 = mk("below-requests-high-priority-low-usage", highPriority, "1Gi");
    const stats = new Map([
      [pod1, newPodMemoryStats(pod1, "500Mi")],
      [pod2, newPodMemoryStats(pod2, "50Mi")],
      [pod3, newPodMemoryStats(pod3, "600Mi")],
      [pod4, newPodMemoryStats(pod4, "150Mi")],
      [pod5, newPodMemoryStats(pod5, "800Mi")],
      [pod6, newPodMemoryStats(pod6, "200Mi")],
      [pod7, newPodMemoryStats(pod7, "800Mi")],
      [pod8, newPodMemoryStats(pod8, "200Mi")],
    ]);
    const pods = [pod8, pod7, pod6, pod5, pod4, pod3, pod2, pod1];
    expect(order(pods, stats, memory, [exceedsRequests, byPriority, byUsageAboveRequest])).toEqual(
      names([pod1, pod2, pod3, pod4, pod5, pod6, pod7, pod8]),
    );
  });

  it("TestOrderedByPriorityProcess", () => {
    const pod1 = newPod("low-priority-high-usage", lowPriority, []);
    const pod2 = newPod("low-priority-low-usage", lowPriority, []);
    const pod3 = newPod("high-priority-high-usage", highPriority, []);
    const pod4 = newPod("high-priority-low-usage", highPriority, []);
    const stats = new Map([
      [pod1, newPodProcessStats(pod1, 20)],
      [pod2, newPodProcessStats(pod2, 6)],
      [pod3, newPodProcessStats(pod3, 20)],
      [pod4, newPodProcessStats(pod4, 5)],
    ]);
    expect(order([pod4, pod3, pod2, pod1], stats, { resource: "pids" }, [byPriority, byProcesses])).toEqual(
      names([pod1, pod2, pod3, pod4]),
    );
  });

  it("pods without stats go first (statsFunc not found: cmpBool(!p1Found, !p2Found))", () => {
    const withStats = newPod("with-stats", lowPriority, [newContainer("c")]);
    const without = newPod("without-stats", highPriority, [newContainer("c")]);
    const stats = new Map([[withStats, newPodMemoryStats(withStats, "1Gi")]]);
    expect(order([withStats, without], stats, memory, [exceedsRequests, byPriority, byUsageAboveRequest])).toEqual([
      "without-stats",
      "with-stats",
    ]);
  });
});

describe("TestSortByEvictionPriority", () => {
  const t = (signal: EvictionThreshold["signal"]): EvictionThreshold => hard(signal, "1");
  const cases: [string, EvictionThreshold["signal"][], EvictionThreshold["signal"][]][] = [
    ["empty threshold list", [], []],
    [
      "memory first",
      ["nodefs.available", "pid.available", "memory.available"],
      ["memory.available", "nodefs.available", "pid.available"],
    ],
    [
      "allocatable memory first",
      ["nodefs.available", "pid.available", "allocatableMemory.available"],
      ["allocatableMemory.available", "nodefs.available", "pid.available"],
    ],
  ];
  it.each(cases)("%s", (_name, input, expected) => {
    expect(sortByEvictionPriority(input.map(t)).map((x) => x.signal)).toEqual(expected);
  });
});

describe("TestMakeSignalObservations", () => {
  it("observes every signal from the summary and finds the pods' stats", () => {
    const nodeAvailableBytes = 1024 * 1024 * 1024;
    const nodeWorkingSetBytes = 1024 * 1024 * 1024;
    const summary: StatsSummary = {
      node: {
        memory: { availableBytes: nodeAvailableBytes, workingSetBytes: nodeWorkingSetBytes },
        runtime: {
          imageFs: {
            availableBytes: 1024 * 1024,
            capacityBytes: 1024 * 1024 * 2,
            inodesFree: 1024,
            inodes: 1024 * 1024,
          },
          containerFs: {
            availableBytes: 1024 * 1024 * 2,
            capacityBytes: 1024 * 1024 * 8,
            inodesFree: 1024 * 2,
            inodes: 1024 * 2,
          },
        },
        rlimit: { maxpid: 255816, curproc: 1000 },
        fs: { availableBytes: 1024, capacityBytes: 1024 * 2, inodesFree: 1024, inodes: 1024 * 1024 },
        systemContainers: [
          { name: "pods", memory: { availableBytes: nodeAvailableBytes, workingSetBytes: nodeWorkingSetBytes } },
        ],
      },
      pods: [],
    };
    const pods = [
      { metadata: { name: "pod1", namespace: "ns1", uid: "uuid1" }, spec: { containers: [{ name: "ctr0" }] } },
      { metadata: { name: "pod1", namespace: "ns2", uid: "uuid2" }, spec: { containers: [{ name: "ctr0" }] } },
      { metadata: { name: "pod3", namespace: "ns3", uid: "uuid3" }, spec: { containers: [{ name: "ctr0" }] } },
    ];
    const podWorkingSetBytes = 1024 * 1024 * 1024;
    for (const p of pods) {
      summary.pods.push({
        podRef: { name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
        memory: { workingSetBytes: podWorkingSetBytes },
      });
    }
    const { observations, statsOf } = makeSignalObservations(summary);
    const seen = (s: EvictionThreshold["signal"]): [number, number] => {
      const o = observations.get(s) as SignalObservation;
      return [o.available, o.capacity];
    };
    expect(seen("allocatableMemory.available")).toEqual([nodeAvailableBytes, nodeWorkingSetBytes + nodeAvailableBytes]);
    expect(seen("memory.available")).toEqual([nodeAvailableBytes, nodeWorkingSetBytes + nodeAvailableBytes]);
    expect(seen("nodefs.available")).toEqual([1024, 2048]);
    expect(seen("nodefs.inodesFree")).toEqual([1024, 1024 * 1024]);
    expect(seen("imagefs.available")).toEqual([1024 * 1024, 1024 * 1024 * 2]);
    expect(seen("containerfs.available")).toEqual([1024 * 1024 * 2, 1024 * 1024 * 8]);
    expect(seen("imagefs.inodesFree")).toEqual([1024, 1024 * 1024]);
    expect(seen("containerfs.inodesFree")).toEqual([2048, 2048]);
    expect(seen("pid.available")).toEqual([255816 - 1000, 255816]);
    for (const p of pods) expect(statsOf(p)?.memory?.workingSetBytes).toBe(podWorkingSetBytes);
  });
});

const obs = (available: string, capacity?: string): SignalObservation => ({
  available: q(available),
  capacity: capacity === undefined ? 0 : q(capacity),
});
const sameSet = (a: EvictionThreshold[], b: EvictionThreshold[]) =>
  a.length === b.length && a.every((t) => hasThreshold(b, t));

describe("TestThresholdsMet", () => {
  const hardThreshold = hard("memory.available", "1Gi", "500Mi");
  const cases: [
    string,
    boolean,
    EvictionThreshold[],
    [EvictionThreshold["signal"], SignalObservation][],
    EvictionThreshold[],
  ][] = [
    ["empty", false, [], [], []],
    ["threshold-met-memory", false, [hardThreshold], [["memory.available", obs("500Mi")]], [hardThreshold]],
    ["threshold-not-met", false, [hardThreshold], [["memory.available", obs("2Gi")]], []],
    ["threshold-met-with-min-reclaim", true, [hardThreshold], [["memory.available", obs("1.05Gi")]], [hardThreshold]],
    ["threshold-not-met-with-min-reclaim", true, [hardThreshold], [["memory.available", obs("2Gi")]], []],
  ];
  it.each(cases)("%s", (_name, enforce, thresholds, observations, result) => {
    expect(sameSet(thresholdsMet(thresholds, new Map(observations), enforce), result)).toBe(true);
  });
});

describe("TestThresholdsUpdatedStats", () => {
  const updated: EvictionThreshold = hard("memory.available", "1");
  const at = (min: number): SignalObservation => ({ available: 0, capacity: 0, time: Date.UTC(2016, 0, 1, 0, min) });
  const cases: [string, EvictionThreshold[], SignalObservation | undefined, SignalObservation | undefined, number][] = [
    ["empty", [], undefined, undefined, 0],
    ["no-time", [updated], { available: 0, capacity: 0 }, undefined, 1],
    ["no-last-observation", [updated], at(0), undefined, 1],
    ["time-machine", [updated], at(0), at(1), 0],
    ["same-observation", [updated], at(0), at(0), 0],
    ["new-observation", [updated], at(1), at(0), 1],
  ];
  it.each(cases)("%s", (_name, thresholds, now, last, count) => {
    const o = new Map(now ? [["memory.available" as const, now]] : []);
    const l = new Map(last ? [["memory.available" as const, last]] : []);
    expect(thresholdsUpdatedStats(thresholds, o, l)).toHaveLength(count);
  });
});

describe("TestPercentageThresholdsMet", () => {
  const specific: EvictionThreshold[] = [
    {
      signal: "memory.available",
      operator: "LessThan",
      value: { percentage: Math.fround(0.2) },
      gracePeriodMs: 0,
      minReclaim: { percentage: Math.fround(0.05) },
    },
    { signal: "nodefs.available", operator: "LessThan", value: { percentage: Math.fround(0.3) }, gracePeriodMs: 0 },
  ];
  const both = (mem: string, fs?: string) =>
    new Map<EvictionThreshold["signal"], SignalObservation>([
      ["memory.available", obs(mem, "1000Mi")],
      ...(fs ? [["nodefs.available", obs(fs, "1000Gi")] as const] : []),
    ]);
  const cases: [string, boolean, Map<EvictionThreshold["signal"], SignalObservation>, EvictionThreshold[]][] = [
    ["BothMet", false, both("100Mi", "100Gi"), specific],
    ["NoneMet", false, both("300Mi", "400Gi"), []],
    ["DiskMet", false, both("300Mi", "100Gi"), [specific[1] as EvictionThreshold]],
    ["MemoryMet", false, both("100Mi", "400Gi"), [specific[0] as EvictionThreshold]],
    ["MemoryMetWithMinReclaim", true, both("225Mi"), [specific[0] as EvictionThreshold]],
    ["MemoryNotMetWithMinReclaim", true, both("300Mi"), []],
  ];
  it.each(cases)("%s", (_name, enforce, observations, result) => {
    expect(sameSet(thresholdsMet(specific, observations, enforce), result)).toBe(true);
  });
});

describe("TestThresholdsFirstObservedAt", () => {
  const hardThreshold = hard("memory.available", "1Gi");
  const now = Date.UTC(2026, 0, 1);
  const oldTime = now - 60_000;
  it("empty", () => expect(thresholdsFirstObservedAt([], new Map(), now)).toEqual(new Map()));
  it("no-previous-observation", () =>
    expect(thresholdsFirstObservedAt([hardThreshold], new Map(), now)).toEqual(new Map([[hardThreshold, now]])));
  it("previous-observation", () =>
    expect(thresholdsFirstObservedAt([hardThreshold], new Map([[hardThreshold, oldTime]]), now)).toEqual(
      new Map([[hardThreshold, oldTime]]),
    ));
});

describe("TestThresholdsMetGracePeriod", () => {
  const now = Date.UTC(2026, 0, 1);
  const hardThreshold = hard("memory.available", "1Gi");
  const softThreshold: EvictionThreshold = { ...hard("memory.available", "2Gi"), gracePeriodMs: 60_000 };
  const oldTime = now - 120_000;
  const cases: [string, [EvictionThreshold, number][], EvictionThreshold[]][] = [
    ["empty", [], []],
    ["hard-threshold-met", [[hardThreshold, now]], [hardThreshold]],
    ["soft-threshold-not-met", [[softThreshold, now]], []],
    ["soft-threshold-met", [[softThreshold, oldTime]], [softThreshold]],
  ];
  it.each(cases)("%s", (_name, observedAt, result) => {
    expect(sameSet(thresholdsMetGracePeriod(new Map(observedAt), now), result)).toBe(true);
  });
});

describe("node conditions (helpers_test.go)", () => {
  const now = Date.UTC(2026, 0, 1);
  const oldTime = now - 60_000;
  it("TestNodeConditions", () => {
    expect(nodeConditions([])).toEqual([]);
    expect(nodeConditions([hard("memory.available", "1")])).toEqual(["MemoryPressure"]);
  });
  it("TestNodeConditionsLastObservedAt", () => {
    const mp: PressureCondition = "MemoryPressure";
    expect(nodeConditionsLastObservedAt([mp], new Map(), now)).toEqual(new Map([[mp, now]]));
    expect(nodeConditionsLastObservedAt([mp], new Map([[mp, oldTime]]), now)).toEqual(new Map([[mp, now]]));
    expect(nodeConditionsLastObservedAt([], new Map([[mp, oldTime]]), now)).toEqual(new Map([[mp, oldTime]]));
  });
  it("TestNodeConditionsObservedSince", () => {
    const observed = new Map<PressureCondition, number>([["MemoryPressure", oldTime]]);
    expect(nodeConditionsObservedSince(observed, 120_000, now)).toEqual(["MemoryPressure"]);
    expect(nodeConditionsObservedSince(observed, 30_000, now)).toEqual([]);
  });
});

describe("TestParsePercentage", () => {
  it("parses 25.5% as float32 0.255 and refuses blah, foo%, 12%345", () => {
    expect(parsePercentage("25.5%")).toBe(Math.fround(0.255));
    for (const bad of ["blah", "foo%", "12%345"]) expect(() => parsePercentage(bad)).toThrow();
  });
});

describe("TestCompareThresholdValue", () => {
  const n = (v: number) => ({ quantity: BigInt(v) });
  const p = (v: number) => ({ percentage: Math.fround(v) });
  const cases: [ReturnType<typeof n> | ReturnType<typeof p>, ReturnType<typeof n> | ReturnType<typeof p>, boolean][] = [
    [n(123), n(123), true],
    [n(123), n(456), false],
    [n(123), p(0.1), false],
    [p(0.1), p(0.1), true],
    [p(0.2), p(0.1), false],
  ];
  it.each(cases)("%o vs %o", (a, b, equal) => {
    expect(compareThresholdValue(a, b)).toBe(equal);
    expect(compareThresholdValue(b, a)).toBe(equal);
  });
});

describe("TestAddContainerFsThresholds", () => {
  const grace = 1e-6; // upstream's time.Duration(1): one nanosecond
  const t = (signal: EvictionThreshold["signal"], v: string, reclaim: string, soft = false): EvictionThreshold => ({
    signal,
    operator: "LessThan",
    value: quantity(v),
    gracePeriodMs: soft ? grace : 0,
    minReclaim: quantity(reclaim),
  });
  const nodeAndImage = (): EvictionThreshold[] => [
    t("nodefs.available", "100Mi", "1Gi"),
    t("nodefs.available", "200Mi", "1Gi", true),
    t("nodefs.inodesFree", "200Mi", "2Gi", true),
    t("nodefs.inodesFree", "100Mi", "1Gi"),
    t("imagefs.available", "150Mi", "1.5Gi"),
    t("imagefs.available", "300Mi", "3Gi", true),
    t("imagefs.inodesFree", "150Mi", "2Gi", true),
    t("imagefs.inodesFree", "300Mi", "2Gi"),
  ];
  const pick = (list: EvictionThreshold[], signal: EvictionThreshold["signal"], softOne: boolean) => {
    const found = list.filter((x) => x.signal === signal && (x.gracePeriodMs !== 0) === softOne);
    expect(found).toHaveLength(1);
    const [only] = found as [EvictionThreshold];
    return [only.value, only.minReclaim, only.gracePeriodMs];
  };
  const expectContainerFs = (
    list: EvictionThreshold[],
    want: {
      hard: [string, string];
      soft: [string, string];
      inodesHard: [string, string];
      inodesSoft: [string, string];
    },
  ) => {
    expect(pick(list, "containerfs.available", false)).toEqual([quantity(want.hard[0]), quantity(want.hard[1]), 0]);
    expect(pick(list, "containerfs.available", true)).toEqual([quantity(want.soft[0]), quantity(want.soft[1]), grace]);
    expect(pick(list, "containerfs.inodesFree", false)).toEqual([
      quantity(want.inodesHard[0]),
      quantity(want.inodesHard[1]),
      0,
    ]);
    expect(pick(list, "containerfs.inodesFree", true)).toEqual([
      quantity(want.inodesSoft[0]),
      quantity(want.inodesSoft[1]),
      grace,
    ]);
  };
  const fromNodeFs = {
    hard: ["100Mi", "1Gi"],
    soft: ["200Mi", "1Gi"],
    inodesHard: ["100Mi", "1Gi"],
    inodesSoft: ["200Mi", "2Gi"],
  } as const;
  const fromImageFs = {
    hard: ["150Mi", "1.5Gi"],
    soft: ["300Mi", "3Gi"],
    inodesHard: ["300Mi", "2Gi"],
    inodesSoft: ["150Mi", "2Gi"],
  } as const;
  const given = (): EvictionThreshold[] => [
    t("containerfs.available", "500Mi", "5Gi"),
    t("containerfs.available", "500Mi", "5Gi", true),
    t("containerfs.inodesFree", "500Mi", "5Gi", true),
    t("containerfs.inodesFree", "500Mi", "5Gi"),
  ];
  it("single filesystem", () => {
    const { thresholds, warning } = updateContainerFsThresholds(nodeAndImage(), false, false);
    expect(warning).toBeUndefined();
    expectContainerFs(thresholds, fromNodeFs as never);
  });
  it("image filesystem", () => {
    expectContainerFs(updateContainerFsThresholds(nodeAndImage(), true, false).thresholds, fromImageFs as never);
  });
  it("container and image are separate", () => {
    expectContainerFs(updateContainerFsThresholds(nodeAndImage(), true, true).thresholds, fromNodeFs as never);
  });
  it("single filesystem; existing containerfsstats", () => {
    const { thresholds, warning } = updateContainerFsThresholds([...nodeAndImage(), ...given()], false, false);
    expect(warning).toBeDefined();
    expectContainerFs(thresholds, fromNodeFs as never);
  });
  it("image filesystem; expect error", () => {
    const { thresholds, warning } = updateContainerFsThresholds([...nodeAndImage(), ...given()], true, false);
    expect(warning).toBeDefined();
    expectContainerFs(thresholds, fromImageFs as never);
  });
  it("container and image are separate; expect error", () => {
    const { thresholds, warning } = updateContainerFsThresholds([...nodeAndImage(), ...given()], true, true);
    expect(warning).toBeDefined();
    expectContainerFs(thresholds, fromNodeFs as never);
  });
});

describe("buildSignalToNodeReclaimFuncs", () => {
  it("reclaims nothing for memory and PIDs; container then image GC on a single filesystem", () => {
    const single = { dedicatedImageFs: false, splitContainerImageFs: false };
    expect(signalNodeReclaims(single, "memory.available")).toEqual([]);
    expect(signalNodeReclaims(single, "pid.available")).toEqual([]);
    expect(signalNodeReclaims(single, "nodefs.available")).toEqual(["containerGC", "imageGC"]);
    expect(signalNodeReclaims(single, "imagefs.inodesFree")).toEqual(["containerGC", "imageGC"]);
  });
  it("with an image filesystem, nodefs pressure reclaims nothing and imagefs/containerfs both GCs", () => {
    const imagefs = { dedicatedImageFs: true, splitContainerImageFs: false };
    expect(signalNodeReclaims(imagefs, "nodefs.available")).toEqual([]);
    expect(signalNodeReclaims(imagefs, "imagefs.available")).toEqual(["containerGC", "imageGC"]);
    expect(signalNodeReclaims(imagefs, "containerfs.available")).toEqual(["containerGC", "imageGC"]);
  });
  it("with containers split from images, imagefs runs image GC and nodefs/containerfs container GC", () => {
    const split = { dedicatedImageFs: true, splitContainerImageFs: true };
    expect(signalNodeReclaims(split, "imagefs.available")).toEqual(["imageGC"]);
    expect(signalNodeReclaims(split, "nodefs.available")).toEqual(["containerGC"]);
    expect(signalNodeReclaims(split, "containerfs.inodesFree")).toEqual(["containerGC"]);
  });
});

describe("rankPods (the kubelet's rankings in one comparator) ranks as orderPods with rankComparators", () => {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const measures: RankMeasure[] = [memory, disk, inodes, { resource: "pids" }];
  it.each(measures.map((m) => [m.resource, m] as const))(
    "%s, 200 random pods with ties and missing stats",
    (_r, measure) => {
      for (let round = 0; round < 20; round++) {
        const pods: EvictionPod[] = [];
        const stats = new Map<EvictionPod, PodStats>();
        for (let i = 0; i < 200; i++) {
          const req = ["", "10Mi", "100Mi"][rand(3)] as string;
          const p = newPod(
            `p${i}`,
            rand(3) - 1,
            [newContainer("c", newResourceList("", req, req))],
            [emptyDirVolume("local-volume")],
          );
          pods.push(p);
          if (rand(10) === 0) continue; // no stats
          const used = `${rand(4) * 50}Mi`;
          stats.set(p, {
            ...newPodMemoryStats(p, used),
            containers: [{ name: "c", rootfs: { usedBytes: q(used), inodesUsed: rand(5) }, logs: { usedBytes: 0 } }],
            process_stats: { process_count: rand(4) },
          });
        }
        expect(names(rankPods(pods, statsFn(stats), measure))).toEqual(
          names(orderPods(pods, statsFn(stats), measure, [...rankComparators(measure)])),
        );
      }
    },
  );
});
