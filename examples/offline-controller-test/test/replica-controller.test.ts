// How to test your own controller offline: run it against nodekit's kubelet reconciler and the
// in-memory fake runtime, on one fake clock. Minutes of kubelet behaviour run in milliseconds,
// the same way every time, with no cluster, no containerd and no root.
import { createScenario } from "@nodekit/kubelet-core/testing";
import { describe, expect, it } from "vitest";
import { createReplicaController } from "../src/replica-controller.js";
import { defined } from "./support/defined.js";

const template = {
  metadata: { name: "worker", namespace: "jobs" },
  spec: {
    restartPolicy: "Never",
    containers: [{ name: "main", image: "registry.local/worker:1", command: ["sleep", "3600"] }],
  },
};

describe("replica controller, tested offline in virtual time", () => {
  it("keeps three workers running when nothing fails", async () => {
    const s = createScenario();
    const controller = createReplicaController({ reconciler: s.reconciler, template, replicas: 3 });
    await s.runFor(60_000);
    expect(controller.pods()).toEqual(["worker-0", "worker-1", "worker-2"]);
    expect(controller.pods().map((name) => s.status(name)?.phase)).toEqual(["Running", "Running", "Running"]);
    expect(controller.replaced()).toBe(0);
  });

  it("replaces a worker whose container fails (restartPolicy Never → phase Failed)", async () => {
    const s = createScenario();
    const replacements: string[] = [];
    const controller = createReplicaController({
      reconciler: s.reconciler,
      template,
      replicas: 2,
      onReplace: (failed, by, why) => replacements.push(`${failed}→${by}: ${why}`),
    });
    await s.runFor(5_000);
    // Drive a failure in the fake runtime: worker-1's container exits with code 2.
    const { containers } = await s.runtime.listContainers({
      filter: { labelSelector: { "io.kubernetes.pod.name": "worker-1" } },
    });
    s.runtime.crashContainer(defined(containers[0]).id, 2);
    await s.runFor(5_000);
    expect(replacements).toEqual(["worker-1→worker-2: Failed"]);
    expect(controller.pods()).toEqual(["worker-0", "worker-2"]);
    expect(s.status("worker-2")?.phase).toBe("Running");
    // The failed pod was removed from the node once the controller let go of it.
    const left = await s.runtime.listPodSandbox({
      filter: { labelSelector: { "io.kubernetes.pod.name": "worker-1" } },
    });
    expect(left.items).toEqual([]);
  });

  it("replaces a crash-looping worker after 3 restarts, about 40 virtual seconds in", async () => {
    const s = createScenario();
    const crashing = {
      ...template,
      spec: {
        restartPolicy: "Always",
        containers: [{ name: "main", image: "registry.local/worker:1", command: ["sh", "-c", "exit 1"] }],
      },
    };
    const when: number[] = [];
    const started = s.clock.now();
    createReplicaController({
      reconciler: s.reconciler,
      template: crashing,
      replicas: 1,
      onReplace: () => when.push((s.clock.now() - started) / 1000),
    });
    const wallStart = performance.now();
    await s.runFor(5 * 60_000);
    // Restarts at 1 s, 11 s and 31 s (CrashLoopBackOff: 10 s, then 20 s): the third is seen at 31 s.
    expect(when[0]).toBe(31);
    // Each replacement crash-loops again: 31 s per generation, ~9 in five minutes.
    expect(when.length).toBeGreaterThanOrEqual(8);
    expect(performance.now() - wallStart).toBeLessThan(10_000);
  });
});
