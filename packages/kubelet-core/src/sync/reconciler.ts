import type { DeepPartial, ImageService, PodSandboxConfig, RuntimeService } from "@nodekit/cri/api";
import { PodSandboxState } from "@nodekit/cri/api";
import { type Backoff, createBackoff } from "../backoff.js";
import { type Clock, systemClock } from "../clock.js";
import { createPodConfig, type PodConfigChange } from "../config/pod-config.js";
import type { PodSource, PodSourceSink } from "../config/pod-source.js";
import { KubeletError } from "../errors.js";
import {
  createEvictionManager,
  type EvictionManager,
  type EvictionManagerOptions,
  evictedStatus,
  type PodEviction,
} from "../eviction/manager.js";
import { labels as L } from "../labels.js";
import { computePodActions } from "../plan/compute-pod-actions.js";
import type { Container, Pod, PodStatus } from "../pod.js";
import type { PodRuntimeStatus } from "../runtime-status.js";
import { computePodStatus, type StartFailure } from "../status/compute-pod-status.js";
import { invalidPodError } from "../validate.js";
import { createEventRecorder, type PodEvent } from "./events.js";
import { createExecutor, gracePeriodOf } from "./executor.js";
import { createGarbageCollector } from "./garbage-collector.js";
import { createHookRunner, type HookRunner } from "./hooks.js";
import { createImagePuller, type ImagePuller } from "./image-puller.js";
import { type Logger, messageOf } from "./listeners.js";
import { createPodWorkers } from "./pod-workers.js";
import { createProber, type ProbeHandler } from "./prober.js";
import { createRelister } from "./relister.js";
import { createStatusManager, type PodStatusUpdate } from "./status-manager.js";

export type { PodEvent } from "./events.js";
export type { Logger } from "./listeners.js";
export type { PodStatusUpdate } from "./status-manager.js";

/** Options of {@link createReconciler}. */
export interface ReconcilerOptions {
  /** The CRI runtime: the gRPC client, the fake runtime, or any shim object. */
  runtime: RuntimeService;
  /** The CRI image service. */
  image: ImageService;
  /** The node's name (recorded in pod events and used as the pod's node). */
  nodeName: string;
  /** The node's IPs, reported as `status.hostIP(s)`. */
  nodeIPs?: readonly string[] | undefined;
  /** Time and timers (default the wall clock); `createFakeClock()` runs the reconciler in virtual time. */
  clock?: Clock;
  /** How often `start()` relists the runtime and syncs, in ms (default 1000, the kubelet's relist period). */
  relistPeriodMs?: number;
  /** At most this many pod syncs run at once (default 8). Each pod syncs one at a time regardless. */
  maxConcurrentSyncs?: number;
  /** CrashLoopBackOff (default the kubelet's: 10 s doubling to 300 s, reset after 10 min of running). */
  crashLoopBackOff?:
    | Backoff
    | {
        /** First delay before a restart, in ms (default 10 000). */
        initialMs?: number;
        /** Largest delay, in ms (default 300 000). */
        maxMs?: number;
        /** The delay starts over at `initialMs` once the last restart is this long ago, in ms (default 600 000). */
        resetMs?: number;
      };
  /** Makes images present (default: the kubelet's pull policies and pull backoff over `image`). */
  imagePuller?: ImagePuller;
  /** With the default image puller: pulls at once (default 1, as the kubelet's serializeImagePulls). */
  maxParallelImagePulls?: number;
  /** Runs postStart and preStop hooks (default `createHookRunner`: exec, httpGet and sleep as the kubelet runs them). */
  hooks?: HookRunner;
  /**
   * Runs one liveness/readiness/startup probe (default `createProbeRunner`: exec through ExecSync,
   * httpGet, tcpSocket and gRPC against the pod IP, as the kubelet runs them).
   */
  probeHandler?: ProbeHandler;
  /** Called with every new pod status. */
  statusSink?: (update: PodStatusUpdate) => void;
  /** Called with every pod event. */
  eventSink?: (event: PodEvent) => void;
  /** Log lines (default: none). */
  logger?: Logger;
  /** Root of the pod log folders given to the runtime (default `/var/log/pods`). */
  podLogsRoot?: string;
  /** The sandbox cgroup parent for a pod (cgroupfs), when the runtime needs one (containerd does for stats). */
  cgroupParent?: ((pod: Pod) => string | undefined) | undefined;
  /** The runtime handler (RuntimeClass handler) sandboxes run with; default the runtime's default. */
  runtimeHandler?: string;
  /** Adapts every generated sandbox config, last (DNS, sysctls, runtime-specific settings). */
  sandboxConfig?: (pod: Pod, config: DeepPartial<PodSandboxConfig>) => DeepPartial<PodSandboxConfig>;
  /** Dead containers kept per pod and container name (default 1, the kubelet's MaxPerPodContainer). */
  maxDeadContainersPerContainer?: number;
  /** Use GetContainerEvents to notice changes between relists, where the runtime has it (default true). */
  useContainerEvents?: boolean;
  /**
   * Sources of desired pods (a folder of static pods, the API server, your own), started by the
   * first `start()` or `syncAll()` and stopped by `stop()`. Pods can also be given through
   * {@link Reconciler.source} and {@link Reconciler.updatePods}; runtime pods that no source
   * names are removed only once every source has synced.
   */
  sources?: readonly PodSource[];
  /**
   * Node-pressure eviction, as the kubelet's eviction manager: thresholds (`parseEvictionThresholds`)
   * and a stats provider; `start()` runs its passes, evicted pods end Failed/Evicted. See
   * {@link Reconciler.eviction}.
   */
  eviction?: ReconcilerEvictionOptions;
}

/** The eviction manager's options the reconciler does not fill in itself (it gives the pods, the killing, the clock). */
export type ReconcilerEvictionOptions = Omit<
  EvictionManagerOptions<Pod>,
  "activePods" | "evictPod" | "podCleanedUp" | "clock" | "logger" | "nodeName"
>;

/** The kubelet's pod sync as a reconciler: desired pods in, runtime state and pod statuses out. */
export interface Reconciler {
  /**
   * Sets the desired pods (the whole set) of the source `updatePods`: a shorthand for
   * `source("updatePods").set(pods)`. Pods that left it are killed gracefully and removed; pods
   * with `metadata.deletionTimestamp` are killed gracefully and kept until they leave it.
   */
  updatePods(pods: readonly Pod[]): void;
  /**
   * The sink of the pod source `name` (registered on first use): give pods one by one
   * (`add`/`update`/`remove`, then `synced()`) or as a whole set (`set`), as the kubelet's
   * sources do. Until every registered source has synced, no runtime pod is removed for being
   * unknown.
   */
  source(name: string): PodSourceSink;
  /** Runs one full pass: relist the runtime, sync every pod, collect garbage. Resolves when done. */
  syncAll(): Promise<void>;
  /** Runs passes every `relistPeriodMs` (and on runtime events) until `stop()`. */
  start(): void;
  /** Stops the passes and waits for the syncs in flight. */
  stop(): Promise<void>;
  /** The latest computed status of a pod. */
  podStatus(uid: string): PodStatus | undefined;
  /** The error that keeps a pod from syncing (invalid spec), if any. */
  podError(uid: string): KubeletError | undefined;
  /** Subscribes to status changes; returns an unsubscribe function. */
  onStatus(listener: (update: PodStatusUpdate) => void): () => void;
  /** Subscribes to pod events; returns an unsubscribe function. */
  onEvent(listener: (event: PodEvent) => void): () => void;
  /** Pod events as an async iterable, until `signal` aborts. */
  events(signal?: AbortSignal): AsyncIterable<PodEvent>;
  /** The eviction manager, when `eviction` was given: node pressure (`pressure()`), its events, one pass (`synchronize()`). */
  readonly eviction: EvictionManager<Pod> | undefined;
}

interface PodState {
  uid: string;
  /** The desired pod as its source last gave it (undefined for an orphan found in the runtime). */
  pod: Pod | undefined;
  startFailures: Map<string, StartFailure>;
  error: KubeletError | undefined;
  /** Fingerprint of the runtime and spec at the last sync that changed nothing. */
  quiet: string;
  /** The pod left the desired set: kill and remove it, then forget it. */
  removed: boolean;
  /** The deletion grace period of the pod as its source removed it (0 after a forced deletion). */
  removalGrace: number | undefined;
  /** The last valid desired pod: what runs (an invalid update keeps the previous spec running). */
  valid: Pod | undefined;
  /** The desired pod as JSON, to tell a real update from the same pod given again. */
  podJson: string;
  /** Aborts the sync in flight (a pull, a hook) when the pod is deleted, removed or changed. */
  abort: AbortController;
  /** The eviction manager chose the pod: it is killed with this eviction's grace period and stays Failed/Evicted. */
  evicted: PodEviction | undefined;
  /** Refused under node pressure when it came: it never runs. */
  rejected: boolean;
}

/**
 * Creates a reconciler that runs pods on a CRI runtime the way the kubelet does: per-pod workers
 * that plan with `computePodActions` and execute in the kubelet's SyncPod order (kill, sandbox,
 * ephemeral, init, regular containers; pull → create → start → postStart), CrashLoopBackOff and
 * image pull backoff, graceful termination with preStop hooks, relisting, and garbage collection.
 * All state lives in the runtime (the kubelet's labels and annotations), so a new reconciler picks
 * up where a dead one stopped.
 *
 * It is wired from the kubelet's parts, each usable alone: pod sources merged by a pod config
 * (`createPodConfig`), the relister (`createRelister`), pod workers (`createPodWorkers`), the
 * executor (`createExecutor`), garbage collection (`createGarbageCollector`), a status manager
 * (`createStatusManager`) and an event recorder (`createEventRecorder`).
 *
 * @example
 * ```ts
 * import { createRuntimeClient, createImageClient } from "@nodekit/cri/api";
 * import { createReconciler } from "@nodekit/kubelet-core";
 *
 * const endpoint = "unix:///run/containerd/containerd.sock";
 * const reconciler = createReconciler({
 *   runtime: createRuntimeClient(endpoint),
 *   image: createImageClient(endpoint),
 *   nodeName: "node-1",
 * });
 * reconciler.onStatus(({ pod, status }) => console.log(pod.metadata?.name, status.phase));
 * reconciler.updatePods([pod]);
 * await reconciler.syncAll();
 * ```
 */
export function createReconciler(options: ReconcilerOptions): Reconciler {
  const { runtime, image } = options;
  const clock = options.clock ?? systemClock;
  const log = options.logger;
  const given = options.crashLoopBackOff;
  const crashLoopOptions = isBackoff(given) ? undefined : given;
  const resetMs = crashLoopOptions?.resetMs ?? 600_000;
  const crashLoop = isBackoff(given)
    ? given
    : createBackoff(clock, {
        // As the kubelet: a max below the initial delay lowers the initial delay.
        initialMs: Math.min(crashLoopOptions?.initialMs ?? 10_000, crashLoopOptions?.maxMs ?? 300_000),
        maxMs: crashLoopOptions?.maxMs ?? 300_000,
        // The kubelet forgets a container's crash loop after 10 minutes without a crash.
        hasExpired: (event, last) => event - last > resetMs,
      });
  const puller =
    options.imagePuller ??
    createImagePuller({ image, clock, maxParallelImagePulls: options.maxParallelImagePulls ?? 1 });
  const hooks = options.hooks ?? createHookRunner({ runtime, clock });
  const recorder = createEventRecorder({ clock, logger: log });
  const prober = createProber({ runtime, clock, handler: options.probeHandler, events: recorder });
  const statuses = createStatusManager({ logger: log });
  if (options.statusSink) statuses.onStatus(options.statusSink);
  if (options.eventSink) recorder.onEvent(options.eventSink);
  const emit = recorder.emit;
  const relister = createRelister({ runtime, clock, logger: log });
  const executor = createExecutor({
    runtime,
    clock,
    puller,
    hooks,
    crashLoop,
    events: recorder,
    logger: log,
    podLogsRoot: options.podLogsRoot ?? "/var/log/pods",
    cgroupParent: options.cgroupParent,
    runtimeHandler: options.runtimeHandler,
    sandboxConfig: options.sandboxConfig,
  });
  const collector = createGarbageCollector({ runtime, maxDeadPerContainer: options.maxDeadContainersPerContainer });
  const pods = new Map<string, PodState>();
  let runtimeName = "containerd";

  const stateOf = (uid: string): PodState => {
    let s = pods.get(uid);
    if (!s) {
      s = {
        uid,
        pod: undefined,
        startFailures: new Map(),
        error: undefined,
        quiet: "",
        removed: false,
        removalGrace: undefined,
        valid: undefined,
        podJson: "",
        abort: new AbortController(),
        evicted: undefined,
        rejected: false,
      };
      pods.set(uid, s);
    }
    return s;
  };

  const publish = (state: PodState, status: PodStatus, terminated = false): void =>
    statuses.setStatus(state.uid, state.pod, status, terminated);

  // --- desired pods: the pod config's changes -----------------------------------------------

  const desiredPod = (pod: Pod): void => {
    const uid = pod.metadata?.uid ?? "";
    const state = stateOf(uid);
    const json = JSON.stringify(pod);
    const wasRemoved = state.removed;
    state.pod = pod;
    state.removed = false;
    state.removalGrace = undefined;
    if (json === state.podJson && !wasRemoved) return; // the same pod again: nothing to do
    state.podJson = json;
    state.quiet = "";
    state.error = invalidPodError(pod);
    if (state.error) {
      emit(pod, "Warning", "FailedValidation", state.error.message);
      // Never valid: it fails. Valid before: the last valid spec keeps running.
      if (!state.valid) {
        publish(state, { phase: "Failed", reason: "InvalidPod", message: state.error.message, conditions: [] });
      }
      return;
    }
    if (state.rejected || (!state.valid && refusedUnderPressure(state, pod))) return;
    // A deleted or changed pod stops waiting on what its sync is doing (a pull, a hook).
    if (state.valid && (pod.metadata?.deletionTimestamp || workers.isBusy(uid))) state.abort.abort();
    state.valid = pod;
  };

  /**
   * The eviction manager's admission (the kubelet's rejectPod): a new pod, not yet in the
   * runtime, is refused under pressure: Failed with the reason and `Pod was rejected: …`, for good.
   */
  const refusedUnderPressure = (state: PodState, pod: Pod): boolean => {
    if (!eviction || pod.metadata?.deletionTimestamp || relister.snapshot().has(state.uid)) return false;
    const verdict = eviction.admit(pod);
    if (verdict.admit) return false;
    const reason = verdict.reason ?? "Evicted";
    const message = `Pod was rejected: ${verdict.message ?? ""}`;
    state.rejected = true;
    emit(pod, "Warning", reason, verdict.message ?? "");
    publish(state, { phase: "Failed", reason, message, conditions: [] });
    return true;
  };

  const podConfig = createPodConfig((change: PodConfigChange) => {
    if (change.kind === "upsert") return desiredPod(change.pod);
    const state = pods.get(change.uid);
    if (!state || state.removed) return;
    state.removed = true;
    state.removalGrace = change.pod?.metadata?.deletionGracePeriodSeconds;
    state.abort.abort();
  });

  // --- one pod -------------------------------------------------------------------------------

  const fingerprint = (pod: Pod | undefined, rs: PodRuntimeStatus | undefined): string => {
    let f = pod ? `${pod.metadata?.deletionTimestamp ?? ""}|` : "-|";
    for (const s of rs?.sandboxStatuses ?? []) f += `${s.id}:${s.state},`;
    for (const c of rs?.containerStatuses ?? []) f += `${c.id}:${c.state},`;
    return f;
  };

  const emptyRuntimeStatus = (pod: Pod): PodRuntimeStatus => ({
    uid: pod.metadata?.uid ?? "",
    name: pod.metadata?.name ?? "",
    namespace: pod.metadata?.namespace ?? "",
    ips: [],
    sandboxStatuses: [],
    containerStatuses: [],
  });

  const computedStatus = (state: PodState, pod: Pod, rs: PodRuntimeStatus, terminal: boolean): PodStatus =>
    computePodStatus(pod, rs, {
      previous: statuses.getStatus(state.uid) ?? pod.status,
      startFailures: state.startFailures,
      runtimeName,
      hostIPs: options.nodeIPs,
      readiness: prober.ready,
      startup: prober.started,
      now: clock.now(),
      podIsTerminal: terminal,
    });

  /** The computed status; an evicted pod's is Failed/Evicted with the DisruptionTarget condition, as the kubelet's. */
  const statusOf = (state: PodState, pod: Pod, rs: PodRuntimeStatus, terminal: boolean): PodStatus => {
    if (!state.evicted) return computedStatus(state, pod, rs, terminal);
    const status = computedStatus(state, pod, rs, true);
    const evicted = evictedStatus(state.evicted);
    const conditions = (status.conditions ?? []).filter((c) => c.type !== "DisruptionTarget");
    return { ...status, ...evicted, conditions: [...conditions, ...evicted.conditions] };
  };

  const syncPod = async (uid: string, fresh: boolean): Promise<void> => {
    const state = pods.get(uid);
    if (!state) return;
    state.abort = new AbortController();
    const stale = fresh || relister.isStale(uid);
    let rs = stale ? await relister.inspectPod(uid) : relister.snapshot().get(uid);
    if (state.removed || !state.pod) {
      // The pod left the desired set (or was never known: an orphan). Kill, then remove.
      if (rs) {
        const known = state.valid;
        const grace =
          state.removalGrace ??
          (known ? gracePeriodOf(known) : graceFromAnnotations(rs, relister.containerAnnotations));
        relister.markActed(uid);
        await executor.killPod(known ?? podFromRuntime(rs), rs, grace);
        rs = await relister.inspectPod(uid);
        if (rs) await executor.removePod(rs);
      }
      if (state.removed || !state.pod) {
        pods.delete(uid);
        statuses.forget(uid);
        prober.forget(uid);
      } else {
        void workers.update(uid, true); // desired again while it was being removed: it starts over
      }
      return;
    }
    if (!state.valid) return; // never valid: nothing to run (its error is its status)
    const pod = state.valid;
    rs ??= emptyRuntimeStatus(pod);
    // Probes run on their own; a changed verdict syncs the pod again.
    void prober.probePod(pod, rs).then((changed) => {
      if (!changed) return;
      state.quiet = "";
      if (!state.removed) void workers.update(uid, true);
    });
    const key = fingerprint(pod, rs);
    // Nothing changed since a sync that had nothing to do (and no backoff is pending).
    if (key === state.quiet && state.startFailures.size === 0) return;

    if (pod.metadata?.deletionTimestamp) {
      relister.markActed(uid);
      await executor.killPod(pod, rs);
      rs = (await relister.inspectPod(uid)) ?? emptyRuntimeStatus(pod);
      publish(state, statusOf(state, pod, rs, true), true);
      state.quiet = fingerprint(pod, rs);
      return;
    }
    const before = statusOf(state, pod, rs, false);
    if (before.phase === "Succeeded" || before.phase === "Failed") {
      // A finished pod is terminal: stop what still runs and report it.
      if (
        rs.containerStatuses.some((c) => c.state === "running") ||
        rs.sandboxStatuses.some((s) => s.state === PodSandboxState.SANDBOX_READY)
      ) {
        // An evicted pod is killed with the eviction's grace period.
        await executor.killPod(pod, rs, state.evicted?.gracePeriodSeconds);
        rs = (await relister.inspectPod(uid)) ?? rs;
      }
      publish(state, statusOf(state, pod, rs, true), true);
      state.quiet = fingerprint(pod, rs);
      return;
    }
    const actions = computePodActions(pod, rs, { probes: prober });
    const idle =
      !actions.killPod &&
      !actions.createSandbox &&
      actions.containersToStart.length === 0 &&
      actions.initContainersToStart.length === 0 &&
      actions.ephemeralContainersToStart.length === 0 &&
      actions.containersToKill.size === 0;
    if (idle) {
      state.startFailures.clear();
      publish(state, before);
      state.quiet = key;
      return;
    }
    state.quiet = "";
    // As the kubelet, report the status before acting (ContainerCreating while pulling…).
    publish(state, before);
    relister.markActed(uid);
    await executor.syncPod(pod, rs, actions, { startFailures: state.startFailures, signal: state.abort.signal });
    rs = (await relister.inspectPod(uid)) ?? emptyRuntimeStatus(pod);
    publish(state, statusOf(state, pod, rs, false));
  };

  const workers = createPodWorkers({
    sync: syncPod,
    maxConcurrent: options.maxConcurrentSyncs,
    onError(uid, err) {
      log?.warn("pod sync failed", { pod: uid, error: messageOf(err) });
      const state = pods.get(uid);
      if (state?.pod) emit(state.pod, "Warning", "FailedSync", `error syncing pod: ${messageOf(err)}`);
      if (state) state.quiet = "";
    },
  });

  // --- node-pressure eviction ----------------------------------------------------------------

  const isTerminal = (state: PodState) => {
    const phase = statuses.getStatus(state.uid)?.phase;
    return phase === "Succeeded" || phase === "Failed";
  };
  const eviction = options.eviction
    ? createEvictionManager<Pod>({
        ...options.eviction,
        clock,
        logger: log,
        nodeName: options.nodeName,
        // The kubelet's active pods: admitted, not terminal, not being killed for good.
        activePods: () => {
          const active: Pod[] = [];
          for (const s of pods.values()) {
            if (s.valid && !s.removed && !s.evicted && !s.valid.metadata?.deletionTimestamp && !isTerminal(s)) {
              active.push(s.valid);
            }
          }
          return active;
        },
        // TerminatePodAbnormallyAndWait: the pod's worker kills it and reports it Failed/Evicted.
        evictPod: async (pod, chosen) => {
          const state = pods.get(pod.metadata?.uid ?? "");
          if (!state) return;
          state.evicted = chosen;
          state.quiet = "";
          state.abort.abort(); // a pull or hook in flight stops waiting
          await workers.update(state.uid, true);
        },
        podCleanedUp: (pod) => {
          const rs = relister.snapshot().get(pod.metadata?.uid ?? "");
          return (
            !rs ||
            (!rs.containerStatuses.some((c) => c.state === "running") &&
              !rs.sandboxStatuses.some((sb) => sb.state === PodSandboxState.SANDBOX_READY))
          );
        },
      })
    : undefined;
  eviction?.onEvent((e) => {
    if (e.involvedObject.kind !== "Pod") return;
    const state = pods.get(e.involvedObject.uid);
    if (state?.pod) emit(state.pod, e.type, e.reason, e.message);
  });

  /** Nothing changed in the last relist since a sync of this pod that had nothing to do. */
  const isQuiet = (state: PodState): boolean =>
    state.quiet !== "" && state.quiet === fingerprint(state.valid, relister.snapshot().get(state.uid));

  // --- passes --------------------------------------------------------------------------------

  /** Set while the sources run: from the first pass or start() until stop(). */
  let sourcesAbort: AbortController | undefined;
  const startSources = () => {
    if (sourcesAbort) return;
    sourcesAbort = new AbortController();
    const { signal } = sourcesAbort;
    for (const source of options.sources ?? []) {
      const sink = podConfig.sink(source.name);
      Promise.resolve()
        .then(() => source.start(sink, signal))
        .catch((err) => log?.warn("pod source failed", { source: source.name, error: messageOf(err) }));
    }
  };
  // Registered at once, so no orphan is removed before they have synced.
  for (const source of options.sources ?? []) podConfig.sink(source.name);

  let versionChecked = false;
  const pass = async (wait: boolean): Promise<void> => {
    startSources();
    if (!versionChecked) {
      runtimeName = (await runtime.version({})).runtimeName || runtimeName;
      versionChecked = true;
    }
    let relistError: KubeletError | undefined;
    try {
      await relister.relist();
    } catch (err) {
      // The whole-node listing failed (a runtime away, a listing over the message limit). Pods
      // that must stop are still killed, each read with its own small listing by pod uid; the
      // rest wait for a relist that works, and orphans are not looked for in a stale snapshot.
      relistError = new KubeletError("RelistFailed", `relisting the runtime failed: ${messageOf(err)}`, {
        cause: err,
      });
      log?.warn("relist failed: syncing only pods that are being killed", { error: messageOf(err) });
    }
    const snapshot = relister.snapshot();
    if (podConfig.sourcesReady() && !relistError) {
      for (const uid of snapshot.keys()) if (!pods.has(uid)) stateOf(uid).removed = true; // an orphan
    }
    const work: Promise<void>[] = [];
    for (const state of pods.values()) {
      const busy = workers.isBusy(state.uid);
      if (!wait && busy) continue;
      if (relistError) {
        if (state.removed || state.valid?.metadata?.deletionTimestamp) work.push(workers.update(state.uid, true));
        continue;
      }
      if (!relister.wasInspected(state.uid)) continue;
      // A quiet pod (nothing changed since a sync that had nothing to do, no probes to run) needs
      // no worker at all: the steady state of a large node costs a fingerprint per pod.
      if (!state.removed && !busy && !hasProbes(state.valid) && isQuiet(state)) continue;
      work.push(workers.update(state.uid));
    }
    if (wait) await Promise.all(work);
    if (relistError) throw relistError;
    await collectGarbage(snapshot);
    crashLoop.gc();
  };

  const collectGarbage = (snapshot: ReadonlyMap<string, PodRuntimeStatus>): Promise<void> => {
    const eligible: PodRuntimeStatus[] = [];
    for (const [uid, rs] of snapshot) {
      const state = pods.get(uid);
      if (!state || workers.isBusy(uid) || state.removed || !state.valid) continue;
      // A pod with nothing changed since a quiet sync has nothing new to collect either.
      if (isQuiet(state)) continue;
      eligible.push(rs);
    }
    return collector.collect(eligible, relister.sandboxOf, (uid) => workers.isBusy(uid));
  };

  let timer: unknown;
  let running = false;
  let passInFlight: Promise<void> | undefined;
  let eventsAbort = new AbortController();
  const tick = () => {
    if (!running) return;
    passInFlight = pass(false)
      .catch((err) => log?.warn("relist failed", { error: messageOf(err) }))
      .finally(() => {
        passInFlight = undefined;
        if (running) timer = clock.setTimeout(tick, options.relistPeriodMs ?? 1000);
      });
  };

  return {
    updatePods(list) {
      podConfig.sink("updatePods").set(list);
    },
    source: (name) => podConfig.sink(name),
    syncAll: () => pass(true),
    start() {
      if (running) return;
      running = true;
      eventsAbort = new AbortController();
      if (options.useContainerEvents !== false) {
        void relister.watch(
          (uid) => {
            if (running && pods.has(uid)) void workers.update(uid, true);
          },
          { signal: eventsAbort.signal, retryMs: options.relistPeriodMs ?? 1000 },
        );
      }
      tick();
      eviction?.start();
    },
    async stop() {
      running = false;
      await eviction?.stop();
      eventsAbort.abort();
      sourcesAbort?.abort();
      sourcesAbort = undefined; // a later start() or pass starts them again
      for (const s of pods.values()) s.abort.abort();
      clock.clearTimeout(timer);
      await passInFlight;
      await workers.idle();
    },
    podStatus: (uid) => statuses.getStatus(uid),
    podError: (uid) => pods.get(uid)?.error,
    onStatus: (listener) => statuses.onStatus(listener),
    onEvent: (listener) => recorder.onEvent(listener),
    events: (signal) => recorder.events(signal),
    eviction,
  };
}

function hasProbes(pod: Pod | undefined): boolean {
  const spec = pod?.spec;
  if (!spec) return false;
  const has = (c: Container) =>
    c.livenessProbe !== undefined || c.readinessProbe !== undefined || c.startupProbe !== undefined;
  return spec.containers.some(has) || (spec.initContainers ?? []).some(has);
}

function isBackoff(value: unknown): value is Backoff {
  return typeof value === "object" && value !== null && typeof (value as Backoff).isInBackOffSince === "function";
}

/** The grace period the kubelet restores from a container's annotations when the pod is gone. */
function graceFromAnnotations(
  rs: PodRuntimeStatus,
  annotationsOf: (containerId: string) => Readonly<Record<string, string>> | undefined,
): number {
  for (const c of rs.containerStatuses) {
    const a = annotationsOf(c.id);
    const v = Number(a?.[L.podDeletionGracePeriod] ?? a?.[L.podTerminationGracePeriod]);
    if (Number.isFinite(v)) return v;
  }
  return 30;
}

/** A minimal pod rebuilt from the runtime, to kill an orphan. */
function podFromRuntime(rs: PodRuntimeStatus): Pod {
  return { metadata: { uid: rs.uid, name: rs.name, namespace: rs.namespace }, spec: { containers: [] } };
}
