// computeNodeStatus against the kubelet's node status tests (pkg/kubelet/nodestatus/setters_test.go,
// kubelet_node_status_test.go, cm/node_container_manager_linux_test.go), with upstream's case names.
// Quantities are written as apimachinery prints them (NewQuantity(1024, BinarySI) is "1Ki",
// NewMilliQuantity(2000, DecimalSI) is "2", NewQuantity(1023, BinarySI) is "1023").
import { describe, expect, it } from "vitest";
import {
  computeNodeStatus,
  KubeletError,
  type MachineFacts,
  type NodeCondition,
  type NodeStatus,
  type NodeStatusFacts,
  type NodeStatusOptions,
  nodeAllocatableReservation,
  nodeStatusHasChanged,
  observeRuntimeStatus,
  parseEvictionThresholds,
  parseNodeQuantity,
} from "../src/index.js";

const NODE = "test-node";
const now = Date.parse("2026-12-02T12:00:10Z");
const before = now - 1000;
const at = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

const cond = (
  kind: "True" | "False",
  type: string,
  reason: string,
  message: string,
  transition: number,
  heartbeat: number,
) => ({
  type,
  status: kind,
  lastHeartbeatTime: at(heartbeat),
  lastTransitionTime: at(transition),
  reason,
  message,
});
const makeReadyCondition = (ready: boolean, message: string, transition: number, heartbeat: number) =>
  ready
    ? cond("True", "Ready", "KubeletReady", message, transition, heartbeat)
    : cond("False", "Ready", "KubeletNotReady", message, transition, heartbeat);
const makeMemoryPressureCondition = (pressure: boolean, transition: number, heartbeat: number) =>
  pressure
    ? cond(
        "True",
        "MemoryPressure",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
        transition,
        heartbeat,
      )
    : cond(
        "False",
        "MemoryPressure",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
        transition,
        heartbeat,
      );
const makeDiskPressureCondition = (pressure: boolean, transition: number, heartbeat: number) =>
  pressure
    ? cond("True", "DiskPressure", "KubeletHasDiskPressure", "kubelet has disk pressure", transition, heartbeat)
    : cond("False", "DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", transition, heartbeat);
const makePIDPressureCondition = (pressure: boolean, transition: number, heartbeat: number) =>
  pressure
    ? cond(
        "True",
        "PIDPressure",
        "KubeletHasInsufficientPID",
        "kubelet has insufficient PID available",
        transition,
        heartbeat,
      )
    : cond(
        "False",
        "PIDPressure",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
        transition,
        heartbeat,
      );

const machine = (extra: Partial<MachineFacts> = {}): MachineFacts => ({
  numCores: 2,
  memoryCapacityBytes: 1024,
  machineID: "",
  systemUUID: "",
  bootID: "",
  ...extra,
});
const readyRuntime = () =>
  observeRuntimeStatus(
    undefined,
    {
      status: {
        conditions: [
          { type: "RuntimeReady", status: true, reason: "", message: "" },
          { type: "NetworkReady", status: true, reason: "", message: "" },
        ],
      },
    },
    now,
  );
const facts = (extra: Partial<NodeStatusFacts> = {}): NodeStatusFacts => ({
  now,
  machine: machine(),
  version: { kernelVersion: "KernelVersion", osImage: "ContainerOSVersion" },
  platform: { operatingSystem: "linux", architecture: "amd64" },
  runtimeVersion: { runtimeName: "test", runtimeVersion: "1.5.0" },
  runtime: readyRuntime(),
  rootfsCapacityBytes: 5000,
  images: [],
  pressure: { memory: false, disk: false, pid: false },
  ...extra,
});
// The reservation the upstream cases give directly, as options (no eviction threshold unless given).
const opts = (extra: Partial<NodeStatusOptions> = {}): NodeStatusOptions => ({
  nodeName: NODE,
  nodeIPs: ["10.1.1.1"],
  evictionHard: {},
  ...extra,
});
const byType = (s: NodeStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe("TestMachineInfo", () => {
  const capAlloc = (o: Partial<NodeStatusOptions>, f: Partial<NodeStatusFacts>, previous?: NodeStatus) => {
    const { status, events } = computeNodeStatus(facts({ rootfsCapacityBytes: undefined, ...f }), previous, opts(o));
    return { capacity: status.capacity, allocatable: status.allocatable, nodeInfo: status.nodeInfo, events };
  };

  it("machine identifiers, basic capacity and allocatable", () => {
    const r = capAlloc({ maxPods: 110 }, { machine: machine({ machineID: "MachineID", systemUUID: "SystemUUID" }) });
    expect(r.nodeInfo).toMatchObject({ machineID: "MachineID", systemUUID: "SystemUUID" });
    expect(r.capacity).toEqual({ cpu: "2", memory: "1Ki", pods: "110" });
    expect(r.allocatable).toEqual({ cpu: "2", memory: "1Ki", pods: "110" });
  });
  it("podsPerCore greater than zero, but less than maxPods/cores", () => {
    const r = capAlloc({ maxPods: 10, podsPerCore: 4 }, {});
    expect(r.capacity?.pods).toBe("8");
    expect(r.allocatable?.pods).toBe("8");
  });
  it("podsPerCore greater than maxPods/cores", () => {
    const r = capAlloc({ maxPods: 10, podsPerCore: 6 }, {});
    expect(r.capacity?.pods).toBe("10");
    expect(r.allocatable?.pods).toBe("10");
  });
  it("allocatable should equal capacity minus reservations", () => {
    // Upstream also reserves 1 pod; pods cannot be reserved through kube/system-reserved.
    const r = capAlloc({ maxPods: 110, kubeReserved: { cpu: "1m", memory: "1", "ephemeral-storage": "1" } }, {});
    expect(r.capacity).toEqual({ cpu: "2", memory: "1Ki", pods: "110" });
    expect(r.allocatable).toEqual({ cpu: "1999m", memory: "1023", pods: "110" });
  });
  it("allocatable memory does not double-count hugepages reservations", () => {
    const r = capAlloc({}, {}, { capacity: { "hugepages-test": "1" } });
    expect(r.capacity).toEqual({ cpu: "2", memory: "1Ki", "hugepages-test": "1", pods: "110" });
    expect(r.allocatable).toEqual({ cpu: "2", memory: "1023", "hugepages-test": "1", pods: "110" });
  });
  it("negative capacity resources should be set to 0 in allocatable", () => {
    const r = capAlloc({}, {}, { capacity: { "negative-resource": "-1" } });
    expect(r.capacity?.["negative-resource"]).toBe("-1");
    expect(r.allocatable?.["negative-resource"]).toBe("0");
  });
  it("hugepages reservation greater than node memory capacity should result in memory capacity set to 0", () => {
    const r = capAlloc({}, {}, { capacity: { "hugepages-test": "1025" } });
    expect(r.allocatable).toEqual({ cpu: "2", memory: "0", "hugepages-test": "1025", pods: "110" });
  });
  it("ephemeral storage is reflected in capacity and allocatable", () => {
    const r = capAlloc({}, { rootfsCapacityBytes: 5000 });
    expect(r.capacity?.["ephemeral-storage"]).toBe("5000");
    expect(r.allocatable?.["ephemeral-storage"]).toBe("5000");
  });
  it("ephemeral storage is not reflected in capacity and allocatable because localStorageCapacityIsolation is disabled", () => {
    const r = capAlloc({ localStorageCapacityIsolation: false }, { rootfsCapacityBytes: 5000 });
    expect(r.capacity?.["ephemeral-storage"]).toBeUndefined();
  });
  it("extended resources not present in capacity are removed from allocatable", () => {
    const r = capAlloc({}, {}, { allocatable: { "example.com/extended": "1" } });
    expect(r.allocatable).toEqual({ cpu: "2", memory: "1Ki", pods: "110" });
  });
  it("on failure to get machine info, allocatable and capacity for memory and cpu are set to 0, pods to maxPods", () => {
    const r = capAlloc({ maxPods: 110, podsPerCore: 1 }, { machine: undefined });
    expect(r.capacity).toEqual({ cpu: "0", memory: "0", pods: "110" });
    expect(r.allocatable).toEqual({ cpu: "0", memory: "0", pods: "110" });
  });
  it("node reboot event is recorded", () => {
    const r = capAlloc({}, { machine: machine({ bootID: "bar" }) }, { nodeInfo: { bootID: "foo" } as never });
    expect(r.nodeInfo?.bootID).toBe("bar");
    expect(r.events.filter((e) => e.type === "Warning")).toEqual([
      { type: "Warning", reason: "Rebooted", message: `Node ${NODE} has been rebooted, boot id: bar` },
    ]);
  });
  it("huge page pools become hugepages-<size> resources, taken from allocatable memory", () => {
    const r = capAlloc(
      {},
      {
        machine: machine({
          memoryCapacityBytes: 8 * 2 ** 30,
          hugePages: [
            { pageSizeKiB: 2048, numPages: 512 },
            { pageSizeKiB: 1048576, numPages: 0 },
          ],
        }),
      },
    );
    expect(r.capacity).toEqual({ cpu: "2", memory: "8Gi", "hugepages-2Mi": "1Gi", "hugepages-1Gi": "0", pods: "110" });
    expect(r.allocatable?.memory).toBe("7Gi");
  });
});

describe("TestVersionInfo", () => {
  it("versions set in node info", () => {
    const { status } = computeNodeStatus(
      facts({ runtimeVersion: { runtimeName: "RuntimeType", runtimeVersion: "1.6.20" } }),
      undefined,
      opts({ kubeletVersion: "v1.33.0" }),
    );
    expect(status.nodeInfo).toMatchObject({
      kernelVersion: "KernelVersion",
      osImage: "ContainerOSVersion",
      containerRuntimeVersion: "RuntimeType://1.6.20",
      kubeletVersion: "v1.33.0",
      kubeProxyVersion: "",
    });
  });
  it("error getting version info", () => {
    const previous: NodeStatus = { nodeInfo: { kernelVersion: "old", containerRuntimeVersion: "x://1" } as never };
    const { status, errors } = computeNodeStatus(facts({ version: undefined }), previous, opts());
    expect(status.nodeInfo).toMatchObject({ kernelVersion: "old", containerRuntimeVersion: "x://1" });
    expect(errors).toContain("error getting version info");
  });
  it("error getting runtime version results in Unknown runtime", () => {
    const { status } = computeNodeStatus(
      facts({ runtimeVersion: { runtimeName: "RuntimeType", error: "foo" } as never }),
      undefined,
      opts(),
    );
    expect(status.nodeInfo?.containerRuntimeVersion).toBe("RuntimeType://Unknown");
  });
  it("DisableNodeKubeProxyVersion FeatureGate enable, KubeProxyVersion will be cleared if it is set.", () => {
    const { status } = computeNodeStatus(facts(), { nodeInfo: { kubeProxyVersion: "v1.0.0" } as never }, opts());
    expect(status.nodeInfo?.kubeProxyVersion).toBe("");
  });
  it.each([
    ["1.6.20~ds1", "1.6.20"],
    ["v1.7.24", "1.7.24"],
    ["1.7.0-rc.1+abc", "1.7.0-rc.1+abc"],
    ["2.0", "2.0"],
    ["nightly", "Unknown"],
  ])("runtime version %s is shown as %s (semantic, else generic version)", (given, shown) => {
    const { status } = computeNodeStatus(
      facts({ runtimeVersion: { runtimeName: "containerd", runtimeVersion: given } }),
      undefined,
      opts(),
    );
    expect(status.nodeInfo?.containerRuntimeVersion).toBe(`containerd://${shown}`);
  });
});

describe("TestImages", () => {
  const image = (id: string, size: number, tags: string[], digests: string[] = []) => ({
    id,
    size: BigInt(size),
    repoTags: tags,
    repoDigests: digests,
  });
  const many = (n: number, tags: number) =>
    Array.from({ length: n }, (_, i) =>
      image(
        `sha256:${i}`,
        23 * 2 ** 20 + i * 7919,
        Array.from({ length: tags }, (_, t) => `registry.k8s.io:v${t}`),
      ),
    );
  it("max images enforced", () => {
    const { status } = computeNodeStatus(facts({ images: many(2, 1) }), undefined, opts({ nodeStatusMaxImages: 1 }));
    expect(status.images).toEqual([{ names: ["registry.k8s.io:v0"], sizeBytes: 23 * 2 ** 20 + 7919 }]);
  });
  it("no max images cap for -1", () => {
    const { status } = computeNodeStatus(facts({ images: many(60, 1) }), undefined, opts({ nodeStatusMaxImages: -1 }));
    expect(status.images).toHaveLength(60);
  });
  it("the default cap is 50 images", () => {
    const { status } = computeNodeStatus(facts({ images: many(60, 1) }), undefined, opts());
    expect(status.images).toHaveLength(50);
    expect(status.images?.[49]?.sizeBytes).toBe(23 * 2 ** 20 + 10 * 7919);
  });
  it("max names per image enforced", () => {
    const { status } = computeNodeStatus(facts({ images: many(1, 6) }), undefined, opts());
    expect(status.images?.[0]?.names).toEqual([
      "registry.k8s.io:v0",
      "registry.k8s.io:v1",
      "registry.k8s.io:v2",
      "registry.k8s.io:v3",
      "registry.k8s.io:v4",
    ]);
  });
  it("images are sorted by size, descending", () => {
    const { status } = computeNodeStatus(
      facts({ images: [3, 1, 4, 2].map((s) => image(`id${s}`, s, [])) }),
      undefined,
      opts(),
    );
    expect(status.images?.map((i) => i.sizeBytes)).toEqual([4, 3, 2, 1]);
  });
  it("images of one size are ordered by id, descending (sliceutils.ByImageSize)", () => {
    const { status } = computeNodeStatus(
      facts({ images: [image("a", 1, ["a"]), image("c", 1, ["c"]), image("b", 1, ["b"])] }),
      undefined,
      opts(),
    );
    expect(status.images?.map((i) => i.names[0])).toEqual(["c", "b", "a"]);
  });
  it("repo digests and tags both show up in image names", () => {
    const { status } = computeNodeStatus(
      facts({ images: [image("x", 1, ["baz", "quux"], ["foo", "bar"])] }),
      undefined,
      opts(),
    );
    expect(status.images).toEqual([{ names: ["foo", "bar", "baz", "quux"], sizeBytes: 1 }]);
  });
  it("error getting image list, image list on node is reset to empty", () => {
    const previous: NodeStatus = { images: [{ names: ["old"], sizeBytes: 1 }] };
    const { status, errors } = computeNodeStatus(facts({ images: { error: "foo" } }), previous, opts());
    expect(status.images).toBeUndefined();
    expect(errors).toContain("error getting image list: foo");
  });
});

describe("TestReadyCondition", () => {
  const ready = (f: Partial<NodeStatusFacts>, previous?: NodeStatus, o: Partial<NodeStatusOptions> = {}) => {
    const { status, events } = computeNodeStatus(facts(f), previous, opts(o));
    return {
      ready: byType(status, "Ready"),
      last: status.conditions?.at(-1),
      events: events.filter((e) => /^NodeReady|^NodeNotReady/.test(e.reason)),
    };
  };
  const withReady = (c: NodeCondition): NodeStatus => ({ conditions: [c] });
  const notReadyRuntime = observeRuntimeStatus(
    undefined,
    {
      status: {
        conditions: [
          { type: "RuntimeReady", status: false, reason: "RuntimeDown", message: "shim gone" },
          {
            type: "NetworkReady",
            status: false,
            reason: "NetworkPluginNotReady",
            message: "cni plugin not initialized",
          },
        ],
      },
    },
    now,
  );

  it("new, ready", () => {
    const r = ready({});
    expect(r.ready).toEqual(makeReadyCondition(true, "kubelet is posting ready status", now, now));
    expect(r.last?.type).toBe("Ready");
    expect(r.events).toEqual([]);
  });
  it("new, ready: soft requirement warning", () => {
    expect(ready({ softRequirements: "foo" }).ready).toEqual(
      makeReadyCondition(true, "kubelet is posting ready status. WARNING: foo", now, now),
    );
  });
  it("new, not ready: storage errors", () => {
    expect(ready({ storageErrors: ["some storage error"] }).ready).toEqual(
      makeReadyCondition(false, "some storage error", now, now),
    );
  });
  it("new, not ready: shutdown active", () => {
    expect(ready({ shutdownErrors: ["node is shutting down"] }).ready).toEqual(
      makeReadyCondition(false, "node is shutting down", now, now),
    );
  });
  it("new, not ready: runtime and network errors", () => {
    // The runtime's own conditions, as updateRuntimeUp words them (RuntimeCondition.String()).
    expect(ready({ runtime: notReadyRuntime }).ready).toEqual(
      makeReadyCondition(
        false,
        "[container runtime status check may not have completed yet, container runtime not ready: RuntimeReady=false reason:RuntimeDown message:shim gone, container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized]",
        now,
        now,
      ),
    );
  });
  it("new, not ready: missing capacities", () => {
    expect(ready({ machine: undefined, rootfsCapacityBytes: undefined }).ready?.message).toBe(
      "missing node capacity for resources: ephemeral-storage",
    );
  });
  it("new, ready: localStorageCapacityIsolation is not supported", () => {
    expect(
      ready({ rootfsCapacityBytes: undefined }, undefined, { localStorageCapacityIsolation: false }).ready,
    ).toEqual(makeReadyCondition(true, "kubelet is posting ready status", now, now));
  });
  it("transition to ready", () => {
    const r = ready({}, withReady(makeReadyCondition(false, "", before, before)));
    expect(r.ready).toEqual(makeReadyCondition(true, "kubelet is posting ready status", now, now));
    expect(r.events).toEqual([
      { type: "Normal", reason: "NodeReady", message: `Node ${NODE} status is now: NodeReady` },
    ]);
  });
  it("transition to not ready", () => {
    const r = ready({ runtimeHealthErrors: ["foo"] }, withReady(makeReadyCondition(true, "", before, before)));
    expect(r.ready).toEqual(makeReadyCondition(false, "foo", now, now));
    expect(r.events).toEqual([
      { type: "Normal", reason: "NodeNotReady", message: `Node ${NODE} status is now: NodeNotReady` },
    ]);
  });
  it("ready, no transition", () => {
    const r = ready({}, withReady(makeReadyCondition(true, "", before, before)));
    expect(r.ready).toEqual(makeReadyCondition(true, "kubelet is posting ready status", before, now));
    expect(r.events).toEqual([]);
  });
  it("not ready, no transition", () => {
    const r = ready({ runtimeHealthErrors: ["foo"] }, withReady(makeReadyCondition(false, "", before, before)));
    expect(r.ready).toEqual(makeReadyCondition(false, "foo", before, now));
    expect(r.events).toEqual([]);
  });
});

for (const [name, key, make, eventFor] of [
  [
    "TestMemoryPressureCondition",
    "memory",
    makeMemoryPressureCondition,
    (p: boolean) => (p ? "NodeHasInsufficientMemory" : "NodeHasSufficientMemory"),
  ],
  [
    "TestDiskPressureCondition",
    "disk",
    makeDiskPressureCondition,
    (p: boolean) => (p ? "NodeHasDiskPressure" : "NodeHasNoDiskPressure"),
  ],
  [
    "TestPIDPressureCondition",
    "pid",
    makePIDPressureCondition,
    (p: boolean) => (p ? "NodeHasInsufficientPID" : "NodeHasSufficientPID"),
  ],
] as const) {
  describe(name, () => {
    const run = (pressure: boolean, previous?: NodeCondition) => {
      const p = { memory: false, disk: false, pid: false, [key]: pressure };
      const { status, events } = computeNodeStatus(
        facts({ pressure: p }),
        previous ? { conditions: [previous] } : undefined,
        opts(),
      );
      const type = make(false, 0, 0).type;
      return {
        condition: byType(status, type),
        events: events.filter((e) => e.reason === eventFor(true) || e.reason === eventFor(false)),
      };
    };
    const event = (p: boolean) => [
      { type: "Normal", reason: eventFor(p), message: `Node ${NODE} status is now: ${eventFor(p)}` },
    ];
    it("new, no pressure", () => {
      expect(run(false)).toEqual({ condition: make(false, now, now), events: event(false) });
    });
    it("new, pressure", () => {
      expect(run(true)).toEqual({ condition: make(true, now, now), events: event(true) });
    });
    it("transition to pressure", () => {
      expect(run(true, make(false, before, before))).toEqual({ condition: make(true, now, now), events: event(true) });
    });
    it("transition to no pressure", () => {
      expect(run(false, make(true, before, before))).toEqual({
        condition: make(false, now, now),
        events: event(false),
      });
    });
    it("pressure, no transition", () => {
      expect(run(true, make(true, before, before))).toEqual({ condition: make(true, before, now), events: [] });
    });
    it("no pressure, no transition", () => {
      expect(run(false, make(false, before, before))).toEqual({ condition: make(false, before, now), events: [] });
    });
  });
}

describe("TestNodeAddress_NoCloudProvider", () => {
  const addresses = (nodeIPs: string[], interfaceAddresses?: string[]) =>
    computeNodeStatus(facts({ interfaceAddresses }), { addresses: [] }, opts({ nodeIPs, hostname: "hostname" }));
  it("Single --node-ip", () => {
    expect(addresses(["10.1.1.1"]).status.addresses).toEqual([
      { type: "InternalIP", address: "10.1.1.1" },
      { type: "Hostname", address: "hostname" },
    ]);
  });
  it("Invalid single --node-ip (using loopback)", () => {
    const r = addresses(["127.0.0.1"]);
    expect(r.status.addresses).toEqual([]);
    expect(r.errors).toContain("failed to validate nodeIP: nodeIP can't be loopback address");
  });
  it("Dual --node-ips", () => {
    expect(addresses(["10.1.1.1", "fd01::1234"]).status.addresses).toEqual([
      { type: "InternalIP", address: "10.1.1.1" },
      { type: "InternalIP", address: "fd01::1234" },
      { type: "Hostname", address: "hostname" },
    ]);
  });
  it("Dual --node-ips but with invalid secondary IP (using multicast IP)", () => {
    // Upstream uses 224.0.0.0; two IPv4 node IPs are refused as input here (config validation), so an IPv6 multicast one.
    const r = addresses(["10.1.1.1", "ff02::1"]);
    expect(r.errors).toContain("failed to validate secondaryNodeIP: nodeIP can't be a multicast address");
    expect(r.status.addresses).toEqual([]);
  });
  it("A node IP not on the host's interfaces is refused as validateNodeIP refuses it", () => {
    expect(addresses(["10.1.1.9"], ["10.1.1.1"]).errors).toContain(
      'failed to validate nodeIP: node IP: "10.1.1.9" not found in the host\'s network interfaces',
    );
  });
  it("IPv6 node IPs are printed as Go prints them", () => {
    expect(addresses(["2600:1f14:1d4:d101:0:0:0:ba3d"]).status.addresses?.[0]).toEqual({
      type: "InternalIP",
      address: "2600:1f14:1d4:d101::ba3d",
    });
  });
  it("Dual-stack, request IPv6 with :: and no node IP: the default route's IPv6 address comes first", () => {
    const { status } = computeNodeStatus(
      facts({ hostAddresses: { defaultRoute: ["10.1.1.1", "fc01:1234::5678"] } }),
      undefined,
      opts({ nodeIPs: ["::"], hostname: "hostname" }),
    );
    expect(status.addresses).toEqual([
      { type: "InternalIP", address: "fc01:1234::5678" },
      { type: "Hostname", address: "hostname" },
    ]);
  });
  it("A hostname that is an IP is the InternalIP when no node IP is set", () => {
    const { status } = computeNodeStatus(facts(), undefined, opts({ nodeIPs: undefined, hostname: "10.9.9.9" }));
    expect(status.addresses).toEqual([
      { type: "InternalIP", address: "10.9.9.9" },
      { type: "Hostname", address: "10.9.9.9" },
    ]);
  });
});

describe("TestDaemonEndpoints", () => {
  it("empty daemon endpoints", () => {
    expect(computeNodeStatus(facts(), undefined, opts({ kubeletPort: 0 })).status.daemonEndpoints).toEqual({
      kubeletEndpoint: { Port: 0 },
    });
  });
  it("daemon endpoints with specific port", () => {
    expect(computeNodeStatus(facts(), undefined, opts({ kubeletPort: 5678 })).status.daemonEndpoints).toEqual({
      kubeletEndpoint: { Port: 5678 },
    });
  });
  it("the kubelet's port by default", () => {
    expect(computeNodeStatus(facts(), undefined, opts()).status.daemonEndpoints).toEqual({
      kubeletEndpoint: { Port: 10250 },
    });
  });
});

describe("TestUpdateNewNodeStatus and friends (kubelet_node_status_test.go)", () => {
  const tenG = facts({
    machine: machine({ machineID: "123", systemUUID: "abc", bootID: "1b3", memoryCapacityBytes: 10e9 }),
  });
  it("TestUpdateNewNodeStatus: conditions in the kubelet's order, Ready last; capacity and allocatable", () => {
    const { status } = computeNodeStatus(
      tenG,
      undefined,
      opts({
        nodeIPs: ["127.0.0.2"],
        maxPods: 0,
        kubeReserved: { cpu: "200m", memory: "100M", "ephemeral-storage": "2000" },
      }),
    );
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["MemoryPressure", "False", "KubeletHasSufficientMemory"],
      ["DiskPressure", "False", "KubeletHasNoDiskPressure"],
      ["PIDPressure", "False", "KubeletHasSufficientPID"],
      ["Ready", "True", "KubeletReady"],
    ]);
    expect(status.capacity).toEqual({ cpu: "2", memory: "9765625Ki", "ephemeral-storage": "5000", pods: "0" });
    expect(status.allocatable).toEqual({ cpu: "1800m", memory: "9900000000", "ephemeral-storage": "3000", pods: "0" });
    expect(status.nodeInfo).toEqual({
      machineID: "123",
      systemUUID: "abc",
      bootID: "1b3",
      kernelVersion: "KernelVersion",
      osImage: "ContainerOSVersion",
      containerRuntimeVersion: "test://1.5.0",
      kubeletVersion: "v0.0.0-nodekit",
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: "amd64",
    });
  });
  it("TestUpdateExistingNodeStatus: heartbeats move, transition times stay, other conditions are kept", () => {
    const old = Date.parse("2012-01-01T00:00:00Z");
    const previous: NodeStatus = {
      conditions: [
        makeMemoryPressureCondition(false, old, old),
        {
          type: "NetworkUnavailable",
          status: "False",
          reason: "RouteCreated",
          message: "routes",
          lastHeartbeatTime: at(old),
          lastTransitionTime: at(old),
        },
        makeDiskPressureCondition(false, old, old),
        makePIDPressureCondition(false, old, old),
        makeReadyCondition(true, "kubelet is posting ready status", old, old),
      ],
      phase: "Running",
    };
    const { status } = computeNodeStatus(tenG, previous, opts());
    expect(status.conditions?.map((c) => c.type)).toEqual([
      "MemoryPressure",
      "NetworkUnavailable",
      "DiskPressure",
      "PIDPressure",
      "Ready",
    ]);
    for (const c of status.conditions ?? []) {
      expect(c.lastTransitionTime).toBe(at(old));
      expect(c.lastHeartbeatTime).toBe(c.type === "NetworkUnavailable" ? at(old) : at(now));
    }
    expect(status.phase).toBe("Running");
  });
  it("TestUpdateNodeStatusWithRuntimeStateError", () => {
    const status = (runtime: NodeStatusFacts["runtime"], t = now) =>
      byType(computeNodeStatus(facts({ now: t, runtime }), undefined, opts()).status, "Ready");
    const answer = (runtimeReady: boolean | undefined, networkReady = true) => ({
      status: {
        conditions: [
          ...(runtimeReady === undefined
            ? []
            : [{ type: "RuntimeReady", status: runtimeReady, reason: "", message: "" }]),
          { type: "NetworkReady", status: networkReady, reason: "", message: "" },
        ],
      },
    });
    // The runtime check is out of date (30 s, maxWaitForContainerRuntime).
    const synced = observeRuntimeStatus(undefined, answer(true), now - 30_000);
    expect(status(synced)).toMatchObject({
      status: "False",
      reason: "KubeletNotReady",
      message: "container runtime is down",
    });
    // Updated: ready.
    expect(status(observeRuntimeStatus(synced, answer(true), now))).toMatchObject({
      status: "True",
      reason: "KubeletReady",
    });
    // The status check failed: the old answer stays, and after 30 s the runtime is down.
    const failed = observeRuntimeStatus(synced, new Error("injected runtime status error"), now);
    expect(failed).toEqual(synced);
    // Empty status: RuntimeReady missing.
    expect(status(observeRuntimeStatus(undefined, { status: { conditions: [] } }, now))?.message).toBe(
      "[container runtime status check may not have completed yet, container runtime not ready: <nil>, container runtime network not ready: <nil>]",
    );
    // RuntimeReady false.
    expect(status(observeRuntimeStatus(synced, answer(false), now))?.message).toBe(
      "[container runtime is down, container runtime not ready: RuntimeReady=false reason: message:]",
    );
    // NetworkReady false.
    expect(status(observeRuntimeStatus(synced, answer(true, false), now))?.message).toBe(
      "container runtime network not ready: NetworkReady=false reason: message:",
    );
    // Before any answer: the network state is unknown.
    expect(status(undefined)?.message).toBe(
      "[container runtime status check may not have completed yet, network state unknown]",
    );
  });
  it("TestUpdateNewNodeStatusTooLargeReservation", () => {
    const { status } = computeNodeStatus(
      facts({ machine: machine({ memoryCapacityBytes: 10e9 }), rootfsCapacityBytes: 3000 }),
      undefined,
      opts({ maxPods: 0, kubeReserved: { cpu: "40", "ephemeral-storage": "1000" } }),
    );
    expect(status.allocatable).toEqual({ cpu: "0", memory: "9765625Ki", "ephemeral-storage": "2000", pods: "0" });
  });
  it("the hard eviction thresholds are reserved: the kubelet's defaults take 100Mi of memory and 10% of nodefs", () => {
    const { status } = computeNodeStatus(
      facts({ machine: machine({ memoryCapacityBytes: 8 * 2 ** 30 }), rootfsCapacityBytes: 100 * 2 ** 30 }),
      undefined,
      opts({ evictionHard: undefined }),
    );
    expect(status.allocatable?.memory).toBe("8092Mi");
    // 10% as float32 (0.100000001490116119384765625) of 100Gi = 10737418240 + 160 bytes.
    expect(status.allocatable?.["ephemeral-storage"]).toBe(`${100 * 2 ** 30 - 10737418400}`);
  });
});

describe("TestNodeStatusHasChanged", () => {
  const fakeNow = Date.parse("2015-01-01T12:00:00Z");
  const fakeFuture = fakeNow + 60_000;
  const c = (type: string, status: string, hb: number, tr: number): NodeCondition => ({
    type,
    status,
    lastHeartbeatTime: at(hb),
    lastTransitionTime: at(tr),
  });
  const readyCondition = c("Ready", "True", fakeNow, fakeNow);
  const readyConditionAtDiffHearbeatTime = c("Ready", "True", fakeFuture, fakeNow);
  const readyConditionAtDiffTransitionTime = c("Ready", "True", fakeFuture, fakeFuture);
  const notReadyCondition = c("Ready", "False", fakeNow, fakeNow);
  const memoryPressureCondition = c("MemoryPressure", "False", fakeNow, fakeNow);
  it.each([
    ["Node status does not change with nil status.", undefined, undefined, false],
    ["Node status does not change with default status.", {}, {}, false],
    ["Node status changes with nil and default status.", undefined, {}, true],
    [
      "Node status changes with nil and status.",
      undefined,
      { conditions: [readyCondition, memoryPressureCondition] },
      true,
    ],
    ["Node status does not change with empty conditions.", { conditions: [] }, { conditions: [] }, false],
    [
      "Node status does not change",
      { conditions: [readyCondition, memoryPressureCondition] },
      { conditions: [readyCondition, memoryPressureCondition] },
      false,
    ],
    [
      "Node status does not change even if heartbeat time changes.",
      { conditions: [readyCondition, memoryPressureCondition] },
      { conditions: [readyConditionAtDiffHearbeatTime, memoryPressureCondition] },
      false,
    ],
    [
      "Node status does not change even if the orders of conditions are different.",
      { conditions: [readyCondition, memoryPressureCondition] },
      { conditions: [memoryPressureCondition, readyConditionAtDiffHearbeatTime] },
      false,
    ],
    [
      "Node status changes if condition status differs.",
      { conditions: [readyCondition, memoryPressureCondition] },
      { conditions: [notReadyCondition, memoryPressureCondition] },
      true,
    ],
    [
      "Node status changes if transition time changes.",
      { conditions: [readyCondition, memoryPressureCondition] },
      { conditions: [readyConditionAtDiffTransitionTime, memoryPressureCondition] },
      true,
    ],
    [
      "Node status changes with different number of conditions.",
      { conditions: [readyCondition] },
      { conditions: [readyCondition, memoryPressureCondition] },
      true,
    ],
    [
      "Node status changes with different phase.",
      { phase: "Pending", conditions: [readyCondition] },
      { phase: "Running", conditions: [readyCondition] },
      true,
    ],
  ] as [string, NodeStatus | undefined, NodeStatus | undefined, boolean][])(
    "%s",
    (_name, original, status, expectChange) => {
      const copies = JSON.stringify([original, status]);
      expect(nodeStatusHasChanged(original, status)).toBe(expectChange);
      expect(JSON.stringify([original, status])).toBe(copies);
    },
  );
});

describe("TestNodeAllocatableReservationForScheduling (cm)", () => {
  const list = (cpu: string, memory: string) => ({ ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) });
  const reservation = (
    kube: Record<string, string>,
    system: Record<string, string>,
    capacity: Record<string, string>,
    hard?: string,
  ) => {
    const q = (m: Record<string, string>) => new Map(Object.entries(m).map(([k, v]) => [k, parseNodeQuantity(v, k)]));
    const r = nodeAllocatableReservation(q(capacity), {
      kubeReserved: q(kube),
      systemReserved: q(system),
      hardThresholds: hard
        ? parseEvictionThresholds({
            evictionHard: { [capacity["ephemeral-storage"] ? "nodefs.available" : "memory.available"]: hard },
          })
        : [],
    });
    // MilliValue, as the upstream test compares.
    return Object.fromEntries([...r].map(([k, v]) => [k, v.nano / 1_000_000n]));
  };
  const milli = (m: Record<string, string>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, parseNodeQuantity(v, k).nano / 1_000_000n]));
  it.each([
    [list("100m", "100Mi"), list("50m", "50Mi"), list("10", "10Gi"), undefined, list("150m", "150Mi")],
    [list("100m", "100Mi"), list("50m", "50Mi"), list("10", "10Gi"), "100Mi", list("150m", "250Mi")],
    [list("100m", "100Mi"), list("50m", "50Mi"), list("10", "10Gi"), "5%", list("150m", "694157320")],
    [{}, {}, list("10", "10Gi"), undefined, {}],
    [list("", "100Mi"), list("50m", "50Mi"), list("10", "10Gi"), undefined, list("50m", "150Mi")],
    [list("50m", "100Mi"), list("", "50Mi"), list("10", "10Gi"), undefined, list("50m", "150Mi")],
    [list("", "100Mi"), list("", "50Mi"), list("10", ""), undefined, list("", "150Mi")],
  ])("cpu and memory case %#", (kube, system, capacity, hard, expected) => {
    const got = reservation(kube, system, capacity, hard);
    // Upstream checks each reserved resource that exists; memory is reserved even without memory capacity.
    for (const [k, v] of Object.entries(got)) expect(v).toBe(milli(expected)[k]);
  });
  const eph = (v: string): Record<string, string> => (v ? { "ephemeral-storage": v } : {});
  it.each([
    [eph("100Mi"), eph("10Gi"), undefined, eph("100Mi")],
    [eph("100Mi"), eph("10Gi"), "100Mi", eph("200Mi")],
    [eph("150Mi"), eph("10Gi"), "5%", eph("694157320")],
    [{}, eph("10Gi"), undefined, {}],
  ])("ephemeral storage case %#", (kube, capacity, hard, expected) => {
    expect(reservation(kube, {}, capacity, hard)).toEqual(milli(expected));
  });
});

describe("bad input", () => {
  it.each([
    [{ kubeReserved: { gpu: "1" } }, 'kubeReserved: cannot reserve "gpu" resource'],
    [
      { systemReserved: { memory: "-1Mi" } },
      'systemReserved.memory: resource quantity for "memory" cannot be negative: -1Mi',
    ],
    [{ kubeReserved: { cpu: "1kk" } }, "kubeReserved.cpu: unable to parse quantity's suffix"],
    [{ nodeIPs: ["10.0.0.300"] }, 'nodeIPs[0]: "10.0.0.300" is not a valid IP address'],
    [
      { nodeIPs: ["10.0.0.1", "10.0.0.2"] },
      "nodeIPs: two addresses must be of different families (dual-stack), got 10.0.0.1, 10.0.0.2",
    ],
    [{ maxPods: -1 }, "maxPods: must be an integer >= 0, got -1"],
    [{ nodeStatusMaxImages: -2 }, "nodeStatusMaxImages: must be an integer >= -1, got -2"],
  ] as [Partial<NodeStatusOptions>, string][])("%j is refused: %s", (o, message) => {
    const run = () => computeNodeStatus(facts(), undefined, opts(o));
    expect(run).toThrow(KubeletError);
    expect(run).toThrow(message);
  });
  it("a bad evictionHard is refused with the eviction parser's error", () => {
    expect(() => computeNodeStatus(facts(), undefined, opts({ evictionHard: { "memory.available": "-1" } }))).toThrow(
      /eviction threshold memory.available must be positive/,
    );
  });
  it("the previous status is not changed", () => {
    const previous: NodeStatus = {
      conditions: [makeReadyCondition(false, "x", before, before)],
      capacity: { cpu: "1" },
    };
    const copy = JSON.stringify(previous);
    computeNodeStatus(facts(), previous, opts());
    expect(JSON.stringify(previous)).toBe(copy);
  });
});
