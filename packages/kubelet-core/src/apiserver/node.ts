import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  V1MicroTime,
  type V1Node,
  type V1NodeCondition,
  type V1NodeStatus,
} from "@kubernetes/client-node";
import type { ImageService, RuntimeService } from "@nodekit/cri/api";
import { type Clock, sleep, systemClock } from "../clock.js";
import { type CollectHostFactsOptions, collectHostFacts, nodeStatusFactsOf } from "../host/collect-host-facts.js";
import { computeNodeStatus, nodeStatusHasChanged } from "../nodestatus/compute-node-status.js";
import { observeRuntimeStatus } from "../nodestatus/runtime-state.js";
import type {
  NodeStatus,
  NodeStatusEvent,
  NodeStatusFacts,
  NodeStatusOptions,
  RuntimeObservation,
} from "../nodestatus/types.js";
import { type Logger, messageOf } from "../sync/listeners.js";
import { fromApiObject, rfc3339 } from "./convert.js";
import { statusCodeOf } from "./requests.js";

/** The namespace of node leases. */
export const nodeLeaseNamespace = "kube-node-lease";

/** What the kubelet reports of its node when it registers. */
export interface NodeFacts {
  /** The node's name. */
  nodeName: string;
  /** Addresses (`InternalIP`, `Hostname`, …). */
  addresses?: { type: string; address: string }[] | undefined;
  /** Capacity (`cpu`, `memory`, `pods`, …) as quantities. */
  capacity?: Record<string, string> | undefined;
  /** Allocatable; default the capacity. */
  allocatable?: Record<string, string> | undefined;
  /** The runtime's `Version` answer, for nodeInfo.containerRuntimeVersion. */
  runtime?: { runtimeName: string; runtimeVersion: string } | undefined;
  /** The agent's version, reported as kubeletVersion (default `v0.0.0-nodekit`). */
  kubeletVersion?: string | undefined;
  /** Extra labels. */
  labels?: Record<string, string> | undefined;
  /** The Ready condition: true when the runtime and its network are ready. */
  ready?: { status: boolean; reason: string; message: string } | undefined;
}

/** The Node object the kubelet registers (initialNode), from {@link NodeFacts}. */
export function nodeObject(
  facts: NodeFacts,
  now: Date = new Date(),
): V1Node & {
  status: Required<
    Pick<V1NodeStatus, "addresses" | "capacity" | "allocatable" | "conditions" | "daemonEndpoints" | "nodeInfo">
  >;
} {
  const arch = (
    { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>
  )[process.arch];
  const ready = facts.ready ?? { status: true, reason: "KubeletReady", message: "kubelet is posting ready status" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: facts.nodeName,
      labels: {
        "kubernetes.io/hostname": facts.nodeName,
        "kubernetes.io/os": process.platform,
        "beta.kubernetes.io/os": process.platform,
        ...(arch ? { "kubernetes.io/arch": arch, "beta.kubernetes.io/arch": arch } : {}),
        ...facts.labels,
      },
    },
    spec: {},
    status: {
      addresses: facts.addresses ?? [{ type: "Hostname", address: facts.nodeName }],
      capacity: facts.capacity ?? {},
      allocatable: facts.allocatable ?? facts.capacity ?? {},
      conditions: [
        {
          type: "Ready",
          status: ready.status ? "True" : "False",
          reason: ready.reason,
          message: ready.message,
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        architecture: arch ?? process.arch,
        operatingSystem: process.platform,
        osImage: "",
        kernelVersion: "",
        machineID: "",
        systemUUID: "",
        bootID: "",
        kubeletVersion: facts.kubeletVersion ?? "v0.0.0-nodekit",
        kubeProxyVersion: "",
        containerRuntimeVersion: facts.runtime ? `${facts.runtime.runtimeName}://${facts.runtime.runtimeVersion}` : "",
      },
    },
  };
}

/**
 * Registers the node as the kubelet does (registerWithAPIServer): creates the Node; if it exists,
 * updates its labels and status instead. Returns the Node as the API server has it (with its uid).
 * With `status` (from {@link computeNodeStatus}), a new Node is created with it, and an existing
 * Node's status is left to the {@link createNodeStatusReporter} that follows.
 */
export async function registerNode(kubeConfig: KubeConfig, facts: NodeFacts, status?: NodeStatus): Promise<V1Node> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const initial = nodeObject(facts);
  const node: V1Node = status ? { ...initial, status: toV1NodeStatus(status) } : initial;
  try {
    return await core.createNode({ body: node });
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err;
  }
  const existing = await core.readNode({ name: facts.nodeName });
  existing.metadata = { ...existing.metadata, labels: { ...existing.metadata?.labels, ...node.metadata?.labels } };
  const updated = await core.replaceNode({ name: facts.nodeName, body: existing });
  if (status) return updated;
  // Only what this registration knows replaces what the Node has: the Ready condition (others'
  // conditions stay), nodeInfo and daemonEndpoints always, addresses and resources when given.
  const fresh = initial.status;
  const others = (updated.status?.conditions ?? []).filter((c) => c.type !== "Ready");
  updated.status = {
    ...updated.status,
    conditions: [...(fresh.conditions ?? []), ...others],
    nodeInfo: fresh.nodeInfo,
    daemonEndpoints: fresh.daemonEndpoints,
    ...(facts.addresses ? { addresses: fresh.addresses } : {}),
    ...(facts.capacity ? { capacity: fresh.capacity, allocatable: fresh.allocatable } : {}),
    ...(facts.allocatable ? { allocatable: fresh.allocatable } : {}),
  };
  return core.replaceNodeStatus({ name: facts.nodeName, body: updated });
}

/** The node's Lease heartbeat (the kubelet's node lease controller). */
export interface NodeLease {
  /** Creates or renews the Lease once. */
  renew(): Promise<void>;
  /** Renews every `renewIntervalMs` until {@link NodeLease.stop}. */
  start(): void;
  /** Stops renewing. */
  stop(): Promise<void>;
}

/** Options of {@link createNodeLease}. */
export interface NodeLeaseOptions {
  /** The cluster. */
  kubeConfig: KubeConfig;
  /** The node's name (the Lease's name and holder). */
  nodeName: string;
  /** The Node's uid, for the Lease's owner reference. */
  nodeUid?: string | undefined;
  /** `leaseDurationSeconds` (default 40, the kubelet's nodeLeaseDurationSeconds). */
  durationSeconds?: number | undefined;
  /** Renew interval (default a quarter of the duration, 10 s, as the kubelet). */
  renewIntervalMs?: number | undefined;
  /** Clock (default the wall clock). */
  clock?: Clock | undefined;
  /** Log lines. */
  logger?: Logger | undefined;
}

/**
 * Creates the node's Lease heartbeat in `kube-node-lease`: holder the node, duration 40 s, renewed
 * every 10 s, owned by the Node; a failed renewal is retried at the next interval.
 *
 * @example
 * ```ts
 * const lease = createNodeLease({ kubeConfig, nodeName: "node-1", nodeUid: node.metadata?.uid });
 * lease.start();
 * ```
 */
export function createNodeLease(options: NodeLeaseOptions): NodeLease {
  const api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  const clock = options.clock ?? systemClock;
  const duration = options.durationSeconds ?? 40;
  const interval = options.renewIntervalMs ?? (duration * 1000) / 4;
  const name = options.nodeName;
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;

  const spec = () => ({
    holderIdentity: name,
    leaseDurationSeconds: duration,
    renewTime: new V1MicroTime(clock.now()),
  });
  const ownerReferences = options.nodeUid
    ? [{ apiVersion: "v1", kind: "Node", name, uid: options.nodeUid }]
    : undefined;

  const renew = async () => {
    try {
      const lease = await api.readNamespacedLease({ name, namespace: nodeLeaseNamespace });
      lease.spec = { ...lease.spec, ...spec() };
      await api.replaceNamespacedLease({ name, namespace: nodeLeaseNamespace, body: lease });
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
      await api.createNamespacedLease({
        namespace: nodeLeaseNamespace,
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace: nodeLeaseNamespace, ...(ownerReferences ? { ownerReferences } : {}) },
          spec: spec(),
        },
      });
    }
  };

  return {
    renew,
    start() {
      loop ??= (async () => {
        while (!stopping.signal.aborted) {
          await renew().catch((err) =>
            options.logger?.warn("renewing the node lease failed", {
              error: messageOf(err),
              at: rfc3339(new Date(clock.now())),
            }),
          );
          await sleep(clock, interval, stopping.signal).catch(() => undefined);
        }
      })();
    },
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}

/**
 * A Node status of this package (RFC 3339 strings) in `@kubernetes/client-node`'s form (`Date`s
 * in the conditions), which its `replaceNodeStatus` and serializer accept.
 */
export function toV1NodeStatus(status: NodeStatus): V1NodeStatus {
  const { conditions, ...rest } = status;
  const out = { ...rest } as V1NodeStatus;
  if (conditions) {
    out.conditions = conditions.map((c) => {
      const { lastHeartbeatTime, lastTransitionTime, ...fields } = c;
      const v: V1NodeCondition = { ...fields } as V1NodeCondition;
      if (lastHeartbeatTime) v.lastHeartbeatTime = new Date(lastHeartbeatTime);
      if (lastTransitionTime) v.lastTransitionTime = new Date(lastTransitionTime);
      return v;
    });
  }
  return out;
}

/** The kubelet's nodeStatusUpdateRetry: tries of one status update. */
export const nodeStatusUpdateRetry = 5;

/** Options of {@link createNodeStatusReporter}. */
export interface NodeStatusReporterOptions {
  /** The cluster. */
  kubeConfig: KubeConfig;
  /** How the status is computed (the node's name, node IPs, reservations, …). */
  status: NodeStatusOptions;
  /** The runtime: `Version` and `Status` (readiness). */
  runtime: Pick<RuntimeService, "version" | "status">;
  /** The image service: `ListImages` and `ImageFsInfo`. */
  image: Pick<ImageService, "listImages" | "imageFsInfo">;
  /** Host facts options (node root, pods cgroup); or your own collector. Default: {@link collectHostFacts} with defaults. */
  host?: CollectHostFactsOptions | (() => Promise<Partial<NodeStatusFacts>>) | undefined;
  /** Resource pressure, e.g. from the eviction manager (default none). */
  pressure?: (() => { memory: boolean; disk: boolean; pid: boolean }) | undefined;
  /** `nodeStatusUpdateFrequency` (default 10 s). */
  updateFrequencyMs?: number | undefined;
  /** `nodeStatusReportFrequency`: the longest time without a report when nothing changed (default 5 min, or the update frequency when only that is given). */
  reportFrequencyMs?: number | undefined;
  /** Node events the setters record (NodeReady, NodeHasSufficientMemory, Rebooted, …). */
  onEvent?: ((event: NodeStatusEvent) => void) | undefined;
  /** Clock (default the wall clock). */
  clock?: Clock | undefined;
  /** Log lines. */
  logger?: Logger | undefined;
}

/** The kubelet's node status loop (syncNodeStatus): {@link createNodeStatusReporter}. */
export interface NodeStatusReporter {
  /** The status computed now against `previous` (for registration), with the runtime asked afresh. */
  compute(previous: NodeStatus | undefined): Promise<NodeStatus>;
  /** One `updateNodeStatus`: read the Node, compute, write if changed or due; retried 5 times. Resolves whether it wrote. */
  sync(): Promise<boolean>;
  /** Syncs every update period until {@link NodeStatusReporter.stop}. */
  start(): void;
  /** Stops the loop. */
  stop(): Promise<void>;
  /** When the status was last written (ms), or `undefined`. */
  readonly lastReportAt: number | undefined;
}

/**
 * The kubelet's node status reporting: every `updateFrequencyMs` (10 s) it reads the Node,
 * computes its status from the host facts, the runtime's `Version`, `Status` and `ListImages`,
 * and the pressure ({@link computeNodeStatus}), and writes it to the `status` subresource when it
 * changed (anything but heartbeat times, {@link nodeStatusHasChanged}) or when `reportFrequencyMs`
 * (5 min) passed since the last write; conflicts and failures are retried up to 5 times a period.
 *
 * @example
 * ```ts
 * const reporter = createNodeStatusReporter({ kubeConfig, runtime, image, status: { nodeName: "edge-1" } });
 * reporter.start();
 * ```
 */
export function createNodeStatusReporter(options: NodeStatusReporterOptions): NodeStatusReporter {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const clock = options.clock ?? systemClock;
  const name = options.status.nodeName;
  const update = options.updateFrequencyMs ?? 10_000;
  const report = options.reportFrequencyMs ?? (options.updateFrequencyMs !== undefined ? update : 300_000);
  const host = options.host;
  const stopping = new AbortController();
  let runtimeState: RuntimeObservation | undefined;
  let lastRuntimeName: string | undefined;
  let lastReportAt: number | undefined;
  let loop: Promise<void> | undefined;

  const hostFacts = async (): Promise<Partial<NodeStatusFacts>> =>
    typeof host === "function"
      ? host()
      : nodeStatusFactsOf(await collectHostFacts({ ...host, runtime: host?.runtime ?? options.image }));

  const facts = async (): Promise<NodeStatusFacts> => {
    const [h, version, status, images] = await Promise.all([
      hostFacts(),
      options.runtime.version({}).then(
        (v) => v,
        (err: unknown) => ({ error: messageOf(err) }),
      ),
      options.runtime.status({ verbose: false }).then(
        (s) => s,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      options.image.listImages({}).then(
        (r) => r.images,
        (err: unknown) => ({ error: messageOf(err) }),
      ),
    ]);
    const now = clock.now();
    runtimeState = observeRuntimeStatus(runtimeState, status, now);
    const runtimeVersion = "error" in version ? { runtimeName: lastRuntimeName ?? "", ...version } : version;
    if (!("error" in version)) lastRuntimeName = version.runtimeName;
    return {
      ...h,
      now,
      runtimeVersion,
      runtime: runtimeState,
      images,
      pressure: options.pressure?.() ?? { memory: false, disk: false, pid: false },
    };
  };

  const compute = async (previous: NodeStatus | undefined) => {
    const result = computeNodeStatus(await facts(), previous, options.status);
    for (const e of result.events) options.onEvent?.(e);
    for (const e of result.errors)
      options.logger?.warn("failed to set some node status fields", { node: name, error: e });
    return result.status;
  };

  const tryUpdate = async (): Promise<boolean> => {
    const node = await core.readNode({ name });
    const previous = node.status ? (fromApiObject<unknown>(node.status) as NodeStatus) : undefined;
    const status = await compute(previous);
    const now = clock.now();
    const due = lastReportAt === undefined || now - lastReportAt >= report;
    if (!nodeStatusHasChanged(previous, status) && !due) return false;
    await core.replaceNodeStatus({ name, body: { ...node, status: toV1NodeStatus(status) } });
    lastReportAt = now;
    return true;
  };

  const sync = async (): Promise<boolean> => {
    let lastError: unknown;
    for (let i = 0; i < nodeStatusUpdateRetry; i++) {
      try {
        return await tryUpdate();
      } catch (err) {
        lastError = err;
        options.logger?.warn("error updating node status, will retry", { node: name, error: messageOf(err) });
      }
    }
    throw new Error(`update node status exceeds retry count: ${messageOf(lastError)}`);
  };

  return {
    compute,
    sync,
    get lastReportAt() {
      return lastReportAt;
    },
    start() {
      loop ??= (async () => {
        while (!stopping.signal.aborted) {
          await sync().catch((err) =>
            options.logger?.warn("unable to update node status", { node: name, error: messageOf(err) }),
          );
          await sleep(clock, update, stopping.signal).catch(() => undefined);
        }
      })();
    },
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
