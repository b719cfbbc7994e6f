import {
  type ContainerStatus as CriContainerStatus,
  type ContainerState as CriState,
  isNotFound,
  isUnimplemented,
  type PodSandboxState,
  type PodSandboxStatus,
  type RuntimeService,
} from "@nodekit/cri/api";
import { type Clock, sleep } from "../clock.js";
import { KubeletError } from "../errors.js";
import { labels as L } from "../labels.js";
import { type PodRuntimeStatus, podRuntimeStatusFrom } from "../runtime-status.js";
import { type Logger, messageOf } from "./listeners.js";

/**
 * The kubelet's PLEG: lists the runtime, keeps the last snapshot of every pod's runtime status,
 * caches object statuses that cannot have changed, and follows container events.
 */
export interface Relister {
  /**
   * Lists the whole runtime and makes the result the snapshot. A pod whose objects could not all
   * be read is left out of it and reported by {@link Relister.wasInspected}. Throws when the
   * listing itself fails; the previous snapshot is kept then.
   */
  relist(): Promise<ReadonlyMap<string, PodRuntimeStatus>>;
  /** Lists one pod (by its uid label) and reads its objects; throws `InspectFailed` if one cannot be read. */
  inspectPod(uid: string): Promise<PodRuntimeStatus | undefined>;
  /** The snapshot of the last relist that worked. */
  snapshot(): ReadonlyMap<string, PodRuntimeStatus>;
  /** False when the last relist could not read all of the pod's objects (it is not synced on that picture). */
  wasInspected(uid: string): boolean;
  /** Records that the reconciler acted on the pod: until a later relist, its snapshot is stale. */
  markActed(uid: string): void;
  /** Whether the pod was acted on after the snapshot was taken. */
  isStale(uid: string): boolean;
  /** The runtime's annotations of a container, as last read. */
  containerAnnotations(containerId: string): Readonly<Record<string, string>> | undefined;
  /** The sandbox a container belongs to, as last listed. */
  sandboxOf(containerId: string): string | undefined;
  /**
   * Follows GetContainerEvents and calls `onPod` with the uid of each pod one of whose containers
   * changed, until `signal` aborts. A stream that ends is reopened after `retryMs`; after 5
   * failures in a row, or at once on UNIMPLEMENTED, it returns (relisting alone goes on).
   */
  watch(onPod: (uid: string) => void, options: { signal: AbortSignal; retryMs: number }): Promise<void>;
}

/** The same objects, in the same order. */
function sameObjects<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Options of {@link createRelister}. */
export interface RelisterOptions {
  /** The runtime to list. */
  runtime: Pick<
    RuntimeService,
    "listPodSandbox" | "listContainers" | "podSandboxStatus" | "containerStatus" | "getContainerEvents"
  >;
  /** Clock of the retry waits. */
  clock: Clock;
  /** Log lines. */
  logger?: Logger | undefined;
}

/**
 * Creates a {@link Relister}.
 *
 * @example
 * ```ts
 * const pleg = createRelister({ runtime, clock: systemClock });
 * const pods = await pleg.relist();
 * ```
 */
export function createRelister(options: RelisterOptions): Relister {
  const { runtime, clock } = options;
  const log = options.logger;
  let snapshot: ReadonlyMap<string, PodRuntimeStatus> = new Map();
  const sandboxCache = new Map<string, PodSandboxStatus>();
  const containerCache = new Map<string, { state: CriState; status: CriContainerStatus }>();
  /** The sandbox of each container, from the last listing. */
  const sandboxOfContainer = new Map<string, string>();
  // Sequence numbers order relists and actions: a pod that acted after the last relist is re-read.
  let seq = 0;
  let snapshotSeq = 0;
  const actedSeq = new Map<string, number>();
  /** Pods the last relist could not read completely: not synced until a relist reads them. */
  const uninspected = new Set<string>();
  /** Each pod's last runtime status, with the object statuses it was built from. */
  const built = new Map<
    string,
    { sandboxes: PodSandboxStatus[]; containers: CriContainerStatus[]; status: PodRuntimeStatus }
  >();

  const inspectSandbox = async (id: string, state: PodSandboxState): Promise<PodSandboxStatus | undefined> => {
    const cached = sandboxCache.get(id);
    if (cached && cached.state === state) return cached;
    try {
      const { status } = await runtime.podSandboxStatus({ podSandboxId: id });
      if (status) sandboxCache.set(id, status);
      return status;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  const inspectContainer = async (id: string, state: CriState): Promise<CriContainerStatus | undefined> => {
    const cached = containerCache.get(id);
    // A running or created container's status only changes with its state; an exited one never.
    if (cached && cached.state === state) return cached.status;
    try {
      const { status } = await runtime.containerStatus({ containerId: id });
      if (status) containerCache.set(id, { state: status.state, status });
      return status;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  /** Lists the runtime (all pods, or one by uid) and builds each pod's runtime status. */
  const inspect = async (uid?: string): Promise<Map<string, PodRuntimeStatus>> => {
    const filter = uid ? { labelSelector: { [L.podUid]: uid } } : {};
    const [{ items }, { containers }] = await Promise.all([
      runtime.listPodSandbox({ filter }),
      runtime.listContainers({ filter }),
    ]);
    const byPod = new Map<
      string,
      { uid: string; name: string; namespace: string; sandboxes: PodSandboxStatus[]; containers: CriContainerStatus[] }
    >();
    const group = (labels: Record<string, string>) => {
      const podUid = labels[L.podUid];
      if (!podUid) return undefined;
      let g = byPod.get(podUid);
      if (!g) {
        g = {
          uid: podUid,
          name: labels[L.podName] ?? "",
          namespace: labels[L.podNamespace] ?? "",
          sandboxes: [],
          containers: [],
        };
        byPod.set(podUid, g);
      }
      return g;
    };
    const work: Promise<void>[] = [];
    // A pod whose statuses could not all be read is left out of this relist (the kubelet
    // re-inspects it next time) rather than acted on with half a picture.
    const incomplete = new Set<string>();
    const failed = (podUid: string) => (err: unknown) => {
      incomplete.add(podUid);
      log?.warn("cannot inspect pod", { pod: podUid, error: messageOf(err) });
    };
    for (const sb of items) {
      const g = group(sb.labels);
      if (!g) continue;
      // An object whose state did not change is read from the cache without a promise.
      const cached = sandboxCache.get(sb.id);
      if (cached && cached.state === sb.state) g.sandboxes.push(cached);
      else work.push(inspectSandbox(sb.id, sb.state).then((s) => void (s && g.sandboxes.push(s)), failed(g.uid)));
    }
    for (const c of containers) {
      sandboxOfContainer.set(c.id, c.podSandboxId);
      const g = group(c.labels);
      if (!g) continue;
      const cached = containerCache.get(c.id);
      if (cached && cached.state === c.state) g.containers.push(cached.status);
      else work.push(inspectContainer(c.id, c.state).then((s) => void (s && g.containers.push(s)), failed(g.uid)));
    }
    if (work.length) await Promise.all(work);
    for (const podUid of incomplete) byPod.delete(podUid);
    if (incomplete.size && uid) throw new KubeletError("InspectFailed", `cannot read the runtime state of pod ${uid}`);
    if (incomplete.size) for (const podUid of incomplete) uninspected.add(podUid);
    if (!uid) {
      const live = new Set([...items.map((s) => s.id), ...containers.map((c) => c.id)]);
      for (const id of sandboxCache.keys()) if (!live.has(id)) sandboxCache.delete(id);
      for (const id of containerCache.keys()) if (!live.has(id)) containerCache.delete(id);
      for (const id of sandboxOfContainer.keys()) if (!live.has(id)) sandboxOfContainer.delete(id);
    }
    const out = new Map<string, PodRuntimeStatus>();
    for (const [podUid, g] of byPod) {
      // The same object statuses as last time (they are cached by id and state): the same result.
      const last = built.get(podUid);
      if (last && sameObjects(last.sandboxes, g.sandboxes) && sameObjects(last.containers, g.containers)) {
        out.set(podUid, last.status);
        continue;
      }
      const status = podRuntimeStatusFrom(g);
      built.set(podUid, { sandboxes: g.sandboxes, containers: g.containers, status });
      out.set(podUid, status);
    }
    if (!uid) for (const podUid of built.keys()) if (!byPod.has(podUid)) built.delete(podUid);
    return out;
  };

  return {
    async relist() {
      const at = ++seq;
      uninspected.clear();
      snapshot = await inspect();
      snapshotSeq = at;
      return snapshot;
    },
    inspectPod: async (uid) => (await inspect(uid)).get(uid),
    snapshot: () => snapshot,
    wasInspected: (uid) => !uninspected.has(uid),
    markActed: (uid) => void actedSeq.set(uid, ++seq),
    isStale: (uid) => (actedSeq.get(uid) ?? 0) > snapshotSeq,
    containerAnnotations: (id) => containerCache.get(id)?.status.annotations,
    sandboxOf: (id) => sandboxOfContainer.get(id),
    async watch(onPod, { signal, retryMs }) {
      let failures = 0;
      while (!signal.aborted && failures < 5) {
        try {
          for await (const ev of runtime.getContainerEvents({}, { signal })) {
            failures = 0;
            const uid = ev.podSandboxStatus?.labels[L.podUid];
            if (uid && !signal.aborted) onPod(uid);
          }
          failures++;
        } catch (err) {
          if (isUnimplemented(err) || signal.aborted) return;
          failures++;
          log?.warn("container events stream ended", { error: messageOf(err), failures });
        }
        if (!signal.aborted) await sleep(clock, retryMs, signal).catch(() => undefined);
      }
      if (!signal.aborted) log?.info("container events unavailable: relisting only");
    },
  };
}
