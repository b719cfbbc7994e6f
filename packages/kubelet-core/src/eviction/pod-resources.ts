// What eviction reads of a pod: requests (v1resource.GetResourceRequestQuantity), priority
// (corev1helpers.PodPriority), criticality (kubelettypes.IsCriticalPod), the QoS class
// (v1qos.GetPodQOS, BestEffort or not) and tolerations of a taint.

import { parseQuantity } from "./quantity.js";

/** A quantity as the pod's JSON gives it: `"100Mi"`, or a number. */
export type QuantityValue = string | number;

/** The parts of a container eviction reads. `Container` of this package fits, and so does `V1Container`. */
export interface EvictionContainer {
  /** The container's name. */
  name: string;
  /** `Always` for a sidecar (a restartable init container). */
  restartPolicy?: string | undefined;
  /** Requests and limits, e.g. `{ requests: { memory: "100Mi" } }`. */
  resources?:
    | {
        requests?: { [resource: string]: QuantityValue } | undefined;
        limits?: { [resource: string]: QuantityValue } | undefined;
      }
    | undefined;
}

/** The parts of a pod volume eviction reads (which volumes use local disk). */
export interface EvictionVolume {
  /** The volume's name. */
  name: string;
  /** A host path volume. */
  hostPath?: object | undefined;
  /** An emptyDir; `medium: "Memory"` is not on disk; `sizeLimit` is enforced by eviction. */
  emptyDir?: { medium?: string | undefined; sizeLimit?: QuantityValue | undefined } | undefined;
  /** A gitRepo volume. */
  gitRepo?: object | undefined;
  /** A configMap volume. */
  configMap?: object | undefined;
}

/** A toleration, as in `spec.tolerations`. */
export interface EvictionToleration {
  /** The taint key it tolerates; empty with `Exists` for every key. */
  key?: string | undefined;
  /** `Equal` (the default) or `Exists`. */
  operator?: string | undefined;
  /** The taint value for `Equal`. */
  value?: string | undefined;
  /** The taint effect; empty for every effect. */
  effect?: string | undefined;
}

/**
 * The parts of a pod eviction reads. `Pod` of this package is one, and so is `V1Pod` of
 * `@kubernetes/client-node`: resources, priority and volumes are read where the object has them.
 */
export interface EvictionPod {
  /** Name, namespace, uid and the config source and mirror annotations. */
  metadata?:
    | {
        name?: string | undefined;
        namespace?: string | undefined;
        uid?: string | undefined;
        annotations?: { [key: string]: string } | undefined;
      }
    | undefined;
  /** The spec. */
  spec?:
    | {
        containers: readonly EvictionContainer[];
        initContainers?: readonly EvictionContainer[] | undefined;
        volumes?: readonly EvictionVolume[] | undefined;
        priority?: number | undefined;
        overhead?: { [resource: string]: QuantityValue } | undefined;
        tolerations?: readonly EvictionToleration[] | undefined;
      }
    | undefined;
}

/** `scheduling.SystemCriticalPriority`: pods at or above it are critical. */
export const systemCriticalPriority = 2_000_000_000;

/** A parsed quantity's value, with a cache for the texts of one decision. */
export type QuantityCache = Map<string, number>;

/** The value of a quantity (rounded up to an integer, as `Quantity.Value()`); bad text counts as 0. */
export function quantityValue(value: QuantityValue | undefined, cache?: QuantityCache): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  const known = cache?.get(value);
  if (known !== undefined) return known;
  let parsed = 0;
  try {
    parsed = Number(parseQuantity(value).value);
  } catch {
    parsed = 0; // an invalid pod never runs; its requests do not matter
  }
  cache?.set(value, parsed);
  return parsed;
}

/**
 * `GetResourceRequestQuantity`: what the pod requests of `resource`: the sum over its containers
 * and sidecars, or the largest init container's need if that is more (sidecars started before it
 * count with it), plus the pod overhead when the request is not zero.
 */
export function podRequest(pod: EvictionPod, resource: string, cache?: QuantityCache): number {
  const spec = pod.spec;
  if (!spec) return 0;
  let sum = 0;
  for (const c of spec.containers) sum += quantityValue(c.resources?.requests?.[resource], cache);
  let sidecars = 0;
  let initMax = 0;
  const inits = spec.initContainers;
  if (inits === undefined || inits.length === 0) return withOverhead(spec, resource, sum, cache);
  for (const c of inits) {
    const need = quantityValue(c.resources?.requests?.[resource], cache);
    if (c.restartPolicy === "Always") {
      sum += need;
      sidecars += need;
      initMax = Math.max(initMax, sidecars);
    } else {
      initMax = Math.max(initMax, need + sidecars);
    }
  }
  return withOverhead(spec, resource, Math.max(sum, initMax), cache);
}

/** Adds the pod overhead of `resource` to a request that is not zero. */
function withOverhead(
  spec: NonNullable<EvictionPod["spec"]>,
  resource: string,
  request: number,
  cache: QuantityCache | undefined,
): number {
  const overhead = spec.overhead?.[resource];
  return overhead !== undefined && request !== 0 ? request + quantityValue(overhead, cache) : request;
}

/** `PodPriority`: `spec.priority`, 0 when unset. */
export const podPriority = (pod: EvictionPod): number => pod.spec?.priority ?? 0;

/** The kubelet's config source annotation (`kubernetes.io/config.source`): `api` for pods of the API server. */
const configSourceAnnotation = "kubernetes.io/config.source";
/** The kubelet's mirror pod annotation. */
const configMirrorAnnotation = "kubernetes.io/config.mirror";

/** `IsStaticPod`: the pod came from a source other than the API server (a file, a URL). */
export function isStaticPod(pod: EvictionPod): boolean {
  const source = pod.metadata?.annotations?.[configSourceAnnotation];
  return source !== undefined && source !== "api";
}

/**
 * `IsCriticalPod`: a static pod, a mirror pod, or a pod at system-critical priority or above.
 * The eviction manager never evicts one.
 */
export function isCriticalPod(pod: EvictionPod): boolean {
  if (isStaticPod(pod)) return true;
  if (pod.metadata?.annotations?.[configMirrorAnnotation] !== undefined) return true;
  const priority = pod.spec?.priority;
  return priority !== undefined && priority >= systemCriticalPriority;
}

/** `GetPodQOS(pod) == BestEffort`: no container asks for or limits cpu or memory. */
export function isBestEffort(pod: EvictionPod): boolean {
  const spec = pod.spec;
  if (!spec) return true;
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const list of [c.resources?.requests, c.resources?.limits]) {
      for (const resource of ["cpu", "memory"]) {
        if (quantityValue(list?.[resource]) !== 0) return false;
      }
    }
  }
  return true;
}

/** `TolerationsTolerateTaint` for a taint without a value. */
export function toleratesTaint(
  tolerations: readonly EvictionToleration[] | undefined,
  taint: { key: string; effect: string },
): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.key && t.key !== taint.key) return false;
    if (t.operator === "Exists") return true;
    if (t.operator === undefined || t.operator === "" || t.operator === "Equal") return (t.value ?? "") === "";
    return false;
  });
}
