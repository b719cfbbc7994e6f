// Local storage limits (eviction_manager.go localStorageEviction: emptyDirLimitEviction,
// podEphemeralStorageLimitEviction, containerEphemeralStorageLimitEviction): a pod whose emptyDir
// outgrows its sizeLimit, whose ephemeral storage outgrows its containers' limits, or one of whose
// containers outgrows its own limit is evicted, whatever the node's thresholds say.

import { type EvictionContainer, type EvictionPod, type QuantityValue, quantityValue } from "./pod-resources.js";
import { formatQuantity, parseQuantity } from "./quantity.js";
import type { PodStats } from "./stats.js";

/** A quantity as `Quantity.String()` prints it. */
function quantityText(value: QuantityValue): string {
  if (typeof value === "number") return formatQuantity(value, "DecimalSI");
  try {
    return parseQuantity(value).text;
  } catch {
    return value;
  }
}

/** Go's `%q` of a plain string. */
const quoted = (s: string) => JSON.stringify(s);

const limitOf = (c: EvictionContainer, resource: string) => c.resources?.limits?.[resource];

/**
 * `resourcehelper.PodLimits(pod)[resource]`: the containers' limits summed (sidecars too), or the
 * largest init container's if more, plus the overhead; `undefined` when no container limits it.
 */
export function podLimit(pod: EvictionPod, resource: string): number | undefined {
  const spec = pod.spec;
  if (!spec) return undefined;
  let found = false;
  let sum = 0;
  for (const c of spec.containers) {
    const l = limitOf(c, resource);
    if (l === undefined) continue;
    found = true;
    sum += quantityValue(l);
  }
  let sidecars = 0;
  let initMax = 0;
  for (const c of spec.initContainers ?? []) {
    const l = limitOf(c, resource);
    if (l !== undefined) found = true;
    const need = quantityValue(l);
    if (c.restartPolicy === "Always") {
      sum += need;
      sidecars += need;
      initMax = Math.max(initMax, sidecars);
    } else {
      initMax = Math.max(initMax, need + sidecars);
    }
  }
  if (!found) return undefined;
  const overhead = spec.overhead?.[resource];
  return Math.max(sum, initMax) + (overhead === undefined ? 0 : quantityValue(overhead));
}

/**
 * Why the kubelet evicts `pod` for its local storage, if it does: the kubelet's message for the
 * first limit outgrown, checked in its order — an emptyDir over its `sizeLimit` (`Usage of EmptyDir
 * volume "data" exceeds the limit "1Gi". `), the pod's ephemeral storage over the sum of its
 * containers' limits (`Pod ephemeral local storage usage exceeds the total limit of containers
 * 1Gi. `), a container's logs (and writable layer, without a dedicated image filesystem) over its
 * own limit (`Container app exceeded its local ephemeral storage limit "1Gi". `).
 */
export function localStorageViolation(
  pod: EvictionPod,
  stats: PodStats,
  dedicatedImageFs: boolean,
): string | undefined {
  for (const v of pod.spec?.volumes ?? []) {
    const size = v.emptyDir?.sizeLimit;
    if (size === undefined) continue;
    const limit = quantityValue(size);
    const usage = stats.volume?.find((x) => x.name === v.name)?.usedBytes;
    if (usage !== undefined && limit > 0 && usage > limit) {
      return `Usage of EmptyDir volume ${quoted(v.name)} exceeds the limit ${quoted(quantityText(size))}. `;
    }
  }
  const podEphemeral = podLimit(pod, "ephemeral-storage");
  if (podEphemeral !== undefined) {
    const usage = stats["ephemeral-storage"]?.usedBytes ?? 0;
    if (usage > podEphemeral) {
      return `Pod ephemeral local storage usage exceeds the total limit of containers ${formatQuantity(podEphemeral, "BinarySI")}. `;
    }
  }
  if (podEphemeral === undefined) return undefined; // no container has an ephemeral-storage limit
  const limits = new Map<string, QuantityValue>();
  for (const c of pod.spec?.containers ?? []) {
    const l = limitOf(c, "ephemeral-storage");
    if (l !== undefined && quantityValue(l) !== 0) limits.set(c.name, l);
  }
  for (const cs of stats.containers ?? []) {
    const limit = limits.get(cs.name);
    if (limit === undefined) continue;
    const usage = (cs.logs?.usedBytes ?? 0) + (dedicatedImageFs ? 0 : (cs.rootfs?.usedBytes ?? 0));
    if (quantityValue(limit) < usage) {
      return `Container ${cs.name} exceeded its local ephemeral storage limit ${quoted(quantityText(limit))}. `;
    }
  }
  return undefined;
}
