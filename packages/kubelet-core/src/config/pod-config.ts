import type { Pod } from "../pod.js";
import type { PodSourceSink } from "./pod-source.js";

/** A change of the merged desired pods. */
export type PodConfigChange =
  | {
      /** A pod is desired, new or changed (or named again by a source). */
      kind: "upsert";
      /** The pod as its source last gave it. */
      pod: Pod;
      /** The source that gave it. */
      source: string;
    }
  | {
      /** No source names the pod any more. */
      kind: "remove";
      /** The pod's uid. */
      uid: string;
      /** The source that removed it last. */
      source: string;
      /** The pod as that source last had it (a forced deletion's `deletionGracePeriodSeconds: 0`), when given. */
      pod?: Pod | undefined;
    };

/**
 * Merges pod sources into one desired set, as the kubelet's `config.PodConfig` does: each source
 * has its own set of pods by uid; a pod is desired while any source names it; the newest update
 * of a pod wins. It also tells when every source has synced (the kubelet's `sourcesReady`).
 */
export interface PodConfig {
  /** The sink of the source `name`; the first call registers the source, which must sync before {@link PodConfig.sourcesReady}. */
  sink(name: string): PodSourceSink;
  /** True once at least one source is registered and every registered source has synced. */
  sourcesReady(): boolean;
  /** The desired pods, merged across sources. */
  pods(): Pod[];
  /** The desired pod of a uid, if any source names it. */
  pod(uid: string): Pod | undefined;
}

/**
 * Creates a {@link PodConfig} that calls `onChange` for every change of the merged set.
 *
 * @example
 * ```ts
 * const config = createPodConfig((change) => console.log(change.kind));
 * const api = config.sink("api");
 * api.add(pod);
 * api.synced();
 * config.sourcesReady(); // true
 * ```
 */
export function createPodConfig(onChange: (change: PodConfigChange) => void): PodConfig {
  const sources = new Map<string, { pods: Map<string, Pod>; synced: boolean; sink: PodSourceSink }>();
  /** For each desired uid, the source whose pod counts (the last to give it). */
  const owner = new Map<string, string>();

  const upsert = (source: string, pods: Map<string, Pod>, pod: Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    pods.set(uid, pod);
    owner.set(uid, source);
    onChange({ kind: "upsert", pod, source });
  };
  const remove = (source: string, pods: Map<string, Pod>, uid: string, removed?: Pod) => {
    const had = pods.get(uid);
    if (!pods.delete(uid)) return;
    if (owner.get(uid) !== source) return; // another source's pod counts: nothing changes
    for (const [name, other] of sources) {
      const p = other.pods.get(uid);
      if (p) {
        owner.set(uid, name);
        onChange({ kind: "upsert", pod: p, source: name });
        return;
      }
    }
    owner.delete(uid);
    onChange({ kind: "remove", uid, source, pod: removed ?? had });
  };

  const sink = (name: string): PodSourceSink => {
    const existing = sources.get(name);
    if (existing) return existing.sink;
    const pods = new Map<string, Pod>();
    const entry = {
      pods,
      synced: false,
      sink: {
        add: (pod: Pod) => upsert(name, pods, pod),
        update: (pod: Pod) => upsert(name, pods, pod),
        remove: (pod: Pod) => {
          const uid = pod.metadata?.uid;
          if (uid) remove(name, pods, uid, pod);
        },
        set: (list: readonly Pod[]) => {
          const keep = new Set<string>();
          for (const pod of list) {
            const uid = pod.metadata?.uid;
            if (!uid) continue;
            keep.add(uid);
            upsert(name, pods, pod);
          }
          for (const uid of [...pods.keys()]) if (!keep.has(uid)) remove(name, pods, uid);
          entry.synced = true;
        },
        synced: () => {
          entry.synced = true;
        },
      } satisfies PodSourceSink,
    };
    sources.set(name, entry);
    return entry.sink;
  };

  return {
    sink,
    sourcesReady: () => sources.size > 0 && [...sources.values()].every((s) => s.synced),
    pods: () => {
      // Every uid in `owner` is one of its source's pods.
      const out: Pod[] = [];
      for (const [uid, source] of owner) {
        const p = sources.get(source)?.pods.get(uid);
        if (p) out.push(p);
      }
      return out;
    },
    pod: (uid) => {
      const source = owner.get(uid);
      return source === undefined ? undefined : sources.get(source)?.pods.get(uid);
    },
  };
}
