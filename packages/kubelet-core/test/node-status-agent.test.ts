// The node status reporting of the agent against the test API server through client-node:
// the kubelet's cadence in virtual time (TestUpdateNodeStatusWithLease: a write when the status
// changed or the report period passed, none in between), and the agent's wiring in real time.
import { CoreV1Api } from "@kubernetes/client-node";
import { createFakeRuntime, type FakeRuntime } from "@nodekit/cri/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createNodeAgent, createNodeStatusReporter } from "../src/apiserver/index.js";
import type { NodeStatusEvent, NodeStatusFacts } from "../src/index.js";
import { createFakeClock } from "../src/testing/index.js";
import { createTestApiServer, type TestApiServer } from "./support/api-server/index.js";

const NODE = "node-1";

/** Polls `predicate` every 5 ms (the timeout only ends a hung test). */
async function until(predicate: () => boolean, message: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
/** Times as the API server keeps them (client-node sends milliseconds; metav1.Time keeps seconds). */
const sec = (t: string) => `${new Date(t).toISOString().slice(0, 19)}Z`;
// biome-ignore lint/suspicious/noExplicitAny: API objects, read field by field in assertions
type Obj = any;

const hostPart = (memoryCapacityBytes: number): Partial<NodeStatusFacts> => ({
  machine: { numCores: 2, memoryCapacityBytes, machineID: "123", systemUUID: "abc", bootID: "1b3" },
  version: { kernelVersion: "6.1.0", osImage: "Debian GNU/Linux 12 (bookworm)" },
  platform: { operatingSystem: "linux", architecture: "amd64" },
  rootfsCapacityBytes: 5000,
});

describe("node status reporting (client-node against the test API server)", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  async function api(): Promise<TestApiServer> {
    const a = await createTestApiServer({ bookmarkIntervalMs: 100 });
    cleanup.push(() => a.close());
    return a;
  }
  const statusPuts = (a: TestApiServer) =>
    a.requests.filter((r) => r.method === "PUT" && r.path === `/api/v1/nodes/${NODE}/status`).length;
  const nodeGets = (a: TestApiServer) =>
    a.requests.filter((r) => r.method === "GET" && r.path === `/api/v1/nodes/${NODE}`).length;
  const node = (a: TestApiServer): Obj => a.store.get("nodes", undefined, NODE);
  const condition = (a: TestApiServer, type: string): Obj =>
    node(a).status.conditions.find((c: Obj) => c.type === type);

  it("TestUpdateNodeStatusWithLease: written when changed or due, heartbeats moving, transitions kept", async () => {
    const a = await api();
    const clock = createFakeClock(Date.parse("2026-12-02T10:00:00Z"));
    const runtime = createFakeRuntime({ runtimeName: "test", runtimeVersion: "1.5.0" });
    await a
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNode({ body: { metadata: { name: NODE } } });
    let memory = 20e9;
    const reporter = createNodeStatusReporter({
      kubeConfig: a.kubeConfig(),
      runtime,
      image: runtime,
      clock,
      host: async () => hostPart(memory),
      reportFrequencyMs: 60_000,
      status: {
        nodeName: NODE,
        nodeIPs: ["10.1.1.2"],
        maxPods: 0,
        kubeReserved: { cpu: "200m", memory: "100M" },
        evictionHard: {},
      },
    });
    const t0 = clock.now();
    const at = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

    // Reported when the node status is created.
    expect(await reporter.sync()).toBe(true);
    expect(statusPuts(a)).toBe(1);
    const first = node(a).status;
    expect(
      first.conditions.map((c: Obj) => [
        c.type,
        c.status,
        c.reason,
        sec(c.lastHeartbeatTime),
        sec(c.lastTransitionTime),
      ]),
    ).toEqual([
      ["MemoryPressure", "False", "KubeletHasSufficientMemory", at(t0), at(t0)],
      ["DiskPressure", "False", "KubeletHasNoDiskPressure", at(t0), at(t0)],
      ["PIDPressure", "False", "KubeletHasSufficientPID", at(t0), at(t0)],
      ["Ready", "True", "KubeletReady", at(t0), at(t0)],
    ]);
    expect(first.capacity).toEqual({ cpu: "2", memory: "19531250Ki", "ephemeral-storage": "5000", pods: "0" });
    expect(first.allocatable).toEqual({ cpu: "1800m", memory: "19900000000", "ephemeral-storage": "5000", pods: "0" });
    expect(first.addresses).toEqual([
      { type: "InternalIP", address: "10.1.1.2" },
      { type: "Hostname", address: NODE },
    ]);
    expect(first.nodeInfo).toMatchObject({
      machineID: "123",
      systemUUID: "abc",
      bootID: "1b3",
      containerRuntimeVersion: "test://1.5.0",
    });
    expect(first.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } });

    // Nothing changed but the report frequency passed: reported, heartbeats one minute later.
    clock.advance(60_000);
    expect(await reporter.sync()).toBe(true);
    expect(statusPuts(a)).toBe(2);
    for (const c of node(a).status.conditions) {
      expect(sec(c.lastHeartbeatTime)).toBe(at(t0 + 60_000));
      expect(sec(c.lastTransitionTime)).toBe(at(t0));
    }

    // Nothing changed, within the report frequency: read, not written.
    clock.advance(10_000);
    const gets = nodeGets(a);
    expect(await reporter.sync()).toBe(false);
    expect(statusPuts(a)).toBe(2);
    expect(nodeGets(a)).toBe(gets + 1);

    // Something changed: written at once.
    clock.advance(10_000);
    memory = 40e9;
    expect(await reporter.sync()).toBe(true);
    expect(statusPuts(a)).toBe(3);
    expect(node(a).status.capacity.memory).toBe("39062500Ki");
    for (const c of node(a).status.conditions) {
      expect(sec(c.lastHeartbeatTime)).toBe(at(t0 + 80_000));
      expect(sec(c.lastTransitionTime)).toBe(at(t0));
    }
  });

  it("runs on the kubelet's cadence: read every 10 s, written every 5 min when nothing changes", async () => {
    const a = await api();
    const clock = createFakeClock(Date.parse("2026-12-02T10:00:00Z"));
    const runtime = createFakeRuntime();
    await a
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNode({ body: { metadata: { name: NODE } } });
    const reporter = createNodeStatusReporter({
      kubeConfig: a.kubeConfig(),
      runtime,
      image: runtime,
      clock,
      host: async () => hostPart(8 * 2 ** 30),
      status: { nodeName: NODE, nodeIPs: ["10.0.0.5"] },
    });
    reporter.start();
    cleanup.push(() => reporter.stop());
    await until(() => statusPuts(a) === 1 && clock.pendingTimers() > 0, "the first report");
    const firstReportAt = reporter.lastReportAt;
    for (let i = 1; i < 30; i++) {
      const gets = nodeGets(a);
      clock.advance(10_000);
      await until(() => nodeGets(a) === gets + 1 && clock.pendingTimers() > 0, `update ${i}`);
      expect(statusPuts(a)).toBe(1);
    }
    clock.advance(10_000);
    // (the server counts the PUT before the reporter has read its answer)
    await until(() => statusPuts(a) === 2 && reporter.lastReportAt !== firstReportAt, "the report after 5 min");
    expect(reporter.lastReportAt).toBe(clock.now());
  });

  it("retries a conflict, as updateNodeStatus retries up to 5 times", async () => {
    const a = await api();
    const runtime = createFakeRuntime();
    await a
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNode({ body: { metadata: { name: NODE } } });
    const reporter = createNodeStatusReporter({
      kubeConfig: a.kubeConfig(),
      runtime,
      image: runtime,
      host: async () => hostPart(2 ** 30),
      status: { nodeName: NODE, nodeIPs: ["10.0.0.5"] },
    });
    a.failNext(2, 409, { method: "PUT", path: `/api/v1/nodes/${NODE}/status` });
    expect(await reporter.sync()).toBe(true);
    expect(a.requests.filter((r) => r.method === "PUT" && r.status === 409)).toHaveLength(2);
    a.failNext(5, 500, { method: "GET", path: `/api/v1/nodes/${NODE}` });
    await expect(reporter.sync()).rejects.toThrow(/update node status exceeds retry count/);
  });

  it("the agent registers its Node with the computed status and reports pressure and runtime readiness", async () => {
    const a = await api();
    const runtime: FakeRuntime = createFakeRuntime({ runtimeName: "nodekit-fake", runtimeVersion: "0.1.0" });
    const pressure = { memory: false, disk: false, pid: false };
    const events: NodeStatusEvent[] = [];
    const agent = createNodeAgent({
      kubeConfig: a.kubeConfig(),
      nodeName: NODE,
      runtime,
      image: runtime,
      relistPeriodMs: 50,
      useContainerEvents: false,
      lease: { renewIntervalMs: 100 },
      nodeIPs: ["192.168.49.2"],
      nodeStatus: {
        host: async () => hostPart(4 * 2 ** 30),
        pressure: () => pressure,
        updateFrequencyMs: 50,
        reportFrequencyMs: 60_000,
        onEvent: (e) => events.push(e),
        options: { kubeReserved: { memory: "512Mi" } },
      },
    });
    cleanup.push(() => agent.stop());
    await agent.start();
    const core = a.kubeConfig().makeApiClient(CoreV1Api);
    // What a client reads: client-node's typed Node.
    const read = await core.readNode({ name: NODE });
    expect(read.status?.addresses).toEqual([
      { type: "InternalIP", address: "192.168.49.2" },
      { type: "Hostname", address: NODE },
    ]);
    expect(read.status?.capacity).toMatchObject({ cpu: "2", memory: "4Gi", pods: "110" });
    // 4Gi − 512Mi kube-reserved − 100Mi hard eviction threshold.
    expect(read.status?.allocatable?.memory).toBe("3484Mi");
    const ready = read.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("True");
    expect(ready?.lastHeartbeatTime).toBeInstanceOf(Date);
    expect(read.status?.nodeInfo?.containerRuntimeVersion).toBe("nodekit-fake://0.1.0");
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(["NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"]),
    );

    const readyTransition = condition(a, "Ready").lastTransitionTime;
    pressure.memory = true;
    await a.waitFor(() => condition(a, "MemoryPressure")?.status === "True");
    expect(condition(a, "MemoryPressure")).toMatchObject({
      reason: "KubeletHasInsufficientMemory",
      message: "kubelet has insufficient memory available",
    });
    expect(events.map((e) => e.reason)).toContain("NodeHasInsufficientMemory");

    runtime.setConditions({ networkReady: false });
    await a.waitFor(() => condition(a, "Ready")?.status === "False");
    expect(condition(a, "Ready")).toMatchObject({
      reason: "KubeletNotReady",
      message:
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:NetworkReady is false in the fake runtime",
    });
    expect(events.at(-1)).toEqual({
      type: "Normal",
      reason: "NodeNotReady",
      message: `Node ${NODE} status is now: NodeNotReady`,
    });
    runtime.setConditions({ networkReady: true });
    await a.waitFor(() => condition(a, "Ready")?.status === "True");
    expect(Date.parse(condition(a, "Ready").lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(readyTransition));
  });

  it("an existing Node keeps its uid and labels, and gets the computed status at start", async () => {
    const a = await api();
    const core = a.kubeConfig().makeApiClient(CoreV1Api);
    const created = await core.createNode({
      body: { metadata: { name: NODE, labels: { keep: "me" } }, status: { capacity: { cpu: "64" }, phase: "Running" } },
    });
    const runtime = createFakeRuntime();
    const agent = createNodeAgent({
      kubeConfig: a.kubeConfig(),
      nodeName: NODE,
      runtime,
      image: runtime,
      relistPeriodMs: 50,
      useContainerEvents: false,
      nodeIPs: ["192.168.49.2"],
      nodeStatus: { host: async () => hostPart(2 ** 30), updateFrequencyMs: 50 },
    });
    cleanup.push(() => agent.stop());
    await agent.start();
    const n = node(a);
    expect(n.metadata.uid).toBe(created.metadata?.uid);
    expect(n.metadata.labels.keep).toBe("me");
    expect(n.status.capacity.cpu).toBe("2");
    expect(n.status.phase).toBe("Running");
    expect(n.status.conditions.at(-1).type).toBe("Ready");
  });
});
