import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { type Clock, sleep, systemClock } from "../clock.js";
import { configSourceAnnotation } from "../config/file-source-manifest.js";
import type { Pod, PodStatus } from "../pod.js";
import { type Logger, messageOf } from "../sync/listeners.js";
import type { PodStatusUpdate } from "../sync/status-manager.js";
import { podFromApi } from "./convert.js";
import { deletePodNow, statusCodeOf } from "./requests.js";
import { mergePodStatus, podStatusPatch } from "./status-patch.js";

/** The annotation of a mirror pod: the config hash (uid) of the static pod it mirrors. */
export const configMirrorAnnotation = "kubernetes.io/config.mirror";

/** Writes pod statuses to the API server as the kubelet's status manager does. */
export interface PodStatusWriter {
  /** Queues the latest status of a pod (give it the reconciler's status updates); the latest wins. */
  write(update: PodStatusUpdate): void;
  /** Resolves once every status queued so far was written, or found unwritable (pod gone, other uid). */
  flush(): Promise<void>;
  /**
   * Queues again the statuses of static pods that could not be written because their mirror pod
   * was not there yet (the kubelet's status manager retries them on its sync period).
   */
  resync(): void;
  /** Stops writing; statuses still queued are dropped. */
  stop(): void;
}

/** Options of {@link createPodStatusWriter}. */
export interface PodStatusWriterOptions {
  /** The cluster to write to. */
  kubeConfig: KubeConfig;
  /** Log lines. */
  logger?: Logger | undefined;
  /** Clock of the retry waits (default the wall clock). */
  clock?: Clock | undefined;
  /** Wait before retrying after a failure, doubling up to 30 s (default 500 ms). */
  retryMs?: number | undefined;
}

const isStatic = (pod: Pod) => {
  const source = pod.metadata?.annotations?.[configSourceAnnotation];
  return source !== undefined && source !== "api";
};

/** No container of the pod runs any more: the kubelet may delete a pod being deleted (canBeDeleted). */
function containersGone(status: PodStatus): boolean {
  const all = [
    ...(status.initContainerStatuses ?? []),
    ...(status.containerStatuses ?? []),
    ...(status.ephemeralContainerStatuses ?? []),
  ];
  return all.every((c) => !c.state?.running);
}

/**
 * Creates a {@link PodStatusWriter}: for each pod, reads it from the API, merges the conditions
 * others own and keeps a terminal phase (mergePodStatus), and sends the kubelet's strategic merge
 * patch to `pods/<name>/status` (nothing when nothing changed). A static pod's status goes to its
 * mirror pod. Conflicts and outages are retried with the pod's latest status. Once a pod being
 * deleted has no running container, it is deleted with grace period 0 and its uid as a
 * precondition, as the kubelet finishes a graceful deletion.
 *
 * @example
 * ```ts
 * const writer = createPodStatusWriter({ kubeConfig });
 * reconciler.onStatus((update) => writer.write(update));
 * ```
 */
export function createPodStatusWriter(options: PodStatusWriterOptions): PodStatusWriter {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const clock = options.clock ?? systemClock;
  const log = options.logger;
  const retryMs = options.retryMs ?? 500;
  const pending = new Map<string, PodStatusUpdate>();
  /** Static pods' statuses waiting for their mirror pod. */
  const waitingForMirror = new Map<string, PodStatusUpdate>();
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  let idle: (() => void)[] = [];

  /** Writes one status; true when done (written, or nothing to write to), false to retry. */
  const writeOne = async (update: PodStatusUpdate): Promise<boolean> => {
    const m = update.pod.metadata ?? {};
    const namespace = m.namespace ?? "default";
    const name = m.name ?? "";
    let api: Pod;
    const mirror = isStatic(update.pod);
    try {
      api = podFromApi(await core.readNamespacedPod({ name, namespace }));
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
      if (mirror) waitingForMirror.set(update.uid, update);
      return true; // gone from the API (or no mirror of this static pod yet): nothing to write to
    }
    const target = api.metadata?.uid ?? "";
    if (mirror ? api.metadata?.annotations?.[configMirrorAnnotation] !== m.uid : target !== m.uid) {
      if (mirror) waitingForMirror.set(update.uid, update);
      return true; // another pod of that name now (or an outdated mirror)
    }
    waitingForMirror.delete(update.uid);
    const next = mergePodStatus(api.status ?? {}, update.status);
    const patch = podStatusPatch(target, api.status ?? {}, next);
    if (patch) {
      await core.patchNamespacedPodStatus(
        { name, namespace, body: patch },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      );
    }
    // Deleted from the API only once the reconciler has stopped the pod for good.
    if (!mirror && update.terminated && api.metadata?.deletionTimestamp && containersGone(next)) {
      await deletePodNow(core, namespace, name, target);
    }
    return true;
  };

  const loop = async () => {
    let failures = 0;
    while (pending.size && !stopping.signal.aborted) {
      const [uid, update] = pending.entries().next().value as [string, PodStatusUpdate];
      pending.delete(uid);
      try {
        await writeOne(update);
        failures = 0;
      } catch (err) {
        const code = statusCodeOf(err);
        if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
          // Refused for good (403 by the node authorizer, 422 invalid): retrying would not help.
          log?.warn("pod status refused by the API server", {
            pod: `${update.pod.metadata?.namespace}/${update.pod.metadata?.name}`,
            code,
            error: messageOf(err),
          });
          continue;
        }
        // Retry with the latest status of the pod, unless a newer one came meanwhile.
        if (!pending.has(uid)) pending.set(uid, update);
        failures++;
        log?.warn("writing pod status failed", {
          pod: `${update.pod.metadata?.namespace}/${update.pod.metadata?.name}`,
          error: messageOf(err),
        });
        await sleep(clock, Math.min(30_000, retryMs * 2 ** Math.min(failures - 1, 10)), stopping.signal).catch(
          () => undefined,
        );
      }
    }
    running = undefined;
    const waiting = idle;
    idle = [];
    for (const w of waiting) w();
  };

  return {
    write(update) {
      if (stopping.signal.aborted) return;
      waitingForMirror.delete(update.uid);
      pending.delete(update.uid); // re-queued last: the latest status of each pod, in order of change
      pending.set(update.uid, update);
      running ??= loop();
    },
    flush() {
      if (!running) return Promise.resolve();
      return new Promise((r) => idle.push(r));
    },
    resync() {
      const waiting = [...waitingForMirror.values()];
      waitingForMirror.clear();
      for (const update of waiting) this.write(update);
    },
    stop() {
      stopping.abort();
      pending.clear();
      waitingForMirror.clear();
    },
  };
}
