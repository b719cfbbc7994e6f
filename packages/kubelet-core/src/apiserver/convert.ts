import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from "@kubernetes/client-node";
import type { ContainerState, ContainerStatus, Pod, PodCondition, PodStatus, Timestamp } from "../pod.js";

/** An RFC 3339 time in seconds, as the API server writes `metav1.Time` (no fraction). */
export function rfc3339(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

/**
 * An object read through `@kubernetes/client-node` (its typed results carry `Date`s where the API
 * has times; its watch hands out plain JSON) as the plain JSON form this package works on: every
 * `Date` becomes its RFC 3339 string. Returns a copy; the input is not changed.
 */
export function fromApiObject<T>(value: T): T {
  return plain(value) as T;
}

function plain(value: unknown): unknown {
  if (value instanceof Date) return rfc3339(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

/** A pod as this package works on it, from the `V1Pod` client-node gives (list results or watch events). */
export function podFromApi(pod: unknown): Pod {
  return fromApiObject(pod) as Pod;
}

const dateOf = (t: Timestamp | null | undefined): Date | undefined =>
  t === undefined || t === null || t === "" ? undefined : t instanceof Date ? t : new Date(t);

function condition(c: PodCondition): V1PodCondition {
  const lastProbeTime = dateOf(c.lastProbeTime);
  const lastTransitionTime = dateOf(c.lastTransitionTime);
  return {
    type: c.type,
    status: c.status,
    ...(c.reason !== undefined ? { reason: c.reason } : {}),
    ...(c.message !== undefined ? { message: c.message } : {}),
    ...(lastProbeTime ? { lastProbeTime } : {}),
    ...(lastTransitionTime ? { lastTransitionTime } : {}),
  };
}

function state(s: ContainerState | undefined): V1ContainerState | undefined {
  if (!s) return undefined;
  const out: V1ContainerState = {};
  if (s.waiting) out.waiting = { ...s.waiting };
  if (s.running) {
    const startedAt = dateOf(s.running.startedAt);
    out.running = startedAt ? { startedAt } : {};
  }
  if (s.terminated) {
    const { startedAt: started, finishedAt: finished, ...rest } = s.terminated;
    const startedAt = dateOf(started);
    const finishedAt = dateOf(finished);
    out.terminated = { ...rest, ...(startedAt ? { startedAt } : {}), ...(finishedAt ? { finishedAt } : {}) };
  }
  return out;
}

function container(c: ContainerStatus): V1ContainerStatus {
  const { state: st, lastState, ...rest } = c;
  const out = { ...rest } as V1ContainerStatus;
  const s = state(st);
  if (s) out.state = s;
  const l = state(lastState);
  if (l) out.lastState = l;
  return out;
}

/**
 * A pod status of this package (RFC 3339 strings and `null` where the API has times, as the
 * kubelet writes them) in `@kubernetes/client-node`'s form: `Date`s, no `null`s, so its
 * `ObjectSerializer` and its `replaceNamespacedPodStatus` / `patchNamespacedPodStatus` accept it.
 *
 * @example
 * ```ts
 * import { ObjectSerializer } from "@kubernetes/client-node";
 * const wire = ObjectSerializer.serialize(toV1PodStatus(status), "V1PodStatus");
 * ```
 */
export function toV1PodStatus(status: PodStatus): V1PodStatus {
  const { conditions, startTime, initContainerStatuses, containerStatuses, ephemeralContainerStatuses, ...rest } =
    status;
  const out = { ...rest } as V1PodStatus;
  if (conditions) out.conditions = conditions.map(condition);
  const start = dateOf(startTime);
  if (start) out.startTime = start;
  if (initContainerStatuses) out.initContainerStatuses = initContainerStatuses.map(container);
  if (containerStatuses) out.containerStatuses = containerStatuses.map(container);
  if (ephemeralContainerStatuses) out.ephemeralContainerStatuses = ephemeralContainerStatuses.map(container);
  return out;
}
