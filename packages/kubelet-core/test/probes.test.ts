import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import type { Pod } from "../src/index.js";
import { createScenario } from "../src/testing/index.js";

function pod(name: string, container: object, meta: object = {}): Pod {
  return {
    metadata: { name, namespace: "default", uid: `uid-${name}`, ...meta },
    spec: { containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"], ...container }] },
  };
}

/** A fake runtime whose exec answers from a script the test changes as it goes. */
function scriptedExec() {
  const answers = new Map<string, number>();
  return {
    set: (cmd: string, exitCode: number) => answers.set(cmd, exitCode),
    exec: ({ cmd }: { cmd: string[] }) => ({ exitCode: answers.get(cmd.join(" ")) ?? 0 }),
  };
}

const readyOf = (s: ReturnType<typeof createScenario>, name: string) =>
  s.status(name)?.conditions?.find((c) => c.type === "Ready")?.status;

describe("probes, in virtual time", () => {
  it("readiness: not ready until the probe passes successThreshold times, unready after failureThreshold failures", async () => {
    const script = scriptedExec();
    script.set("check", 1);
    const s = createScenario({
      runtime: { exec: script.exec },
      pods: [
        pod("web", {
          readinessProbe: { exec: { command: ["check"] }, periodSeconds: 5, successThreshold: 2, failureThreshold: 2 },
        }),
      ],
    });
    await s.runFor(20_000);
    expect(s.status("web")?.phase).toBe("Running");
    expect(readyOf(s, "web")).toBe("False");
    expect(s.status("web")?.containerStatuses?.[0]?.ready).toBe(false);
    script.set("check", 0);
    const t = s.clock.now();
    await s.runUntil(() => readyOf(s, "web") === "True", 60_000);
    // Two successes, 5 s apart.
    expect(s.clock.now() - t).toBeGreaterThanOrEqual(5_000);
    expect(s.clock.now() - t).toBeLessThanOrEqual(11_000);
    script.set("check", 1);
    await s.runUntil(() => readyOf(s, "web") === "False", 60_000);
    expect(s.status("web")?.containerStatuses?.[0]?.restartCount).toBe(0); // readiness never restarts
  });

  it("liveness: kills and restarts the container after failureThreshold failures", async () => {
    const script = scriptedExec();
    const s = createScenario({
      runtime: { exec: script.exec },
      pods: [
        pod("live", {
          livenessProbe: {
            exec: { command: ["alive"] },
            periodSeconds: 10,
            failureThreshold: 3,
            initialDelaySeconds: 5,
          },
        }),
      ],
    });
    await s.runFor(60_000);
    expect(s.status("live")?.containerStatuses?.[0]?.restartCount).toBe(0);
    script.set("alive", 1);
    const t = s.clock.now();
    await s.runUntil(() => s.status("live")?.containerStatuses?.[0]?.restartCount === 1, 120_000);
    // Three failures, 10 s apart, then the kill.
    expect(s.clock.now() - t).toBeGreaterThanOrEqual(20_000);
    expect(s.events.find((e) => e.reason === "Killing")?.message).toBe(
      "Container app failed liveness probe, will be restarted",
    );
    // The new container has a fresh worker: the probe still fails, so it goes round again.
  });

  it("startup: liveness and readiness wait until the startup probe succeeds", async () => {
    const script = scriptedExec();
    script.set("started", 1);
    const s = createScenario({
      runtime: { exec: script.exec },
      pods: [
        pod("slow", {
          startupProbe: { exec: { command: ["started"] }, periodSeconds: 2, failureThreshold: 30 },
          livenessProbe: { exec: { command: ["alive"] }, periodSeconds: 2, failureThreshold: 1 },
          readinessProbe: { exec: { command: ["ready"] }, periodSeconds: 2 },
        }),
      ],
    });
    script.set("alive", 1); // would kill at once, if liveness ran before the start
    await s.runFor(30_000);
    expect(s.status("slow")?.containerStatuses?.[0]).toMatchObject({ started: false, ready: false, restartCount: 0 });
    const calls = s.runtime.callLog
      .filter((c) => c.method === "ExecSync")
      .map((c) => (c.request as { cmd: string[] }).cmd[0]);
    expect(new Set(calls)).toEqual(new Set(["started"]));
    script.set("started", 0);
    script.set("alive", 0);
    await s.runUntil(() => readyOf(s, "slow") === "True", 30_000);
    expect(s.status("slow")?.containerStatuses?.[0]).toMatchObject({ started: true, ready: true, restartCount: 0 });
  });

  it("tcpSocket probes resolve named ports; a probe that errors is thrown away, not counted", async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const s = createScenario({
        pods: [
          {
            metadata: { name: "tcp", namespace: "default", uid: "uid-tcp" },
            spec: {
              hostNetwork: true, // the fake gives host-network pods no IP: probes go to 127.0.0.1
              containers: [
                {
                  name: "app",
                  image: "busybox:1.36",
                  command: ["sleep", "3600"],
                  ports: [{ name: "web", containerPort: port }],
                  readinessProbe: { tcpSocket: { port: "web" }, periodSeconds: 1 },
                  // A port name the container does not have: every run errors, so it never kills.
                  livenessProbe: { tcpSocket: { port: "nope" }, periodSeconds: 1, failureThreshold: 1 },
                },
              ],
            },
          },
        ],
      });
      expect(await s.runUntil(() => readyOf(s, "tcp") === "True", 20_000)).toBe(true);
      await s.runFor(10_000);
      expect(s.status("tcp")?.containerStatuses?.[0]?.restartCount).toBe(0);
      await new Promise<void>((r) => server.close(() => r()));
      expect(await s.runUntil(() => readyOf(s, "tcp") === "False", 20_000)).toBe(true);
    } finally {
      server.close();
    }
  });
});
