// The Node status as the API writes it (JSON form: RFC 3339 strings), and the inputs of
// computeNodeStatus.

import type { Image, StatusResponse, VersionResponse } from "@nodekit/cri/api";

/** A node condition (`v1.NodeCondition`), times as RFC 3339 strings. */
export interface NodeCondition {
  /** `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, or another component's type. */
  type: string;
  /** `True`, `False` or `Unknown`. */
  status: string;
  /** Last time the condition was reported. */
  lastHeartbeatTime?: string | null | undefined;
  /** Last time the status changed. */
  lastTransitionTime?: string | null | undefined;
  /** The kubelet's reason, e.g. `KubeletReady`. */
  reason?: string | undefined;
  /** The kubelet's message, e.g. `kubelet is posting ready status`. */
  message?: string | undefined;
}

/** `v1.NodeAddress`. */
export interface NodeAddress {
  /** `InternalIP`, `Hostname`, `ExternalIP`, … */
  type: string;
  /** The address. */
  address: string;
}

/** `v1.NodeSystemInfo`. */
export interface NodeSystemInfo {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  containerRuntimeVersion: string;
  kubeletVersion: string;
  kubeProxyVersion: string;
  operatingSystem: string;
  architecture: string;
}

/** `v1.ContainerImage`. */
export interface ContainerImage {
  /** Digests first, then tags; at most {@link maxNamesPerImageInNodeStatus}. */
  names: string[];
  /** The image's size. */
  sizeBytes: number;
}

/**
 * `v1.NodeStatus` in the API's JSON form. Fields the kubelet does not set (phase, volumes, config,
 * …) are kept from the previous status as they are.
 */
export interface NodeStatus {
  capacity?: Record<string, string> | undefined;
  allocatable?: Record<string, string> | undefined;
  conditions?: NodeCondition[] | undefined;
  addresses?: NodeAddress[] | undefined;
  daemonEndpoints?: { kubeletEndpoint?: { Port: number } } | undefined;
  nodeInfo?: NodeSystemInfo | undefined;
  images?: ContainerImage[] | undefined;
  [field: string]: unknown;
}

/** What the kubelet's cAdvisor tells of the machine (`MachineInfo`). */
export interface MachineFacts {
  /** Logical CPUs. */
  numCores: number;
  /** `MemTotal` in bytes. */
  memoryCapacityBytes: number | bigint;
  /** `/etc/machine-id`. */
  machineID: string;
  /** `/sys/class/dmi/id/product_uuid` (empty where there is none). */
  systemUUID: string;
  /** `/proc/sys/kernel/random/boot_id`. */
  bootID: string;
  /** Huge page pools: page size in KiB and the number of pages. */
  hugePages?: readonly { pageSizeKiB: number; numPages: number }[] | undefined;
}

/**
 * The runtime's state as the kubelet keeps it (`runtimeState`, fed by `updateRuntimeUp`): build it
 * with {@link observeRuntimeStatus} from each `Status` call.
 */
export interface RuntimeObservation {
  /** When `Status` last answered with `RuntimeReady` true (ms since the epoch); the kubelet's `lastBaseRuntimeSync`. */
  readonly lastSyncAt?: number | undefined;
  /** The last `Status` answer (an error answer leaves the previous one). */
  readonly status?: Pick<StatusResponse, "status"> | undefined;
}

/** What {@link computeNodeStatus} computes the status from. */
export interface NodeStatusFacts {
  /** The time of this computation (ms since the epoch, or a `Date`). */
  now: number | Date;
  /** Machine information; `undefined` when it could not be read (cpu and memory become 0, as the kubelet reports). */
  machine?: MachineFacts | undefined;
  /** Kernel and OS image; `undefined` when unknown (nodeInfo keeps its versions, as the VersionInfo setter's error leaves them). */
  version?: { kernelVersion: string; osImage: string } | undefined;
  /** `GOOS`/`GOARCH` as the kubelet names them (`linux`, `amd64`); default from this process. */
  platform?: { operatingSystem: string; architecture: string } | undefined;
  /** The runtime's `Version` answer, or an error message (`containerRuntimeVersion` becomes `<name>://Unknown`). */
  runtimeVersion?: Pick<VersionResponse, "runtimeName" | "runtimeVersion"> | { error: string } | undefined;
  /** The runtime's readiness, from {@link observeRuntimeStatus}. */
  runtime?: RuntimeObservation | undefined;
  /** Other runtime health errors (the kubelet's health checks, e.g. `PLEG is not healthy: …`). */
  runtimeHealthErrors?: readonly string[] | undefined;
  /** Storage errors (the kubelet's `storageErrors`). */
  storageErrors?: readonly string[] | undefined;
  /** Node shutdown manager errors, e.g. `node is shutting down`. */
  shutdownErrors?: readonly string[] | undefined;
  /** The container manager's unmet soft requirements, added as `. WARNING: …` to the Ready message. */
  softRequirements?: string | undefined;
  /** Capacity of the node's root filesystem (the kubelet's root dir) in bytes: `ephemeral-storage`. */
  rootfsCapacityBytes?: number | bigint | undefined;
  /** The runtime's `ListImages` answer, or an error message (images are then reset). */
  images?: readonly Pick<Image, "id" | "repoTags" | "repoDigests" | "size">[] | { error: string } | undefined;
  /** Resource pressure, from the eviction manager: `{ memory, disk, pid }`. */
  pressure?: { memory: boolean; disk: boolean; pid: boolean } | undefined;
  /**
   * Addresses found on the host, for nodes without `nodeIPs`: the node name's DNS answers in order
   * (`lookup`), then the address of the interface with the default route (`defaultRoute`, IPv4 and IPv6).
   */
  hostAddresses?: { lookup?: readonly string[]; defaultRoute?: readonly string[] } | undefined;
  /** The host's interface addresses; when given, a `nodeIPs` entry must be one of them (the kubelet's validateNodeIP). */
  interfaceAddresses?: readonly string[] | undefined;
}

/** Settings of {@link computeNodeStatus} (the KubeletConfiguration fields it reads). */
export interface NodeStatusOptions {
  /** The node's name. */
  nodeName: string;
  /** The hostname reported as the `Hostname` address (default the node name). */
  hostname?: string | undefined;
  /** `--node-ip`: one address, or two of different families (dual-stack); `0.0.0.0`/`::` pick a family. */
  nodeIPs?: readonly string[] | undefined;
  /** `maxPods` (default 110). */
  maxPods?: number | undefined;
  /** `podsPerCore` (default 0: no limit). */
  podsPerCore?: number | undefined;
  /** `kubeReserved` (cpu, memory, ephemeral-storage, pid). */
  kubeReserved?: Readonly<Record<string, string>> | undefined;
  /** `systemReserved` (cpu, memory, ephemeral-storage, pid). */
  systemReserved?: Readonly<Record<string, string>> | undefined;
  /** `evictionHard` (default the kubelet's Linux default); `memory.available` and `nodefs.available` are reserved. */
  evictionHard?: Readonly<Record<string, string>> | undefined;
  /** The agent's version, reported as kubeletVersion (default `v0.0.0-nodekit`). */
  kubeletVersion?: string | undefined;
  /** The kubelet's port in daemonEndpoints (default 10250). */
  kubeletPort?: number | undefined;
  /** `nodeStatusMaxImages` (default 50; -1 for no limit). */
  nodeStatusMaxImages?: number | undefined;
  /** `localStorageCapacityIsolation` (default true): ephemeral-storage is reported and required for Ready. */
  localStorageCapacityIsolation?: boolean | undefined;
  /** How long a `Status` answer counts (default 30 s, the kubelet's maxWaitForContainerRuntime). */
  runtimeSyncThresholdMs?: number | undefined;
}

/** An event the kubelet records for the node while setting its status. */
export interface NodeStatusEvent {
  /** `Normal` or `Warning`. */
  type: "Normal" | "Warning";
  /** `NodeReady`, `NodeNotReady`, `NodeHasSufficientMemory`, `NodeRebooted`, … */
  reason: string;
  /** The kubelet's message, e.g. `Node node-1 status is now: NodeReady`. */
  message: string;
}

/** What {@link computeNodeStatus} returns. */
export interface NodeStatusResult {
  /** The new status (the previous one with the kubelet's fields set). */
  status: NodeStatus;
  /** Events to record for the node, in the order the kubelet records them. */
  events: NodeStatusEvent[];
  /** Setters that failed (the kubelet logs them and keeps the previous values of their fields). */
  errors: string[];
}
