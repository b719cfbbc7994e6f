import type { CoreV1Api } from "@kubernetes/client-node";

/** The HTTP status of a failed client-node request (`ApiException.code`), if it has one. */
export function statusCodeOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } } | undefined;
  for (const c of [e?.code, e?.statusCode, e?.response?.statusCode]) if (typeof c === "number") return c;
  return undefined;
}

/**
 * Deletes a pod at once (grace period 0) if it is still the one with `uid`, as the kubelet ends a
 * graceful deletion and removes a mirror pod; a pod already gone or replaced is left as it is.
 */
export async function deletePodNow(core: CoreV1Api, namespace: string, name: string, uid: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ name, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
  } catch (err) {
    const code = statusCodeOf(err);
    if (code !== 404 && code !== 409) throw err;
  }
}
