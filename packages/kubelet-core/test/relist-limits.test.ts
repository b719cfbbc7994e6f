// Issue 10, item 4: a node whose pods carry large annotations (the API allows 256 KiB per pod) must
// not wedge the reconciler. Over real gRPC, with the fake runtime served on a unix socket: a relist
// of 65 pods × 255 KiB lists completely, and when a relist does fail (over the client's receive
// limit) the pods that left the desired set are still killed and removed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CriServer, createCriServer, createImageClient, createRuntimeClient } from "@nodekit/cri";
import { createFakeRuntime, type FakeRuntime } from "@nodekit/cri/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createReconciler, type Pod, type Reconciler } from "../src/index.js";
import { defined } from "./support/defined.js";

const ANNOTATION_BYTES = 255 * 1024;

const bigPod = (i: number): Pod => ({
  metadata: {
    name: `big-${i}`,
    namespace: "default",
    uid: `uid-big-${i}`,
    annotations: { "example.com/blob": String(i % 10).repeat(ANNOTATION_BYTES) },
  },
  spec: {
    terminationGracePeriodSeconds: 0,
    containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }],
  },
});

describe("relisting a node with large pods over gRPC", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function serve(maxReceiveMessageBytes?: number) {
    const dir = mkdtempSync(join(tmpdir(), "nk-relist-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const fake: FakeRuntime = createFakeRuntime({ registry: ["*"] });
    const server: CriServer = createCriServer({ runtime: fake, image: fake });
    await server.listen(`unix://${join(dir, "cri.sock")}`);
    cleanup.push(() => server.close({ graceMs: 0 }));
    const options = maxReceiveMessageBytes ? { maxReceiveMessageBytes } : {};
    const runtime = createRuntimeClient(defined(server.endpoint), options);
    const image = createImageClient(defined(server.endpoint), options);
    cleanup.push(() => {
      runtime.close();
      image.close();
    });
    const warnings: string[] = [];
    const reconciler: Reconciler = createReconciler({
      runtime,
      image,
      nodeName: "node-1",
      useContainerEvents: false,
      podLogsRoot: join(dir, "pods"),
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    cleanup.push(() => reconciler.stop());
    return { fake, reconciler, warnings };
  }

  const running = async (fake: FakeRuntime) =>
    (await fake.listContainers({ filter: { state: { state: 1 } } })).containers.length;

  it("runs and then removes 65 pods with 255 KiB of annotations each (16.2 MiB of listing)", async () => {
    const { fake, reconciler } = await serve();
    const pods = Array.from({ length: 65 }, (_, i) => bigPod(i));
    reconciler.updatePods(pods);
    for (let i = 0; i < 5 && (await running(fake)) < 65; i++) await reconciler.syncAll();
    expect(await running(fake)).toBe(65);
    expect(reconciler.podStatus("uid-big-64")?.phase).toBe("Running");
    reconciler.updatePods([]);
    await reconciler.syncAll();
    expect((await fake.listPodSandbox({})).items).toEqual([]);
    expect((await fake.listContainers({})).containers).toEqual([]);
  });

  it("a relist over the receive limit still kills and removes the pods that left the desired set", async () => {
    // 900 KiB: three such pods list within it, four do not (but each pod's own listing does).
    const { fake, reconciler, warnings } = await serve(900 * 1024);
    reconciler.updatePods([bigPod(0), bigPod(1), bigPod(2)]);
    await reconciler.syncAll();
    expect(await running(fake)).toBe(3);
    // The fourth pod is created by a pass whose relist still fit; the next relist cannot.
    reconciler.updatePods([bigPod(0), bigPod(1), bigPod(2), bigPod(3)]);
    await reconciler.syncAll();
    expect(await running(fake)).toBe(4);
    const failure: unknown = await reconciler.syncAll().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(String(failure)).toMatch(/larger than max/);

    // Pod 1 is deleted gracefully and pod 2 leaves the desired set: both stop although the node
    // cannot be relisted, and the pods that stay are not touched.
    reconciler.updatePods([
      bigPod(0),
      { ...bigPod(1), metadata: { ...bigPod(1).metadata, deletionTimestamp: "2026-12-02T00:00:00Z" } },
      bigPod(3),
    ]);
    await expect(reconciler.syncAll()).rejects.toThrow(/larger than max/);
    const byPod = async () => {
      const { containers } = await fake.listContainers({ filter: { state: { state: 1 } } });
      return containers.map((c) => c.labels["io.kubernetes.pod.name"]).sort();
    };
    expect(await byPod()).toEqual(["big-0", "big-3"]);
    const sandboxes = (await fake.listPodSandbox({})).items.map((s) => s.metadata?.name).sort();
    expect(sandboxes).toEqual(["big-0", "big-1", "big-3"]); // the deleted pod is kept until it leaves the set
    // The failed relist is a typed error, and it is logged.
    expect(failure).toMatchObject({ name: "KubeletError", reason: "RelistFailed" });
    expect(warnings.some((w) => w.startsWith("relist failed"))).toBe(true);

    // Once the node fits in a listing again, everything is in step.
    reconciler.updatePods([]);
    await reconciler.syncAll().catch(() => undefined);
    await reconciler.syncAll();
    expect((await fake.listPodSandbox({})).items).toEqual([]);
  });
});
