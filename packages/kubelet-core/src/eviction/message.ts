// The evicted pod's message and the event annotations (pkg/kubelet/eviction/helpers.go:
// evictionMessage, getThresholdMetInfo), in the kubelet's exact formats.

import {
  type EvictionResource,
  type PodStatsOf,
  type SignalObservations,
  signalResource,
  thresholdQuantity,
} from "./helpers.js";
import type { EvictionPod } from "./pod-resources.js";
import { formatQuantity, parseQuantity } from "./quantity.js";
import type { EvictionThreshold } from "./thresholds.js";

/** The kubelet's reason for evicted pods (status `reason` and the pod event). */
export const evictedReason = "Evicted";

/** Event annotation keys the kubelet puts on the `Evicted` event. */
export const evictionAnnotations = {
  offendingContainers: "offending_containers",
  offendingContainersUsage: "offending_containers_usage",
  starvedResource: "starved_resource",
} as const;

/** Bytes print in binary units (`1536Mi`), counts in decimal ones, as the kubelet's observations carry them. */
const formatOf = (resource: EvictionResource) =>
  resource === "memory" || resource === "ephemeral-storage" ? "BinarySI" : "DecimalSI";

/** `getThresholdMetInfo`: the first threshold of the resource with an observation, as printed quantities. */
function thresholdMetInfo(
  resource: EvictionResource,
  thresholds: readonly EvictionThreshold[],
  observations: SignalObservations,
): { quantity: string; available: string } | undefined {
  for (const t of thresholds) {
    if (signalResource[t.signal] !== resource) continue;
    const observed = observations.get(t.signal);
    if (!observed) continue;
    const quantity =
      "quantity" in t.value && t.value.text !== undefined
        ? t.value.text
        : formatQuantity(thresholdQuantity(t.value, observed.capacity), "BinarySI");
    return { quantity, available: formatQuantity(observed.available, formatOf(resource)) };
  }
  return undefined;
}

/** A request's printed form (`Quantity.String()`), `0` when there is none. */
function requestText(value: string | number | undefined): { text: string; value: number } {
  if (value === undefined) return { text: "0", value: 0 };
  if (typeof value === "number") return { text: formatQuantity(value, "DecimalSI"), value };
  try {
    const q = parseQuantity(value);
    return { text: q.text, value: Number(q.value) };
  } catch {
    return { text: "0", value: 0 };
  }
}

/**
 * `evictionMessage`: why the pod was evicted, in the kubelet's words, and the event's annotations:
 * `The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. Container app
 * was using 700Mi, request is 100Mi, has larger consumption of memory. ` (each sentence ends with a
 * space, as the kubelet's do). Containers are named for memory (working set) and ephemeral-storage
 * (rootfs + logs) when they use more than they request.
 *
 * @example
 * ```ts
 * const { message } = evictionMessage("memory", pod, statsOf, thresholds, observations);
 * ```
 */
export function evictionMessage(
  resource: EvictionResource,
  pod: EvictionPod,
  statsOf: PodStatsOf,
  thresholds: readonly EvictionThreshold[],
  observations: SignalObservations,
): { message: string; annotations: Record<string, string> } {
  const annotations: Record<string, string> = {};
  let message = `The node was low on resource: ${resource}. `;
  const info = thresholdMetInfo(resource, thresholds, observations);
  if (info) message += `Threshold quantity: ${info.quantity}, available: ${info.available}. `;
  const stats = statsOf(pod);
  if (!stats) return { message, annotations };
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const exceeded: string[] = [];
  const usages: string[] = [];
  for (const cs of stats.containers ?? []) {
    const container = containers.find((c) => c.name === cs.name);
    if (!container) continue;
    const request = requestText(container.resources?.requests?.[resource]);
    let usage: number | undefined;
    if (resource === "ephemeral-storage") {
      const root = cs.rootfs?.usedBytes;
      const logs = cs.logs?.usedBytes;
      if (root !== undefined && logs !== undefined) usage = root + logs;
    } else if (resource === "memory") {
      usage = cs.memory?.workingSetBytes;
    }
    if (usage !== undefined && usage > request.value) {
      const shown = formatQuantity(usage, "BinarySI");
      message += `Container ${container.name} was using ${shown}, request is ${request.text}, has larger consumption of ${resource}. `;
      exceeded.push(container.name);
      usages.push(shown);
    }
  }
  annotations[evictionAnnotations.offendingContainers] = exceeded.join(",");
  annotations[evictionAnnotations.offendingContainersUsage] = usages.join(",");
  annotations[evictionAnnotations.starvedResource] = resource;
  return { message, annotations };
}
