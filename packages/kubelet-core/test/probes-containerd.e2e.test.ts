// End-to-end: probes (exec, httpGet, gRPC) and hooks of the reconciler against a real containerd, to the pod's IP on the
// harness's CNI bridge (the test gives the host an address on that bridge, so the node reaches
// its pods as a kubelet's node does).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createImageClient, createRuntimeClient, type ImageClient, type RuntimeClient } from "@nodekit/cri";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "../../cri/test/harness/containerd.js";
import { createReconciler, type Pod, type PodEvent, type PodStatus, type Reconciler } from "../src/index.js";
import { defined } from "./support/defined.js";
import { startHealthServer } from "./support/grpc-health-server.js";

const describeE2e = describeWithContainerd();

describeE2e("probes and hooks against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  let image: ImageClient;
  const run = randomUUID().slice(0, 6);

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

  // The harness's bridge is `nk<hex>` for the cgroup parent `/nodekit-<hex>`; CNI makes it with the first pod.
  let hostAddress: string | undefined;
  function reachPods(): string {
    if (hostAddress) return hostAddress;
    const bridge = `nk${h.cgroupParent.replace(/^\/nodekit-/, "")}`;
    hostAddress = h.podSubnet.replace(/\.0\/24$/, ".254");
    execFileSync("ip", ["addr", "add", `${hostAddress}/24`, "dev", bridge]);
    return hostAddress;
  }

  const c = (name: string, script: string, extra: object = {}) => ({
    name,
    image: h.busyboxImage,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", script],
    ...extra,
  });
  const serve = 'trap "exit 0" TERM; while true; do sleep 0.2; done';
  const web = "mkdir -p /www && echo ready > /www/index.html && exec httpd -f -v -p 8080 -h /www";

  function reconciler() {
    const events: PodEvent[] = [];
    const r = createReconciler({
      runtime,
      image,
      nodeName: "e2e",
      podLogsRoot: join(h.dir, "pods"),
      cgroupParent: (p) => `${h.cgroupParent}/pod${p.metadata?.uid}`,
      eventSink: (e) => events.push(e),
    });
    return { r, events };
  }
  async function syncUntil(r: Reconciler, uid: string, done: (s: PodStatus) => boolean, timeoutMs = 40_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await r.syncAll();
      const s = r.podStatus(uid);
      if (s && done(s)) return s;
      if (Date.now() > until) throw new Error(`timed out; last status ${JSON.stringify(s)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  const isReady = (s: PodStatus) => s.conditions?.find((x) => x.type === "Ready")?.status === "True";

  it("httpGet readiness to the pod IP, an exec liveness probe that times out, preStop httpGet hooks to the pod IP", async () => {
    const { r, events } = reconciler();
    const p: Pod = {
      metadata: { name: "probed", namespace: "e2e", uid: `${run}-probed` },
      spec: {
        terminationGracePeriodSeconds: 10,
        initContainers: [
          c("web", web, {
            restartPolicy: "Always",
            ports: [{ name: "http", containerPort: 8080 }],
            readinessProbe: { httpGet: { path: "/index.html", port: "http" }, periodSeconds: 1 },
          }),
        ],
        containers: [
          c("app", serve, {
            livenessProbe: {
              exec: { command: ["sh", "-c", "sleep 5"] },
              timeoutSeconds: 1,
              periodSeconds: 2,
              failureThreshold: 2,
            },
            lifecycle: { preStop: { httpGet: { path: "/index.html", port: 8080 } } },
          }),
        ],
      },
    };
    r.updatePods([p]);
    // Running first: the bridge exists once the sandbox has its network.
    await syncUntil(r, defined(defined(p.metadata).uid), (s) => s.phase === "Running");
    const from = reachPods();
    const ready = await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    expect(ready.podIP?.startsWith(h.podSubnet.replace(/\.0\/24$/, "."))).toBe(true);

    // The exec probe outlives its 1 s timeout: containerd ends it, the kubelet counts a failure.
    const restarted = await syncUntil(
      r,
      defined(defined(p.metadata).uid),
      (s) => (s.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
    );
    expect(restarted.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    const unhealthy = events.filter((e) => e.reason === "Unhealthy" && e.container === "app").map((e) => e.message);
    expect(unhealthy.slice(0, 2)).toEqual(["Liveness probe failed: ", "Liveness probe failed: "]);
    expect(events.find((e) => e.reason === "Killing" && e.container === "app")?.message).toBe(
      "Container app failed liveness probe, will be restarted",
    );

    r.updatePods([]);
    await r.syncAll();
    // Every stop of app ran its preStop GET against web, through the pod IP: none failed.
    expect(events.some((e) => e.reason === "FailedPreStopHook")).toBe(false);
    // httpd -v logged the node's requests (probes and hooks) from the host's bridge address.
    const logs = join(h.dir, "pods");
    const podDir = defined(readdirSync(logs).find((d) => d.includes(defined(defined(p.metadata).uid))));
    const webLog = readdirSync(join(logs, podDir, "web"))
      .map((f) => readFileSync(join(logs, podDir, "web", f), "utf8"))
      .join("");
    expect(webLog).toContain(from);
  });

  it("a gRPC readiness probe to the pod IP: Ready while SERVING, Unhealthy and unready on NOT_SERVING", async () => {
    // The pod forwards its port 9000 to a grpc.health.v1 server on the node (busybox nc), so the
    // probe goes node → pod IP → node, through the CNI bridge.
    const health = await startHealthServer({ host: "0.0.0.0" });
    try {
      const nodeAddress = h.podSubnet.replace(/\.0\/24$/, ".254");
      const { r, events } = reconciler();
      const p: Pod = {
        metadata: { name: "grpc", namespace: "e2e", uid: `${run}-grpc` },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            c("app", `exec nc -ll -p 9000 -e nc ${nodeAddress} ${health.port}`, {
              readinessProbe: { grpc: { port: 9000, service: "e2e" }, periodSeconds: 1, failureThreshold: 2 },
            }),
          ],
        },
      };
      r.updatePods([p]);
      await syncUntil(r, defined(defined(p.metadata).uid), (s) => s.phase === "Running");
      reachPods();
      await syncUntil(r, defined(defined(p.metadata).uid), isReady);
      expect(health.calls[0]).toMatchObject({ service: "e2e" });
      expect(defined(health.calls[0]).userAgent).toMatch(/^kube-probe\/1\.35/);
      health.answer(() => ({ status: "NOT_SERVING" }));
      await syncUntil(r, defined(defined(p.metadata).uid), (s) => !isReady(s));
      expect(events.find((e) => e.reason === "Unhealthy")).toMatchObject({
        container: "app",
        message: 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")',
      });
      r.updatePods([]);
      await r.syncAll();
    } finally {
      await health.close();
    }
  });

  it("a preStop httpGet hook to a pod IP port nothing listens on: FailedPreStopHook 'PreStopHook failed'", async () => {
    const { r, events } = reconciler();
    const p: Pod = {
      metadata: { name: "badhook", namespace: "e2e", uid: `${run}-badhook` },
      spec: {
        terminationGracePeriodSeconds: 10,
        containers: [c("app", serve, { lifecycle: { preStop: { httpGet: { path: "/stop", port: 9 } } } })],
      },
    };
    r.updatePods([p]);
    await syncUntil(r, defined(defined(p.metadata).uid), isReady);
    reachPods();
    r.updatePods([]);
    await r.syncAll();
    expect(events.find((e) => e.reason === "FailedPreStopHook")).toMatchObject({
      type: "Warning",
      message: "PreStopHook failed",
      container: "app",
    });
  });
});
