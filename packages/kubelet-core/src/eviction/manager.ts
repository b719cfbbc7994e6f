// The kubelet's eviction manager (pkg/kubelet/eviction/eviction_manager.go): observe on a cadence,
// decide with the pure helpers, reclaim node-level resources first, evict at most one pod per pass,
// report node pressure. The state it keeps between passes is the kubelet's.

import { type Clock, sleep, systemClock } from "../clock.js";
import type { Logger } from "../sync/listeners.js";
import { createListeners, messageOf } from "../sync/listeners.js";
import {
  type FsLayout,
  makeSignalObservations,
  mergeThresholds,
  type NodeReclaim,
  nodeConditions,
  nodeConditionsLastObservedAt,
  nodeConditionsObservedSince,
  type PressureCondition,
  rankPods,
  type SignalObservations,
  signalNodeReclaims,
  signalRankMeasures,
  signalResource,
  sortByEvictionPriority,
  thresholdsFirstObservedAt,
  thresholdsMet,
  thresholdsMetGracePeriod,
  thresholdsUpdatedStats,
} from "./helpers.js";
import { localStorageViolation } from "./local-storage.js";
import { evictedReason, evictionMessage } from "./message.js";
import { type EvictionPod, isBestEffort, isCriticalPod, toleratesTaint } from "./pod-resources.js";
import type { StatsSummary } from "./stats.js";
import { type EvictionThreshold, updateContainerFsThresholds } from "./thresholds.js";

/** The node's pressure, as the node's MemoryPressure, DiskPressure and PIDPressure conditions report it. */
export interface NodePressure {
  /** MemoryPressure. */
  memory: boolean;
  /** DiskPressure. */
  disk: boolean;
  /** PIDPressure. */
  pid: boolean;
}

/** How a pod is to be evicted: what the kubelet hands its pod killer. */
export interface PodEviction {
  /** The grace period to kill it with, in seconds: 1 for a hard threshold, `maxPodGracePeriodSeconds` for a soft one. */
  gracePeriodSeconds: number;
  /** `Evicted`. */
  reason: string;
  /** The kubelet's message (see {@link evictionMessage}). */
  message: string;
  /**
   * The condition the pod's status gets: DisruptionTarget, reason TerminationByKubelet (for
   * threshold evictions; local storage limit evictions have none, as in the kubelet).
   */
  condition?: { type: "DisruptionTarget"; status: "True"; reason: "TerminationByKubelet"; message: string } | undefined;
  /** The event annotations: offending containers, their usage, the starved resource. */
  annotations: Readonly<Record<string, string>>;
}

/**
 * The status the kubelet gives an evicted pod (the eviction manager's status function): phase
 * Failed, reason Evicted, the message, and the DisruptionTarget condition.
 *
 * @example
 * ```ts
 * evictedStatus(eviction); // { phase: "Failed", reason: "Evicted", message, conditions: [{ type: "DisruptionTarget", … }] }
 * ```
 */
export function evictedStatus(eviction: PodEviction): {
  phase: "Failed";
  reason: string;
  message: string;
  conditions: NonNullable<PodEviction["condition"]>[];
} {
  const conditions = eviction.condition ? [eviction.condition] : [];
  return { phase: "Failed", reason: eviction.reason, message: eviction.message, conditions };
}

/** An event the eviction manager records: `EvictionThresholdMet` on the node, `Evicted` on a pod. */
export interface EvictionEvent {
  /** What it is about. */
  involvedObject:
    | { kind: "Node"; name: string }
    | { kind: "Pod"; namespace: string; name: string; uid: string; pod: EvictionPod };
  /** Always `Warning`, as the kubelet's. */
  type: "Warning";
  /** `EvictionThresholdMet` or `Evicted`. */
  reason: string;
  /** `Attempting to reclaim memory`, or the eviction message. */
  message: string;
  /** The `Evicted` event's annotations. */
  annotations?: Readonly<Record<string, string>> | undefined;
  /** Milliseconds on the manager's clock. */
  time: number;
}

/** Whether a pod may start on the node now (the manager's admission handler). */
export interface EvictionAdmitResult {
  /** It may. */
  admit: boolean;
  /** `Evicted` when refused. */
  reason?: string | undefined;
  /** `The node had condition: [MemoryPressure]. ` when refused. */
  message?: string | undefined;
}

/** What one pass did. */
export interface SynchronizeResult<P extends EvictionPod = EvictionPod> {
  /** The pods evicted (at most one), in the order evicted. */
  evicted: P[];
}

/** Options of {@link createEvictionManager}. */
export interface EvictionManagerOptions<P extends EvictionPod = EvictionPod> {
  /** The thresholds (see `parseEvictionThresholds`). */
  thresholds: readonly EvictionThreshold[];
  /** The node's and pods' stats, as the kubelet's summary provider gives them; called on every pass. */
  statsProvider: () => StatsSummary | Promise<StatsSummary>;
  /** The pods that may be evicted: the active ones (running, not terminal). */
  activePods: () => readonly P[];
  /**
   * Kills the pod for good and marks it Failed/Evicted (the kubelet's `TerminatePodAbnormallyAndWait`);
   * resolves when it is down.
   */
  evictPod: (pod: P, eviction: PodEviction) => Promise<void>;
  /** Whether an evicted pod's resources are reclaimed; the manager waits for it (at most 30 s) before the next pass. Default: at once. */
  podCleanedUp?: ((pod: P) => boolean) | undefined;
  /** Image garbage collection, run before evicting for disk pressure where it helps. */
  imageGC?: { deleteUnusedImages(): Promise<void> } | undefined;
  /** Container garbage collection, run before evicting for disk pressure where it helps. */
  containerGC?: { deleteAllUnusedContainers(): Promise<void> } | undefined;
  /** The runtime's image filesystem is apart from the node's (default false). */
  dedicatedImageFs?: boolean | (() => boolean | Promise<boolean>) | undefined;
  /** Containers' writable layers are apart from images (default false). */
  splitContainerImageFs?: boolean | (() => boolean | Promise<boolean>) | undefined;
  /** `evictionMaxPodGracePeriod`: the grace period of soft evictions, in seconds (default 0, the kubelet's). */
  maxPodGracePeriodSeconds?: number | undefined;
  /** `evictionPressureTransitionPeriod` in ms: how long pressure stays reported after it was last seen (default 5 min). */
  pressureTransitionPeriodMs?: number | undefined;
  /** How often `start()` runs a pass, in ms (default 10 000, the kubelet's monitoring interval). */
  monitoringIntervalMs?: number | undefined;
  /**
   * `localStorageCapacityIsolation`: evict pods that outgrow an emptyDir's `sizeLimit` or their
   * ephemeral-storage limits, before thresholds are looked at (default true, the kubelet's).
   */
  localStorageCapacityIsolation?: boolean | undefined;
  /** The node's name, for the node's events. */
  nodeName?: string | undefined;
  /** Time and timers (default the wall clock). */
  clock?: Clock | undefined;
  /** Log lines. */
  logger?: Logger | undefined;
}

/** The eviction manager: node pressure and the pod evictions that relieve it. */
export interface EvictionManager<P extends EvictionPod = EvictionPod> {
  /** Runs one pass (`synchronize`): observe, decide, reclaim, evict at most one pod. */
  synchronize(): Promise<SynchronizeResult<P>>;
  /** Runs passes every `monitoringIntervalMs` (after an eviction, once the pod is cleaned up) until `stop()`. */
  start(): void;
  /** Stops the passes; resolves when the pass in flight ended. */
  stop(): Promise<void>;
  /** The node's pressure now (conditions held for the pressure transition period). */
  pressure(): NodePressure;
  /** The pressure conditions now, in the order they were found. */
  conditions(): readonly PressureCondition[];
  /** The kubelet's admission under pressure: critical pods always; under memory pressure alone, all but BestEffort pods (unless they tolerate the memory-pressure taint); under other pressure, none. */
  admit(pod: P): EvictionAdmitResult;
  /** The thresholds in use (the `containerfs.*` ones set once the filesystem layout is known). */
  thresholds(): readonly EvictionThreshold[];
  /** Subscribes to the manager's events; returns an unsubscribe function. */
  onEvent(listener: (event: EvictionEvent) => void): () => void;
}

/** The grace period the kubelet evicts with for hard thresholds (`immediateEvictionGracePeriodSeconds`). */
export const immediateEvictionGracePeriodSeconds = 1;
const podCleanupTimeoutMs = 30_000;
const podCleanupPollMs = 1000;

/**
 * Creates the kubelet's eviction manager over a stats provider and a pod killer. Each pass
 * observes the signals, finds the thresholds met (soft ones only after their grace period; ones
 * met before until their minimum reclaim is reached), holds the node conditions for the pressure
 * transition period, and, for the most urgent threshold with fresh stats, first runs the
 * node-level reclaims (container and image GC for disk), then evicts the first pod of the
 * signal's ranking that is not critical: one pod per pass.
 *
 * @example
 * ```ts
 * const manager = createEvictionManager({
 *   thresholds: parseEvictionThresholds({ evictionHard: defaultEvictionHard }),
 *   statsProvider: () => collectSummary(),
 *   activePods: () => pods,
 *   evictPod: async (pod, eviction) => kill(pod, eviction.gracePeriodSeconds),
 * });
 * manager.start();
 * manager.pressure(); // { memory: false, disk: false, pid: false }
 * ```
 */
export function createEvictionManager<P extends EvictionPod>(options: EvictionManagerOptions<P>): EvictionManager<P> {
  const clock = options.clock ?? systemClock;
  const log = options.logger;
  const listeners = createListeners<EvictionEvent>(log);
  const transitionMs = options.pressureTransitionPeriodMs ?? 300_000;
  const maxPodGrace = options.maxPodGracePeriodSeconds ?? 0;
  const localStorage = options.localStorageCapacityIsolation ?? true;
  let configured = [...options.thresholds];
  let layout: FsLayout | undefined;
  let conditions: PressureCondition[] = [];
  let conditionsLastObservedAt = new Map<PressureCondition, number>();
  let firstObservedAt = new Map<EvictionThreshold, number>();
  let metBefore: EvictionThreshold[] = [];
  let lastObservations: SignalObservations = new Map();

  const emit = (event: Omit<EvictionEvent, "time" | "type">) =>
    listeners.notify({ ...event, type: "Warning", time: clock.now() });

  const resolve = async (v: EvictionManagerOptions["dedicatedImageFs"]): Promise<boolean> =>
    typeof v === "function" ? await v() : (v ?? false);

  const reclaimNodeLevelResources = async (reclaims: readonly NodeReclaim[]): Promise<boolean> => {
    if (reclaims.length === 0) return false;
    for (const r of reclaims) {
      try {
        if (r === "containerGC") await options.containerGC?.deleteAllUnusedContainers();
        else await options.imageGC?.deleteUnusedImages();
      } catch (err) {
        log?.warn("eviction: node-level reclaim failed", { reclaim: r, error: messageOf(err) });
      }
    }
    let summary: StatsSummary;
    try {
      summary = await options.statsProvider();
    } catch (err) {
      log?.warn("eviction: no stats after node-level reclaim", { error: messageOf(err) });
      return false;
    }
    const { observations } = makeSignalObservations(summary);
    return thresholdsMet(configured, observations, true).length === 0;
  };

  const evict = async (pod: P, eviction: PodEviction): Promise<boolean> => {
    if (isCriticalPod(pod)) {
      log?.warn("eviction: cannot evict a critical pod", { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` });
      return false;
    }
    const m = pod.metadata ?? {};
    emit({
      involvedObject: { kind: "Pod", namespace: m.namespace ?? "", name: m.name ?? "", uid: m.uid ?? "", pod },
      reason: evictedReason,
      message: eviction.message,
      annotations: eviction.annotations,
    });
    try {
      await options.evictPod(pod, eviction);
    } catch (err) {
      log?.warn("eviction: pod failed to evict", { pod: `${m.namespace}/${m.name}`, error: messageOf(err) });
    }
    return true;
  };

  const synchronize = async (): Promise<SynchronizeResult<P>> => {
    const none: SynchronizeResult<P> = { evicted: [] };
    if (configured.length === 0 && !localStorage) return none;
    if (!layout) {
      const dedicatedImageFs = await resolve(options.dedicatedImageFs);
      const splitContainerImageFs = await resolve(options.splitContainerImageFs);
      const updated = updateContainerFsThresholds(configured, dedicatedImageFs, splitContainerImageFs);
      if (updated.warning) log?.warn(`eviction: found conflicting containerfs eviction, ignoring: ${updated.warning}`);
      configured = updated.thresholds;
      layout = { dedicatedImageFs, splitContainerImageFs };
    }
    const activePods = options.activePods();
    let summary: StatsSummary;
    try {
      summary = await options.statsProvider();
    } catch (err) {
      log?.warn("eviction: failed to get summary stats", { error: messageOf(err) });
      return none;
    }
    const { observations, statsOf } = makeSignalObservations(summary);
    let met = thresholdsMet(configured, observations, false);
    if (metBefore.length > 0) met = mergeThresholds(met, thresholdsMet(metBefore, observations, true));
    const now = clock.now();
    const firstAt = thresholdsFirstObservedAt(met, firstObservedAt, now);
    const lastAt = nodeConditionsLastObservedAt(nodeConditions(met), conditionsLastObservedAt, now);
    conditions = nodeConditionsObservedSince(lastAt, transitionMs, now);
    const graceMet = thresholdsMetGracePeriod(firstAt, now);
    firstObservedAt = firstAt;
    conditionsLastObservedAt = lastAt;
    metBefore = graceMet;
    const fresh = thresholdsUpdatedStats(graceMet, observations, lastObservations);
    lastObservations = observations;
    if (localStorage) {
      // Pods over their local storage limits go first, all of them, and end the pass.
      const evicted: P[] = [];
      for (const pod of activePods) {
        const stats = statsOf(pod);
        const message = stats && localStorageViolation(pod, stats, layout.dedicatedImageFs);
        if (!message) continue;
        const eviction = {
          gracePeriodSeconds: immediateEvictionGracePeriodSeconds,
          reason: evictedReason,
          message,
          annotations: {},
        };
        if (await evict(pod, eviction)) evicted.push(pod);
      }
      if (evicted.length > 0) return { evicted };
    }
    if (fresh.length === 0) return none;

    sortByEvictionPriority(fresh);
    const toReclaim = fresh[0] as EvictionThreshold;
    const resource = signalResource[toReclaim.signal];
    emit({
      involvedObject: { kind: "Node", name: options.nodeName ?? "" },
      reason: "EvictionThresholdMet",
      message: `Attempting to reclaim ${resource}`,
    });
    if (await reclaimNodeLevelResources(signalNodeReclaims(layout, toReclaim.signal))) {
      log?.info("eviction: reduced resource pressure without evicting pods", { resource });
      return none;
    }
    if (activePods.length === 0) {
      log?.warn("eviction: thresholds met, but no pods are active to evict");
      return none;
    }
    const ranked = rankPods(activePods, statsOf, signalRankMeasures(layout)[toReclaim.signal]);
    const gracePeriodSeconds = toReclaim.gracePeriodMs === 0 ? immediateEvictionGracePeriodSeconds : maxPodGrace;
    for (const pod of ranked) {
      const { message, annotations } = evictionMessage(resource, pod, statsOf, fresh, observations);
      const eviction: PodEviction = {
        gracePeriodSeconds,
        reason: evictedReason,
        message,
        condition: { type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message },
        annotations,
      };
      if (await evict(pod, eviction)) return { evicted: [pod] };
    }
    log?.warn("eviction: unable to evict any pods from the node");
    return none;
  };

  let running: AbortController | undefined;
  let loop: Promise<void> | undefined;
  const waitForCleanup = async (pods: readonly P[], signal: AbortSignal) => {
    const cleaned = options.podCleanedUp;
    if (!cleaned) return;
    const deadline = clock.now() + podCleanupTimeoutMs;
    while (clock.now() < deadline) {
      await sleep(clock, podCleanupPollMs, signal);
      if (pods.every((p) => cleaned(p))) return;
    }
    log?.info("eviction: timed out waiting for evicted pods to be cleaned up");
  };
  const run = async (signal: AbortSignal) => {
    while (!signal.aborted) {
      let evicted: P[] = [];
      try {
        evicted = (await synchronize()).evicted;
      } catch (err) {
        log?.warn("eviction: failed to synchronize", { error: messageOf(err) });
      }
      try {
        if (evicted.length > 0) await waitForCleanup(evicted, signal);
        else await sleep(clock, options.monitoringIntervalMs ?? 10_000, signal);
      } catch {
        return; // stopped
      }
    }
  };

  return {
    synchronize,
    start() {
      if (running) return;
      running = new AbortController();
      loop = run(running.signal);
    },
    async stop() {
      running?.abort(new Error("eviction manager stopped"));
      running = undefined;
      await loop;
      loop = undefined;
    },
    pressure: () => ({
      memory: conditions.includes("MemoryPressure"),
      disk: conditions.includes("DiskPressure"),
      pid: conditions.includes("PIDPressure"),
    }),
    conditions: () => [...conditions],
    admit(pod) {
      if (conditions.length === 0 || isCriticalPod(pod)) return { admit: true };
      if (conditions.length === 1 && conditions[0] === "MemoryPressure") {
        if (!isBestEffort(pod)) return { admit: true };
        const taint = { key: "node.kubernetes.io/memory-pressure", effect: "NoSchedule" };
        if (toleratesTaint(pod.spec?.tolerations, taint)) return { admit: true };
      }
      return { admit: false, reason: evictedReason, message: `The node had condition: [${conditions.join(" ")}]. ` };
    },
    thresholds: () => configured,
    onEvent: (listener) => listeners.add(listener),
  };
}
