// The node's figures of the stats summary from the host facts `collectHostFacts` reads, as the
// kubelet's summary provider fills them from cAdvisor: memory of the root cgroup against the
// machine's memory, the pods' cgroup against its limit, nodefs, the runtime's filesystems, PIDs.

import type { FilesystemFacts, HostFacts, RuntimeFilesystemFacts } from "../host/collect-host-facts.js";
import type { FsStats, NodeStats } from "./stats.js";

/** Options of {@link nodeStatsFromHostFacts}. */
export interface NodeStatsFromHostFactsOptions {
  /**
   * The pods' memory limit (node allocatable), for `allocatableMemory.available` when the pods'
   * cgroup has no limit of its own (default: its limit, else no `pods` system container).
   */
  allocatableMemoryBytes?: number | undefined;
}

const fsStats = (f: FilesystemFacts, time: number, usedBytes?: number, inodesUsed?: number): FsStats => ({
  time,
  availableBytes: f.availableBytes,
  capacityBytes: f.capacityBytes,
  usedBytes: usedBytes ?? f.capacityBytes - f.freeBytes,
  inodesFree: f.inodesFree,
  inodes: f.inodes,
  inodesUsed: inodesUsed ?? f.inodes - f.inodesFree,
});

const runtimeFs = (list: readonly RuntimeFilesystemFacts[], time: number): FsStats | undefined => {
  const first = list[0];
  return first?.filesystem ? fsStats(first.filesystem, time, first.usedBytes, first.inodesUsed) : undefined;
};

/**
 * The node part of the kubelet's stats summary from host facts: `memory` is the machine's memory
 * less the root cgroup's working set (`/proc/meminfo` when the root cgroup cannot be read), the
 * `pods` system container the pods' cgroup against its limit (or `allocatableMemoryBytes`),
 * `fs` the node's filesystem, `runtime` the runtime's first image and container filesystems (the
 * image filesystem for both where the runtime names no container filesystem), and
 * `rlimit` the PID limit and the running tasks.
 *
 * @example
 * ```ts
 * const statsProvider = createCriStatsProvider({
 *   runtime,
 *   node: async () => nodeStatsFromHostFacts(await collectHostFacts({ runtime, podsCgroup: "/kubepods" })),
 * });
 * ```
 */
export function nodeStatsFromHostFacts(facts: HostFacts, options: NodeStatsFromHostFactsOptions = {}): NodeStats {
  const time = facts.collectedAt;
  const total = facts.memory.totalBytes;
  const rootWorkingSet = facts.cgroup.root?.workingSetBytes ?? total - facts.memory.availableBytes;
  const node: NodeStats = {
    memory: { time, availableBytes: Math.max(0, total - rootWorkingSet), workingSetBytes: rootWorkingSet },
    fs: fsStats(facts.nodeFs, time),
    // As the kubelet's CRI stats provider: without a container filesystem of its own, containers write to the image filesystem.
    runtime: {
      imageFs: runtimeFs(facts.imageFs, time),
      containerFs: runtimeFs(facts.containerFs.length > 0 ? facts.containerFs : facts.imageFs, time),
    },
    rlimit: { time, maxpid: facts.pids.max, curproc: facts.pids.running },
  };
  const pods = facts.cgroup.pods;
  const limit = pods?.limitBytes ?? options.allocatableMemoryBytes;
  if (pods && limit !== undefined) {
    node.systemContainers = [
      {
        name: "pods",
        memory: {
          time,
          availableBytes: Math.max(0, limit - pods.workingSetBytes),
          workingSetBytes: pods.workingSetBytes,
        },
      },
    ];
  }
  return node;
}
