// The node and pod figures eviction decides from: the kubelet's stats summary
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1, `GET /stats/summary`), in its JSON shape, as far as
// eviction reads it. The kubelet's own summary JSON fits as it is.

/** When a figure was taken: a `Date`, an RFC 3339 string (the summary's JSON) or milliseconds since the epoch. */
export type StatsTime = Date | string | number;

/** `FsStats`: a filesystem's or a consumer's bytes and inodes. */
export interface FsStats {
  /** When these figures were taken. */
  time?: StatsTime | undefined;
  /** Bytes free for non-root users. */
  availableBytes?: number | undefined;
  /** Size of the filesystem in bytes. */
  capacityBytes?: number | undefined;
  /** Bytes used (by the consumer, for a container's rootfs or logs and a volume). */
  usedBytes?: number | undefined;
  /** Free inodes. */
  inodesFree?: number | undefined;
  /** Total inodes. */
  inodes?: number | undefined;
  /** Inodes used (by the consumer). */
  inodesUsed?: number | undefined;
}

/** `MemoryStats` of the node, a system container, a pod or a container. */
export interface MemoryStats {
  /** When these figures were taken. */
  time?: StatsTime | undefined;
  /** Memory available (capacity or limit minus working set), in bytes; the node's and system containers'. */
  availableBytes?: number | undefined;
  /** The working set (usage minus inactive file pages), in bytes. */
  workingSetBytes?: number | undefined;
}

/** `SummaryContainerStats`: one container of a pod, or a system container of the node (`pods` is the pods' cgroup). */
export interface SummaryContainerStats {
  /** The container's name (`pods`, `kubelet`, `runtime` for system containers). */
  name: string;
  /** Its memory. */
  memory?: MemoryStats | undefined;
  /** Its writable layer. */
  rootfs?: FsStats | undefined;
  /** Its log files. */
  logs?: FsStats | undefined;
}

/** `VolumeStats`: a pod volume's usage. */
export interface VolumeStats extends FsStats {
  /** The volume's name in the pod spec. */
  name: string;
}

/** `PodStats`: one pod. */
export interface PodStats {
  /** Which pod (matched by `uid`). */
  podRef: { name: string; namespace: string; uid: string };
  /** The pod's cgroup memory. */
  memory?: MemoryStats | undefined;
  /** Its containers. */
  containers?: SummaryContainerStats[] | undefined;
  /** Its volumes (the summary's `volume`). */
  volume?: VolumeStats[] | undefined;
  /** Its ephemeral storage, in all (the summary's `ephemeral-storage`). */
  "ephemeral-storage"?: FsStats | undefined;
  /** Its processes (the summary's `process_stats`). */
  process_stats?: { process_count?: number | undefined } | undefined;
}

/** `NodeStats`: the node. */
export interface NodeStats {
  /** The node's memory (the root cgroup): `availableBytes` and `workingSetBytes`. */
  memory?: MemoryStats | undefined;
  /** System containers; `pods` (the pods' parent cgroup) gives `allocatableMemory.available`. */
  systemContainers?: SummaryContainerStats[] | undefined;
  /** The node's filesystem (nodefs: kubelet root, logs, volumes). */
  fs?: FsStats | undefined;
  /** The runtime's filesystems. */
  runtime?: { imageFs?: FsStats | undefined; containerFs?: FsStats | undefined } | undefined;
  /** PIDs: the most there can be (`maxpid`) and how many run (`curproc`). */
  rlimit?: { time?: StatsTime | undefined; maxpid?: number | undefined; curproc?: number | undefined } | undefined;
}

/** The kubelet's stats `Summary`: the node and its pods. */
export interface StatsSummary {
  /** The node. */
  node: NodeStats;
  /** The pods. */
  pods: PodStats[];
}

/** Milliseconds since the epoch of a {@link StatsTime}; `undefined` when absent or unreadable. */
export function statsTimeMs(time: StatsTime | undefined): number | undefined {
  if (time === undefined) return undefined;
  if (typeof time === "number") return time;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  return Number.isNaN(ms) ? undefined : ms;
}
