import { CoreV1Api, type KubeConfig, type V1Pod, type V1PodSpec } from "@kubernetes/client-node";
import { configHashAnnotation } from "../config/file-source-manifest.js";
import type { Pod } from "../pod.js";
import { podFromApi } from "./convert.js";
import { deletePodNow, statusCodeOf } from "./requests.js";
import { configMirrorAnnotation } from "./status-writer.js";

/**
 * The mirror pod the kubelet creates in the API for a static pod (kubepod.MirrorClient): the
 * static pod's metadata and spec without its uid, annotated with `kubernetes.io/config.mirror`
 * (the static pod's config hash) and owned by the Node.
 */
export function mirrorPodOf(staticPod: Pod, node: { name: string; uid: string }): V1Pod {
  const m = staticPod.metadata ?? {};
  const hash = m.annotations?.[configHashAnnotation] ?? m.uid ?? "";
  const { uid: _uid, deletionTimestamp: _d, deletionGracePeriodSeconds: _g, ...meta } = m;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...(meta as V1Pod["metadata"]),
      annotations: { ...m.annotations, [configMirrorAnnotation]: hash },
      ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node.name, uid: node.uid, controller: true }],
    },
    ...(staticPod.spec ? { spec: staticPod.spec as V1PodSpec } : {}),
  };
}

/**
 * Makes the API's mirror pods match the static pods (the kubelet's syncPod and
 * deleteOrphanedMirrorPods): creates the missing ones, replaces the ones whose config hash is
 * stale, and deletes mirror pods on the node whose static pod is gone.
 */
export async function syncMirrorPods(
  kubeConfig: KubeConfig,
  node: { name: string; uid: string },
  staticPods: Iterable<Pod>,
): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const list = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node.name}` });
  const mirrors = new Map<string, Pod>();
  for (const item of list.items) {
    const p = podFromApi(item);
    if (p.metadata?.annotations?.[configMirrorAnnotation] !== undefined)
      mirrors.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
  }
  const wanted = new Set<string>();
  for (const sp of staticPods) {
    const m = sp.metadata ?? {};
    const key = `${m.namespace}/${m.name}`;
    wanted.add(key);
    const hash = m.annotations?.[configHashAnnotation] ?? m.uid;
    const mirror = mirrors.get(key);
    if (mirror && mirror.metadata?.annotations?.[configMirrorAnnotation] === hash) continue;
    if (mirror) await deletePodNow(core, m.namespace ?? "default", m.name ?? "", mirror.metadata?.uid ?? "");
    await core
      .createNamespacedPod({ namespace: m.namespace ?? "default", body: mirrorPodOf(sp, node) })
      .catch(ignoreExists);
  }
  for (const [key, mirror] of mirrors) {
    if (wanted.has(key)) continue;
    const mm = mirror.metadata ?? {};
    await deletePodNow(core, mm.namespace ?? "default", mm.name ?? "", mm.uid ?? "");
  }
}

const ignoreExists = (err: unknown) => {
  if (statusCodeOf(err) !== 409) throw err;
};
