// nodeStatsFromHostFacts: the node part of the stats summary from host facts, on figures made up
// here and on this machine's own facts.
import { describe, expect, it } from "vitest";
import { makeSignalObservations } from "../src/eviction/helpers.js";
import { nodeStatsFromHostFacts } from "../src/eviction/host-stats.js";
import { collectHostFacts, type HostFacts } from "../src/host/collect-host-facts.js";

const Mi = 1024 * 1024;
const fs = (capacityMi: number, availableMi: number, freeMi: number, inodes: number, inodesFree: number) => ({
  path: "/",
  capacityBytes: capacityMi * Mi,
  availableBytes: availableMi * Mi,
  freeBytes: freeMi * Mi,
  inodes,
  inodesFree,
});

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    collectedAt: Date.UTC(2026, 0, 1),
    numCores: 2,
    memory: { totalBytes: 4096 * Mi, freeBytes: 1000 * Mi, availableBytes: 3000 * Mi, buffersBytes: 0, cachedBytes: 0 },
    hugePages: [],
    machineID: "m",
    systemUUID: "",
    bootID: "b",
    kernelVersion: "6",
    osImage: "Linux",
    platform: { operatingSystem: "linux", architecture: "amd64" },
    nodeFs: fs(10_000, 4_000, 4_500, 1_000_000, 600_000),
    imageFs: [
      {
        mountpoint: "/var/lib/containerd",
        usedBytes: 700 * Mi,
        inodesUsed: 9_000,
        filesystem: fs(20_000, 15_000, 15_000, 2_000_000, 1_900_000),
      },
    ],
    containerFs: [],
    pids: { max: 32_768, running: 300 },
    cgroup: {
      version: 2,
      root: {
        path: "/sys/fs/cgroup",
        usageBytes: 1500 * Mi,
        inactiveFileBytes: 500 * Mi,
        workingSetBytes: 1000 * Mi,
        limitBytes: undefined,
      },
      pods: {
        path: "/sys/fs/cgroup/kubepods",
        usageBytes: 900 * Mi,
        inactiveFileBytes: 100 * Mi,
        workingSetBytes: 800 * Mi,
        limitBytes: 3000 * Mi,
      },
    },
    interfaceAddresses: [],
    errors: [],
    ...over,
  };
}

describe("nodeStatsFromHostFacts", () => {
  it("gives every signal the kubelet observes on Linux", () => {
    const { observations } = makeSignalObservations({ node: nodeStatsFromHostFacts(facts()), pods: [] });
    const seen = Object.fromEntries(
      [...observations].map(([s, o]) => [
        s,
        [
          o.available / (s.includes("inodes") || s === "pid.available" ? 1 : Mi),
          o.capacity / (s.includes("inodes") || s === "pid.available" ? 1 : Mi),
        ],
      ]),
    );
    expect(seen).toEqual({
      // capacity 4096Mi less the root cgroup's working set of 1000Mi; capacity = available + working set
      "memory.available": [3096, 4096],
      // the pods' cgroup: its 3000Mi limit less its 800Mi working set
      "allocatableMemory.available": [2200, 3000],
      "nodefs.available": [4000, 10_000],
      "nodefs.inodesFree": [600_000, 1_000_000],
      "imagefs.available": [15_000, 20_000],
      "imagefs.inodesFree": [1_900_000, 2_000_000],
      // no container filesystem of its own: the image filesystem
      "containerfs.available": [15_000, 20_000],
      "containerfs.inodesFree": [1_900_000, 2_000_000],
      "pid.available": [32_768 - 300, 32_768],
    });
  });

  it("falls back to /proc/meminfo without a root cgroup, and to allocatableMemoryBytes without a pods limit", () => {
    const f = facts();
    f.cgroup = {
      version: 1,
      root: undefined,
      pods: { ...(f.cgroup.pods as NonNullable<HostFacts["cgroup"]["pods"]>), limitBytes: undefined },
    };
    const node = nodeStatsFromHostFacts(f, { allocatableMemoryBytes: 2000 * Mi });
    expect(node.memory).toMatchObject({ availableBytes: 3000 * Mi, workingSetBytes: 1096 * Mi });
    expect(node.systemContainers?.[0]?.memory).toMatchObject({ availableBytes: 1200 * Mi, workingSetBytes: 800 * Mi });
    expect(nodeStatsFromHostFacts(f).systemContainers).toBeUndefined();
  });

  it("reads this machine: memory, nodefs and PIDs are observed with sane figures", async () => {
    const host = await collectHostFacts({});
    const { observations } = makeSignalObservations({ node: nodeStatsFromHostFacts(host), pods: [] });
    const memory = observations.get("memory.available");
    expect(memory?.capacity).toBe(host.memory.totalBytes);
    expect(memory?.available).toBeGreaterThan(0);
    expect(memory?.available).toBeLessThanOrEqual(host.memory.totalBytes);
    expect(observations.get("nodefs.available")?.capacity).toBe(host.nodeFs.capacityBytes);
    expect(observations.get("pid.available")?.available).toBe(host.pids.max - host.pids.running);
  });
});
