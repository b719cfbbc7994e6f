import { describe, expect, it } from "vitest";
import {
  createEvictionManager,
  type EvictionEvent,
  type EvictionManagerOptions,
  evictedStatus,
  type PodEviction,
} from "../src/eviction/manager.js";
import type { EvictionPod, EvictionVolume } from "../src/eviction/pod-resources.js";
import { formatQuantity } from "../src/eviction/quantity.js";
import type { PodStats, StatsSummary } from "../src/eviction/stats.js";
import type { EvictionThreshold } from "../src/eviction/thresholds.js";
import { createFakeClock } from "../src/testing/index.js";
import {
  defaultPriority,
  hard,
  highPriority,
  lowPriority,
  makeDiskStats,
  makeMemoryStats,
  makePIDStats,
  newContainer,
  newPod,
  newPodDiskStats,
  newPodInodeStats,
  newPodMemoryStats,
  newPodProcessStats,
  newResourceList,
  q,
  soft,
} from "./support/eviction-fixtures.js";

// Ported from pkg/kubelet/eviction/eviction_manager_test.go with upstream's case names; the pods,
// figures, expected evictions, grace periods and messages are upstream's. The kubelet's hard
// evictions use a grace period of 1 s (immediateEvictionGracePeriodSeconds).

const minute = 60_000;

interface PodToMake {
  name: string;
  priority?: number;
  requests?: Record<string, string>;
  limits?: Record<string, string>;
  memoryWorkingSet?: string;
  pidUsage?: number;
  rootFsUsed?: string;
  logsFsUsed?: string;
  perLocalVolumeUsed?: string;
  rootFsInodesUsed?: string;
}

const podOf = (p: PodToMake) =>
  newPod(p.name, p.priority ?? defaultPriority, [newContainer(p.name, p.requests, p.limits)]);

function makePods(list: PodToMake[], stat: (pod: EvictionPod, p: PodToMake) => PodStats) {
  const pods: EvictionPod[] = [];
  const stats = new Map<EvictionPod, PodStats>();
  for (const p of list) {
    const pod = podOf(p);
    pods.push(pod);
    stats.set(pod, stat(pod, p));
  }
  return { pods, stats };
}
const memoryPods = (list: PodToMake[]) => makePods(list, (pod, p) => newPodMemoryStats(pod, p.memoryWorkingSet ?? ""));
const diskPods = (list: PodToMake[]) =>
  makePods(list, (pod, p) => newPodDiskStats(pod, p.rootFsUsed ?? "", p.logsFsUsed ?? "", p.perLocalVolumeUsed ?? ""));

const memoryPodsToMake: PodToMake[] = [
  {
    name: "guaranteed-low-priority-high-usage",
    priority: lowPriority,
    requests: newResourceList("100m", "1Gi"),
    limits: newResourceList("100m", "1Gi"),
    memoryWorkingSet: "900Mi",
  },
  {
    name: "burstable-below-requests",
    priority: defaultPriority,
    requests: newResourceList("100m", "100Mi"),
    limits: newResourceList("200m", "1Gi"),
    memoryWorkingSet: "50Mi",
  },
  {
    name: "burstable-above-requests",
    priority: defaultPriority,
    requests: newResourceList("100m", "100Mi"),
    limits: newResourceList("200m", "1Gi"),
    memoryWorkingSet: "400Mi",
  },
  { name: "best-effort-high-priority-high-usage", priority: highPriority, memoryWorkingSet: "400Mi" },
  { name: "best-effort-low-priority-low-usage", priority: lowPriority, memoryWorkingSet: "100Mi" },
];

/** upstream's mockPodKiller, fakeSummaryProvider and mockDiskGC around one manager. */
function harness(
  config: { thresholds: EvictionThreshold[]; maxPodGracePeriodSeconds?: number },
  pods: () => EvictionPod[],
  first: StatsSummary,
  extra: Partial<EvictionManagerOptions> = {},
) {
  const clock = createFakeClock();
  const killer: { pod?: EvictionPod | undefined; eviction?: PodEviction | undefined } = {};
  const gc = {
    imageGCInvoked: false,
    containerGCInvoked: false,
    summaryAfterGC: undefined as StatsSummary | undefined,
  };
  const provider = { result: first };
  const events: EvictionEvent[] = [];
  const manager = createEvictionManager({
    clock,
    thresholds: config.thresholds,
    maxPodGracePeriodSeconds: config.maxPodGracePeriodSeconds,
    pressureTransitionPeriodMs: 5 * minute,
    statsProvider: () => provider.result,
    activePods: pods,
    evictPod: async (pod, eviction) => {
      killer.pod = pod;
      killer.eviction = eviction;
    },
    imageGC: {
      deleteUnusedImages: async () => {
        gc.imageGCInvoked = true;
        if (gc.summaryAfterGC) provider.result = gc.summaryAfterGC;
      },
    },
    containerGC: {
      deleteAllUnusedContainers: async () => {
        gc.containerGCInvoked = true;
        if (gc.summaryAfterGC) provider.result = gc.summaryAfterGC;
      },
    },
    nodeName: "test",
    // upstream's newManagerImpl leaves localStorageCapacityIsolation off
    localStorageCapacityIsolation: false,
    ...extra,
  });
  manager.onEvent((e) => events.push(e));
  const reset = () => {
    killer.pod = undefined;
    killer.eviction = undefined;
  };
  return { clock, killer, gc, provider, manager, events, reset };
}

describe("eviction_manager_test.go", () => {
  it("TestMemoryPressure_VerifyPodStatus", async () => {
    const { pods, stats } = memoryPods([
      {
        name: "below-requests",
        requests: newResourceList("", "1Gi"),
        limits: newResourceList("", "1Gi"),
        memoryWorkingSet: "900Mi",
      },
      {
        name: "above-requests",
        requests: newResourceList("", "100Mi"),
        limits: newResourceList("", "1Gi"),
        memoryWorkingSet: "700Mi",
      },
    ]);
    const h = harness(
      { thresholds: [hard("memory.available", "2Gi")] },
      () => pods,
      makeMemoryStats("1500Mi", stats.values()),
    );
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeDefined();
    const message = "The node was low on resource: memory. Threshold quantity: 2Gi, available: 1500Mi. ";
    expect(evictedStatus(h.killer.eviction as PodEviction)).toEqual({
      phase: "Failed",
      reason: "Evicted",
      message,
      conditions: [{ type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message }],
    });
  });

  it("TestPIDPressure_VerifyPodStatus: eviction due to pid pressure", async () => {
    const { pods, stats } = makePods(
      [
        { name: "pod1", priority: lowPriority },
        { name: "pod2", priority: defaultPriority },
      ],
      (pod) => newPodProcessStats(pod, 2),
    );
    const h = harness(
      { thresholds: [hard("pid.available", "1200")] },
      () => pods,
      makePIDStats("1500", "1000", stats.values()),
    );
    await h.manager.synchronize();
    expect(h.manager.pressure().pid).toBe(true);
    const message = "The node was low on resource: pids. Threshold quantity: 1200, available: 500. ";
    expect(evictedStatus(h.killer.eviction as PodEviction)).toEqual({
      phase: "Failed",
      reason: "Evicted",
      message,
      conditions: [{ type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message }],
    });
  });

  describe("TestDiskPressureNodeFs_VerifyPodStatus", () => {
    const cases: [
      string,
      {
        dedicatedImageFs: boolean;
        split: boolean;
        nodeFs: string;
        imageFs: string;
        containerFs: string;
        threshold: EvictionThreshold;
        pods: PodToMake[];
        message: string;
      },
    ][] = [
      [
        "eviction due to disk pressure; no image fs",
        {
          dedicatedImageFs: false,
          split: false,
          nodeFs: "1.5Gi",
          imageFs: "10Gi",
          containerFs: "10Gi",
          threshold: hard("nodefs.available", "2Gi"),
          pods: [
            {
              name: "below-requests",
              requests: newResourceList("", "", "1Gi"),
              limits: newResourceList("", "", "1Gi"),
              rootFsUsed: "900Mi",
            },
            {
              name: "above-requests",
              requests: newResourceList("", "", "100Mi"),
              limits: newResourceList("", "", "1Gi"),
              rootFsUsed: "700Mi",
            },
          ],
          message:
            "The node was low on resource: ephemeral-storage. Threshold quantity: 2Gi, available: 1536Mi. Container above-requests was using 700Mi, request is 100Mi, has larger consumption of ephemeral-storage. ",
        },
      ],
      [
        "eviction due to image disk pressure; image fs",
        {
          dedicatedImageFs: true,
          split: false,
          nodeFs: "1Gi",
          imageFs: "10Gi",
          containerFs: "10Gi",
          threshold: hard("imagefs.available", "50Gi"),
          pods: [
            {
              name: "below-requests",
              requests: newResourceList("", "", "1Gi"),
              limits: newResourceList("", "", "1Gi"),
              rootFsUsed: "900Mi",
            },
            {
              name: "above-requests",
              requests: newResourceList("", "", "50Gi"),
              limits: newResourceList("", "", "50Gi"),
              rootFsUsed: "80Gi",
            },
          ],
          message:
            "The node was low on resource: ephemeral-storage. Threshold quantity: 50Gi, available: 10Gi. Container above-requests was using 80Gi, request is 50Gi, has larger consumption of ephemeral-storage. ",
        },
      ],
      [
        "eviction due to container disk pressure; container fs",
        {
          dedicatedImageFs: true,
          split: true,
          nodeFs: "10Gi",
          imageFs: "100Gi",
          containerFs: "10Gi",
          threshold: hard("nodefs.available", "50Gi"),
          pods: [
            {
              name: "below-requests",
              requests: newResourceList("", "", "1Gi"),
              limits: newResourceList("", "", "1Gi"),
              rootFsUsed: "900Mi",
            },
            {
              name: "above-requests",
              requests: newResourceList("", "", "50Gi"),
              limits: newResourceList("", "", "50Gi"),
              rootFsUsed: "80Gi",
            },
          ],
          message:
            "The node was low on resource: ephemeral-storage. Threshold quantity: 50Gi, available: 10Gi. Container above-requests was using 80Gi, request is 50Gi, has larger consumption of ephemeral-storage. ",
        },
      ],
    ];
    it.each(cases)("%s", async (_name, tc) => {
      const { pods, stats } = diskPods(tc.pods);
      const summary = makeDiskStats({
        rootFsAvailableBytes: tc.nodeFs,
        imageFsAvailableBytes: tc.imageFs,
        containerFsAvailableBytes: tc.containerFs,
        podStats: stats.values(),
      });
      const h = harness({ thresholds: [tc.threshold] }, () => pods, summary, {
        dedicatedImageFs: tc.dedicatedImageFs,
        splitContainerImageFs: tc.split,
      });
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBeDefined();
      expect(evictedStatus(h.killer.eviction as PodEviction)).toEqual({
        phase: "Failed",
        reason: "Evicted",
        message: tc.message,
        conditions: [{ type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message: tc.message }],
      });
    });
  });

  it("TestMemoryPressure", async () => {
    const { pods, stats } = memoryPods(memoryPodsToMake);
    const podToEvict = pods[4];
    const h = harness(
      {
        maxPodGracePeriodSeconds: 5,
        thresholds: [hard("memory.available", "1Gi"), soft("memory.available", "2Gi", 2 * minute)],
      },
      () => pods,
      makeMemoryStats("2Gi", stats.values()),
    );
    const bestEffortPodToAdmit = podOf({ name: "best-admit" });
    const burstablePodToAdmit = podOf({
      name: "burst-admit",
      requests: newResourceList("100m", "100Mi"),
      limits: newResourceList("200m", "200Mi"),
    });
    const admits = () => [bestEffortPodToAdmit, burstablePodToAdmit].map((p) => h.manager.admit(p).admit);
    const sync = async (available: string, stepMs: number) => {
      h.clock.advance(stepMs);
      h.provider.result = makeMemoryStats(available, stats.values());
      await h.manager.synchronize();
    };

    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(false);
    expect(admits()).toEqual([true, true]);

    // induce soft threshold
    await sync("1500Mi", minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();

    // step forward in time pass the grace period
    await sync("1500Mi", 3 * minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(5);
    h.reset();

    // remove memory pressure
    await sync("3Gi", 20 * minute);
    expect(h.manager.pressure().memory).toBe(false);

    // induce memory pressure!
    await sync("500Mi", minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
    expect(admits()).toEqual([false, true]);

    // reduce memory pressure
    h.reset();
    await sync("2Gi", minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();
    expect(admits()).toEqual([false, true]);

    // move the clock past transition period to ensure that we stop reporting pressure
    await sync("2Gi", 5 * minute);
    expect(h.manager.pressure().memory).toBe(false);
    expect(h.killer.pod).toBeUndefined();
    expect(admits()).toEqual([true, true]);
  });

  it("TestPIDPressure: eviction due to pid pressure", async () => {
    const { pods, stats } = makePods(
      [
        { name: "high-priority-high-usage", priority: highPriority, pidUsage: 900 },
        { name: "default-priority-low-usage", priority: defaultPriority, pidUsage: 100 },
        { name: "default-priority-medium-usage", priority: defaultPriority, pidUsage: 400 },
        { name: "low-priority-high-usage", priority: lowPriority, pidUsage: 600 },
        { name: "low-priority-low-usage", priority: lowPriority, pidUsage: 50 },
      ],
      (pod, p) => newPodProcessStats(pod, p.pidUsage ?? 0),
    );
    const podToEvict = pods[3];
    const h = harness(
      {
        maxPodGracePeriodSeconds: 5,
        thresholds: [hard("pid.available", "1200"), soft("pid.available", "1500", 2 * minute)],
      },
      () => pods,
      makePIDStats("2000", "300", stats.values()),
    );
    const podToAdmit = newPod("pod-to-admit", defaultPriority, [newContainer("pod-to-admit")]);
    const sync = async (running: string | undefined, stepMs: number) => {
      h.clock.advance(stepMs);
      if (running !== undefined) h.provider.result = makePIDStats("2000", running, stats.values());
      await h.manager.synchronize();
    };
    await h.manager.synchronize();
    expect(h.manager.pressure().pid).toBe(false);
    expect(h.manager.admit(podToAdmit).admit).toBe(true);

    await sync("700", minute);
    expect(h.manager.pressure().pid).toBe(true);
    expect(h.killer.pod).toBeUndefined();

    await sync(undefined, 3 * minute);
    expect(h.manager.pressure().pid).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(5);
    h.reset();

    await sync("300", 20 * minute);
    expect(h.manager.pressure().pid).toBe(false);

    await sync("1200", minute);
    expect(h.manager.pressure().pid).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
    expect(h.manager.admit(podToAdmit).admit).toBe(false);

    h.reset();
    await sync("300", minute);
    expect(h.manager.pressure().pid).toBe(true);
    expect(h.killer.pod).toBeUndefined();
    expect(h.manager.admit(podToAdmit).admit).toBe(false);

    await sync("300", 5 * minute);
    expect(h.manager.pressure().pid).toBe(false);
    expect(h.killer.pod).toBeUndefined();
    expect(h.manager.admit(podToAdmit).admit).toBe(true);
  });

  it("TestAdmitUnderNodeConditions", async () => {
    const resource = newResourceList("100m", "1Gi");
    const pods = [
      newPod("guaranteed-pod", 0, [newContainer("guaranteed-container", resource, resource)]),
      newPod("burstable-pod", 0, [newContainer("burtable-container", resource)]),
      newPod("best-effort-pod", 0, [newContainer("best-effort-container")]),
    ];
    const summary = (memory: string, nodefs: string): StatsSummary => ({
      node: {
        memory: { availableBytes: q(memory), workingSetBytes: q(memory) },
        fs: { availableBytes: q(nodefs), capacityBytes: q(nodefs) * 2 },
      },
      pods: [],
    });
    const h = harness(
      { thresholds: [hard("memory.available", "1Gi"), hard("nodefs.available", "1Gi")] },
      () => [],
      summary("2Gi", "2Gi"),
    );
    await h.manager.synchronize();
    expect(pods.map((p) => h.manager.admit(p).admit)).toEqual([true, true, true]);
    h.provider.result = summary("500Mi", "2Gi");
    await h.manager.synchronize();
    expect(h.manager.conditions()).toEqual(["MemoryPressure"]);
    expect(pods.map((p) => h.manager.admit(p).admit)).toEqual([true, true, false]);
    expect(h.manager.admit(pods[2] as EvictionPod)).toEqual({
      admit: false,
      reason: "Evicted",
      message: "The node had condition: [MemoryPressure]. ",
    });
    // A BestEffort pod that tolerates the memory-pressure taint is admitted.
    const tolerant = newPod("tolerant", 0, [newContainer("c")]);
    (tolerant.spec as { tolerations?: unknown }).tolerations = [
      { key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" },
    ];
    expect(h.manager.admit(tolerant).admit).toBe(true);
    h.provider.result = summary("500Mi", "500Mi");
    await h.manager.synchronize();
    expect(pods.map((p) => h.manager.admit(p).admit)).toEqual([false, false, false]);
  });

  const diskPodsToMake: PodToMake[] = [
    {
      name: "low-priority-high-usage",
      priority: lowPriority,
      requests: newResourceList("100m", "1Gi"),
      limits: newResourceList("100m", "1Gi"),
      rootFsUsed: "900Mi",
    },
    {
      name: "below-requests",
      priority: defaultPriority,
      requests: newResourceList("100m", "100Mi"),
      limits: newResourceList("200m", "1Gi"),
      logsFsUsed: "50Mi",
    },
    {
      name: "above-requests",
      priority: defaultPriority,
      requests: newResourceList("100m", "100Mi"),
      limits: newResourceList("200m", "1Gi"),
      rootFsUsed: "400Mi",
    },
    { name: "high-priority-high-usage", priority: highPriority, perLocalVolumeUsed: "400Mi" },
    { name: "low-priority-low-usage", priority: lowPriority, rootFsUsed: "100Mi" },
  ];
  type Fs = "nodefs" | "imagefs" | "containerfs";
  interface DiskCase {
    dedicatedImageFs: boolean;
    split: boolean;
    fs: Fs;
    signal: "nodefs.available" | "imagefs.available";
  }
  const diskCases: [string, DiskCase][] = [
    [
      "eviction due to disk pressure; no image fs",
      { dedicatedImageFs: false, split: false, fs: "nodefs", signal: "nodefs.available" },
    ],
    [
      "eviction due to image disk pressure; image fs",
      { dedicatedImageFs: true, split: false, fs: "imagefs", signal: "imagefs.available" },
    ],
    [
      "eviction due to container disk pressure; container fs",
      { dedicatedImageFs: true, split: true, fs: "containerfs", signal: "nodefs.available" },
    ],
  ];
  const diskStats = (stats: Map<EvictionPod, PodStats>, fs: Fs | undefined, available: string) =>
    makeDiskStats({
      rootFsAvailableBytes: fs === "nodefs" ? available : "16Gi",
      imageFsAvailableBytes: fs === "imagefs" ? available : "16Gi",
      containerFsAvailableBytes: fs === "containerfs" ? available : "16Gi",
      podStats: stats.values(),
    });

  describe("TestDiskPressureNodeFs", () => {
    it.each(diskCases)("%s", async (_name, tc) => {
      const { pods, stats } = diskPods(diskPodsToMake);
      const podToEvict = pods[0];
      const h = harness(
        { maxPodGracePeriodSeconds: 5, thresholds: [hard(tc.signal, "1Gi"), soft(tc.signal, "2Gi", 2 * minute)] },
        () => pods,
        diskStats(stats, undefined, ""),
        { dedicatedImageFs: tc.dedicatedImageFs, splitContainerImageFs: tc.split },
      );
      const podToAdmit = podOf({ name: "pod-to-admit" });
      const sync = async (available: string | undefined, stepMs: number) => {
        h.clock.advance(stepMs);
        h.provider.result = diskStats(stats, available === undefined ? undefined : tc.fs, available ?? "");
        await h.manager.synchronize();
      };
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);
      expect(h.manager.admit(podToAdmit).admit).toBe(true);

      await sync("1.5Gi", minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBeUndefined();

      await sync("1.5Gi", 3 * minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBe(podToEvict);
      expect(h.killer.eviction?.gracePeriodSeconds).toBe(5);
      h.reset();

      await sync(undefined, 20 * minute);
      expect(h.manager.pressure().disk).toBe(false);

      await sync("750Mi", minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBe(podToEvict);
      expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
      expect(h.manager.admit(podToAdmit).admit).toBe(false);

      h.reset();
      await sync(undefined, minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBeUndefined();
      expect(h.manager.admit(podToAdmit).admit).toBe(false);

      await sync(undefined, 5 * minute);
      expect(h.manager.pressure().disk).toBe(false);
      expect(h.killer.pod).toBeUndefined();
      expect(h.manager.admit(podToAdmit).admit).toBe(true);
    });
  });

  it("TestMinReclaim", async () => {
    const { pods, stats } = memoryPods(memoryPodsToMake);
    const podToEvict = pods[4];
    const h = harness(
      { maxPodGracePeriodSeconds: 5, thresholds: [hard("memory.available", "1Gi", "500Mi")] },
      () => pods,
      makeMemoryStats("2Gi", stats.values()),
    );
    const sync = async (available: string) => {
      h.clock.advance(minute);
      h.provider.result = makeMemoryStats(available, stats.values());
      await h.manager.synchronize();
    };
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(false);

    await sync("500Mi");
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);

    // reduce memory pressure, but not below the min-reclaim amount
    h.reset();
    await sync("1.2Gi");
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);

    // reduce memory pressure and ensure the min-reclaim amount
    h.reset();
    await sync("2Gi");
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();

    h.clock.advance(4 * minute);
    await sync("2Gi");
    expect(h.manager.pressure().memory).toBe(false);
    expect(h.killer.pod).toBeUndefined();
  });

  describe("TestNodeReclaimFuncs", () => {
    const cases: [string, DiskCase & { containerGC: boolean; imageGC: boolean }][] = [
      [
        "eviction due to disk pressure; no image fs",
        { ...(diskCases[0]?.[1] as DiskCase), containerGC: true, imageGC: true },
      ],
      [
        "eviction due to image disk pressure; image fs",
        { ...(diskCases[1]?.[1] as DiskCase), containerGC: true, imageGC: true },
      ],
      [
        "eviction due to container disk pressure; container fs",
        {
          dedicatedImageFs: true,
          split: true,
          fs: "nodefs",
          signal: "nodefs.available",
          containerGC: true,
          imageGC: false,
        },
      ],
      [
        "eviction due to image disk pressure; container fs",
        {
          dedicatedImageFs: true,
          split: true,
          fs: "imagefs",
          signal: "imagefs.available",
          containerGC: false,
          imageGC: true,
        },
      ],
    ];
    it.each(cases)("%s", async (_name, tc) => {
      const { pods, stats } = diskPods(diskPodsToMake);
      const podToEvict = pods[0];
      const start = diskStats(stats, undefined, "");
      const h = harness(
        { maxPodGracePeriodSeconds: 5, thresholds: [hard(tc.signal, "1Gi", "500Mi")] },
        () => pods,
        start,
        { dedicatedImageFs: tc.dedicatedImageFs, splitContainerImageFs: tc.split },
      );
      const gcCalls = () => [h.gc.containerGCInvoked, h.gc.imageGCInvoked];
      const resetGC = () => {
        h.gc.containerGCInvoked = false;
        h.gc.imageGCInvoked = false;
      };
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);

      // induce hard threshold; GC brings usage back
      h.clock.advance(minute);
      h.provider.result = diskStats(stats, tc.fs, "750Mi");
      h.gc.summaryAfterGC = start;
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(true);
      expect(gcCalls()).toEqual([tc.containerGC, tc.imageGC]);
      expect(h.killer.pod).toBeUndefined();
      resetGC();

      h.clock.advance(20 * minute);
      h.provider.result = start;
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);

      // induce hard threshold; GC gets below the threshold but not past the minimum reclaim
      h.clock.advance(minute);
      h.provider.result = diskStats(stats, tc.fs, "750Mi");
      h.gc.summaryAfterGC = diskStats(stats, tc.fs, "1.1G");
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(true);
      expect(gcCalls()).toEqual([tc.containerGC, tc.imageGC]);
      expect(h.killer.pod).toBeDefined();
      resetGC();
      h.reset();

      h.clock.advance(20 * minute);
      h.provider.result = start;
      h.gc.summaryAfterGC = undefined;
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);

      // induce disk pressure; GC reclaims nothing
      h.clock.advance(minute);
      h.provider.result = diskStats(stats, tc.fs, "750Mi");
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(true);
      expect(gcCalls()).toEqual([tc.containerGC, tc.imageGC]);
      expect(h.killer.pod).toBe(podToEvict);
      expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);

      // reduce disk pressure: no GC, no eviction, pressure held
      resetGC();
      h.reset();
      h.clock.advance(minute);
      h.provider.result = start;
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(true);
      expect(gcCalls()).toEqual([false, false]);
      expect(h.killer.pod).toBeUndefined();

      h.clock.advance(5 * minute);
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);
      expect(gcCalls()).toEqual([false, false]);
      expect(h.killer.pod).toBeUndefined();
    });
  });

  describe("TestInodePressureFsInodes", () => {
    const inodeSummary = (stats: Map<EvictionPod, PodStats>, fs: Fs | undefined, free: string): StatsSummary => {
      const f = (which: Fs) => ({ inodesFree: q(fs === which ? free : "3Mi"), inodes: q("4Mi") });
      return {
        node: { fs: f("nodefs"), runtime: { imageFs: f("imagefs"), containerFs: f("containerfs") } },
        pods: [...stats.values()],
      };
    };
    const cases: [string, DiskCase & { signal: EvictionThreshold["signal"] }][] = [
      [
        "eviction due to disk pressure; no image fs",
        { dedicatedImageFs: false, split: false, fs: "nodefs", signal: "nodefs.inodesFree" } as never,
      ],
      [
        "eviction due to image disk pressure; image fs",
        { dedicatedImageFs: true, split: false, fs: "imagefs", signal: "imagefs.inodesFree" } as never,
      ],
      [
        "eviction due to container disk pressure; container fs",
        { dedicatedImageFs: true, split: true, fs: "nodefs", signal: "nodefs.inodesFree" } as never,
      ],
    ];
    it.each(cases)("%s", async (_name, tc) => {
      const { pods, stats } = makePods(
        [
          {
            name: "low-priority-high-usage",
            priority: lowPriority,
            requests: newResourceList("100m", "1Gi"),
            limits: newResourceList("100m", "1Gi"),
            rootFsInodesUsed: "900Mi",
          },
          {
            name: "below-requests",
            priority: defaultPriority,
            requests: newResourceList("100m", "100Mi"),
            limits: newResourceList("200m", "1Gi"),
            rootFsInodesUsed: "50Mi",
          },
          {
            name: "above-requests",
            priority: defaultPriority,
            requests: newResourceList("100m", "100Mi"),
            limits: newResourceList("200m", "1Gi"),
            rootFsInodesUsed: "400Mi",
          },
          { name: "high-priority-high-usage", priority: highPriority, rootFsInodesUsed: "400Mi" },
          { name: "low-priority-low-usage", priority: lowPriority, rootFsInodesUsed: "100Mi" },
        ],
        (pod, p) => newPodInodeStats(pod, p.rootFsInodesUsed ?? "", "", ""),
      );
      const podToEvict = pods[0];
      const h = harness(
        { maxPodGracePeriodSeconds: 5, thresholds: [hard(tc.signal, "1Mi"), soft(tc.signal, "2Mi", 2 * minute)] },
        () => pods,
        inodeSummary(stats, undefined, ""),
        { dedicatedImageFs: tc.dedicatedImageFs, splitContainerImageFs: tc.split },
      );
      const podToAdmit = podOf({ name: "pod-to-admit" });
      const sync = async (free: string | undefined, stepMs: number) => {
        h.clock.advance(stepMs);
        h.provider.result = inodeSummary(stats, free === undefined ? undefined : tc.fs, free ?? "");
        await h.manager.synchronize();
      };
      await h.manager.synchronize();
      expect(h.manager.pressure().disk).toBe(false);
      expect(h.manager.admit(podToAdmit).admit).toBe(true);

      await sync("1.5Mi", minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBeUndefined();

      await sync("1.5Mi", 3 * minute);
      expect(h.killer.pod).toBe(podToEvict);
      expect(h.killer.eviction?.gracePeriodSeconds).toBe(5);
      h.reset();

      await sync(undefined, 20 * minute);
      expect(h.manager.pressure().disk).toBe(false);

      await sync("0.5Mi", minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBe(podToEvict);
      expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
      expect(h.manager.admit(podToAdmit).admit).toBe(false);

      h.reset();
      await sync(undefined, minute);
      expect(h.manager.pressure().disk).toBe(true);
      expect(h.killer.pod).toBeUndefined();

      await sync(undefined, 5 * minute);
      expect(h.manager.pressure().disk).toBe(false);
      expect(h.manager.admit(podToAdmit).admit).toBe(true);
    });
  });

  it("TestStaticCriticalPodsAreNotEvicted", async () => {
    const { pods, stats } = memoryPods([
      {
        name: "critical",
        priority: 2_000_000_000,
        requests: newResourceList("100m", "1Gi"),
        limits: newResourceList("100m", "1Gi"),
        memoryWorkingSet: "800Mi",
      },
    ]);
    const critical = pods[0] as EvictionPod;
    critical.metadata = {
      ...critical.metadata,
      namespace: "kube-system",
      annotations: { "kubernetes.io/config.source": "file" },
    };
    const h = harness(
      {
        maxPodGracePeriodSeconds: 5,
        thresholds: [hard("memory.available", "1Gi"), soft("memory.available", "2Gi", 2 * minute)],
      },
      () => pods,
      makeMemoryStats("2Gi", stats.values()),
    );
    const sync = async (available: string, stepMs: number) => {
      h.clock.advance(stepMs);
      h.provider.result = makeMemoryStats(available, stats.values());
      await h.manager.synchronize();
    };
    await sync("1500Mi", minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();
    await sync("1500Mi", 3 * minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).not.toBe(critical);
    await sync("3Gi", 20 * minute);
    expect(h.manager.pressure().memory).toBe(false);
    // Static without a critical priority: still critical (IsStaticPod).
    delete (critical.spec as { priority?: number }).priority;
    await sync("500Mi", minute);
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();
  });

  it("TestAllocatableMemoryPressure", async () => {
    const { pods, stats } = memoryPods(memoryPodsToMake);
    const podToEvict = pods[4];
    const h = harness(
      { maxPodGracePeriodSeconds: 5, thresholds: [hard("allocatableMemory.available", "1Gi")] },
      () => pods,
      makeMemoryStats("4Gi", stats.values()),
    );
    const bestEffortPodToAdmit = podOf({ name: "best-admit" });
    const burstablePodToAdmit = podOf({
      name: "burst-admit",
      requests: newResourceList("100m", "100Mi"),
      limits: newResourceList("200m", "200Mi"),
    });
    const admits = () => [bestEffortPodToAdmit, burstablePodToAdmit].map((p) => h.manager.admit(p).admit);
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(false);
    expect(admits()).toEqual([true, true]);

    h.clock.advance(minute);
    const extra = podOf({
      name: "guaranteed-high-2",
      requests: newResourceList("100m", "1Gi"),
      limits: newResourceList("100m", "1Gi"),
    });
    h.provider.result = makeMemoryStats("500Mi", [...stats.values(), newPodMemoryStats(extra, "1Gi")]);
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBe(podToEvict);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
    h.reset();
    expect(admits()).toEqual([false, true]);

    h.clock.advance(minute);
    h.provider.result = makeMemoryStats("2Gi", stats.values());
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(true);
    expect(h.killer.pod).toBeUndefined();
    expect(admits()).toEqual([false, true]);

    h.clock.advance(5 * minute);
    await h.manager.synchronize();
    expect(h.manager.pressure().memory).toBe(false);
    expect(h.killer.pod).toBeUndefined();
    expect(admits()).toEqual([true, true]);
  });
});

describe("TestStorageLimitEvictions", () => {
  const cases: [string, PodToMake, EvictionVolume[] | undefined, string][] = [
    [
      "eviction due to rootfs above limit",
      {
        name: "rootfs-above-limits",
        requests: newResourceList("", "", "1Gi"),
        limits: newResourceList("", "", "1Gi"),
        rootFsUsed: "2Gi",
      },
      undefined,
      'Container rootfs-above-limits exceeded its local ephemeral storage limit "1Gi". ',
    ],
    [
      "eviction due to logsfs above limit",
      {
        name: "logsfs-above-limits",
        requests: newResourceList("", "", "1Gi"),
        limits: newResourceList("", "", "1Gi"),
        logsFsUsed: "2Gi",
      },
      undefined,
      'Container logsfs-above-limits exceeded its local ephemeral storage limit "1Gi". ',
    ],
    [
      "eviction due to local volume above limit",
      { name: "localvolume-above-limits", perLocalVolumeUsed: "2Gi" },
      [{ name: "emptyDirVolume", emptyDir: { sizeLimit: "1Gi" } }],
      'Usage of EmptyDir volume "emptyDirVolume" exceeds the limit "1Gi". ',
    ],
  ];
  it.each(cases)("%s", async (_name, p, volumes, message) => {
    const pod = newPod(p.name, defaultPriority, [newContainer(p.name, p.requests, p.limits)], volumes);
    const stats = newPodDiskStats(pod, p.rootFsUsed ?? "", p.logsFsUsed ?? "", p.perLocalVolumeUsed ?? "");
    const h = harness(
      { maxPodGracePeriodSeconds: 5, thresholds: [hard("nodefs.available", "1Gi")] },
      () => [pod],
      makeDiskStats({ rootFsAvailableBytes: "200Mi", imageFsAvailableBytes: "200Mi", podStats: [stats] }),
      { localStorageCapacityIsolation: true },
    );
    await h.manager.synchronize();
    expect(h.killer.pod).toBe(pod);
    expect(h.killer.eviction?.gracePeriodSeconds).toBe(1);
    // The kubelet's message for the limit; no DisruptionTarget condition for these.
    expect(evictedStatus(h.killer.eviction as PodEviction)).toEqual({
      phase: "Failed",
      reason: "Evicted",
      message,
      conditions: [],
    });
  });
});

it("TestManagerWithLocalStorageCapacityIsolationOpen", async () => {
  // makePodWithLocalStorageCapacityIsolationOpen: an emptyDir "local-volume" sized as the memory request.
  const make = (name: string, requests: Record<string, string>, limits: Record<string, string>, usage: number) => {
    const pod = newPod(
      name,
      0,
      [newContainer(name, requests, limits)],
      // resource.NewQuantity(requests.Memory().Value(), resource.BinarySI)
      [{ name: "local-volume", emptyDir: { sizeLimit: formatQuantity(q(requests.memory ?? ""), "BinarySI") } }],
    );
    const stats = newPodMemoryStats(pod, `${usage}`);
    return { pod, stats };
  };
  const made = [
    make("empty-dir", newResourceList("", "900Mi"), newResourceList("", "1Gi"), q("900Mi") * 2),
    make(
      "container-ephemeral-storage-limit",
      newResourceList("", "", "900Mi"),
      newResourceList("", "", "800Mi"),
      q("800Mi"),
    ),
    make(
      "pod-ephemeral-storage-limit",
      newResourceList("", "", "1Gi"),
      newResourceList("", "", "800Mi"),
      q("800Mi") * 2,
    ),
  ];
  const pods = made.map((m) => m.pod);
  const h = harness(
    { maxPodGracePeriodSeconds: 5, thresholds: [hard("allocatableMemory.available", "1Gi")] },
    () => pods,
    makeDiskStats({ rootFsAvailableBytes: "1Gi", imageFsAvailableBytes: "200Mi", podStats: made.map((m) => m.stats) }),
    { localStorageCapacityIsolation: true, dedicatedImageFs: false },
  );
  const messages: string[] = [];
  h.manager.onEvent((e) => {
    if (e.reason === "Evicted") messages.push(e.message);
  });
  const { evicted } = await h.manager.synchronize();
  expect(h.killer.pod).toBeDefined();
  expect(evicted).toEqual(pods);
  expect(messages).toEqual([
    'Usage of EmptyDir volume "local-volume" exceeds the limit "900Mi". ',
    'Container container-ephemeral-storage-limit exceeded its local ephemeral storage limit "800Mi". ',
    "Pod ephemeral local storage usage exceeds the total limit of containers 800Mi. ",
  ]);
});

describe("beyond the upstream tests", () => {
  it("records EvictionThresholdMet on the node and Evicted on the pod, with the annotations", async () => {
    const { pods, stats } = memoryPods([
      { name: "hog", requests: newResourceList("", "100Mi"), memoryWorkingSet: "700Mi" },
    ]);
    const hogStats = stats.get(pods[0] as EvictionPod) as PodStats;
    hogStats.containers = [{ name: "hog", memory: { workingSetBytes: q("700Mi") } }];
    const h = harness(
      { thresholds: [hard("memory.available", "1Gi")] },
      () => pods,
      makeMemoryStats("500Mi", stats.values()),
    );
    await h.manager.synchronize();
    expect(h.events.map((e) => [e.involvedObject.kind, e.reason, e.message])).toEqual([
      ["Node", "EvictionThresholdMet", "Attempting to reclaim memory"],
      [
        "Pod",
        "Evicted",
        "The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. Container hog was using 700Mi, request is 100Mi, has larger consumption of memory. ",
      ],
    ]);
    expect(h.events[1]?.annotations).toEqual({
      offending_containers: "hog",
      offending_containers_usage: "700Mi",
      starved_resource: "memory",
    });
  });

  it("acts only on fresh stats: the same observation time twice evicts once", async () => {
    const { pods, stats } = memoryPods(memoryPodsToMake);
    const summary = makeMemoryStats("500Mi", stats.values());
    const at = Date.UTC(2026, 0, 1);
    (summary.node.memory as { time?: number }).time = at;
    const h = harness({ thresholds: [hard("memory.available", "1Gi")] }, () => pods, summary);
    await h.manager.synchronize();
    expect(h.killer.pod).toBeDefined();
    h.reset();
    h.clock.advance(10_000);
    await h.manager.synchronize();
    expect(h.killer.pod).toBeUndefined();
    expect(h.manager.pressure().memory).toBe(true);
  });

  it("runs on its cadence with start(): one pass per monitoring interval", async () => {
    const { pods, stats } = memoryPods(memoryPodsToMake);
    let calls = 0;
    const h = harness(
      { thresholds: [hard("memory.available", "1Gi")] },
      () => pods,
      makeMemoryStats("2Gi", stats.values()),
      {
        statsProvider: () => {
          calls++;
          return makeMemoryStats("2Gi", stats.values());
        },
      },
    );
    const flush = async () => {
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    };
    h.manager.start();
    await flush();
    expect(calls).toBe(1);
    h.clock.advance(9_999);
    await flush();
    expect(calls).toBe(1);
    h.clock.advance(1);
    await flush();
    expect(calls).toBe(2);
    await h.manager.stop();
    h.clock.advance(60_000);
    await flush();
    expect(calls).toBe(2);
  });
});
