// End-to-end: node-pressure eviction against a real containerd. Pods allocate memory in their
// cgroup (a tmpfs write into the sandbox's /dev/shm, charged to the writing container's memory
// cgroup); memory.available is read from the pods' parent cgroup (cgroup v2 memory.current or the
// v1 memory controller, whichever this machine has), with a capacity and a threshold set for the
// test. The lowest-priority pod that exceeds its request is evicted, and only it.
import { join } from "node:path";
import { createImageClient, createRuntimeClient, type ImageClient, type RuntimeClient } from "@nodekit/cri";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "../../cri/test/harness/containerd.js";
import { createCriStatsProvider, readCgroupMemory } from "../src/eviction/cri-stats.js";
import { parseEvictionThresholds } from "../src/eviction/thresholds.js";
import { createReconciler, type Pod, type PodEvent, type PodStatus, type Reconciler } from "../src/index.js";

const describeE2e = describeWithContainerd();
const Mi = 1024 * 1024;

describeE2e("eviction against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  let image: ImageClient;

  beforeAll(async () => {
    h = await startContainerd();
    runtime = createRuntimeClient(h.endpoint);
    image = createImageClient(h.endpoint);
  });
  afterAll(async () => {
    runtime?.close();
    image?.close();
    await h?.dispose();
  });

  // Exits promptly on SIGTERM.
  const serve = 'trap "exit 0" TERM; while true; do sleep 0.2; done';
  const pod = (name: string, priority: number, memoryRequest: string): Pod => {
    const spec = {
      priority,
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: "app",
          image: h.busyboxImage,
          imagePullPolicy: "IfNotPresent",
          command: ["sh", "-c", serve],
          resources: { requests: { memory: memoryRequest } },
        },
      ],
    };
    return { metadata: { name, namespace: "e2e", uid: `evict-${name}-${h.cgroupParent.slice(-8)}` }, spec };
  };

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const isRunning = (s: PodStatus | undefined) =>
    s?.phase === "Running" && s.containerStatuses?.[0]?.state?.running !== undefined;
  async function containerOf(uid: string): Promise<string> {
    const { containers } = await runtime.listContainers({
      filter: { labelSelector: { "io.kubernetes.pod.uid": uid } },
    });
    const c = containers.find((x) => x.metadata?.name === "app");
    if (!c) throw new Error(`no container for ${uid}`);
    return c.id;
  }

  it("evicts the lowest-priority pod that exceeds its memory request, and only it", async () => {
    const lowSmall = pod("low-small", -10, "64Mi"); // lowest priority, well below its request
    const midHog = pod("mid-hog", 0, "8Mi"); // exceeds its request: the one to go
    const highHog = pod("high-hog", 1000, "8Mi"); // exceeds its request too, but higher priority
    const all = [lowSmall, midHog, highHog];
    const uid = (p: Pod) => p.metadata?.uid ?? "";

    // memory.available of the pods' parent cgroup, against a capacity set once the pods idle.
    let capacity = Number.POSITIVE_INFINITY;
    const observed: number[] = [];
    const statsProvider = createCriStatsProvider({
      runtime,
      node: async () => {
        const m = await readCgroupMemory(h.cgroupParent);
        const available = Math.max(0, capacity - m.workingSetBytes);
        if (Number.isFinite(capacity)) observed.push(available);
        return {
          memory: { availableBytes: Number.isFinite(available) ? available : 1e15, workingSetBytes: m.workingSetBytes },
        };
      },
    });
    const events: PodEvent[] = [];
    const r: Reconciler = createReconciler({
      runtime,
      image,
      nodeName: "e2e",
      podLogsRoot: join(h.dir, "pods"),
      cgroupParent: (p) => `${h.cgroupParent}/pod${p.metadata?.uid}`,
      eventSink: (e) => events.push(e),
      relistPeriodMs: 500,
      eviction: {
        thresholds: parseEvictionThresholds({ evictionHard: { "memory.available": "40Mi" } }),
        statsProvider,
        monitoringIntervalMs: 1000,
      },
    });
    try {
      r.updatePods(all);
      await waitFor("the pods to run", async () => {
        await r.syncAll();
        return all.every((p) => isRunning(r.podStatus(uid(p)))) ? true : undefined;
      });

      // The pods idle: 100Mi available. Each hog then writes 40Mi into its memory cgroup: 20Mi
      // available, under the 40Mi threshold; with one hog gone, 60Mi, above it.
      const idle = await readCgroupMemory(h.cgroupParent);
      capacity = idle.workingSetBytes + 100 * Mi;
      for (const hog of [midHog, highHog]) {
        const res = await runtime.execSync({
          containerId: await containerOf(uid(hog)),
          cmd: ["dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1048576", "count=40"],
          timeout: 30n,
        });
        expect(res.exitCode).toBe(0);
      }
      const filled = await readCgroupMemory(h.cgroupParent);
      expect(filled.workingSetBytes - idle.workingSetBytes).toBeGreaterThan(70 * Mi);
      const stats = await statsProvider();
      const podMemory = (p: Pod) => stats.pods.find((s) => s.podRef.uid === uid(p))?.memory?.workingSetBytes ?? 0;
      expect(podMemory(midHog)).toBeGreaterThan(40 * Mi);
      expect(podMemory(highHog)).toBeGreaterThan(40 * Mi);
      expect(podMemory(lowSmall)).toBeLessThan(64 * Mi);

      r.start();
      const evicted = await waitFor("the eviction", async () => {
        const s = r.podStatus(uid(midHog));
        return s?.reason === "Evicted" ? s : undefined;
      });
      expect(evicted.phase).toBe("Failed");
      expect(evicted.message).toMatch(
        /^The node was low on resource: memory\. Threshold quantity: 40Mi, available: \d+(Ki|Mi)?\. Container app was using \d+(Ki|Mi), request is 8Mi, has larger consumption of memory\. $/,
      );
      expect(evicted.conditions?.find((c) => c.type === "DisruptionTarget")?.reason).toBe("TerminationByKubelet");
      expect(r.eviction?.pressure().memory).toBe(true);

      // The pressure is relieved: a few more passes evict no one else.
      await new Promise((res) => setTimeout(res, 5000));
      expect(events.filter((e) => e.reason === "Evicted").map((e) => e.pod.name)).toEqual(["mid-hog"]);
      expect(isRunning(r.podStatus(uid(highHog)))).toBe(true);
      expect(isRunning(r.podStatus(uid(lowSmall)))).toBe(true);
      expect(Math.max(...observed.slice(-3))).toBeGreaterThan(40 * Mi);
      const { containers } = await runtime.listContainers({
        filter: { labelSelector: { "io.kubernetes.pod.uid": uid(midHog) } },
      });
      expect(containers.every((c) => c.state !== 1)).toBe(true); // none CONTAINER_RUNNING
    } finally {
      await r.stop();
      r.updatePods([]);
      await r.syncAll();
    }
  }, 120_000);
});
