// The kubelet's file source of static pods (pkg/kubelet/config/file.go, file_linux.go): a folder
// of manifests (or one file), listed at start and every file check period, and watched in between.
// The pure parts live beside it: file-source-manifest.ts (one manifest → one pod) and
// file-source-set.ts (files → the source's set → the calls to the sink).

import { createHash } from "node:crypto";
import { type FSWatcher, watch as fsWatch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import { type Clock, systemClock } from "../clock.js";
import { KubeletError } from "../errors.js";
import type { Pod } from "../pod.js";
import type { Logger } from "../sync/listeners.js";
import { fileSourceName, type ManifestParser, maxManifestBytes, readManifest } from "./file-source-manifest.js";
import { diffPods, selectPods } from "./file-source-set.js";
import type { PodSource, PodSourceSink } from "./pod-source.js";

export {
  configHashAnnotation,
  configSeenAnnotation,
  configSourceAnnotation,
  fileSourceName,
  type ManifestParser,
  maxManifestBytes,
} from "./file-source-manifest.js";

/** The kubelet's default file check frequency (`fileCheckFrequency`, 20 s): how often the folder is listed in full. */
export const defaultFileCheckFrequencyMs = 20_000;

/** A manifest (or the configured path) the file source cannot turn into a pod, and why. */
export interface FileSourceProblem {
  /** The manifest's path, or the configured path for problems with the folder itself. */
  path: string;
  /** What is wrong: a parse error, the field problems of an invalid pod, a duplicate, a missing folder… */
  message: string;
}

/** Options of {@link createFileSource}. */
export interface FileSourceOptions {
  /**
   * The folder of manifests (the kubelet's `staticPodPath`), or a single manifest file. Every regular
   * file in the folder whose name does not start with `.` is read, whatever its extension; folders in
   * it are not descended into. A path that does not exist yields no pods (and the source is synced)
   * until it does. Part of every generated UID, as written (a trailing `/` aside).
   */
  path: string;
  /** The node's name: suffixed (lowercased) to every pod name, set as `spec.nodeName`, hashed into UIDs. */
  nodeName: string;
  /** How often the path is listed in full, in ms; default {@link defaultFileCheckFrequencyMs}. */
  pollIntervalMs?: number;
  /** Watch the path with `fs.watch` between listings (the kubelet uses inotify); default `true`. */
  watch?: boolean;
  /** Time and the listing timer; default the system clock. */
  clock?: Clock;
  /** Where adds, updates, removes (info) and problems (warn) are logged. */
  logger?: Logger;
  /** Decodes a manifest's text into one object; default YAML 1.1 or JSON, one document ({@link ManifestParser}). */
  parse?: ManifestParser;
  /** Called once for each new problem (or a problem whose message changed); see also {@link FileSource.problems}. */
  onProblem?: (problem: FileSourceProblem) => void;
}

/** A {@link PodSource} of static pods read from manifest files. */
export interface FileSource extends PodSource {
  /** The problems of the current run, by path: files skipped and why. Empty when every manifest yields a pod. */
  problems(): FileSourceProblem[];
}

interface Entry {
  /** Hash of the bytes last read: the same bytes are not decoded again. */
  contentKey: string;
  /** The pod the file contributes now (after a failed re-read on a watch event: its last good pod). */
  pod: Pod | undefined;
  /** Why the bytes last read yield no pod. */
  problem: string | undefined;
}

const errorCode = (err: unknown) => (err as { code?: unknown } | null)?.code;
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Creates the kubelet's file source of static pods. On `start`, the path is listed at once: the
 * first complete listing is delivered with `sink.set` (which marks the source synced); later each
 * difference is delivered alone, as the kubelet's `PodConfig` turns the file source's SETs into
 * REMOVE, ADD and UPDATE:
 * - a new manifest: `add`;
 * - a deleted manifest: `remove`;
 * - a changed manifest: its UID is a hash of the content, so the old UID is `remove`d and the new
 *   one `add`ed (the pod restarts; no other pod is touched). A manifest with its own `metadata.uid`
 *   keeps it, and a change to it is an `update`;
 * - an unchanged file (same bytes) produces no call.
 *
 * Each pod is defaulted as the kubelet's `applyDefaults` does (name `<name>-<node>`, namespace
 * `default`, `spec.nodeName`, the `config.hash`, `config.source` and `config.seen` annotations, a
 * NoExecute toleration, phase Pending) and validated with `podProblems`. A file that cannot be
 * read, parsed or validated, or that repeats another file's pod name, is skipped and reported
 * (logger warn, `onProblem`, `problems()`); the other files' pods are unaffected. A manifest that
 * breaks after it yielded a pod keeps that pod until the next full listing, which drops it (the
 * kubelet keeps the store on a failed watch event and replaces it on each listing). When the path
 * is a single file, a file that cannot be read keeps its pod, and leaves the source unsynced at
 * start, as in the kubelet.
 *
 * Aborting `signal` stops it: the watcher is closed, the timer cleared, and no call follows.
 *
 * @example
 * ```ts
 * const source = createFileSource({ path: "/etc/kubernetes/manifests", nodeName: "node-1" });
 * const stop = new AbortController();
 * source.start(
 *   {
 *     set: (pods) => console.log("static pods:", pods.map((p) => p.metadata?.name)),
 *     add: (pod) => console.log("added", pod.metadata?.name, pod.metadata?.uid),
 *     update: (pod) => console.log("updated", pod.metadata?.name),
 *     remove: (pod) => console.log("removed", pod.metadata?.name, pod.metadata?.uid),
 *     synced: () => {},
 *   },
 *   stop.signal,
 * );
 * // later: source.problems() lists the manifests that were skipped; stop.abort() ends it.
 * ```
 */
export function createFileSource(options: FileSourceOptions): FileSource {
  if (!options.path) throw new KubeletError("InvalidOptions", "createFileSource: path is required");
  if (!options.nodeName) throw new KubeletError("InvalidOptions", "createFileSource: nodeName is required");
  const pollIntervalMs = options.pollIntervalMs ?? defaultFileCheckFrequencyMs;
  if (!(pollIntervalMs > 0)) throw new KubeletError("InvalidOptions", "createFileSource: pollIntervalMs must be > 0");
  let current: () => FileSourceProblem[] = () => [];
  return {
    name: fileSourceName,
    problems: () => current(),
    start(sink, signal) {
      const run = startFileSourceRun({ ...options, pollIntervalMs }, sink, signal);
      current = run.problems;
    },
  };
}

/** One `start` of the file source: its own state, watcher and timer, until `signal` aborts. */
function startFileSourceRun(
  options: FileSourceOptions & { pollIntervalMs: number },
  sink: PodSourceSink,
  signal: AbortSignal,
): { problems: () => FileSourceProblem[] } {
  const { nodeName, parse, logger, onProblem } = options;
  const clock = options.clock ?? systemClock;
  const root = options.path.length > 1 ? options.path.replace(/\/+$/, "") || "/" : options.path;
  const entries = new Map<string, Entry>();
  const fileProblems = new Map<string, string>();
  let conflicts = new Map<string, string>();
  /** What the sink holds, by uid; `undefined` until the first `set`. */
  let delivered: Map<string, Pod> | undefined;
  /** What the path was at the last listing. */
  let mode: "dir" | "file" | undefined;
  let watcher: FSWatcher | undefined;
  let watching: "dir" | "file" | undefined;
  let watchedTarget: string | undefined;
  let watchWarned = false;
  let timer: unknown;
  let timerSet = false;
  let relistPending = false;
  const filesPending = new Set<string>();
  let draining = false;

  const problems = (): FileSourceProblem[] => {
    const all = new Map(fileProblems);
    for (const [path, message] of conflicts) if (!all.has(path)) all.set(path, message);
    return [...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, message]) => ({ path, message }));
  };
  const announce = (path: string, message: string) => {
    logger?.warn(`static pod manifest skipped: ${path}: ${message}`, { path, problem: message });
    try {
      onProblem?.({ path, message });
    } catch (err) {
      logger?.warn("the file source's onProblem threw", { error: messageOf(err) });
    }
  };
  const report = (path: string, message: string) => {
    if (fileProblems.get(path) === message) return;
    fileProblems.set(path, message);
    announce(path, message);
  };
  const clear = (path: string) => {
    if (fileProblems.delete(path)) logger?.info(`static pod manifest readable again: ${path}`, { path });
  };

  const closeWatcher = () => {
    watcher?.close();
    watcher = undefined;
    watching = undefined;
    watchedTarget = undefined;
  };

  const onWatchEvent = (kind: "dir" | "file", filename: string | Buffer | null) => {
    if (signal.aborted) return;
    if (filename === null) relistPending = true;
    else {
      const name = String(filename);
      if (kind === "dir") {
        if (name.startsWith(".") || name.includes(sep)) return;
        filesPending.add(join(root, name));
      } else if (name === basename(root)) filesPending.add(root);
      else return;
    }
    kick();
  };

  /**
   * Watches the path (a single file through its folder: an editor's atomic save replaces the file's
   * inode), anew when the folder watched was replaced since (`target` is its device and inode).
   */
  const ensureWatcher = async (kind: "dir" | "file") => {
    if (options.watch === false || signal.aborted) return;
    const folder = kind === "dir" ? root : dirname(root);
    let target: string;
    try {
      const info = await stat(folder);
      target = `${info.dev}:${info.ino}`;
    } catch {
      return closeWatcher(); // gone meanwhile: the next listing sees it
    }
    if (signal.aborted || (watcher && watching === kind && watchedTarget === target)) return;
    closeWatcher();
    try {
      const w = fsWatch(folder, (_event, filename) => onWatchEvent(kind, filename));
      w.on("error", (err) => {
        if (watcher !== w) return;
        closeWatcher();
        logger?.warn(`static pod path watch failed, listing every ${options.pollIntervalMs} ms only`, {
          path: root,
          error: messageOf(err),
        });
      });
      watcher = w;
      watching = kind;
      watchedTarget = target;
      watchWarned = false;
    } catch (err) {
      if (!watchWarned) {
        watchWarned = true;
        logger?.warn(`cannot watch the static pod path, listing every ${options.pollIntervalMs} ms only`, {
          path: root,
          error: messageOf(err),
        });
      }
    }
  };

  /**
   * Re-reads one manifest. `how` is `list` for the full listing (a file that yields no pod now
   * contributes none) or `keep` for a watch event and the single-file path (a file that breaks keeps
   * its last good pod), as the kubelet's listConfig and consumeWatchEvent differ.
   */
  const readEntry = async (file: string, how: "list" | "keep") => {
    const old = entries.get(file);
    const forget = () => {
      entries.delete(file);
      clear(file);
    };
    const fail = (contentKey: string, problem: string) => {
      const pod = how === "keep" ? old?.pod : undefined;
      entries.set(file, { contentKey, pod, problem });
      const kept =
        mode === "file" ? " (its last good pod runs on)" : " (its last good pod runs on until the next full listing)";
      report(file, pod ? `${problem}${kept}` : problem);
    };
    let bytes: Buffer;
    try {
      const info = await stat(file);
      if (info.isDirectory()) return forget(); // not descended into
      if (!info.isFile()) return fail("", "not a regular file; ignored");
      if (info.size > maxManifestBytes) {
        return fail(`size:${info.size}:${info.mtimeMs}`, `the manifest is larger than ${maxManifestBytes} bytes`);
      }
      bytes = await readFile(file);
    } catch (err) {
      if (errorCode(err) === "ENOENT") return forget();
      return fail("", `cannot read the manifest: ${messageOf(err)}`);
    }
    const contentKey = createHash("sha256").update(bytes).digest("hex");
    if (old && old.contentKey === contentKey) {
      if (old.problem !== undefined) fail(contentKey, old.problem);
      return;
    }
    const result = readManifest(bytes, { nodeName, file, parse });
    if (result.pod) {
      entries.set(file, { contentKey, pod: result.pod, problem: undefined });
      clear(file);
    } else fail(contentKey, result.problems.join("; "));
  };

  /** The full listing (the kubelet's listConfig): the folder's manifests, or the single file. */
  const relist = async () => {
    let isDir: boolean;
    try {
      const info = await stat(root);
      if (!info.isDirectory() && !info.isFile()) return report(root, "the path is not a folder or a regular file");
      isDir = info.isDirectory();
    } catch (err) {
      if (errorCode(err) !== "ENOENT") return report(root, `cannot read the path: ${messageOf(err)}`);
      mode = undefined;
      closeWatcher();
      entries.clear();
      for (const path of fileProblems.keys()) if (path !== root) fileProblems.delete(path);
      report(root, "the path does not exist; no static pods until it does");
      return publish(true);
    }
    mode = isDir ? "dir" : "file";
    await ensureWatcher(mode);
    if (!isDir) {
      for (const file of [...entries.keys()]) if (file !== root) entries.delete(file);
      for (const path of fileProblems.keys()) if (path !== root) fileProblems.delete(path);
      await readEntry(root, "keep");
      // The kubelet sends no SET for a single file it cannot read: the source stays unsynced.
      if (delivered === undefined && !entries.get(root)?.pod) return;
      return publish(true);
    }
    let names: string[];
    try {
      names = await readdir(root);
    } catch (err) {
      return report(root, `cannot list the folder: ${messageOf(err)}`);
    }
    clear(root);
    const listed = new Set(
      names
        .filter((n) => !n.startsWith("."))
        .sort()
        .map((n) => join(root, n)),
    );
    for (const file of listed) {
      if (signal.aborted) return;
      await readEntry(file, "list");
    }
    for (const file of [...entries.keys()]) if (!listed.has(file)) entries.delete(file);
    for (const path of [...fileProblems.keys()]) if (path !== root && !listed.has(path)) fileProblems.delete(path);
    publish(true);
  };

  const call = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger?.warn(`the pod source sink threw on ${what}`, { error: messageOf(err) });
    }
  };
  const fileOf = new Map<string, string>();
  const describe = (pod: Pod) => {
    const m = pod.metadata ?? {};
    return { pod: `${m.namespace}/${m.name}`, uid: m.uid, file: fileOf.get(m.uid ?? "") };
  };

  /**
   * Hands the sink what changed. The first delivery is a `set`, made once a full listing is complete
   * (`listing`) or, for a single-file path, once the file yields a pod (the kubelet's file source
   * sends every change as a SET, so its first readable state marks it seen).
   */
  const publish = (listing: boolean) => {
    if (signal.aborted) return;
    const withPods: { file: string; pod: Pod }[] = [];
    for (const [file, e] of entries) if (e.pod) withPods.push({ file, pod: e.pod });
    const selection = selectPods(withPods);
    for (const [file, message] of selection.conflicts) if (conflicts.get(file) !== message) announce(file, message);
    conflicts = selection.conflicts;
    const desired = new Map<string, Pod>();
    for (const [uid, fp] of selection.pods) {
      desired.set(uid, fp.pod);
      fileOf.set(uid, fp.file);
    }
    const seenAt = new Date(clock.now()).toISOString();
    if (delivered === undefined) {
      if (!listing && !(mode === "file" && entries.get(root)?.pod)) return;
      const { next } = diffPods(new Map(), desired, seenAt);
      delivered = next;
      const pods = [...next.values()].map((p) => structuredClone(p));
      logger?.info(`static pods listed: ${pods.length}`, { path: root, pods: pods.map((p) => describe(p).pod) });
      call("set", () => sink.set(pods));
      return;
    }
    const changes = diffPods(delivered, desired, seenAt);
    delivered = changes.next;
    for (const pod of changes.removes) {
      logger?.info("static pod removed", describe(pod));
      call("remove", () => sink.remove(structuredClone(pod)));
    }
    for (const pod of changes.adds) {
      logger?.info("static pod added", describe(pod));
      call("add", () => sink.add(structuredClone(pod)));
    }
    for (const pod of changes.updates) {
      logger?.info("static pod updated", describe(pod));
      call("update", () => sink.update(structuredClone(pod)));
    }
    for (const uid of [...fileOf.keys()]) if (!delivered.has(uid)) fileOf.delete(uid);
  };

  const scheduleRelist = () => {
    if (signal.aborted || timerSet) return;
    timerSet = true;
    timer = clock.setTimeout(() => {
      timerSet = false;
      relistPending = true;
      kick();
    }, options.pollIntervalMs);
  };

  /** Runs the pending listing and re-reads one at a time, so no two reads of the state interleave. */
  const drain = async () => {
    draining = true;
    try {
      while (!signal.aborted && (relistPending || filesPending.size > 0)) {
        try {
          if (relistPending) {
            relistPending = false;
            filesPending.clear(); // the listing reads them all
            try {
              await relist();
            } finally {
              scheduleRelist();
            }
          } else {
            const files = [...filesPending];
            filesPending.clear();
            for (const file of files) if (!signal.aborted) await readEntry(file, "keep");
            publish(false);
          }
        } catch (err) {
          logger?.warn("static pod file source: unexpected error", { path: root, error: messageOf(err) });
        }
      }
    } finally {
      draining = false;
    }
  };
  function kick() {
    if (draining || signal.aborted) return;
    void drain();
  }

  if (!signal.aborted) {
    signal.addEventListener(
      "abort",
      () => {
        closeWatcher();
        if (timerSet) clock.clearTimeout(timer);
        timerSet = false;
        relistPending = false;
        filesPending.clear();
      },
      { once: true },
    );
    relistPending = true;
    kick();
  }
  return { problems };
}
