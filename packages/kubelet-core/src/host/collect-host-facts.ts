// A collector of host facts on Linux (the parts of cAdvisor's MachineInfo, VersionInfo and
// filesystem and cgroup stats, and pidlimit.Stats, that node status and eviction read): the thin
// imperative shell around computeNodeStatus and the eviction manager.

import { readFile, statfs } from "node:fs/promises";
import { networkInterfaces, release } from "node:os";
import { join } from "node:path";
import type { ImageService } from "@nodekit/cri/api";
import { KubeletError } from "../errors.js";
import { validateNodeIP } from "../nodestatus/addresses.js";
import { goPlatform } from "../nodestatus/compute-node-status.js";
import type { MachineFacts, NodeStatusFacts } from "../nodestatus/types.js";

/** A filesystem's size as statfs tells it (bytes of fragments, as `df` counts). */
export interface FilesystemFacts {
  /** The path that was measured. */
  path: string;
  /** Size in bytes. */
  capacityBytes: number;
  /** Bytes available to unprivileged users. */
  availableBytes: number;
  /** Free bytes (including the root-reserved ones). */
  freeBytes: number;
  /** Inodes. */
  inodes: number;
  /** Free inodes. */
  inodesFree: number;
}

/** The runtime's image (or container) filesystem: `ImageFsInfo`, with statfs of its mountpoint. */
export interface RuntimeFilesystemFacts {
  /** The mountpoint the runtime names. */
  mountpoint: string;
  /** Bytes the runtime uses there. */
  usedBytes: number | undefined;
  /** Inodes the runtime uses there. */
  inodesUsed: number | undefined;
  /** statfs of the mountpoint; `undefined` when it cannot be measured from here (see `errors`). */
  filesystem: FilesystemFacts | undefined;
}

/** Memory of a cgroup, as cAdvisor reads it: usage, inactive file pages, and working set = usage − inactive_file. */
export interface CgroupMemoryFacts {
  /** The cgroup's folder. */
  path: string;
  /** `memory.current` (v2) or `memory.usage_in_bytes` (v1). */
  usageBytes: number;
  /** `inactive_file` (v2) or `total_inactive_file` (v1) of `memory.stat`. */
  inactiveFileBytes: number;
  /** usage − inactive_file, never below 0. */
  workingSetBytes: number;
  /** `memory.max` / `memory.limit_in_bytes`; `undefined` when unlimited. */
  limitBytes: number | undefined;
}

/** What {@link collectHostFacts} finds. */
export interface HostFacts {
  /** When it was collected (ms since the epoch). */
  collectedAt: number;
  /** Online logical CPUs. */
  numCores: number;
  /** `/proc/meminfo` in bytes. */
  memory: { totalBytes: number; freeBytes: number; availableBytes: number; buffersBytes: number; cachedBytes: number };
  /** Huge page pools. */
  hugePages: { pageSizeKiB: number; numPages: number }[];
  /** `/etc/machine-id` (or `/var/lib/dbus/machine-id`). */
  machineID: string;
  /** `/sys/class/dmi/id/product_uuid`; empty where the machine has none. */
  systemUUID: string;
  /** `/proc/sys/kernel/random/boot_id`. */
  bootID: string;
  /** The running kernel's release (`uname -r`). */
  kernelVersion: string;
  /** `PRETTY_NAME` of `/etc/os-release` (cAdvisor's default `Linux` without it). */
  osImage: string;
  /** `GOOS`/`GOARCH` names. */
  platform: { operatingSystem: string; architecture: string };
  /** The node's filesystem (statfs of `rootPath`). */
  nodeFs: FilesystemFacts;
  /** The runtime's image filesystems (when `runtime` was given). */
  imageFs: RuntimeFilesystemFacts[];
  /** The runtime's container filesystems, where it splits them from the image filesystem. */
  containerFs: RuntimeFilesystemFacts[];
  /** `min(pid_max, threads-max)` and the number of tasks (`/proc/loadavg`). */
  pids: { max: number; running: number };
  /** cgroup version and memory: the root cgroup, and the pods' parent cgroup when `podsCgroup` was given. */
  cgroup: { version: 1 | 2; root: CgroupMemoryFacts | undefined; pods: CgroupMemoryFacts | undefined };
  /** Addresses of the host's interfaces (no loopback). */
  interfaceAddresses: string[];
  /** What could not be read (the fact is then left out or empty). */
  errors: string[];
}

/** Options of {@link collectHostFacts}. */
export interface CollectHostFactsOptions {
  /** The node's root dir, whose filesystem is nodefs (the kubelet's `--root-dir`; default `/`). */
  rootPath?: string | undefined;
  /** Where the host's `/proc`, `/sys` and `/etc` are (default `/`; e.g. `/host` in a container). */
  hostRoot?: string | undefined;
  /** The runtime's image service, for `ImageFsInfo`. */
  runtime?: Pick<ImageService, "imageFsInfo"> | undefined;
  /** The pods' parent cgroup, relative to the cgroup root (e.g. `/kubepods`). */
  podsCgroup?: string | undefined;
  /** Deadline of the `ImageFsInfo` call (default 5 s). */
  timeoutMs?: number | undefined;
}

const text = async (path: string) => (await readFile(path, "utf8")).trim();
const bigToNumber = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));

/** statfs of `path` in the terms of df: sizes in fragments (Node reports f_bsize, which equals f_frsize on Linux filesystems). */
export async function statFilesystem(path: string): Promise<FilesystemFacts> {
  const s = await statfs(path, { bigint: true });
  return {
    path,
    capacityBytes: Number(s.blocks * s.bsize),
    availableBytes: Number(s.bavail * s.bsize),
    freeBytes: Number(s.bfree * s.bsize),
    inodes: Number(s.files),
    inodesFree: Number(s.ffree),
  };
}

/** Counts CPUs in a list like `0-3,8,10-11` (`/sys/devices/system/cpu/online`). */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map((x) => Number.parseInt(x, 10));
    if (a === undefined || Number.isNaN(a)) throw new KubeletError("HostFacts", `bad CPU list ${JSON.stringify(list)}`);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

/** Parses `/proc/meminfo` into bytes per key (values in kB are multiplied by 1024). */
export function parseMeminfo(content: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of content.split("\n")) {
    const m = /^(\S+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]) * (line.trimEnd().endsWith("kB") ? 1024 : 1));
  }
  return out;
}

/** Parses a cgroup `memory.stat` (`key value` lines). */
export function parseMemoryStat(content: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of content.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** `PRETTY_NAME` of an os-release file, unquoted; cAdvisor's `Linux` when there is none. */
export function parseOsRelease(content: string): string {
  for (const line of content.split("\n")) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m) return (m[1] as string).replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return "Linux";
}

async function cgroupMemory(
  version: 1 | 2,
  sys: string,
  relative: string,
  meminfo: Map<string, number>,
): Promise<CgroupMemoryFacts> {
  const clean = relative.replace(/^\/+/, "");
  const dir = version === 2 ? join(sys, "fs/cgroup", clean) : join(sys, "fs/cgroup/memory", clean);
  const stat = parseMemoryStat(await readFile(join(dir, "memory.stat"), "utf8").catch(() => ""));
  let usage: number;
  let limit: number | undefined;
  const isRoot = clean === "";
  if (version === 2 && isRoot) {
    // The v2 root has no memory.current; usage is what /proc/meminfo says is in use (runc's rootStatsFromMeminfo).
    usage = (meminfo.get("MemTotal") ?? 0) - (meminfo.get("MemFree") ?? 0);
  } else if (version === 2) {
    usage = Number(await text(join(dir, "memory.current")));
    const max = await text(join(dir, "memory.max")).catch(() => "max");
    limit = max === "max" ? undefined : Number(max);
  } else {
    usage = Number(await text(join(dir, "memory.usage_in_bytes")));
    const l = Number(await text(join(dir, "memory.limit_in_bytes")).catch(() => "NaN"));
    limit = Number.isFinite(l) && l < 2 ** 62 ? l : undefined;
  }
  const inactive = stat.get(version === 2 ? "inactive_file" : "total_inactive_file") ?? 0;
  return {
    path: dir,
    usageBytes: usage,
    inactiveFileBytes: inactive,
    workingSetBytes: usage < inactive ? 0 : usage - inactive,
    limitBytes: limit,
  };
}

async function runtimeFilesystems(
  runtime: Pick<ImageService, "imageFsInfo">,
  timeoutMs: number,
  errors: string[],
): Promise<{ image: RuntimeFilesystemFacts[]; container: RuntimeFilesystemFacts[] }> {
  const answer = await runtime.imageFsInfo({}, { timeoutMs });
  const measure = async (u: (typeof answer.imageFilesystems)[number]): Promise<RuntimeFilesystemFacts> => {
    const mountpoint = u.fsId?.mountpoint ?? "";
    const filesystem = await statFilesystem(mountpoint).catch((err: unknown) => {
      errors.push(`statfs of the runtime's filesystem ${mountpoint}: ${(err as Error).message}`);
      return undefined;
    });
    return {
      mountpoint,
      usedBytes: bigToNumber(u.usedBytes?.value),
      inodesUsed: bigToNumber(u.inodesUsed?.value),
      filesystem,
    };
  };
  return {
    image: await Promise.all(answer.imageFilesystems.map(measure)),
    container: await Promise.all(answer.containerFilesystems.map(measure)),
  };
}

/**
 * Collects the host facts a node agent reports and evicts by, on Linux: cores, `/proc/meminfo`,
 * huge pages, machine and boot ids, kernel and OS image, statfs of the node's root dir and of the
 * runtime's image filesystem (`ImageFsInfo`), PIDs, and the memory of the root cgroup and of the
 * pods' parent cgroup (v1 or v2; working set = usage − inactive_file, as cAdvisor computes it).
 * Facts that cannot be read are listed in `errors`; a missing `/proc` or node root throws a
 * {@link KubeletError} (reason `HostFacts`).
 *
 * @example
 * ```ts
 * const facts = await collectHostFacts({ rootPath: "/var/lib/kubelet", runtime: image, podsCgroup: "/kubepods" });
 * facts.memory.availableBytes; facts.nodeFs.availableBytes; facts.cgroup.pods?.workingSetBytes;
 * ```
 */
export async function collectHostFacts(options: CollectHostFactsOptions = {}): Promise<HostFacts> {
  const host = options.hostRoot ?? "/";
  const proc = join(host, "proc");
  const sys = join(host, "sys");
  const errors: string[] = [];
  const soft = async <T>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await read();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
      return fallback;
    }
  };
  let meminfoText: string;
  try {
    meminfoText = await readFile(join(proc, "meminfo"), "utf8");
  } catch (err) {
    throw new KubeletError("HostFacts", `cannot read ${join(proc, "meminfo")}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const meminfo = parseMeminfo(meminfoText);
  const rootPath = options.rootPath ?? "/";
  let nodeFs: FilesystemFacts;
  try {
    nodeFs = await statFilesystem(rootPath);
  } catch (err) {
    throw new KubeletError("HostFacts", `rootPath: cannot statfs ${rootPath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const numCores = await soft(
    "online CPUs",
    async () => countCpuList(await text(join(sys, "devices/system/cpu/online"))),
    0,
  );
  const hugePages = await soft("huge pages", async () => {
    const { readdir } = await import("node:fs/promises");
    const dir = join(sys, "kernel/mm/hugepages");
    const out: { pageSizeKiB: number; numPages: number }[] = [];
    for (const name of (await readdir(dir)).sort()) {
      const m = /^hugepages-(\d+)kB$/.exec(name);
      if (m) out.push({ pageSizeKiB: Number(m[1]), numPages: Number(await text(join(dir, name, "nr_hugepages"))) });
    }
    return out;
  }, []);
  const machineID = await soft(
    "machine-id",
    () => text(join(host, "etc/machine-id")).catch(() => text(join(host, "var/lib/dbus/machine-id"))),
    "",
  );
  const systemUUID = await text(join(sys, "class/dmi/id/product_uuid")).catch(() => "");
  const bootID = await soft("boot_id", () => text(join(proc, "sys/kernel/random/boot_id")), "");
  const kernelVersion =
    host === "/" ? release() : await soft("kernel release", () => text(join(proc, "sys/kernel/osrelease")), "");
  const osImage = await readFile(join(host, "etc/os-release"), "utf8").then(parseOsRelease, () => "Linux");
  const pids = await soft(
    "pids",
    async () => {
      const limits = await Promise.all(
        ["sys/kernel/pid_max", "sys/kernel/threads-max"].map((f) => text(join(proc, f)).then(Number, () => Number.NaN)),
      );
      const max = Math.min(...limits.filter((l) => Number.isFinite(l)));
      const loadavg = (await text(join(proc, "loadavg"))).split(/\s+/);
      const running = Number(loadavg[3]?.split("/")[1]);
      return { max, running };
    },
    { max: 0, running: 0 },
  );
  const fsType = await readFile(join(sys, "fs/cgroup/cgroup.controllers"), "utf8").then(
    () => 2 as const,
    () => 1 as const,
  );
  const root = await soft("root cgroup memory", () => cgroupMemory(fsType, sys, "/", meminfo), undefined);
  const pods =
    options.podsCgroup === undefined
      ? undefined
      : await soft(
          "pods cgroup memory",
          () => cgroupMemory(fsType, sys, options.podsCgroup as string, meminfo),
          undefined,
        );
  const runtime = options.runtime;
  const runtimeFs = runtime
    ? await soft("ImageFsInfo", () => runtimeFilesystems(runtime, options.timeoutMs ?? 5000, errors), {
        image: [],
        container: [],
      })
    : { image: [], container: [] };
  const interfaceAddresses = Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => !a.internal)
    .map((a) => a.address.split("%")[0] as string);
  return {
    collectedAt: Date.now(),
    numCores,
    memory: {
      totalBytes: meminfo.get("MemTotal") ?? 0,
      freeBytes: meminfo.get("MemFree") ?? 0,
      availableBytes: meminfo.get("MemAvailable") ?? 0,
      buffersBytes: meminfo.get("Buffers") ?? 0,
      cachedBytes: meminfo.get("Cached") ?? 0,
    },
    hugePages,
    machineID,
    systemUUID,
    bootID,
    kernelVersion,
    osImage,
    platform: goPlatform(),
    nodeFs,
    imageFs: runtimeFs.image,
    containerFs: runtimeFs.container,
    pids,
    cgroup: { version: fsType, root, pods },
    interfaceAddresses,
    errors,
  };
}

/** The machine part of {@link NodeStatusFacts} from collected host facts. */
export function machineFactsOf(facts: HostFacts): MachineFacts {
  return {
    numCores: facts.numCores,
    memoryCapacityBytes: facts.memory.totalBytes,
    machineID: facts.machineID,
    systemUUID: facts.systemUUID,
    bootID: facts.bootID,
    hugePages: facts.hugePages,
  };
}

/**
 * The host part of {@link NodeStatusFacts} (machine, version, platform, rootfs capacity, interface
 * addresses) from collected host facts; add the runtime's answers and the pressure to it.
 */
export function nodeStatusFactsOf(
  facts: HostFacts,
): Pick<
  NodeStatusFacts,
  "machine" | "version" | "platform" | "rootfsCapacityBytes" | "interfaceAddresses" | "hostAddresses"
> {
  return {
    machine: machineFactsOf(facts),
    version: { kernelVersion: facts.kernelVersion, osImage: facts.osImage },
    platform: facts.platform,
    rootfsCapacityBytes: facts.nodeFs.capacityBytes,
    interfaceAddresses: facts.interfaceAddresses,
    // Without a route table, the usable interface addresses stand for the default route's.
    hostAddresses: { defaultRoute: facts.interfaceAddresses.filter((a) => validateNodeIP(a) === undefined) },
  };
}
