import type { Pod } from "../pod.js";

/**
 * What a pod source tells the reconciler, as the kubelet's sources tell its `config.PodConfig`
 * (the ops of `kubetypes.PodUpdate`). Pods are keyed by `metadata.uid`. A source may use
 * incremental calls (`add`, `update`, `remove`, then `synced` once its first listing is complete),
 * or hand its whole set each time (`set`, which also marks it synced).
 *
 * Until every source has synced (the kubelet's `sourcesReady`), the reconciler does not remove
 * runtime pods that no source has named: an informer that delivers its first objects one `add` at
 * a time never makes it kill pods it has not been told about yet.
 */
export interface PodSourceSink {
  /** A pod new to this source (kubelet `ADD`). */
  add(pod: Pod): void;
  /** A pod of this source that changed (kubelet `UPDATE`; a set `deletionTimestamp` is kubelet `DELETE`). */
  update(pod: Pod): void;
  /** A pod gone from this source (kubelet `REMOVE`): it is killed and its runtime objects removed. */
  remove(pod: Pod): void;
  /** The source's whole set (kubelet `SET`): pods of this source not in it are removed. Marks the source synced. */
  set(pods: readonly Pod[]): void;
  /** The source has delivered everything it had at its start (its first list is complete). */
  synced(): void;
}

/**
 * A source of desired pods: a folder of static pod manifests, the API server, a user's own. The
 * reconciler calls `start` once with the sink of this source, and aborts `signal` to stop it.
 */
export interface PodSource {
  /** The source's name (the kubelet's `kubetypes.FileSource`, `ApiserverSource`, …: `file`, `api`, …). */
  readonly name: string;
  /** Starts delivering pods to `sink` until `signal` aborts. May resolve at once or once stopped. */
  start(sink: PodSourceSink, signal: AbortSignal): void | Promise<void>;
}
