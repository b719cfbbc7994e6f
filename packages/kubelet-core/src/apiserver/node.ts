import { CoordinationV1Api, CoreV1Api, type KubeConfig, V1MicroTime, type V1Node } from "@kubernetes/client-node";
import { type Clock, sleep, systemClock } from "../clock.js";
import { type Logger, messageOf } from "../sync/listeners.js";
import { rfc3339 } from "./convert.js";
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
export function nodeObject(facts: NodeFacts, now: Date = new Date()): V1Node {
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
 */
export async function registerNode(kubeConfig: KubeConfig, facts: NodeFacts): Promise<V1Node> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const node = nodeObject(facts);
  try {
    return await core.createNode({ body: node });
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err;
  }
  const existing = await core.readNode({ name: facts.nodeName });
  existing.metadata = { ...existing.metadata, labels: { ...existing.metadata?.labels, ...node.metadata?.labels } };
  const updated = await core.replaceNode({ name: facts.nodeName, body: existing });
  // Only what this registration knows replaces what the Node has: the Ready condition (others'
  // conditions stay), nodeInfo and daemonEndpoints always, addresses and resources when given.
  const fresh = node.status!;
  const others = (updated.status?.conditions ?? []).filter((c) => c.type !== "Ready");
  updated.status = {
    ...updated.status,
    conditions: [...(fresh.conditions ?? []), ...others],
    nodeInfo: fresh.nodeInfo!,
    daemonEndpoints: fresh.daemonEndpoints!,
    ...(facts.addresses ? { addresses: fresh.addresses! } : {}),
    ...(facts.capacity ? { capacity: fresh.capacity!, allocatable: fresh.allocatable! } : {}),
    ...(facts.allocatable ? { allocatable: fresh.allocatable! } : {}),
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
