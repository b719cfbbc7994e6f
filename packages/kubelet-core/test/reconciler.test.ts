import { describe, expect, it } from "vitest";
import type { Pod } from "../src/index.js";
import { createScenario } from "../src/testing/index.js";

function pod(name: string, spec: Partial<NonNullable<Pod["spec"]>> = {}, extra: Partial<Pod["metadata"]> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", uid: `uid-${name}`, ...extra },
    spec: {
      containers: [{ name: "app", image: "busybox:1.36", command: ["sh", "-c", "sleep 3600"] }],
      terminationGracePeriodSeconds: 30,
      ...spec,
    },
  };
}

describe("reconciler over the fake runtime (virtual time)", () => {
  it("starts init container, sidecar and app in order and reports Running and Ready", async () => {
    const s = createScenario({
      pods: [
        pod("web", {
          initContainers: [
            { name: "setup", image: "busybox:1.36", command: ["sh", "-c", "echo ready"] },
            { name: "proxy", image: "busybox:1.36", restartPolicy: "Always", command: ["sh", "-c", "sleep 3600"] },
          ],
        }),
      ],
    });
    const ok = await s.runUntil(
      () =>
        s.status("web")?.phase === "Running" &&
        s.status("web")?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      30_000,
    );
    expect(ok).toBe(true);
    const st = s.status("web")!;
    expect(st.initContainerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0], c.ready])).toEqual([
      ["setup", "terminated", true],
      ["proxy", "running", true],
    ]);
    expect(st.containerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0], c.ready, c.restartCount])).toEqual([
      ["app", "running", true, 0],
    ]);
    const started = s.events.filter((e) => e.reason === "Started").map((e) => e.container);
    expect(started).toEqual(["setup", "proxy", "app"]);
    expect(st.podIP).toMatch(/^10\.88\./);
    console.log(JSON.stringify(st.conditions?.map((c) => [c.type, c.status])));
  });

  it("CrashLoopBackOff: restarts at 10s, 20s, 40s… doubling to 5m, in ten virtual minutes", async () => {
    const s = createScenario({
      pods: [pod("crash", { containers: [{ name: "app", image: "busybox:1.36", command: ["sh", "-c", "exit 1"] }] })],
    });
    const t0 = s.clock.now();
    const wall = performance.now();
    await s.runFor(10 * 60_000);
    expect(performance.now() - wall).toBeLessThan(5_000);
    const starts = s.events.filter((e) => e.reason === "Started").map((e) => Math.round((e.time - t0) / 1000));
    console.log(starts);
    const st = s.status("crash")!;
    console.log(JSON.stringify(st.containerStatuses));
  });
});
