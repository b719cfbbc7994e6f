// The fixture makers of the kubelet's eviction tests (pkg/kubelet/eviction/helpers_test.go and
// eviction_manager_test.go: newPod, newContainer, newResourceList, newPod*Stats, make*Stats), so the
// ported cases read as upstream's.
import { localVolumeNames } from "../../src/eviction/helpers.js";
import type { EvictionContainer, EvictionPod, EvictionVolume } from "../../src/eviction/pod-resources.js";
import { parseQuantity } from "../../src/eviction/quantity.js";
import type { PodStats, StatsSummary } from "../../src/eviction/stats.js";
import type { EvictionThreshold } from "../../src/eviction/thresholds.js";

export const lowPriority = -1;
export const defaultPriority = 0;
export const highPriority = 1;

/** `resource.MustParse(v).Value()` as a number; "" is 0 (upstream's parseQuantity of the manager test). */
export const q = (v: string): number => (v === "" ? 0 : Number(parseQuantity(v).value));

/** A threshold value as upstream's quantityMustParse(v) gives it. */
export const quantity = (v: string) => {
  const parsed = parseQuantity(v);
  return { quantity: parsed.value, text: parsed.text };
};

export const hard = (signal: EvictionThreshold["signal"], v: string, minReclaim?: string): EvictionThreshold => ({
  signal,
  operator: "LessThan",
  value: quantity(v),
  gracePeriodMs: 0,
  ...(minReclaim === undefined ? {} : { minReclaim: quantity(minReclaim) }),
});

export const soft = (signal: EvictionThreshold["signal"], v: string, graceMs: number): EvictionThreshold => ({
  signal,
  operator: "LessThan",
  value: quantity(v),
  gracePeriodMs: graceMs,
});

export type ResourceList = Record<string, string>;

export function newResourceList(cpu: string, memory: string, disk = ""): ResourceList {
  const res: ResourceList = {};
  if (cpu) res.cpu = cpu;
  if (memory) res.memory = memory;
  if (disk) res["ephemeral-storage"] = disk;
  return res;
}

export function newContainer(name: string, requests?: ResourceList, limits?: ResourceList): EvictionContainer {
  return { name, resources: { requests: requests ?? {}, limits: limits ?? {} } };
}

export const emptyDirVolume = (name: string): EvictionVolume => ({ name, emptyDir: {} });

/** `newPod`: the name is the uid. */
export function newPod(
  name: string,
  priority: number,
  containers: EvictionContainer[],
  volumes?: EvictionVolume[],
): EvictionPod {
  return {
    metadata: { name, namespace: "", uid: name },
    spec: { containers, ...(volumes ? { volumes } : {}), priority },
  };
}

const ref = (pod: EvictionPod) => ({
  name: pod.metadata?.name ?? "",
  namespace: pod.metadata?.namespace ?? "",
  uid: pod.metadata?.uid ?? "",
});

/** `newPodMemoryStats`. */
export function newPodMemoryStats(pod: EvictionPod, workingSet: string): PodStats {
  const bytes = q(workingSet);
  return {
    podRef: ref(pod),
    memory: { workingSetBytes: bytes },
    volume: [{ name: "local-volume", usedBytes: bytes }],
    containers: [{ name: pod.metadata?.name ?? "", logs: { usedBytes: bytes }, rootfs: { usedBytes: bytes } }],
    "ephemeral-storage": { usedBytes: bytes },
  };
}

const localVolumes = localVolumeNames;

/**
 * `newPodDiskStats`: one rootfs and logs figure per container (named as the container: the
 * manager tests' messages name it), one per local volume.
 */
export function newPodDiskStats(
  pod: EvictionPod,
  rootFsUsed: string,
  logsUsed: string,
  perLocalVolumeUsed: string,
): PodStats {
  return {
    podRef: ref(pod),
    containers: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      rootfs: { usedBytes: q(rootFsUsed) },
      logs: { usedBytes: q(logsUsed) },
    })),
    volume: localVolumes(pod).map((name) => ({ name, usedBytes: q(perLocalVolumeUsed) })),
  };
}

/** `newPodInodeStats`. */
export function newPodInodeStats(
  pod: EvictionPod,
  rootFsInodes: string,
  logsInodes: string,
  perLocalVolumeInodes: string,
): PodStats {
  return {
    podRef: ref(pod),
    containers: (pod.spec?.containers ?? []).map(() => ({
      name: "",
      rootfs: { inodesUsed: q(rootFsInodes) },
      logs: { inodesUsed: q(logsInodes) },
    })),
    volume: localVolumes(pod).map((name) => ({ name, inodesUsed: q(perLocalVolumeInodes) })),
  };
}

/** `newPodProcessStats`. */
export function newPodProcessStats(pod: EvictionPod, count: number): PodStats {
  return { podRef: ref(pod), process_stats: { process_count: count } };
}

/** A statsFn over a map of pods to stats. */
export const statsFn = (stats: Map<EvictionPod, PodStats>) => (pod: EvictionPod) => stats.get(pod);

/** `makeMemoryStats`: node and `pods` system container with available = working set = the figure. */
export function makeMemoryStats(nodeAvailable: string, podStats: Iterable<PodStats>): StatsSummary {
  const bytes = q(nodeAvailable);
  const memory = { availableBytes: bytes, workingSetBytes: bytes };
  return { node: { memory, systemContainers: [{ name: "pods", memory }] }, pods: [...podStats] };
}

/** `makePIDStats`. */
export function makePIDStats(maxPID: string, running: string, podStats: Iterable<PodStats>): StatsSummary {
  return { node: { rlimit: { maxpid: q(maxPID), curproc: q(running) } }, pods: [...podStats] };
}

/** `makeDiskStats`: each filesystem's available figure, capacity twice that; containerfs defaults to imagefs. */
export function makeDiskStats(d: {
  rootFsAvailableBytes: string;
  imageFsAvailableBytes: string;
  containerFsAvailableBytes?: string;
  podStats: Iterable<PodStats>;
}): StatsSummary {
  const fs = (v: string) => ({ availableBytes: q(v), capacityBytes: q(v) * 2 });
  return {
    node: {
      fs: fs(d.rootFsAvailableBytes),
      runtime: {
        imageFs: fs(d.imageFsAvailableBytes),
        containerFs: fs(d.containerFsAvailableBytes || d.imageFsAvailableBytes),
      },
    },
    pods: [...d.podStats],
  };
}
