// The file source's set of pods, and what changes when it changes. Pure: the shell in
// file-source.ts reads files and hands the per-file results here.

import type { Pod } from "../pod.js";
import { canonicalJson, configSeenAnnotation } from "./file-source-manifest.js";

/** A manifest file's current pod, if it yields one. */
export interface FilePod {
  /** The manifest's path. */
  file: string;
  /** The pod it yields. */
  pod: Pod;
}

/** The pods a set of manifest files yields, keyed by uid, and the files whose pods were refused. */
export interface PodSelection {
  /** Pods by `metadata.uid`, in file-name order. */
  pods: Map<string, FilePod>;
  /** Files whose pod clashes with an earlier file's (same `namespace/name` or same uid), with why. */
  conflicts: Map<string, string>;
}

/**
 * Picks the pods of `files` (in file-name order): where two files define the same `namespace/name`
 * or the same uid, the first file in name order wins and the others are refused. The kubelet's
 * `PodConfig` drops a source's pods whose full name repeats (`filterInvalidPods`); the first file
 * wins here so that an editor's backup (`web.yaml~`, an old copy of `web.yaml`) never overrides the
 * file being edited.
 */
export function selectPods(files: readonly FilePod[]): PodSelection {
  const sorted = [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const pods = new Map<string, FilePod>();
  const names = new Map<string, string>();
  const conflicts = new Map<string, string>();
  for (const fp of sorted) {
    const m = fp.pod.metadata ?? {};
    const name = `${m.namespace}/${m.name}`;
    const uid = m.uid ?? "";
    const byName = names.get(name);
    const byUid = pods.get(uid);
    if (byName !== undefined) conflicts.set(fp.file, `duplicate pod ${name}: ${byName} defines it already; ignored`);
    else if (byUid) conflicts.set(fp.file, `duplicate pod uid ${uid}: ${byUid.file} has it already; ignored`);
    else {
      names.set(name, fp.file);
      pods.set(uid, fp);
    }
  }
  return { pods, conflicts };
}

/** The calls that take a sink from the pods it was given to the pods it should now hold. */
export interface PodChanges {
  /** Pods whose uid is gone: removed (a changed manifest without its own uid lands here and in `adds`). */
  removes: Pod[];
  /** Pods with a new uid, stamped with {@link configSeenAnnotation}. */
  adds: Pod[];
  /** Pods whose uid stays but whose content changed (a manifest with its own `metadata.uid`); first-seen kept. */
  updates: Pod[];
  /** What the sink holds after the calls, by uid. */
  next: Map<string, Pod>;
}

const withSeen = (pod: Pod, seen: string): Pod => ({
  ...pod,
  metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, [configSeenAnnotation]: seen } },
});

const withoutSeen = (pod: Pod): Pod => {
  const { [configSeenAnnotation]: _seen, ...annotations } = pod.metadata?.annotations ?? {};
  return { ...pod, metadata: { ...pod.metadata, annotations } };
};

/**
 * Compares what the sink was given (`delivered`, by uid) with what the files now yield (`desired`)
 * as the kubelet's `PodConfig` merges a source's SET: a uid that is gone is removed, a new uid is
 * added (first seen at `seenAt`, RFC 3339), a uid whose pod differs (apart from its first-seen
 * annotation) is updated and keeps its first-seen time. Unchanged pods produce nothing.
 */
export function diffPods(
  delivered: ReadonlyMap<string, Pod>,
  desired: ReadonlyMap<string, Pod>,
  seenAt: string,
): PodChanges {
  const removes: Pod[] = [];
  const adds: Pod[] = [];
  const updates: Pod[] = [];
  const next = new Map<string, Pod>();
  for (const [uid, pod] of delivered) if (!desired.has(uid)) removes.push(pod);
  for (const [uid, pod] of desired) {
    const old = delivered.get(uid);
    if (!old) {
      const added = withSeen(pod, seenAt);
      adds.push(added);
      next.set(uid, added);
    } else if (canonicalJson(withoutSeen(old)) !== canonicalJson(withoutSeen(pod))) {
      const updated = withSeen(pod, old.metadata?.annotations?.[configSeenAnnotation] ?? seenAt);
      updates.push(updated);
      next.set(uid, updated);
    } else next.set(uid, old);
  }
  return { removes, adds, updates, next };
}
