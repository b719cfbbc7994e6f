// The kubelet's eviction decisions as pure functions (pkg/kubelet/eviction/helpers.go): signals
// observed from a stats summary, thresholds met, grace periods, node conditions, the order in which
// thresholds are reclaimed and pods are ranked, and which node-level reclaim runs first.

import { type EvictionPod, podPriority, podRequest, type QuantityCache } from "./pod-resources.js";
import { type PodStats, type StatsSummary, statsTimeMs } from "./stats.js";
import type { EvictionSignal, EvictionThreshold, ThresholdValue } from "./thresholds.js";

/** One signal's observation: what is available of what capacity, and when it was measured. */
export interface SignalObservation {
  /** Available bytes, inodes or PIDs. */
  readonly available: number;
  /** Capacity: percentage thresholds are taken of it. */
  readonly capacity: number;
  /** When it was measured (ms since the epoch), when the summary says. */
  readonly time?: number | undefined;
}

/** Observations by signal. */
export type SignalObservations = ReadonlyMap<EvictionSignal, SignalObservation>;

/** A pod's stats, looked up by the pod's uid. */
export type PodStatsOf = (pod: EvictionPod) => PodStats | undefined;

/** The resource a signal reclaims, as the kubelet's messages name it. */
export type EvictionResource = "memory" | "ephemeral-storage" | "inodes" | "pids";

/** The node condition a met threshold sets. */
export type PressureCondition = "MemoryPressure" | "DiskPressure" | "PIDPressure";

/** `signalToResource`. */
export const signalResource: Readonly<Record<EvictionSignal, EvictionResource>> = {
  "memory.available": "memory",
  "allocatableMemory.available": "memory",
  "nodefs.available": "ephemeral-storage",
  "nodefs.inodesFree": "inodes",
  "imagefs.available": "ephemeral-storage",
  "imagefs.inodesFree": "inodes",
  "containerfs.available": "ephemeral-storage",
  "containerfs.inodesFree": "inodes",
  "pid.available": "pids",
};

/** `signalToNodeCondition`. */
export const signalCondition: Readonly<Record<EvictionSignal, PressureCondition>> = {
  "memory.available": "MemoryPressure",
  "allocatableMemory.available": "MemoryPressure",
  "nodefs.available": "DiskPressure",
  "nodefs.inodesFree": "DiskPressure",
  "imagefs.available": "DiskPressure",
  "imagefs.inodesFree": "DiskPressure",
  "containerfs.available": "DiskPressure",
  "containerfs.inodesFree": "DiskPressure",
  "pid.available": "PIDPressure",
};

/**
 * `makeSignalObservations`: the signals a stats summary gives. `memory.available` is the node's
 * available memory of available + working set; `allocatableMemory.available` the same of the
 * `pods` system container; the filesystem signals their available bytes or free inodes of the
 * capacity; `pid.available` is `maxpid - curproc` of `maxpid`. A signal whose figures are missing
 * is not observed. Also returns the pods' stats by uid.
 */
export function makeSignalObservations(summary: StatsSummary): {
  observations: Map<EvictionSignal, SignalObservation>;
  statsOf: PodStatsOf;
} {
  const byUid = new Map<string, PodStats>();
  for (const p of summary.pods) byUid.set(p.podRef.uid, p);
  const statsOf: PodStatsOf = (pod) => byUid.get(pod.metadata?.uid ?? "");
  const result = new Map<EvictionSignal, SignalObservation>();
  const node = summary.node;
  const memory = (signal: EvictionSignal, m: typeof node.memory) => {
    if (m?.availableBytes === undefined || m.workingSetBytes === undefined) return;
    result.set(signal, {
      available: m.availableBytes,
      capacity: m.availableBytes + m.workingSetBytes,
      time: statsTimeMs(m.time),
    });
  };
  memory("memory.available", node.memory);
  memory("allocatableMemory.available", node.systemContainers?.find((c) => c.name === "pods")?.memory);
  const fs = (bytes: EvictionSignal, inodes: EvictionSignal, f: typeof node.fs) => {
    if (!f) return;
    const time = statsTimeMs(f.time);
    if (f.availableBytes !== undefined && f.capacityBytes !== undefined) {
      result.set(bytes, { available: f.availableBytes, capacity: f.capacityBytes, time });
    }
    if (f.inodesFree !== undefined && f.inodes !== undefined) {
      result.set(inodes, { available: f.inodesFree, capacity: f.inodes, time });
    }
  };
  fs("nodefs.available", "nodefs.inodesFree", node.fs);
  fs("imagefs.available", "imagefs.inodesFree", node.runtime?.imageFs);
  fs("containerfs.available", "containerfs.inodesFree", node.runtime?.containerFs);
  const rlimit = node.rlimit;
  if (rlimit?.maxpid !== undefined && rlimit.curproc !== undefined) {
    result.set("pid.available", {
      available: rlimit.maxpid - rlimit.curproc,
      capacity: rlimit.maxpid,
      time: statsTimeMs(rlimit.time),
    });
  }
  return { observations: result, statsOf };
}

/**
 * `GetThresholdQuantity`: a threshold's value in bytes, inodes or PIDs: the quantity, or the
 * percentage of `capacity` (truncated, as the kubelet's int64 conversion).
 */
export function thresholdQuantity(value: ThresholdValue, capacity: number): number {
  return "quantity" in value ? Number(value.quantity) : Math.trunc(capacity * value.percentage);
}

/**
 * `thresholdsMet`: the thresholds whose signal is observed below their value (below value + the
 * minimum reclaim when `enforceMinReclaim`), independent of grace periods.
 */
export function thresholdsMet(
  thresholds: readonly EvictionThreshold[],
  observations: SignalObservations,
  enforceMinReclaim: boolean,
): EvictionThreshold[] {
  const results: EvictionThreshold[] = [];
  for (const threshold of thresholds) {
    const observed = observations.get(threshold.signal);
    if (!observed) continue;
    let quantity = thresholdQuantity(threshold.value, observed.capacity);
    if (enforceMinReclaim && threshold.minReclaim)
      quantity += thresholdQuantity(threshold.minReclaim, observed.capacity);
    if (threshold.operator === "LessThan" && quantity > observed.available) results.push(threshold);
  }
  return results;
}

/**
 * `thresholdsUpdatedStats`: the thresholds whose observation is newer than the last one (or has no
 * time, or had no last observation): the kubelet acts only on fresh figures.
 */
export function thresholdsUpdatedStats(
  thresholds: readonly EvictionThreshold[],
  observations: SignalObservations,
  lastObservations: SignalObservations,
): EvictionThreshold[] {
  return thresholds.filter((threshold) => {
    const observed = observations.get(threshold.signal);
    if (!observed) return false;
    const last = lastObservations.get(threshold.signal);
    return !last || observed.time === undefined || observed.time > (last.time ?? Number.NEGATIVE_INFINITY);
  });
}

/** When each threshold was first met (ms). */
export type ThresholdsObservedAt = ReadonlyMap<EvictionThreshold, number>;

/** `thresholdsFirstObservedAt`: keeps the first time of thresholds still met, `now` for new ones. */
export function thresholdsFirstObservedAt(
  thresholds: readonly EvictionThreshold[],
  lastObservedAt: ThresholdsObservedAt,
  now: number,
): Map<EvictionThreshold, number> {
  const results = new Map<EvictionThreshold, number>();
  for (const t of thresholds) results.set(t, lastObservedAt.get(t) ?? now);
  return results;
}

/** `thresholdsMetGracePeriod`: the thresholds met for at least their grace period. */
export function thresholdsMetGracePeriod(observedAt: ThresholdsObservedAt, now: number): EvictionThreshold[] {
  const results: EvictionThreshold[] = [];
  for (const [threshold, at] of observedAt) if (now - at >= threshold.gracePeriodMs) results.push(threshold);
  return results;
}

/** `nodeConditions`: the node conditions the thresholds set, each once. */
export function nodeConditions(thresholds: readonly EvictionThreshold[]): PressureCondition[] {
  const results: PressureCondition[] = [];
  for (const t of thresholds) {
    const condition = signalCondition[t.signal];
    if (!results.includes(condition)) results.push(condition);
  }
  return results;
}

/** When each node condition was last observed (ms). */
export type NodeConditionsObservedAt = ReadonlyMap<PressureCondition, number>;

/** `nodeConditionsLastObservedAt`: the conditions seen now at `now`, the others at their last time. */
export function nodeConditionsLastObservedAt(
  conditions: readonly PressureCondition[],
  lastObservedAt: NodeConditionsObservedAt,
  now: number,
): Map<PressureCondition, number> {
  const results = new Map<PressureCondition, number>();
  for (const c of conditions) results.set(c, now);
  for (const [c, at] of lastObservedAt) if (!results.has(c)) results.set(c, at);
  return results;
}

/**
 * `nodeConditionsObservedSince`: the conditions seen within the last `periodMs` (the
 * `evictionPressureTransitionPeriod`): pressure stays reported that long after it was last seen.
 */
export function nodeConditionsObservedSince(
  observedAt: NodeConditionsObservedAt,
  periodMs: number,
  now: number,
): PressureCondition[] {
  const results: PressureCondition[] = [];
  for (const [c, at] of observedAt) if (now - at < periodMs) results.push(c);
  return results;
}

/** `compareThresholdValue`: the same quantity, or the same percentage. */
export function compareThresholdValue(a: ThresholdValue, b: ThresholdValue): boolean {
  if ("quantity" in a) return "quantity" in b && a.quantity === b.quantity;
  return !("quantity" in b) && a.percentage === b.percentage;
}

/** `hasThreshold`: a threshold of the same signal, operator, value and grace period (the minimum reclaim is not compared). */
export function hasThreshold(list: readonly EvictionThreshold[], item: EvictionThreshold): boolean {
  return list.some(
    (t) =>
      t.gracePeriodMs === item.gracePeriodMs &&
      t.operator === item.operator &&
      t.signal === item.signal &&
      compareThresholdValue(t.value, item.value),
  );
}

/** `mergeThresholds`: `a`, then what of `b` is not in it. */
export function mergeThresholds(a: readonly EvictionThreshold[], b: readonly EvictionThreshold[]): EvictionThreshold[] {
  const results = [...a];
  for (const t of b) if (!hasThreshold(results, t)) results.push(t);
  return results;
}

const isMemorySignal = (s: EvictionSignal) => s === "memory.available" || s === "allocatableMemory.available";

/**
 * `sort.Sort(byEvictionPriority(thresholds))`: memory thresholds first. Sorted in place with the
 * insertion sort Go uses for short lists and the kubelet's comparison, so thresholds of equal rank
 * come out in the order the kubelet's do (two memory thresholds swap).
 */
export function sortByEvictionPriority(thresholds: EvictionThreshold[]): EvictionThreshold[] {
  // Every signal has a resource here, so "j has no resource" never holds: less(i, j) = i is memory.
  const less = (i: number) => isMemorySignal((thresholds[i] as EvictionThreshold).signal);
  for (let i = 1; i < thresholds.length; i++) {
    for (let j = i; j > 0 && less(j); j--) {
      const t = thresholds[j] as EvictionThreshold;
      thresholds[j] = thresholds[j - 1] as EvictionThreshold;
      thresholds[j - 1] = t;
    }
  }
  return thresholds;
}

// --- ranking -----------------------------------------------------------------------------------

/** Which filesystem usage of a pod counts for a disk signal (`fsStatsType`). */
export type FsStatsType = "root" | "logs" | "localVolumeSource" | "images";

/** What a ranking measures of each pod. */
export type RankMeasure =
  | { readonly resource: "memory" }
  | { readonly resource: "pids" }
  | { readonly resource: "ephemeral-storage" | "inodes"; readonly fsStats: readonly FsStatsType[] };

/** A pod with what its ranking compares, computed once per ranking. */
export interface RankEntry<P extends EvictionPod = EvictionPod> {
  /** The pod. */
  readonly pod: P;
  /** Stats were found for the pod (pods without are evicted first). */
  readonly found: boolean;
  /** `spec.priority`. */
  readonly priority: number;
  /** Usage of the measured resource (working set, disk bytes or inodes, processes). */
  readonly usage: number;
  /** The request usage is compared with to tell whether it exceeds it. */
  readonly exceedRequest: number;
  /** The request subtracted from usage to order by (ephemeral-storage's for inodes too, as upstream). */
  readonly orderRequest: number;
}

/** Compares two ranked pods: negative when `a` is evicted first. */
export type PodComparator = (a: RankEntry, b: RankEntry) => number;

/** `cmpBool`: true first. */
const cmpBool = (a: boolean, b: boolean): number => (a === b ? 0 : a ? -1 : 1);
const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);

/** `exceedMemoryRequests` / `exceedDiskRequests`: pods using more than they request first. */
export const exceedsRequests: PodComparator = (a, b) => {
  if (!a.found || !b.found) return cmpBool(!a.found, !b.found);
  return cmpBool(a.usage > a.exceedRequest, b.usage > b.exceedRequest);
};

/** `priority`: lower priority first. */
export const byPriority: PodComparator = (a, b) => sign(a.priority - b.priority);

/** `memory` / `disk`: larger usage above the request first. */
export const byUsageAboveRequest: PodComparator = (a, b) => {
  if (!a.found || !b.found) return cmpBool(!a.found, !b.found);
  return sign(b.usage - b.orderRequest - (a.usage - a.orderRequest));
};

/** `process`: more processes first. */
export const byProcesses: PodComparator = (a, b) => {
  if (!a.found || !b.found) return cmpBool(!a.found, !b.found);
  return sign(b.usage - a.usage);
};

const fsUsage = (f: { usedBytes?: number | undefined; inodesUsed?: number | undefined } | undefined, inodes: boolean) =>
  (inodes ? f?.inodesUsed : f?.usedBytes) ?? 0;

/** `localVolumeNames`: host path volumes and local ephemeral ones (emptyDir on disk, gitRepo, configMap). */
export function localVolumeNames(pod: EvictionPod): string[] {
  const names: string[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    const onDisk = v.emptyDir !== undefined && (v.emptyDir.medium ?? "") === "";
    if (v.hostPath !== undefined || onDisk || v.gitRepo !== undefined || v.configMap !== undefined) names.push(v.name);
  }
  return names;
}

/** `podDiskUsage`: the pod's bytes or inodes on the filesystems `fsStats` names. */
export function podDiskUsage(
  stats: PodStats,
  pod: EvictionPod,
  fsStats: readonly FsStatsType[],
  inodes: boolean,
): number {
  let total = 0;
  const root = fsStats.includes("root");
  const logs = fsStats.includes("logs");
  for (const c of stats.containers ?? []) {
    if (root) total += fsUsage(c.rootfs, inodes);
    if (logs) total += fsUsage(c.logs, inodes);
  }
  if (fsStats.includes("localVolumeSource")) {
    for (const name of localVolumeNames(pod)) {
      const v = stats.volume?.find((x) => x.name === name);
      if (v) total += fsUsage(v, inodes);
    }
  }
  return total;
}

/** Computes what `measure` compares for each pod. */
export function rankEntries<P extends EvictionPod>(
  pods: readonly P[],
  statsOf: PodStatsOf,
  measure: RankMeasure,
  cache: QuantityCache = new Map(),
): RankEntry<P>[] {
  return pods.map((pod) => {
    const stats = statsOf(pod);
    const priority = podPriority(pod);
    if (!stats) return { pod, found: false, priority, usage: 0, exceedRequest: 0, orderRequest: 0 };
    switch (measure.resource) {
      case "memory": {
        const request = podRequest(pod, "memory", cache);
        const usage = stats.memory?.workingSetBytes ?? 0;
        return { pod, found: true, priority, usage, exceedRequest: request, orderRequest: request };
      }
      case "pids": {
        const usage = stats.process_stats?.process_count ?? 0;
        return { pod, found: true, priority, usage, exceedRequest: 0, orderRequest: 0 };
      }
      default: {
        const inodes = measure.resource === "inodes";
        const usage = podDiskUsage(stats, pod, measure.fsStats, inodes);
        return {
          pod,
          found: true,
          priority,
          usage,
          exceedRequest: podRequest(pod, measure.resource, cache),
          orderRequest: podRequest(pod, "ephemeral-storage", cache),
        };
      }
    }
  });
}

/**
 * `orderedBy(...).Sort(pods)`: the pods in eviction order by the comparators, each deciding
 * where the ones before it tie (a stable sort: pods that tie on all keep their order, where Go's
 * sort leaves it unspecified).
 */
export function orderPods<P extends EvictionPod>(
  pods: readonly P[],
  statsOf: PodStatsOf,
  measure: RankMeasure,
  comparators: readonly PodComparator[],
): P[] {
  const entries = rankEntries(pods, statsOf, measure);
  entries.sort((a, b) => {
    for (const cmp of comparators) {
      const r = cmp(a, b);
      if (r !== 0) return r;
    }
    return 0;
  });
  return entries.map((e) => e.pod);
}

/** The comparators the kubelet ranks by for a measure: `rankMemoryPressure`, `rankPIDPressure`, `rankDiskPressureFunc`. */
export function rankComparators(measure: RankMeasure): readonly PodComparator[] {
  return measure.resource === "pids" ? [byPriority, byProcesses] : [exceedsRequests, byPriority, byUsageAboveRequest];
}

/**
 * Ranks pods for eviction under a signal as the kubelet does: memory by exceeding requests, then
 * priority, then usage above requests; PIDs by priority, then processes; disk like memory with the
 * filesystems the layout counts.
 */
export function rankPods<P extends EvictionPod>(pods: readonly P[], statsOf: PodStatsOf, measure: RankMeasure): P[] {
  const entries = rankEntries(pods, statsOf, measure);
  entries.sort(measure.resource === "pids" ? pidOrder : requestsOrder);
  return entries.map((e) => e.pod);
}

/**
 * `exceedsRequests`, then `byPriority`, then `byUsageAboveRequest` in one function (the same order
 * as {@link orderPods} with {@link rankComparators}; a test holds them equal), so ranking 1,000
 * pods makes one call per comparison.
 */
function requestsOrder(a: RankEntry, b: RankEntry): number {
  if (a.found !== b.found) return a.found ? 1 : -1;
  if (a.found) {
    const ea = a.usage > a.exceedRequest;
    if (ea !== b.usage > b.exceedRequest) return ea ? -1 : 1;
  }
  if (a.priority !== b.priority) return a.priority < b.priority ? -1 : 1;
  return a.found ? sign(b.usage - b.orderRequest - (a.usage - a.orderRequest)) : 0;
}

/** `byPriority`, then `byProcesses`, in one function. */
function pidOrder(a: RankEntry, b: RankEntry): number {
  if (a.priority !== b.priority) return a.priority < b.priority ? -1 : 1;
  if (a.found !== b.found) return a.found ? 1 : -1;
  return a.found ? sign(b.usage - a.usage) : 0;
}

/** How the runtime's filesystems lie: an image filesystem apart from nodefs, containers apart from images. */
export interface FsLayout {
  /** The image filesystem is on another device than the node's (`HasDedicatedImageFs`). */
  readonly dedicatedImageFs: boolean;
  /** Containers' writable layers are on another filesystem than images (`IsContainerFsSeparateFromImageFs`). */
  readonly splitContainerImageFs: boolean;
}

/** `buildSignalToRankFunc`: what each signal's ranking measures, for a filesystem layout. */
export function signalRankMeasures(layout: FsLayout): Readonly<Record<EvictionSignal, RankMeasure>> {
  const memory: RankMeasure = { resource: "memory" };
  const disk = (fsStats: FsStatsType[]) => ({
    bytes: { resource: "ephemeral-storage", fsStats } as const,
    inodes: { resource: "inodes", fsStats } as const,
  });
  let nodefs: ReturnType<typeof disk>;
  let imagefs: ReturnType<typeof disk>;
  let containerfs: ReturnType<typeof disk>;
  if (layout.dedicatedImageFs && !layout.splitContainerImageFs) {
    nodefs = disk(["logs", "localVolumeSource"]);
    imagefs = disk(["root", "images"]);
    containerfs = imagefs;
  } else if (layout.dedicatedImageFs) {
    nodefs = disk(["logs", "localVolumeSource", "root"]);
    containerfs = nodefs;
    imagefs = { bytes: disk(["images"]).bytes, inodes: disk(["images"]).inodes };
  } else {
    nodefs = disk(["images", "root", "logs", "localVolumeSource"]);
    imagefs = nodefs;
    containerfs = nodefs;
  }
  return {
    "memory.available": memory,
    "allocatableMemory.available": memory,
    "pid.available": { resource: "pids" },
    "nodefs.available": nodefs.bytes,
    "nodefs.inodesFree": nodefs.inodes,
    "imagefs.available": imagefs.bytes,
    "imagefs.inodesFree": imagefs.inodes,
    "containerfs.available": containerfs.bytes,
    "containerfs.inodesFree": containerfs.inodes,
  };
}

/** A node-level reclaim: container or image garbage collection. */
export type NodeReclaim = "containerGC" | "imageGC";

/**
 * `buildSignalToNodeReclaimFuncs`: the node-level reclaims run, in order, before pods are evicted
 * for a signal: none for memory and PIDs; for disk, container GC and image GC as the filesystem
 * layout makes them useful.
 */
export function signalNodeReclaims(layout: FsLayout, signal: EvictionSignal): readonly NodeReclaim[] {
  const resource = signalResource[signal];
  if (resource === "memory" || resource === "pids") return [];
  const fs = signal.split(".")[0] as "nodefs" | "imagefs" | "containerfs";
  if (layout.dedicatedImageFs && !layout.splitContainerImageFs) {
    return fs === "nodefs" ? [] : ["containerGC", "imageGC"];
  }
  if (layout.dedicatedImageFs) return fs === "imagefs" ? ["imageGC"] : ["containerGC"];
  return ["containerGC", "imageGC"];
}
