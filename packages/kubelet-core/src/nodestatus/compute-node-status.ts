// The kubelet's node status setters (pkg/kubelet/nodestatus/setters.go, in the order of
// defaultNodeStatusFuncs in kubelet_node_status.go) as one pure function, with the container
// manager's node allocatable reservation (cm/node_container_manager_linux.go).

import { rfc3339 } from "../apiserver/convert.js";
import { KubeletError } from "../errors.js";
import { defaultEvictionHard, type EvictionThreshold, parseEvictionThresholds } from "../eviction/thresholds.js";
import { isIPAddress, nodeAddresses } from "./addresses.js";
import {
  add,
  clampAtZero,
  formatQuantity,
  integerValueOf,
  milliQuantityOf,
  type NodeQuantity,
  parseNodeQuantity,
  quantityOf,
  subtract,
} from "./quantity.js";
import { aggregateMessage, defaultRuntimeSyncThresholdMs, networkErrors, runtimeErrors } from "./runtime-state.js";
import type {
  ContainerImage,
  NodeCondition,
  NodeStatus,
  NodeStatusEvent,
  NodeStatusFacts,
  NodeStatusOptions,
  NodeStatusResult,
  NodeSystemInfo,
} from "./types.js";

/** The kubelet's MaxNamesPerImageInNodeStatus: names reported per image. */
export const maxNamesPerImageInNodeStatus = 5;
/** The kubelet's default `nodeStatusMaxImages`. */
export const defaultNodeStatusMaxImages = 50;
/** The kubelet's default `maxPods`. */
export const defaultMaxPods = 110;

const reason = "InvalidNodeStatusInput";
const fail = (message: string): never => {
  throw new KubeletError(reason, message);
};

/** The resources `kubeReserved` and `systemReserved` accept (the kubelet's parseResourceList). */
const reservable = new Set(["cpu", "memory", "ephemeral-storage", "pid"]);

function parseReserved(field: string, m: Readonly<Record<string, string>> | undefined): Map<string, NodeQuantity> {
  const out = new Map<string, NodeQuantity>();
  for (const [k, v] of Object.entries(m ?? {})) {
    if (!reservable.has(k)) fail(`${field}: cannot reserve "${k}" resource`);
    const q = parseNodeQuantity(v, `${field}.${k}`);
    if (q.nano < 0n) fail(`${field}.${k}: resource quantity for "${k}" cannot be negative: ${v}`);
    out.set(k, q);
  }
  return out;
}

const nonNegativeInteger = (field: string, v: number | undefined, fallback: number, min = 0): number => {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < min) fail(`${field}: must be an integer >= ${min}, got ${v}`);
  return v;
};

interface Settings {
  hostname: string;
  maxPods: number;
  podsPerCore: number;
  kubeReserved: Map<string, NodeQuantity>;
  systemReserved: Map<string, NodeQuantity>;
  hardThresholds: EvictionThreshold[];
  maxImages: number;
  localStorage: boolean;
  kubeletPort: number;
  runtimeSyncThresholdMs: number;
}

function settingsOf(options: NodeStatusOptions): Settings {
  if (typeof options.nodeName !== "string" || options.nodeName === "") fail("nodeName: must be a non-empty string");
  const ips = options.nodeIPs ?? [];
  if (ips.length > 2) fail(`nodeIPs: at most two addresses (one per family), got ${ips.length}`);
  ips.forEach((ip, i) => {
    if (!isIPAddress(ip)) fail(`nodeIPs[${i}]: "${ip}" is not a valid IP address`);
  });
  if (ips.length === 2 && ips[0]?.includes(":") === ips[1]?.includes(":")) {
    fail(`nodeIPs: two addresses must be of different families (dual-stack), got ${ips.join(", ")}`);
  }
  return {
    hostname: options.hostname ?? options.nodeName,
    maxPods: nonNegativeInteger("maxPods", options.maxPods, defaultMaxPods),
    podsPerCore: nonNegativeInteger("podsPerCore", options.podsPerCore, 0),
    kubeReserved: parseReserved("kubeReserved", options.kubeReserved),
    systemReserved: parseReserved("systemReserved", options.systemReserved),
    hardThresholds: parseEvictionThresholds({ evictionHard: options.evictionHard ?? defaultEvictionHard }),
    maxImages: nonNegativeInteger("nodeStatusMaxImages", options.nodeStatusMaxImages, defaultNodeStatusMaxImages, -1),
    localStorage: options.localStorageCapacityIsolation ?? true,
    kubeletPort: nonNegativeInteger("kubeletPort", options.kubeletPort, 10250),
    runtimeSyncThresholdMs: options.runtimeSyncThresholdMs ?? defaultRuntimeSyncThresholdMs,
  };
}

/** `GetThresholdQuantity`: the quantity, or capacity × percentage (float32) truncated, in BinarySI. */
function thresholdQuantity(t: EvictionThreshold, capacity: NodeQuantity | undefined): NodeQuantity {
  if ("quantity" in t.value) return quantityOf(t.value.quantity, "DecimalSI");
  const cap = capacity === undefined ? 0 : Number(integerValueOf(capacity));
  return quantityOf(BigInt(Math.trunc(cap * t.value.percentage)), "BinarySI");
}

/**
 * The container manager's `GetNodeAllocatableReservation`: for each resource of `capacity`,
 * system-reserved + kube-reserved + the hard eviction threshold (`memory.available` for memory,
 * `nodefs.available` for ephemeral-storage; percentages of capacity); resources that add up to 0
 * are left out.
 */
export function nodeAllocatableReservation(
  capacity: ReadonlyMap<string, NodeQuantity>,
  reserved: {
    kubeReserved: ReadonlyMap<string, NodeQuantity>;
    systemReserved: ReadonlyMap<string, NodeQuantity>;
    hardThresholds: readonly EvictionThreshold[];
  },
): Map<string, NodeQuantity> {
  const eviction = new Map<string, NodeQuantity>();
  for (const t of reserved.hardThresholds) {
    if (t.operator !== "LessThan") continue;
    if (t.signal === "memory.available") eviction.set("memory", thresholdQuantity(t, capacity.get("memory")));
    if (t.signal === "nodefs.available") {
      eviction.set("ephemeral-storage", thresholdQuantity(t, capacity.get("ephemeral-storage")));
    }
  }
  const out = new Map<string, NodeQuantity>();
  for (const k of capacity.keys()) {
    let value = quantityOf(0, "DecimalSI");
    for (const part of [reserved.systemReserved.get(k), reserved.kubeReserved.get(k), eviction.get(k)]) {
      if (part) value = add(value, part);
    }
    if (value.nano !== 0n) out.set(k, value);
  }
  return out;
}

/** `v1helper.IsExtendedResourceName`: a name with a domain outside `kubernetes.io`, not `requests.*`. */
const isExtendedResourceName = (name: string) =>
  name.includes("/") && !name.includes("kubernetes.io/") && !name.startsWith("requests.");
const isHugePageResourceName = (name: string) => name.startsWith("hugepages-");

/** The runtime version as `kubecontainer.Version.String()` prints it: semantic, else generic, else `Unknown`. */
function runtimeVersionString(version: string): string {
  const m = /^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)$/s.exec(version);
  if (!m) return "Unknown";
  const parts = (m[1] ?? "").split(".");
  const extra = m[2] ?? "";
  const leadingZero = (c: string) => c.startsWith("0") && c !== "0";
  const numbers = (all: boolean) => (parts.some((c, i) => (i === 0 || all) && leadingZero(c)) ? undefined : parts);
  if (parts.length === 3 && numbers(true)) {
    const e = /^(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$/.exec(extra);
    const pre = e?.[1] ?? "";
    if (e && !pre.split(".").some((c) => /^[0-9]+$/.test(c) && leadingZero(c))) {
      const n = parts.map((c) => BigInt(c).toString()).join(".");
      return `${n}${pre ? `-${pre}` : ""}${e[2] ? `+${e[2]}` : ""}`;
    }
  }
  if (parts.length >= 2 && numbers(false)) return parts.map((c) => BigInt(c).toString()).join(".");
  return "Unknown";
}

const goArch: Readonly<Record<string, string>> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  ia32: "386",
};

/** `GOOS`/`GOARCH` of this process as Go names them. */
export function goPlatform(): { operatingSystem: string; architecture: string } {
  return { operatingSystem: process.platform, architecture: goArch[process.arch] ?? process.arch };
}

const emptyNodeInfo = (): NodeSystemInfo => ({
  machineID: "",
  systemUUID: "",
  bootID: "",
  kernelVersion: "",
  osImage: "",
  containerRuntimeVersion: "",
  kubeletVersion: "",
  kubeProxyVersion: "",
  operatingSystem: "",
  architecture: "",
});

interface PressureCondition {
  type: string;
  trueReason: string;
  trueMessage: string;
  trueEvent: string;
  falseReason: string;
  falseMessage: string;
  falseEvent: string;
}

const pressureConditions: readonly (PressureCondition & { key: "memory" | "disk" | "pid" })[] = [
  {
    key: "memory",
    type: "MemoryPressure",
    trueReason: "KubeletHasInsufficientMemory",
    trueMessage: "kubelet has insufficient memory available",
    trueEvent: "NodeHasInsufficientMemory",
    falseReason: "KubeletHasSufficientMemory",
    falseMessage: "kubelet has sufficient memory available",
    falseEvent: "NodeHasSufficientMemory",
  },
  {
    key: "disk",
    type: "DiskPressure",
    trueReason: "KubeletHasDiskPressure",
    trueMessage: "kubelet has disk pressure",
    trueEvent: "NodeHasDiskPressure",
    falseReason: "KubeletHasNoDiskPressure",
    falseMessage: "kubelet has no disk pressure",
    falseEvent: "NodeHasNoDiskPressure",
  },
  {
    key: "pid",
    type: "PIDPressure",
    trueReason: "KubeletHasInsufficientPID",
    trueMessage: "kubelet has insufficient PID available",
    trueEvent: "NodeHasInsufficientPID",
    falseReason: "KubeletHasSufficientPID",
    falseMessage: "kubelet has sufficient PID available",
    falseEvent: "NodeHasSufficientPID",
  },
];

function parseList(field: string, list: Record<string, string> | undefined): Map<string, NodeQuantity> {
  const out = new Map<string, NodeQuantity>();
  for (const [k, v] of Object.entries(list ?? {})) out.set(k, parseNodeQuantity(String(v), `${field}.${k}`));
  return out;
}

const printList = (m: ReadonlyMap<string, NodeQuantity>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of m) out[k] = formatQuantity(v);
  return out;
};

/**
 * The Node's `status` as the kubelet's setters write it, from the facts of this moment and the
 * status the Node has now (`previous`, as read from the API; `undefined` for a new Node):
 * addresses, capacity and allocatable (kube-reserved, system-reserved and the hard eviction
 * thresholds subtracted, huge pages taken from memory), nodeInfo, daemonEndpoints, images (the
 * largest first, at most `nodeStatusMaxImages`, at most 5 names each), and the MemoryPressure,
 * DiskPressure, PIDPressure and Ready conditions with the kubelet's reasons and messages; a
 * condition's `lastTransitionTime` changes only when its status does. Fields the kubelet does not
 * set are kept from `previous`. Pure: the same inputs give the same result.
 *
 * Throws a {@link KubeletError} (reason `InvalidNodeStatusInput`, or `InvalidEvictionThreshold`
 * for `evictionHard`) naming the bad option; a setter that cannot do its part (no node IP, no
 * version) is reported in `errors` and leaves its fields as they were, as the kubelet does.
 *
 * @example
 * ```ts
 * const { status, events } = computeNodeStatus(
 *   { now: Date.now(), machine, version, runtimeVersion, runtime, images, pressure: { memory: false, disk: false, pid: false } },
 *   node.status,
 *   { nodeName: "edge-1", nodeIPs: ["192.168.1.10"], kubeReserved: { cpu: "100m", memory: "256Mi" } },
 * );
 * ```
 */
export function computeNodeStatus(
  facts: NodeStatusFacts,
  previous: NodeStatus | undefined,
  options: NodeStatusOptions,
): NodeStatusResult {
  const s = settingsOf(options);
  const nowMs = facts.now instanceof Date ? facts.now.getTime() : facts.now;
  if (!Number.isFinite(nowMs)) fail("facts.now: must be a time");
  const now = rfc3339(new Date(nowMs));
  const events: NodeStatusEvent[] = [];
  const errors: string[] = [];
  const nodeEvent = (reasonName: string) =>
    events.push({
      type: "Normal",
      reason: reasonName,
      message: `Node ${options.nodeName} status is now: ${reasonName}`,
    });
  const status: NodeStatus = { ...previous };
  const nodeInfo: NodeSystemInfo = { ...emptyNodeInfo(), ...previous?.nodeInfo };

  // NodeAddress
  const addressed = nodeAddresses({
    nodeName: options.nodeName,
    hostname: s.hostname,
    nodeIPs: options.nodeIPs,
    lookup: facts.hostAddresses?.lookup,
    defaultRoute: facts.hostAddresses?.defaultRoute,
    interfaceAddresses: facts.interfaceAddresses,
  });
  if ("error" in addressed) errors.push(addressed.error);
  else status.addresses = addressed.addresses;

  // MachineInfo
  const capacity = parseList("previous.capacity", previous?.capacity);
  const managerCapacity = new Map<string, NodeQuantity>();
  const m = facts.machine;
  if (m === undefined) {
    capacity.set("cpu", milliQuantityOf(0));
    capacity.set("memory", quantityOf(0, "BinarySI"));
    capacity.set("pods", quantityOf(s.maxPods, "DecimalSI"));
    errors.push("error getting machine info");
  } else {
    nodeInfo.machineID = m.machineID;
    nodeInfo.systemUUID = m.systemUUID;
    managerCapacity.set("cpu", milliQuantityOf(m.numCores * 1000));
    managerCapacity.set("memory", quantityOf(m.memoryCapacityBytes, "BinarySI"));
    for (const h of m.hugePages ?? []) {
      const pageSize = quantityOf(BigInt(h.pageSizeKiB) * 1024n, "BinarySI");
      managerCapacity.set(
        `hugepages-${formatQuantity(pageSize)}`,
        quantityOf(BigInt(h.pageSizeKiB) * 1024n * BigInt(h.numPages), "BinarySI"),
      );
    }
    if (s.localStorage && facts.rootfsCapacityBytes !== undefined) {
      managerCapacity.set("ephemeral-storage", quantityOf(facts.rootfsCapacityBytes, "BinarySI"));
    }
    for (const [k, v] of managerCapacity) capacity.set(k, v);
    const pods = s.podsPerCore > 0 ? Math.min(m.numCores * s.podsPerCore, s.maxPods) : s.maxPods;
    capacity.set("pods", quantityOf(pods, "DecimalSI"));
    if (nodeInfo.bootID !== "" && nodeInfo.bootID !== m.bootID) {
      events.push({
        type: "Warning",
        reason: "Rebooted",
        message: `Node ${options.nodeName} has been rebooted, boot id: ${m.bootID}`,
      });
    }
    nodeInfo.bootID = m.bootID;
  }
  const allocatable = parseList("previous.allocatable", previous?.allocatable);
  for (const k of [...allocatable.keys()]) {
    if (!capacity.has(k) && isExtendedResourceName(k)) allocatable.delete(k);
  }
  const reservation = nodeAllocatableReservation(managerCapacity, s);
  for (const [k, v] of capacity) {
    const r = reservation.get(k);
    allocatable.set(k, clampAtZero(r ? subtract(v, r) : v));
  }
  for (const [k, v] of capacity) {
    if (!isHugePageResourceName(k)) continue;
    const memory = allocatable.get("memory") ?? quantityOf(0, "DecimalSI");
    allocatable.set("memory", clampAtZero(subtract(memory, v)));
  }
  status.capacity = printList(capacity);
  status.allocatable = printList(allocatable);

  // VersionInfo
  if (facts.version === undefined) {
    errors.push("error getting version info");
  } else {
    nodeInfo.kernelVersion = facts.version.kernelVersion;
    nodeInfo.osImage = facts.version.osImage;
    const rv = facts.runtimeVersion;
    const name = rv && "runtimeName" in rv ? rv.runtimeName : "";
    const version = rv && "runtimeVersion" in rv ? runtimeVersionString(rv.runtimeVersion) : "Unknown";
    nodeInfo.containerRuntimeVersion = `${name}://${version}`;
    nodeInfo.kubeletVersion = options.kubeletVersion ?? "v0.0.0-nodekit";
    nodeInfo.kubeProxyVersion = "";
  }

  // DaemonEndpoints
  status.daemonEndpoints = { kubeletEndpoint: { Port: s.kubeletPort } };

  // Images
  const list = facts.images;
  if (list === undefined || "error" in list) {
    delete status.images;
    if (list !== undefined) errors.push(`error getting image list: ${list.error}`);
  } else {
    const sorted = [...list].sort((a, b) =>
      a.size === b.size ? (a.id > b.id ? -1 : a.id < b.id ? 1 : 0) : a.size > b.size ? -1 : 1,
    );
    const kept = s.maxImages > -1 && s.maxImages < sorted.length ? sorted.slice(0, s.maxImages) : sorted;
    const images: ContainerImage[] = kept.map((i) => ({
      names: [...i.repoDigests, ...i.repoTags].slice(0, maxNamesPerImageInNodeStatus),
      sizeBytes: Number(i.size),
    }));
    if (images.length > 0) status.images = images;
    else delete status.images;
  }

  // GoRuntime
  const platform = facts.platform ?? goPlatform();
  nodeInfo.operatingSystem = platform.operatingSystem;
  nodeInfo.architecture = platform.architecture;
  status.nodeInfo = nodeInfo;

  // Memory, disk and PID pressure
  const conditions: NodeCondition[] = (previous?.conditions ?? []).map((c) => ({ ...c }));
  for (const p of pressureConditions) {
    let condition = conditions.find((c) => c.type === p.type);
    const isNew = condition === undefined;
    condition ??= { type: p.type, status: "Unknown" };
    condition.lastHeartbeatTime = now;
    if (facts.pressure?.[p.key]) {
      if (condition.status !== "True") {
        Object.assign(condition, {
          status: "True",
          reason: p.trueReason,
          message: p.trueMessage,
          lastTransitionTime: now,
        });
        nodeEvent(p.trueEvent);
      }
    } else if (condition.status !== "False") {
      Object.assign(condition, {
        status: "False",
        reason: p.falseReason,
        message: p.falseMessage,
        lastTransitionTime: now,
      });
      nodeEvent(p.falseEvent);
    }
    if (isNew) conditions.push(condition);
  }

  // Ready
  const required = ["cpu", "memory", "pods", ...(s.localStorage ? ["ephemeral-storage"] : [])];
  const missing = required.filter((r) => !capacity.has(r));
  const problems = [
    ...runtimeErrors(facts.runtime, nowMs, facts.runtimeHealthErrors, s.runtimeSyncThresholdMs),
    ...networkErrors(facts.runtime),
    ...(facts.storageErrors ?? []),
    ...(facts.shutdownErrors ?? []),
    ...(missing.length > 0 ? [`missing node capacity for resources: ${missing.join(", ")}`] : []),
  ];
  const problem = aggregateMessage(problems);
  const ready: NodeCondition =
    problem === undefined
      ? { type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" }
      : { type: "Ready", status: "False", reason: "KubeletNotReady", message: problem };
  if (facts.softRequirements !== undefined) ready.message = `${ready.message}. WARNING: ${facts.softRequirements}`;
  ready.lastHeartbeatTime = now;
  const at = conditions.findIndex((c) => c.type === "Ready");
  if (at >= 0) {
    const old = conditions[at] as NodeCondition;
    ready.lastTransitionTime = old.status === ready.status ? old.lastTransitionTime : now;
    conditions[at] = orderedCondition(ready);
    if (old.status !== ready.status) nodeEvent(ready.status === "True" ? "NodeReady" : "NodeNotReady");
  } else {
    ready.lastTransitionTime = now;
    conditions.push(orderedCondition(ready));
  }
  status.conditions = conditions;
  return { status, events, errors };
}

/** The condition's fields in the API's order (type, status, times, reason, message). */
const orderedCondition = (c: NodeCondition): NodeCondition => ({
  type: c.type,
  status: c.status,
  lastHeartbeatTime: c.lastHeartbeatTime,
  lastTransitionTime: c.lastTransitionTime,
  reason: c.reason,
  message: c.message,
});

/**
 * The kubelet's `nodeStatusHasChanged`: whether two statuses differ in anything but the
 * conditions' heartbeat times (conditions compared by type, in any order).
 */
export function nodeStatusHasChanged(original: NodeStatus | undefined, status: NodeStatus | undefined): boolean {
  if (original === undefined && status === undefined) return false;
  if (original === undefined || status === undefined) return true;
  const a = original.conditions ?? [];
  const b = status.conditions ?? [];
  if (a.length !== b.length) return true;
  const key = (c: NodeCondition) =>
    JSON.stringify([c.type, c.status, c.lastTransitionTime ?? null, c.reason ?? "", c.message ?? ""]);
  const byType = (l: NodeCondition[]) =>
    [...l].sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0)).map(key);
  const ka = byType(a);
  const kb = byType(b);
  if (ka.some((k, i) => k !== kb[i])) return true;
  const { conditions: _a, ...restA } = original;
  const { conditions: _b, ...restB } = status;
  return !semanticEqual(restA, restB);
}

/** Deep equality of JSON values where an absent field and a zero value (`null`, `""`, `0`, `false`, `[]`, `{}`) are alike, as Go's Semantic.DeepEqual sees a struct. */
function semanticEqual(a: unknown, b: unknown): boolean {
  const empty = (v: unknown) =>
    v === undefined ||
    v === null ||
    v === "" ||
    v === 0 ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  if (empty(a) && empty(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => semanticEqual(v, b[i]));
  if (
    typeof a === "object" &&
    a !== null &&
    typeof b === "object" &&
    b !== null &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      if (!semanticEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    }
    return true;
  }
  return a === b;
}
