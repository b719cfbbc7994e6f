// What a reconciler must survive: listeners that throw, pods that come back while being removed,
// stalled pulls, restarts of start()/stop(), conditions set by others, and HTTPS probes.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { describe, expect, it } from "vitest";
import { createProber, createReconciler, type Pod, podRuntimeStatusFrom, systemClock } from "../src/index.js";
import { createScenario } from "../src/testing/index.js";

const pod = (name: string, extra: Partial<NonNullable<Pod["spec"]>> = {}, meta: object = {}): Pod => ({
  metadata: { name, namespace: "default", uid: `uid-${name}`, ...meta },
  spec: { containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }], ...extra },
});
const readyOf = (s: ReturnType<typeof createScenario>, name: string) =>
  s.status(name)?.conditions?.find((c) => c.type === "Ready");

describe("reconciler robustness", () => {
  it("reads readiness gates and others' conditions from the API's pod, not only from its own last status", async () => {
    const gated = pod("gated", { readinessGates: [{ conditionType: "example.com/lb-ready" }] });
    const s = createScenario({ pods: [gated] });
    await s.runFor(3_000);
    expect(readyOf(s, "gated")).toMatchObject({
      status: "False",
      reason: "ReadinessGatesNotReady",
      message: 'corresponding condition of pod readiness gate "example.com/lb-ready" does not exist.',
    });
    // The load balancer controller sets its condition on the API's pod.
    s.reconciler.updatePods([{ ...gated, status: { conditions: [{ type: "example.com/lb-ready", status: "True" }] } }]);
    await s.runFor(2_000);
    expect(readyOf(s, "gated")?.status).toBe("True");
    expect(s.status("gated")?.conditions?.map((c) => c.type)).toContain("example.com/lb-ready");
  });

  it("restarts a pod that is desired again while it is being removed", async () => {
    const p = pod("phoenix", {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: "app",
          image: "busybox:1.36",
          command: ["sleep", "3600"],
          lifecycle: { preStop: { sleep: { seconds: 5 } } },
        },
      ],
    });
    const s = createScenario({ pods: [p] });
    await s.runUntil(() => s.status("phoenix")?.phase === "Running");
    let readded = false;
    s.reconciler.onEvent((e) => {
      if (e.reason === "Killing" && !readded) {
        readded = true;
        s.reconciler.updatePods([p]);
      }
    });
    s.reconciler.updatePods([]);
    await s.runFor(30_000);
    expect(readded).toBe(true);
    expect(s.reconciler.podStatus("uid-phoenix")?.phase).toBe("Running");
    const { containers } = await s.runtime.listContainers({ filter: { state: { state: 1 } } });
    expect(containers).toHaveLength(1);
  });

  it("keeps syncing when a status or event listener throws", async () => {
    const s = createScenario({ pods: [pod("a"), pod("b")] });
    s.reconciler.onEvent(() => {
      throw new Error("listener bug");
    });
    s.reconciler.onStatus(() => {
      throw new Error("listener bug");
    });
    expect(await s.runUntil(() => s.status("a")?.phase === "Running" && s.status("b")?.phase === "Running")).toBe(true);
    expect(s.runtime.calls.filter((c) => c === "PullImage")).toHaveLength(2);
  });

  it("cancels a stalled pull when the pod is deleted, and stop() does not wait for it", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    fake.scriptPull("registry.local/stuck:1", { delayMs: 3_600_000 });
    const r = createReconciler({
      runtime: fake,
      image: fake,
      nodeName: "n",
      useContainerEvents: false,
      relistPeriodMs: 20,
    });
    const p = pod("stuck", { containers: [{ name: "app", image: "registry.local/stuck:1" }] });
    r.updatePods([p]);
    r.start();
    await new Promise((res) => setTimeout(res, 100));
    expect(fake.calls).toContain("PullImage");
    r.updatePods([
      { ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 0 } },
    ]);
    const until = Date.now() + 3_000;
    while (!fake.calls.includes("StopPodSandbox") && Date.now() < until)
      await new Promise((res) => setTimeout(res, 20));
    expect(fake.calls).toContain("StopPodSandbox");
    // Another stalled pull: stop() returns anyway.
    r.updatePods([pod("stuck-2", { containers: [{ name: "app", image: "registry.local/stuck:1" }] })]);
    await new Promise((res) => setTimeout(res, 100));
    const t = Date.now();
    await r.stop();
    expect(Date.now() - t).toBeLessThan(1_000);
  });

  it("reopens container events after stop() and start()", async () => {
    const fake = createFakeRuntime({ registry: ["*"] });
    const warnings: string[] = [];
    const r = createReconciler({
      runtime: fake,
      image: fake,
      nodeName: "n",
      relistPeriodMs: 60_000,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    r.updatePods([pod("again")]);
    r.start();
    await r.stop();
    r.start();
    await new Promise((res) => setTimeout(res, 50));
    const opened = fake.calls.filter((c) => c === "GetContainerEvents").length;
    expect(opened).toBe(2);
    expect(warnings).toEqual([]);
    await r.stop();
  });

  it("httpGet probes do not check HTTPS certificates, and send the kubelet's user agent and the probe's headers", async () => {
    const certDir = `${import.meta.dirname}/support`;
    let seen: Record<string, string | string[] | undefined> = {};
    const server = createServer(
      { key: readFileSync(`${certDir}/self-signed.key`), cert: readFileSync(`${certDir}/self-signed.crt`) },
      (req, res) => {
        seen = req.headers;
        res.writeHead(200).end("ok");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const fake = createFakeRuntime();
      const prober = createProber({ runtime: fake, clock: systemClock });
      const p = pod("https", {
        containers: [
          {
            name: "app",
            image: "busybox",
            livenessProbe: {
              httpGet: { scheme: "HTTPS", port, path: "/healthz", httpHeaders: [{ name: "X-Probe", value: "1" }] },
              failureThreshold: 1,
            },
          },
        ],
      });
      const status = podRuntimeStatusFrom({
        uid: "uid-https",
        name: "https",
        namespace: "default",
        sandboxes: [],
        containers: [
          {
            id: "c1",
            state: 1,
            startedAt: 1n,
            createdAt: 1n,
            labels: { "io.kubernetes.container.name": "app" },
            annotations: {},
          } as never,
        ],
      });
      await prober.probePod(p, status);
      expect(prober.liveness?.("c1")).toBe("success");
      expect(seen["user-agent"]).toBe("kube-probe/1.35");
      expect(seen["x-probe"]).toBe("1");
    } finally {
      server.close();
    }
  });
});
