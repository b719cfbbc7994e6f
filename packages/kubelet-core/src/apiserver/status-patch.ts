import type { PodCondition, PodStatus } from "../pod.js";

/**
 * The lists of a pod status the API merges by key in a strategic merge patch (their
 * `patchStrategy:"merge"` and `patchMergeKey` in k8s.io/api): the others, the container status
 * lists among them, are replaced whole when they change.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  conditions: "type",
  podIPs: "ip",
  hostIPs: "ip",
};

/** The pod conditions the kubelet owns; it keeps the others as the API has them (mergePodStatus). */
export const kubeletOwnedConditions: readonly string[] = [
  "PodScheduled",
  "Ready",
  "Initialized",
  "ContainersReady",
  "PodReadyToStartContainers",
];

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => equal(a[k], b[k]));
  }
  return false;
}

/** Two-way merge of two JSON objects: what to set, and `null` for what went away. */
function diffObject(
  old: Record<string, unknown>,
  next: Record<string, unknown>,
  keys: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    const o = old[k];
    if (equal(o, v)) continue;
    const mergeKey = keys[k];
    if (mergeKey && Array.isArray(v) && (Array.isArray(o) || o === undefined)) {
      Object.assign(patch, diffList(k, mergeKey, (o as unknown[] | undefined) ?? [], v));
    } else if (isObject(o) && isObject(v)) {
      patch[k] = diffObject(o, v, {});
    } else {
      patch[k] = v;
    }
  }
  for (const k of Object.keys(old)) if (old[k] !== undefined && next[k] === undefined) patch[k] = null;
  return patch;
}

function diffList(field: string, mergeKey: string, old: unknown[], next: unknown[]): Record<string, unknown> {
  const keyOf = (e: unknown) => (isObject(e) ? e[mergeKey] : undefined);
  const before = new Map(old.map((e) => [keyOf(e), e]));
  const after = new Set(next.map(keyOf));
  const changed: unknown[] = [];
  for (const e of next) {
    const o = before.get(keyOf(e));
    if (o === undefined) changed.push(e);
    else if (!equal(o, e) && isObject(o) && isObject(e))
      changed.push({ [mergeKey]: keyOf(e), ...diffObject(o, e, {}) });
  }
  for (const o of old) if (!after.has(keyOf(o))) changed.push({ [mergeKey]: keyOf(o), $patch: "delete" });
  const order = next.map((e) => ({ [mergeKey]: keyOf(e) }));
  const orderChanged = !equal(
    old.map(keyOf).filter((k) => after.has(k)),
    next.map(keyOf),
  );
  if (changed.length === 0 && !orderChanged) return {};
  return { [`$setElementOrder/${field}`]: order, ...(changed.length ? { [field]: changed } : {}) };
}

/**
 * The strategic merge patch the kubelet sends to a pod's `status` subresource
 * (statusutil.PatchPodStatus): a two-way patch from the API's status to the new one, with the
 * pod's uid as a precondition, the lists the API merges by key (`conditions` by `type`,
 * `podIPs`/`hostIPs` by `ip`) with `$setElementOrder` and `$patch: delete`, and the others (the
 * container statuses) given whole when they changed.
 * Undefined when nothing changed.
 *
 * @example
 * ```ts
 * const patch = podStatusPatch(pod.metadata.uid, apiPod.status ?? {}, status);
 * ```
 */
export function podStatusPatch(uid: string, old: PodStatus, next: PodStatus): Record<string, unknown> | undefined {
  const status = diffObject(plainOf(old), plainOf(next), MERGE_KEYS);
  if (Object.keys(status).length === 0) return undefined;
  return { metadata: { uid }, status };
}

const plainOf = (s: PodStatus): Record<string, unknown> => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

/**
 * The status the kubelet's status manager writes (mergePodStatus, and its refusal to leave a
 * terminal phase): the new status, plus the conditions others own that the API has, and the API's
 * terminal phase kept if the new status would leave it.
 */
export function mergePodStatus(api: PodStatus, next: PodStatus): PodStatus {
  const merged: PodStatus = { ...next };
  const ours = new Set((next.conditions ?? []).map((c) => c.type));
  const theirs: PodCondition[] = (api.conditions ?? []).filter(
    (c) => !kubeletOwnedConditions.includes(c.type) && !ours.has(c.type),
  );
  if (theirs.length) merged.conditions = [...(next.conditions ?? []), ...theirs];
  const terminal = (p: string | undefined) => p === "Succeeded" || p === "Failed";
  if (terminal(api.phase) && !terminal(next.phase)) merged.phase = api.phase;
  return merged;
}
