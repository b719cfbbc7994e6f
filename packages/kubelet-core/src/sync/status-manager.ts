import type { Pod, PodStatus } from "../pod.js";
import { createListeners, type Logger } from "./listeners.js";

/** A new status of a pod, as the reconciler computed it. */
export interface PodStatusUpdate {
  /** The pod's uid. */
  uid: string;
  /** The desired pod, as last given to the reconciler. */
  pod: Pod;
  /** The new status. */
  status: PodStatus;
  /**
   * The pod's containers were stopped for good: its deletion or its terminal phase was carried
   * out (the kubelet's pod termination). A pod being deleted may be removed from the API then.
   */
  terminated: boolean;
}

/**
 * Keeps the latest status of each pod and hands a status to its listeners only when it changed
 * (the local half of the kubelet's status manager; a `lastTransitionTime` alone is not a change,
 * a new `deletionTimestamp` or `terminated` is). Writing statuses to the API server is
 * `createPodStatusWriter` of `@nodekit/kubelet-core/apiserver`.
 */
export interface StatusManager {
  /** Records `status` as the pod's latest; notifies when it differs from the last one handed out for a known pod. */
  setStatus(uid: string, pod: Pod | undefined, status: PodStatus, terminated?: boolean): void;
  /** The latest status of a pod. */
  getStatus(uid: string): PodStatus | undefined;
  /** Forgets a pod that is gone. */
  forget(uid: string): void;
  /** Subscribes to status changes; returns an unsubscribe function. */
  onStatus(listener: (update: PodStatusUpdate) => void): () => void;
}

/**
 * Creates a {@link StatusManager}.
 *
 * @example
 * ```ts
 * const statuses = createStatusManager();
 * statuses.onStatus(({ pod, status }) => console.log(pod.metadata?.name, status.phase));
 * ```
 */
export function createStatusManager(options: { logger?: Logger | undefined } = {}): StatusManager {
  const listeners = createListeners<PodStatusUpdate>(options.logger);
  const latest = new Map<string, { status: PodStatus; json: string }>();
  return {
    setStatus(uid, pod, status, terminated = false) {
      const json = `${terminated ? "T" : "-"}|${pod?.metadata?.deletionTimestamp ?? ""}|${JSON.stringify(
        status,
        (k, v) => (k === "lastTransitionTime" ? undefined : v),
      )}`;
      const entry = latest.get(uid) ?? { status, json: "" };
      latest.set(uid, entry);
      entry.status = status;
      if (json === entry.json || !pod) return;
      entry.json = json;
      listeners.notify({ uid, pod, status, terminated });
    },
    getStatus: (uid) => latest.get(uid)?.status,
    forget: (uid) => void latest.delete(uid),
    onStatus: (listener) => listeners.add(listener),
  };
}
