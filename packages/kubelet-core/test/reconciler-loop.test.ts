// The reconciler's continuous mode (start/stop) on the wall clock, and its garbage collection.
import { Code, CriError, PodSandboxState } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createReconciler, type Pod, type Reconciler } from "../src/index.js";
import { createScenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

const pod = (name: string, image = "busybox:1.36"): Pod => ({
  metadata: { name, namespace: "default", uid: `uid-${name}` },
  spec: { containers: [{ name: "app", image, command: ["sleep", "3600"] }] },
});

const running: Reconciler[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("continuous mode", () => {
  it("reacts to container events at once, without waiting for the next relist", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    const r = createReconciler({ runtime: fake, image: fake, nodeName: "n", relistPeriodMs: 60_000 });
    running.push(r);
    r.updatePods([pod("evented")]);
    r.start();
    await until("running", () => r.podStatus("uid-evented")?.phase === "Running");
    const { containers } = await fake.listContainers({});
    const relists = fake.calls.filter((c) => c === "ListPodSandbox").length;
    fake.crashContainer(defined(containers[0]).id, 3);
    // The STOPPED event makes the pod sync (and restart the container: the first restart is immediate).
    await until("restarted", () => (r.podStatus("uid-evented")?.containerStatuses?.[0]?.restartCount ?? 0) === 1);
    expect(fake.calls).toContain("GetContainerEvents");
    // No full relist was needed: only the per-pod reads of that sync.
    expect(fake.calls.filter((c) => c === "ListPodSandbox").length - relists).toBeLessThanOrEqual(3);
  });

  it("falls back to relisting when the runtime has no GetContainerEvents (containerd 1.6)", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    const runtime = Object.create(fake) as typeof fake;
    runtime.getContainerEvents = () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new CriError(Code.Unimplemented, "method GetContainerEvents not implemented")),
      }),
    });
    const warnings: string[] = [];
    const r = createReconciler({
      runtime,
      image: fake,
      nodeName: "n",
      relistPeriodMs: 50,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    running.push(r);
    r.updatePods([pod("relisted")]);
    r.start();
    await until("running", () => r.podStatus("uid-relisted")?.phase === "Running");
    const { containers } = await fake.listContainers({});
    fake.crashContainer(defined(containers[0]).id, 3);
    await until(
      "restarted by a relist",
      () => (r.podStatus("uid-relisted")?.containerStatuses?.[0]?.restartCount ?? 0) === 1,
    );
    expect(warnings).not.toContain("container events stream ended");
  });

  it("keeps syncing through a failing relist and stops cleanly", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    fake.injectError("ListContainers", new CriError(Code.Unavailable, "runtime restarting"), { times: 3 });
    const r = createReconciler({
      runtime: fake,
      image: fake,
      nodeName: "n",
      relistPeriodMs: 20,
      useContainerEvents: false,
    });
    running.push(r);
    r.updatePods([pod("steady")]);
    r.start();
    await until("running despite failed relists", () => r.podStatus("uid-steady")?.phase === "Running");
    await r.stop();
    const calls = fake.calls.length;
    await new Promise((res) => setTimeout(res, 100));
    expect(fake.calls.length).toBe(calls); // nothing runs after stop()
  });

  it("syncs the latest desired spec when it changes during a sync", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    fake.scriptPull("registry.local/v1:1", { delayMs: 100 });
    const r = createReconciler({ runtime: fake, image: fake, nodeName: "n", useContainerEvents: false });
    r.updatePods([pod("latest", "registry.local/v1:1")]);
    const first = r.syncAll();
    await new Promise((res) => setTimeout(res, 20)); // v1 is being pulled
    r.updatePods([pod("latest", "registry.local/v2:1")]);
    await first;
    await r.syncAll();
    const { containers } = await fake.listContainers({ filter: { state: { state: 1 } } });
    expect(containers.map((c) => c.image?.userSpecifiedImage)).toEqual(["registry.local/v2:1"]);
  });
});

describe("garbage collection", () => {
  it("keeps the newest dead container per name, and removes an old sandbox once none of its containers is kept", async () => {
    const s = createScenario({ pods: [pod("gc")] });
    await s.runUntil(() => s.status("gc")?.phase === "Running");
    const { items } = await s.runtime.listPodSandbox({});
    // The sandbox dies (as after a node reboot): the kubelet makes a new one, attempt 1.
    await s.runtime.stopPodSandbox({ podSandboxId: defined(items[0]).id });
    await s.runFor(5_000);
    expect(s.events.some((e) => e.reason === "SandboxChanged")).toBe(true);
    let sandboxes = (await s.runtime.listPodSandbox({})).items;
    // The old sandbox stays while it holds the newest dead instance of "app" (its last state).
    expect(sandboxes.map((i) => [i.metadata?.attempt, i.state]).sort()).toEqual([
      [0, PodSandboxState.SANDBOX_NOTREADY],
      [1, PodSandboxState.SANDBOX_READY],
    ]);
    // The new container crashes once: its dead instance is now the newest, the old one goes, and
    // with it the old sandbox.
    const current = defined((await s.runtime.listContainers({ filter: { state: { state: 1 } } })).containers[0]);
    s.runtime.crashContainer(current.id, 1);
    // (The crash loop holds the restart back for 10 s: the sandbox's loss counted as the first exit.)
    await s.runUntil(() => s.status("gc")?.containerStatuses?.[0]?.state?.running !== undefined, 30_000);
    sandboxes = (await s.runtime.listPodSandbox({})).items;
    expect(sandboxes.map((i) => [i.metadata?.attempt, i.state])).toEqual([[1, PodSandboxState.SANDBOX_READY]]);
    const { containers } = await s.runtime.listContainers({});
    expect(containers.map((c) => [c.metadata?.attempt, c.state]).sort()).toEqual([
      [1, 2],
      [2, 1],
    ]);
    expect(s.status("gc")?.containerStatuses?.[0]).toMatchObject({
      restartCount: 2,
      lastState: { terminated: { exitCode: 1 } },
    });
  });
});
