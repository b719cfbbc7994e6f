// collectHostFacts on this machine, checked against what free, df, nproc, ps, uname and the
// cgroup files say (read by subprocesses, independently of the collector); v2 parsing on a
// made-up host tree; the image filesystem against a real containerd.
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createImageClient, type ImageClient } from "@nodekit/cri";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "../../cri/test/harness/containerd.js";
import { collectHostFacts, computeNodeStatus, KubeletError, nodeStatusFactsOf } from "../src/index.js";
import { defined } from "./support/defined.js";

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" }).trim();
const MiB = 2 ** 20;
const linux = process.platform === "linux";
const root = process.getuid?.() === 0;

describe.skipIf(!linux)("collectHostFacts on this machine", () => {
  it("cores are the online CPUs, as nproc counts them", async () => {
    const facts = await collectHostFacts();
    expect(facts.numCores).toBe(Number(sh("getconf _NPROCESSORS_ONLN")));
    expect(facts.numCores).toBe(Number(sh("nproc")));
    expect(facts.numCores).toBeGreaterThan(0);
  });

  it("memory is what free says (total exactly, free and available within 256 MiB)", async () => {
    const facts = await collectHostFacts();
    const [, total, , free, , , available] = sh("free -b | grep '^Mem:'").split(/\s+/).map(Number);
    expect(facts.memory.totalBytes).toBe(total);
    expect(Math.abs(facts.memory.freeBytes - (free as number))).toBeLessThan(256 * MiB);
    expect(Math.abs(facts.memory.availableBytes - (available as number))).toBeLessThan(256 * MiB);
  });

  it("the node's filesystem is what df says (size and inodes exactly, available within 64 MiB)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nk-hostfacts-"));
    try {
      const facts = await collectHostFacts({ rootPath: dir });
      const [size, avail, itotal, iavail] = sh(`df -B1 --output=size,avail,itotal,iavail ${dir} | tail -1`)
        .split(/\s+/)
        .map(Number);
      expect(facts.nodeFs.path).toBe(dir);
      expect(facts.nodeFs.capacityBytes).toBe(size);
      expect(facts.nodeFs.inodes).toBe(itotal);
      expect(Math.abs(facts.nodeFs.availableBytes - (avail as number))).toBeLessThan(64 * MiB);
      expect(Math.abs(facts.nodeFs.inodesFree - (iavail as number))).toBeLessThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("PIDs: min(pid_max, threads-max), and the tasks that ps counts (within 100)", async () => {
    const facts = await collectHostFacts();
    const max = Math.min(Number(sh("cat /proc/sys/kernel/pid_max")), Number(sh("cat /proc/sys/kernel/threads-max")));
    expect(facts.pids.max).toBe(max);
    const tasks = Number(sh("ps -eL --no-headers | wc -l"));
    expect(Math.abs(facts.pids.running - tasks)).toBeLessThan(100);
  });

  it("ids, kernel and OS image are what the system files and uname say", async () => {
    const facts = await collectHostFacts();
    expect(facts.bootID).toBe(sh("cat /proc/sys/kernel/random/boot_id"));
    expect(facts.machineID).toBe(sh("cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id"));
    expect(facts.kernelVersion).toBe(sh("uname -r"));
    expect(facts.osImage).toBe(sh('. /etc/os-release && echo "$PRETTY_NAME"'));
    expect(facts.systemUUID).toBe(
      existsSync("/sys/class/dmi/id/product_uuid") ? sh("cat /sys/class/dmi/id/product_uuid") : "",
    );
    expect(facts.platform.operatingSystem).toBe("linux");
  });

  it("the cgroup version is the one /sys/fs/cgroup is mounted as", async () => {
    const facts = await collectHostFacts();
    expect(facts.cgroup.version).toBe(sh("stat -fc %T /sys/fs/cgroup") === "cgroup2fs" ? 2 : 1);
    expect(facts.cgroup.root?.usageBytes).toBeGreaterThan(0);
  });

  it("a missing node root is refused with the package's error", async () => {
    await expect(collectHostFacts({ rootPath: "/nonexistent/nk" })).rejects.toThrow(KubeletError);
    await expect(collectHostFacts({ rootPath: "/nonexistent/nk" })).rejects.toThrow(/rootPath: cannot statfs/);
  });

  it("the host facts make a Ready node status with this machine's capacity", async () => {
    const facts = await collectHostFacts();
    const { status } = computeNodeStatus(
      {
        ...nodeStatusFactsOf(facts),
        now: Date.now(),
        runtime: {
          lastSyncAt: Date.now(),
          status: {
            status: {
              conditions: [
                { type: "RuntimeReady", status: true, reason: "", message: "" },
                { type: "NetworkReady", status: true, reason: "", message: "" },
              ],
            },
          },
        },
        runtimeVersion: { runtimeName: "containerd", runtimeVersion: "1.6.20~ds1" },
        images: [],
      },
      undefined,
      { nodeName: "host-facts" },
    );
    expect(status.capacity?.cpu).toBe(sh("nproc"));
    expect(status.capacity?.memory).toBe(`${Number(sh("grep MemTotal /proc/meminfo | awk '{print $2}'"))}Ki`);
    expect(status.conditions?.at(-1)).toMatchObject({ type: "Ready", status: "True" });
    expect(status.nodeInfo?.containerRuntimeVersion).toBe("containerd://1.6.20");
  });
});

// A cgroup of our own, with 16 MiB of page cache charged to it by a process that ran inside it.
const cgroupSuite = linux && root ? describe : process.env.CI === "true" ? describe : describe.skip;
cgroupSuite("collectHostFacts: memory of the pods' cgroup", () => {
  it("usage, inactive_file and working set are what the cgroup's files say", async () => {
    if (!root) throw new Error("cgroup test prerequisites missing in CI: needs root");
    const v2 = sh("stat -fc %T /sys/fs/cgroup") === "cgroup2fs";
    const name = `nk-hostfacts-${randomUUID().slice(0, 8)}`;
    const dir = v2 ? `/sys/fs/cgroup/${name}` : `/sys/fs/cgroup/memory/${name}`;
    const scratch = mkdtempSync(join(tmpdir(), "nk-cgfile-"));
    mkdirSync(dir);
    try {
      const r = spawnSync("sh", [
        "-c",
        `echo $$ > ${dir}/cgroup.procs && dd if=/dev/zero of=${scratch}/f bs=1M count=16 2>/dev/null && sync`,
      ]);
      expect(r.status).toBe(0);
      const facts = await collectHostFacts({ podsCgroup: `/${name}` });
      const usage = Number(readFileSync(`${dir}/${v2 ? "memory.current" : "memory.usage_in_bytes"}`, "utf8"));
      const stat = readFileSync(`${dir}/memory.stat`, "utf8");
      const inactive = Number(
        new RegExp(`^${v2 ? "inactive_file" : "total_inactive_file"} (\\d+)$`, "m").exec(stat)?.[1],
      );
      const pods = defined(facts.cgroup.pods);
      expect(pods.path).toBe(dir);
      // Nothing runs in the cgroup any more, so its charge stays where it is between the reads.
      expect(pods.usageBytes).toBe(usage);
      expect(pods.inactiveFileBytes).toBe(inactive);
      expect(pods.workingSetBytes).toBe(Math.max(0, usage - inactive));
      expect(pods.usageBytes).toBeGreaterThanOrEqual(8 * MiB);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
      spawnSync("rmdir", [dir]);
    }
  });
});

describe("collectHostFacts on a made-up cgroup v2 host", () => {
  it("reads meminfo, CPUs, huge pages, ids, os-release, pids and v2 memory files", async () => {
    const host = mkdtempSync(join(tmpdir(), "nk-fakehost-"));
    const put = (path: string, content: string) => {
      mkdirSync(join(host, path, ".."), { recursive: true });
      writeFileSync(join(host, path), content);
    };
    try {
      put(
        "proc/meminfo",
        "MemTotal:       16384 kB\nMemFree:         4096 kB\nMemAvailable:    8192 kB\nBuffers: 1 kB\nCached: 2 kB\n",
      );
      put("proc/sys/kernel/pid_max", "4194304\n");
      put("proc/sys/kernel/threads-max", "12345\n");
      put("proc/sys/kernel/random/boot_id", "boot-1\n");
      put("proc/sys/kernel/osrelease", "6.1.0-test\n");
      put("proc/loadavg", "0.10 0.20 0.30 3/456 7890\n");
      put("sys/devices/system/cpu/online", "0-3,8,10-11\n");
      put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "16\n");
      put("sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
      put("sys/fs/cgroup/memory.stat", "anon 1\ninactive_file 1024\n");
      put("sys/fs/cgroup/kubepods/memory.current", "10000\n");
      put("sys/fs/cgroup/kubepods/memory.max", "20000\n");
      put("sys/fs/cgroup/kubepods/memory.stat", "anon 5000\nactive_file 999\ninactive_file 3000\n");
      put("etc/machine-id", "m-1\n");
      put("etc/os-release", 'NAME="Test"\nPRETTY_NAME="Test Linux 1 (one)"\n');
      const facts = await collectHostFacts({ hostRoot: host, rootPath: host, podsCgroup: "/kubepods" });
      expect(facts.memory).toEqual({
        totalBytes: 16384 * 1024,
        freeBytes: 4096 * 1024,
        availableBytes: 8192 * 1024,
        buffersBytes: 1024,
        cachedBytes: 2048,
      });
      expect(facts.numCores).toBe(7);
      expect(facts.hugePages).toEqual([{ pageSizeKiB: 2048, numPages: 16 }]);
      expect([facts.machineID, facts.bootID, facts.kernelVersion, facts.osImage]).toEqual([
        "m-1",
        "boot-1",
        "6.1.0-test",
        "Test Linux 1 (one)",
      ]);
      expect(facts.pids).toEqual({ max: 12345, running: 456 });
      expect(facts.cgroup.version).toBe(2);
      // The v2 root has no memory.current: MemTotal − MemFree, less the root's inactive_file.
      expect(facts.cgroup.root).toMatchObject({
        usageBytes: 12288 * 1024,
        inactiveFileBytes: 1024,
        workingSetBytes: 12288 * 1024 - 1024,
      });
      expect(facts.cgroup.pods).toEqual({
        path: join(host, "sys/fs/cgroup/kubepods"),
        usageBytes: 10000,
        inactiveFileBytes: 3000,
        workingSetBytes: 7000,
        limitBytes: 20000,
      });
      expect(facts.errors).toEqual([]);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });
});

const describeE2e = describeWithContainerd();
describeE2e("collectHostFacts: the image filesystem of a real containerd", () => {
  let h: ContainerdHarness;
  let image: ImageClient;
  beforeAll(async () => {
    h = await startContainerd();
    image = createImageClient(h.endpoint);
  });
  afterAll(async () => {
    image?.close();
    await h?.dispose();
  });

  it("ImageFsInfo's mountpoint, measured with statfs as df measures it", async () => {
    const facts = await collectHostFacts({ runtime: image });
    expect(facts.imageFs).toHaveLength(1);
    const fs = defined(facts.imageFs[0]);
    expect(fs.mountpoint.startsWith(h.dir)).toBe(true);
    expect(fs.mountpoint).toMatch(/io\.containerd\.snapshotter\.v1\./);
    const [size, itotal] = sh(`df -B1 --output=size,itotal ${fs.mountpoint} | tail -1`).split(/\s+/).map(Number);
    expect(fs.filesystem?.capacityBytes).toBe(size);
    expect(fs.filesystem?.inodes).toBe(itotal);
    expect(fs.usedBytes).toBeGreaterThanOrEqual(0);
    expect(facts.errors).toEqual([]);
  });
});
