// Stats for eviction from a CRI runtime and the Linux cgroup filesystem: the pods' figures from
// ListPodSandboxStats (ListContainerStats where the runtime lacks it), a cgroup's memory as
// cAdvisor reads it (working set = usage - inactive file pages), on cgroup v2 and v1.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type ContainerStats as CriContainerStats, isUnimplemented, type RuntimeService } from "@nodekit/cri/api";
import { KubeletError } from "../errors.js";
import { labels } from "../labels.js";
import type { NodeStats, PodStats, StatsSummary, SummaryContainerStats } from "./stats.js";

/** A cgroup's memory, as cAdvisor reads it. */
export interface CgroupMemory {
  /** Memory charged to the cgroup (`memory.current` / `memory.usage_in_bytes`), in bytes. */
  usageBytes: number;
  /** Usage minus inactive file pages (never below 0): what the kubelet's memory signals use. */
  workingSetBytes: number;
  /** The cgroup's limit (`memory.max` / `memory.limit_in_bytes`); `undefined` when unlimited. */
  limitBytes: number | undefined;
  /** Which hierarchy it was read from. */
  version: 1 | 2;
}

const readText = (path: string) => readFile(path, "utf8").then((s) => s.trim());
const statField = (stat: string, name: string): number => {
  const line = stat.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
};
/** Limits at or near 2^63 mean "none" on cgroup v1. */
const unlimitedV1 = 2 ** 62;

/**
 * Reads the memory of the cgroup at `cgroupPath` (e.g. the pods' parent `/kubepods`) as cAdvisor
 * does: on cgroup v2 `memory.current` and `inactive_file` of `memory.stat`, on cgroup v1 (the
 * `memory` controller's hierarchy) `memory.usage_in_bytes` and `total_inactive_file`. The working
 * set is usage minus inactive file pages. Throws a {@link KubeletError} (reason `CgroupUnreadable`)
 * naming the path when neither can be read.
 *
 * @example
 * ```ts
 * const { workingSetBytes } = await readCgroupMemory("/kubepods");
 * ```
 */
export async function readCgroupMemory(cgroupPath: string, root = "/sys/fs/cgroup"): Promise<CgroupMemory> {
  const relative = cgroupPath.replace(/^\/+/, "");
  if (relative.split("/").includes("..")) {
    throw new KubeletError("CgroupUnreadable", `cgroup path ${JSON.stringify(cgroupPath)} leaves the cgroup root`);
  }
  const v2 = join(root, relative);
  try {
    const [current, stat, max] = await Promise.all([
      readText(join(v2, "memory.current")),
      readText(join(v2, "memory.stat")),
      readText(join(v2, "memory.max")).catch(() => "max"),
    ]);
    const usageBytes = Number(current);
    const inactive = statField(stat, "inactive_file");
    return {
      usageBytes,
      workingSetBytes: Math.max(0, usageBytes - inactive),
      limitBytes: max === "max" ? undefined : Number(max),
      version: 2,
    };
  } catch {
    // not cgroup v2 for memory here; try the v1 memory hierarchy
  }
  const v1 = join(root, "memory", relative);
  try {
    const [usage, stat, limit] = await Promise.all([
      readText(join(v1, "memory.usage_in_bytes")),
      readText(join(v1, "memory.stat")),
      readText(join(v1, "memory.limit_in_bytes")),
    ]);
    const usageBytes = Number(usage);
    const inactive = statField(stat, "total_inactive_file");
    const limitBytes = Number(limit);
    return {
      usageBytes,
      workingSetBytes: Math.max(0, usageBytes - inactive),
      limitBytes: limitBytes >= unlimitedV1 ? undefined : limitBytes,
      version: 1,
    };
  } catch (err) {
    throw new KubeletError(
      "CgroupUnreadable",
      `cannot read the memory of cgroup ${cgroupPath} under ${root} (neither cgroup v2 nor the v1 memory controller)`,
      { cause: err },
    );
  }
}

/** Options of {@link createCriStatsProvider}. */
export interface CriStatsProviderOptions {
  /** The CRI runtime. */
  runtime: RuntimeService;
  /** The node's figures (memory, filesystems, PIDs), e.g. from `readCgroupMemory` and statfs; called on every read. */
  node: () => NodeStats | Promise<NodeStats>;
}

const n = (v: { value: bigint } | undefined): number | undefined => (v === undefined ? undefined : Number(v.value));

function containerStatsOf(c: CriContainerStats): SummaryContainerStats {
  const layer = c.writableLayer;
  return {
    name: c.attributes?.labels[labels.containerName] ?? c.attributes?.metadata?.name ?? "",
    memory: { workingSetBytes: n(c.memory?.workingSetBytes) },
    rootfs: layer ? { usedBytes: n(layer.usedBytes), inodesUsed: n(layer.inodesUsed) } : undefined,
  };
}

/**
 * A stats provider for the eviction manager over a CRI runtime, as the kubelet's CRI stats
 * provider: each pod's memory and processes from `ListPodSandboxStats` (its cgroup), its
 * containers' working sets and writable layers; where the runtime lacks `ListPodSandboxStats`, a
 * pod's memory is the sum of its containers' from `ListContainerStats`. The node's figures come
 * from `node`.
 *
 * @example
 * ```ts
 * const statsProvider = createCriStatsProvider({
 *   runtime,
 *   node: async () => {
 *     const m = await readCgroupMemory("/kubepods");
 *     return { memory: { availableBytes: capacity - m.workingSetBytes, workingSetBytes: m.workingSetBytes } };
 *   },
 * });
 * ```
 */
export function createCriStatsProvider(options: CriStatsProviderOptions): () => Promise<StatsSummary> {
  const { runtime } = options;
  let sandboxStats = true;
  return async () => {
    const node = await options.node();
    const pods = new Map<string, PodStats>();
    const podOf = (l: { [key: string]: string } | undefined): PodStats | undefined => {
      const uid = l?.[labels.podUid];
      if (!uid) return undefined;
      let p = pods.get(uid);
      if (!p) {
        p = {
          podRef: { uid, name: l?.[labels.podName] ?? "", namespace: l?.[labels.podNamespace] ?? "" },
          containers: [],
        };
        pods.set(uid, p);
      }
      return p;
    };
    if (sandboxStats) {
      try {
        const { stats } = await runtime.listPodSandboxStats({});
        for (const s of stats) {
          const p = podOf(s.attributes?.labels);
          if (!p) continue;
          p.memory = { workingSetBytes: n(s.linux?.memory?.workingSetBytes) };
          const count = n(s.linux?.process?.processCount);
          if (count !== undefined) p.process_stats = { process_count: count };
          for (const c of s.linux?.containers ?? []) p.containers?.push(containerStatsOf(c));
        }
        return { node, pods: [...pods.values()] };
      } catch (err) {
        // Not offered by this runtime: containers' stats from here on; another failure: this time.
        if (isUnimplemented(err)) sandboxStats = false;
        pods.clear();
      }
    }
    const { stats } = await runtime.listContainerStats({});
    for (const c of stats) {
      const p = podOf(c.attributes?.labels);
      if (!p) continue;
      const cs = containerStatsOf(c);
      p.containers?.push(cs);
      p.memory = { workingSetBytes: (p.memory?.workingSetBytes ?? 0) + (cs.memory?.workingSetBytes ?? 0) };
    }
    return { node, pods: [...pods.values()] };
  };
}
