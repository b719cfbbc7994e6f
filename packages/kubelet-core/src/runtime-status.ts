import type { ContainerStatus as CriContainerStatus, PodSandboxStatus } from "@nodekit/cri/api";
import { ContainerState as CriContainerState, PodSandboxState } from "@nodekit/cri/api";
import { labels as L } from "./labels.js";

/** A container's state as the kubelet sees it in the runtime (kubecontainer.State). */
export type RuntimeContainerState = "created" | "running" | "exited" | "unknown";

/**
 * One container of a pod as found in the runtime (kubecontainer.Status): the CRI status plus what
 * the kubelet's labels and annotations say about it.
 */
export interface RuntimeContainerStatus {
  /** CRI container id. */
  id: string;
  /** Container name in the pod spec (`io.kubernetes.container.name`). */
  name: string;
  /** Its state, mapped from the CRI state. */
  state: RuntimeContainerState;
  /** Nanoseconds since the epoch; 0n when not set. */
  createdAt: bigint;
  /** When it started, in nanoseconds since the epoch; 0n when it never started. */
  startedAt: bigint;
  /** When it exited, in nanoseconds since the epoch; 0n while it has not exited. */
  finishedAt: bigint;
  /** Exit code, when it exited. */
  exitCode: number;
  /** The runtime's reason for the state, e.g. `Completed`, `Error`, `OOMKilled`. */
  reason: string;
  /** The runtime's message for the state. */
  message: string;
  /** The image as the pod spec names it. */
  image: string;
  /** The image id the runtime resolved. */
  imageRef: string;
  /** `io.kubernetes.container.hash`: the hash of the spec the container was created from. */
  hash: string;
  /** `io.kubernetes.container.restartCount`. */
  restartCount: number;
}

/**
 * Everything the runtime holds for one pod (kubecontainer.PodStatus): its sandboxes, newest first,
 * and its containers, newest first. The input of `computePodActions` and `computePodStatus`.
 */
export interface PodRuntimeStatus {
  /** The pod's uid (`io.kubernetes.pod.uid`). */
  uid: string;
  /** The pod's name. */
  name: string;
  /** The pod's namespace. */
  namespace: string;
  /** IPs of the newest READY sandbox. */
  ips: string[];
  /** CRI sandbox statuses, newest first. */
  sandboxStatuses: PodSandboxStatus[];
  /** Containers, newest first (by creation time). */
  containerStatuses: RuntimeContainerStatus[];
}

/** Maps a CRI container state to the kubelet's. */
export function toRuntimeState(state: CriContainerState): RuntimeContainerState {
  switch (state) {
    case CriContainerState.CONTAINER_CREATED:
      return "created";
    case CriContainerState.CONTAINER_RUNNING:
      return "running";
    case CriContainerState.CONTAINER_EXITED:
      return "exited";
    default:
      return "unknown";
  }
}

/** Reads a CRI container status the way the kubelet does (names and counters from its labels). */
export function toRuntimeContainerStatus(status: CriContainerStatus): RuntimeContainerStatus {
  const restart = Number.parseInt(status.annotations[L.containerRestartCount] ?? "", 10);
  return {
    id: status.id,
    name: status.labels[L.containerName] ?? status.metadata?.name ?? "",
    state: toRuntimeState(status.state),
    createdAt: status.createdAt,
    startedAt: status.startedAt,
    finishedAt: status.finishedAt,
    exitCode: status.exitCode,
    reason: status.reason,
    message: status.message,
    image: status.image?.userSpecifiedImage || status.image?.image || "",
    imageRef: status.imageRef,
    hash: status.annotations[L.containerHash] ?? "",
    restartCount: Number.isFinite(restart) ? restart : (status.metadata?.attempt ?? 0),
  };
}

/**
 * Builds a {@link PodRuntimeStatus} from CRI statuses of one pod, in any order: sorts sandboxes and
 * containers newest first and takes the IPs of the newest READY sandbox.
 */
export function podRuntimeStatusFrom(pod: {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: readonly PodSandboxStatus[];
  containers: readonly CriContainerStatus[];
}): PodRuntimeStatus {
  const sandboxStatuses = [...pod.sandboxes].sort((a, b) => cmpDesc(a.createdAt, b.createdAt));
  const containerStatuses = pod.containers
    .map(toRuntimeContainerStatus)
    .sort((a, b) => cmpDesc(a.createdAt, b.createdAt));
  const ready = sandboxStatuses.find((s) => s.state === PodSandboxState.SANDBOX_READY);
  const ips = ready?.network?.ip ? [ready.network.ip, ...ready.network.additionalIps.map((p) => p.ip)] : [];
  return { uid: pod.uid, name: pod.name, namespace: pod.namespace, ips, sandboxStatuses, containerStatuses };
}

function cmpDesc(a: bigint, b: bigint): number {
  return a > b ? -1 : a < b ? 1 : 0;
}

/** The newest status of the named container, if any (kubecontainer.PodStatus.FindContainerStatusByName). */
export function findContainerStatus(status: PodRuntimeStatus, name: string): RuntimeContainerStatus | undefined {
  return status.containerStatuses.find((c) => c.name === name);
}
