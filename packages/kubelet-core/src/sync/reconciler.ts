import {
  type ContainerStatus as CriContainerStatus,
  type ContainerState as CriState,
  type DeepPartial,
  type ImageService,
  isNotFound,
  isUnimplemented,
  type PodSandboxConfig,
  PodSandboxState,
  type PodSandboxStatus,
  type RuntimeService,
} from "@nodekit/cri";
import { type Backoff, createBackoff, formatDuration } from "../backoff.js";
import { type Clock, sleep, systemClock } from "../clock.js";
import { KubeletError } from "../errors.js";
import { labels as L } from "../labels.js";
import { createLimiter } from "../limiter.js";
import { computePodActions, isRestartableInitContainer } from "../plan/compute-pod-actions.js";
import { hashContainer } from "../plan/hash.js";
import type { PodActions } from "../plan/types.js";
import type { Container, LifecycleHandler, Pod, PodStatus } from "../pod.js";
import { type PodRuntimeStatus, podRuntimeStatusFrom, type RuntimeContainerStatus } from "../runtime-status.js";
import { computePodStatus, type StartFailure } from "../status/compute-pod-status.js";
import { podProblems } from "../validate.js";
import { generateContainerConfig, generatePodSandboxConfig } from "./configs.js";
import { createExecHookRunner, type HookRunner } from "./hooks.js";
import { createImagePuller, type ImagePuller } from "./image-puller.js";
import { createProber, type ProbeHandler } from "./prober.js";

/** An event about a pod, as the kubelet records them (`kubectl describe pod` shows these). */
export interface PodEvent {
  /** The event type, as in Kubernetes events. */
  type: "Normal" | "Warning";
  /** The kubelet's reason, e.g. `Pulling`, `Created`, `Started`, `Killing`, `BackOff`, `Failed`. */
  reason: string;
  /** The kubelet's message, e.g. `Started container app`. */
  message: string;
  /** The pod it is about. */
  pod: {
    /** The pod's namespace. */
    namespace: string;
    /** The pod's name. */
    name: string;
    /** The pod's uid. */
    uid: string;
  };
  /** The container it is about, if any. */
  container?: string | undefined;
  /** Milliseconds on the reconciler's clock. */
  time: number;
}

/** A new status of a pod, as the reconciler computed it. */
export interface PodStatusUpdate {
  /** The pod's uid. */
  uid: string;
  /** The desired pod, as last given to `updatePods`. */
  pod: Pod;
  /** The new status. */
  status: PodStatus;
}

/** Where log lines of the reconciler go. */
export interface Logger {
  /** Detail: every pod event, as it is recorded. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Informational messages (e.g. that the runtime has no container events and relisting alone goes on). */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Problems the reconciler works around (a runtime object it could not read, a failed hook). */
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link createReconciler}. */
export interface ReconcilerOptions {
  /** The CRI runtime: the gRPC client, the fake runtime, or any shim object. */
  runtime: RuntimeService;
  /** The CRI image service. */
  image: ImageService;
  /** The node's name (recorded in pod events and used as the pod's node). */
  nodeName: string;
  /** The node's IPs, reported as `status.hostIP(s)`. */
  nodeIPs?: readonly string[];
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
  /** Runs postStart and preStop hooks (default: exec through ExecSync, and sleep). */
  hooks?: HookRunner;
  /**
   * Runs one liveness/readiness/startup probe (default: exec through ExecSync, tcpSocket and
   * httpGet against the pod IP; others pass).
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
  cgroupParent?: (pod: Pod) => string | undefined;
  /** The runtime handler (RuntimeClass handler) sandboxes run with; default the runtime's default. */
  runtimeHandler?: string;
  /** Adapts every generated sandbox config, last (DNS, sysctls, runtime-specific settings). */
  sandboxConfig?: (pod: Pod, config: DeepPartial<PodSandboxConfig>) => DeepPartial<PodSandboxConfig>;
  /** Dead containers kept per pod and container name (default 1, the kubelet's MaxPerPodContainer). */
  maxDeadContainersPerContainer?: number;
  /** Use GetContainerEvents to notice changes between relists, where the runtime has it (default true). */
  useContainerEvents?: boolean;
}

/** The kubelet's pod sync as a reconciler: desired pods in, runtime state and pod statuses out. */
export interface Reconciler {
  /**
   * Sets the desired pods (the whole set). Pods that left it are killed gracefully and removed;
   * pods with `metadata.deletionTimestamp` are killed gracefully and kept until they leave it.
   */
  updatePods(pods: readonly Pod[]): void;
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
}

interface PodState {
  uid: string;
  pod: Pod | undefined;
  status: PodStatus | undefined;
  statusJson: string;
  startFailures: Map<string, StartFailure>;
  error: KubeletError | undefined;
  running: Promise<void> | undefined;
  rerun: boolean;
  /** Fingerprint of the runtime and spec at the last sync that changed nothing. */
  quiet: string;
  /** The pod left the desired set: kill and remove it, then forget it. */
  removed: boolean;
  /** The last valid desired pod: what runs (an invalid update keeps the previous spec running). */
  valid: Pod | undefined;
  /** The desired pod as JSON, to tell a real update from the same pod given again. */
  podJson: string;
  /** Aborts the sync in flight (a pull, a hook) when the pod is deleted, removed or changed. */
  abort: AbortController;
}

/**
 * Creates a reconciler that runs pods on a CRI runtime the way the kubelet does: per-pod workers
 * that plan with `computePodActions` and execute in the kubelet's SyncPod order (kill, sandbox,
 * ephemeral, init, regular containers; pull → create → start → postStart), CrashLoopBackOff and
 * image pull backoff, graceful termination with preStop hooks, relisting, and garbage collection.
 * All state lives in the runtime (the kubelet's labels and annotations), so a new reconciler picks
 * up where a dead one stopped.
 *
 * @example
 * ```ts
 * import { createRuntimeClient, createImageClient } from "@nodekit/cri";
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
  const podLogsRoot = options.podLogsRoot ?? "/var/log/pods";
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
  const hooks = options.hooks ?? createExecHookRunner(runtime, clock);
  const prober = createProber({ runtime, clock, handler: options.probeHandler });
  const maxDead = options.maxDeadContainersPerContainer ?? 1;
  const statusListeners = new Set<(u: PodStatusUpdate) => void>();
  const eventListeners = new Set<(e: PodEvent) => void>();
  if (options.statusSink) statusListeners.add(options.statusSink);
  if (options.eventSink) eventListeners.add(options.eventSink);

  const pods = new Map<string, PodState>();
  let snapshot = new Map<string, PodRuntimeStatus>();
  let runtimeName = "containerd";
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
  /** Orphans are killed only once the desired pods are known (the kubelet's sourcesReady). */
  let desiredKnown = false;
  const limit = createLimiter(options.maxConcurrentSyncs ?? 8);

  // --- events and status ---------------------------------------------------------------------

  const emit = (pod: Pod, type: PodEvent["type"], reason: string, message: string, container?: string): void => {
    const m = pod.metadata ?? {};
    const event: PodEvent = {
      type,
      reason,
      message,
      pod: { namespace: m.namespace ?? "", name: m.name ?? "", uid: m.uid ?? "" },
      container,
      time: clock.now(),
    };
    log?.debug(`${reason}: ${message}`, { pod: `${m.namespace}/${m.name}`, container });
    notify(eventListeners, event);
  };

  /** Calls listeners; one that throws is logged and does not disturb a sync. */
  const notify = <T>(listeners: Set<(value: T) => void>, value: T): void => {
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        log?.warn("a listener threw", { error: messageOf(err) });
      }
    }
  };

  const publish = (state: PodState, status: PodStatus): void => {
    const json = JSON.stringify(status, (k, v) => (k === "lastTransitionTime" ? undefined : v));
    state.status = status;
    if (json === state.statusJson || !state.pod) return;
    state.statusJson = json;
    notify(statusListeners, { uid: state.uid, pod: state.pod, status });
  };

  const stateOf = (uid: string): PodState => {
    let s = pods.get(uid);
    if (!s) {
      s = {
        uid,
        pod: undefined,
        status: undefined,
        statusJson: "",
        startFailures: new Map(),
        error: undefined,
        running: undefined,
        rerun: false,
        quiet: "",
        removed: false,
        valid: undefined,
        podJson: "",
        abort: new AbortController(),
      };
      pods.set(uid, s);
    }
    return s;
  };

  // --- reading the runtime -------------------------------------------------------------------

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
      { name: string; namespace: string; sandboxes: PodSandboxStatus[]; containers: CriContainerStatus[] }
    >();
    const group = (labels: Record<string, string>) => {
      const podUid = labels[L.podUid];
      if (!podUid) return undefined;
      let g = byPod.get(podUid);
      if (!g) {
        g = { name: labels[L.podName] ?? "", namespace: labels[L.podNamespace] ?? "", sandboxes: [], containers: [] };
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
      if (g)
        work.push(
          inspectSandbox(sb.id, sb.state).then((s) => void (s && g.sandboxes.push(s)), failed(sb.labels[L.podUid]!)),
        );
    }
    for (const c of containers) {
      sandboxOfContainer.set(c.id, c.podSandboxId);
      const g = group(c.labels);
      if (g)
        work.push(
          inspectContainer(c.id, c.state).then((s) => void (s && g.containers.push(s)), failed(c.labels[L.podUid]!)),
        );
    }
    await Promise.all(work);
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
    for (const [podUid, g] of byPod) out.set(podUid, podRuntimeStatusFrom({ uid: podUid, ...g }));
    return out;
  };

  const emptyRuntimeStatus = (pod: Pod): PodRuntimeStatus => ({
    uid: pod.metadata?.uid ?? "",
    name: pod.metadata?.name ?? "",
    namespace: pod.metadata?.namespace ?? "",
    ips: [],
    sandboxStatuses: [],
    containerStatuses: [],
  });

  // --- killing -------------------------------------------------------------------------------

  const gracePeriodOf = (pod: Pod): number =>
    pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;

  const killContainer = async (
    pod: Pod,
    c: RuntimeContainerStatus,
    spec: Container | undefined,
    message: string,
    gracePeriodOverride?: number,
  ): Promise<void> => {
    let grace = gracePeriodOverride ?? gracePeriodOf(pod);
    emit(pod, "Normal", "Killing", message || `Stopping container ${c.name}`, c.name);
    const preStop: LifecycleHandler | undefined = spec?.lifecycle?.preStop;
    if (preStop && grace > 0 && c.state === "running") {
      const started = clock.now();
      const budget = new AbortController();
      const timer = clock.setTimeout(
        () => budget.abort(new KubeletError("FailedPreStopHook", "preStop hook ran out of time")),
        grace * 1000,
      );
      try {
        await hooks.run({
          pod,
          container: spec!,
          containerId: c.id,
          kind: "preStop",
          handler: preStop,
          timeoutMs: grace * 1000,
          signal: budget.signal,
        });
      } catch (err) {
        // The hook's output may hold secrets: the kubelet reports that it failed, not what it said.
        emit(pod, "Warning", "FailedPreStopHook", `PreStopHook failed`, c.name);
        log?.warn("preStop hook failed", { container: c.name, error: String(err) });
      } finally {
        clock.clearTimeout(timer);
      }
      grace -= Math.floor((clock.now() - started) / 1000);
    }
    grace = Math.max(Math.ceil(grace), 2); // the kubelet's minimum grace period
    try {
      await runtime.stopContainer({ containerId: c.id, timeout: BigInt(grace) }, { timeoutMs: grace * 1000 + 120_000 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };

  /** Stops every running container (regular first, then sidecars in reverse order) and every sandbox. */
  const killPod = async (pod: Pod, rs: PodRuntimeStatus, gracePeriodOverride?: number): Promise<void> => {
    const specs = new Map<string, { c: Container; sidecarIndex: number }>();
    for (const [i, c] of (pod.spec?.initContainers ?? []).entries()) {
      specs.set(c.name, { c, sidecarIndex: isRestartableInitContainer(c) ? i : -1 });
    }
    for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])])
      specs.set(c.name, { c, sidecarIndex: -1 });
    const running = rs.containerStatuses.filter((c) => c.state === "running" || c.state === "unknown");
    const sidecars = running.filter((c) => (specs.get(c.name)?.sidecarIndex ?? -1) >= 0);
    const others = running.filter((c) => !sidecars.includes(c));
    await Promise.all(others.map((c) => killContainer(pod, c, specs.get(c.name)?.c, "", gracePeriodOverride)));
    sidecars.sort((a, b) => specs.get(b.name)!.sidecarIndex - specs.get(a.name)!.sidecarIndex);
    for (const c of sidecars) await killContainer(pod, c, specs.get(c.name)?.c, "", gracePeriodOverride);
    // Every sandbox, ready or not: a dead one may still hold its network.
    for (const sb of rs.sandboxStatuses) {
      try {
        await runtime.stopPodSandbox({ podSandboxId: sb.id });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };

  const removeAll = async (rs: PodRuntimeStatus): Promise<void> => {
    for (const c of rs.containerStatuses) await runtime.removeContainer({ containerId: c.id });
    for (const sb of rs.sandboxStatuses) await runtime.removePodSandbox({ podSandboxId: sb.id });
  };

  // --- starting ------------------------------------------------------------------------------

  /** Starts one container; returns false when it could not (the reason is recorded). */
  const startContainer = async (
    state: PodState,
    pod: Pod,
    rs: PodRuntimeStatus,
    container: Container,
    kind: "init" | "regular" | "ephemeral",
    sandboxId: string,
    sandboxConfig: DeepPartial<PodSandboxConfig>,
  ): Promise<boolean> => {
    const m = pod.metadata ?? {};
    const fail = (reason: string, message: string): false => {
      state.startFailures.set(container.name, { reason, message });
      return false;
    };
    const previous = rs.containerStatuses.find((c) => c.name === container.name);
    if (previous?.state === "exited") {
      const key = `${m.name}_${m.namespace}_${m.uid}_${container.name}_${hashContainer(container)}`;
      const finishedAt = Number(previous.finishedAt / 1_000_000n);
      if (crashLoop.isInBackOffSince(key, finishedAt)) {
        const podRef = `${m.name}_${m.namespace}(${m.uid})`;
        emit(
          pod,
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${container.name} in pod ${podRef}`,
          container.name,
        );
        return fail(
          "CrashLoopBackOff",
          `back-off ${formatDuration(crashLoop.get(key))} restarting failed container=${container.name} pod=${podRef}`,
        );
      }
      crashLoop.next(key, finishedAt);
    }
    let imageRef: string;
    try {
      imageRef = await puller.ensureImage({ pod, container, sandboxConfig, signal: state.abort.signal }, (e) =>
        emit(pod, e.type, e.reason, e.message, container.name),
      );
    } catch (err) {
      const k = err instanceof KubeletError ? err : new KubeletError("ErrImagePull", String(err));
      return fail(k.reason, k.message);
    }
    const restartCount = previous ? previous.restartCount + 1 : 0;
    let containerId: string;
    try {
      ({ containerId } = await runtime.createContainer({
        podSandboxId: sandboxId,
        config: generateContainerConfig(pod, container, restartCount, imageRef, kind),
        sandboxConfig,
      }));
    } catch (err) {
      emit(pod, "Warning", "Failed", `Error: ${messageOf(err)}`, container.name);
      return fail("CreateContainerError", messageOf(err));
    }
    emit(pod, "Normal", "Created", `Created container: ${container.name}`, container.name);
    try {
      await runtime.startContainer({ containerId });
    } catch (err) {
      emit(pod, "Warning", "Failed", `Error: ${messageOf(err)}`, container.name);
      return fail("RunContainerError", messageOf(err));
    }
    emit(pod, "Normal", "Started", `Started container ${container.name}`, container.name);
    const postStart = container.lifecycle?.postStart;
    if (postStart) {
      try {
        await hooks.run({
          pod,
          container,
          containerId,
          kind: "postStart",
          handler: postStart,
          timeoutMs: gracePeriodOf(pod) * 1000,
        });
      } catch (err) {
        emit(pod, "Warning", "FailedPostStartHook", messageOf(err), container.name);
        const started: RuntimeContainerStatus = {
          ...emptyContainer(containerId, container.name),
          state: "running",
        };
        await killContainer(pod, started, container, "FailedPostStartHook");
        return fail("PostStartHookError", messageOf(err));
      }
    }
    state.startFailures.delete(container.name);
    return true;
  };

  /** The kubelet's kubeGenericRuntimeManager.SyncPod, after computePodActions. */
  const execute = async (state: PodState, pod: Pod, rs: PodRuntimeStatus, actions: PodActions): Promise<void> => {
    const spec = pod.spec!;
    // The configs first: a pod whose names cannot become paths and labels changes nothing.
    let sandboxConfig = generatePodSandboxConfig(pod, actions.attempt, {
      podLogsRoot,
      cgroupParent: options.cgroupParent,
    });
    if (options.sandboxConfig) sandboxConfig = options.sandboxConfig(pod, sandboxConfig);
    if (actions.createSandbox && actions.sandboxId) {
      emit(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.");
    }
    if (actions.killPod) {
      await killPod(pod, rs);
      if (actions.createSandbox) {
        // Init containers start over in a new sandbox.
        const inits = new Set((spec.initContainers ?? []).map((c) => c.name));
        for (const c of rs.containerStatuses)
          if (inits.has(c.name)) await runtime.removeContainer({ containerId: c.id });
      }
    } else {
      for (const [id, k] of actions.containersToKill) {
        const c = rs.containerStatuses.find((s) => s.id === id)!;
        const list =
          k.kind === "init" ? spec.initContainers : k.kind === "ephemeral" ? spec.ephemeralContainers : spec.containers;
        await killContainer(
          pod,
          c,
          list?.find((s) => s.name === k.name),
          k.message,
        );
      }
    }
    // Only the newest exited instance of each init container is kept.
    const initNames = new Set((spec.initContainers ?? []).map((c) => c.name));
    const seen = new Set<string>();
    for (const c of rs.containerStatuses) {
      if (!initNames.has(c.name) || c.state !== "exited") continue;
      if (seen.has(c.name)) await runtime.removeContainer({ containerId: c.id });
      seen.add(c.name);
    }

    let sandboxId = actions.sandboxId;
    if (actions.createSandbox) {
      try {
        ({ podSandboxId: sandboxId } = await runtime.runPodSandbox({
          config: sandboxConfig,
          runtimeHandler: options.runtimeHandler ?? "",
        }));
      } catch (err) {
        emit(pod, "Warning", "FailedCreatePodSandBox", `Failed to create pod sandbox: ${messageOf(err)}`);
        return;
      }
      rs = {
        ...rs,
        containerStatuses: actions.killPod
          ? rs.containerStatuses.filter((c) => !initNames.has(c.name))
          : rs.containerStatuses,
      };
    }
    for (const i of actions.ephemeralContainersToStart) {
      await startContainer(state, pod, rs, spec.ephemeralContainers![i]!, "ephemeral", sandboxId, sandboxConfig);
    }
    for (const i of actions.initContainersToStart) {
      const c = spec.initContainers![i]!;
      const ok = await startContainer(state, pod, rs, c, "init", sandboxId, sandboxConfig);
      if (!ok && !isRestartableInitContainer(c)) return;
    }
    for (const i of actions.containersToStart) {
      await startContainer(state, pod, rs, spec.containers[i]!, "regular", sandboxId, sandboxConfig);
    }
  };

  // --- one pod -------------------------------------------------------------------------------

  const fingerprint = (pod: Pod | undefined, rs: PodRuntimeStatus | undefined): string => {
    let f = pod ? `${pod.metadata?.deletionTimestamp ?? ""}|` : "-|";
    for (const s of rs?.sandboxStatuses ?? []) f += `${s.id}:${s.state},`;
    for (const c of rs?.containerStatuses ?? []) f += `${c.id}:${c.state},`;
    return f;
  };

  const syncPod = async (state: PodState, fresh: boolean): Promise<void> => {
    state.abort = new AbortController();
    const stale = fresh || (actedSeq.get(state.uid) ?? 0) > snapshotSeq;
    let rs = stale ? (await inspect(state.uid)).get(state.uid) : snapshot.get(state.uid);
    if (state.removed || !state.pod) {
      // The pod left the desired set (or was never known: an orphan). Kill, then remove.
      if (rs) {
        const known = state.valid;
        const grace = known ? gracePeriodOf(known) : graceFromAnnotations(rs, containerCache);
        actedSeq.set(state.uid, ++seq);
        await killPod(known ?? podFromRuntime(rs), rs, grace);
        rs = (await inspect(state.uid)).get(state.uid);
        if (rs) await removeAll(rs);
      }
      if (state.removed || !state.pod) {
        pods.delete(state.uid);
        prober.forget(state.uid);
      } else {
        state.rerun = true; // desired again while it was being removed: it starts over
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
      if (!state.removed) void schedule(state, true);
    });
    const key = fingerprint(pod, rs);
    // Nothing changed since a sync that had nothing to do (and no backoff is pending).
    if (key === state.quiet && state.startFailures.size === 0) return;

    if (pod.metadata?.deletionTimestamp) {
      actedSeq.set(state.uid, ++seq);
      await killPod(pod, rs);
      rs = (await inspect(state.uid)).get(state.uid) ?? emptyRuntimeStatus(pod);
      publish(state, statusOf(state, pod, rs, true));
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
        await killPod(pod, rs);
        rs = (await inspect(state.uid)).get(state.uid) ?? rs;
      }
      publish(state, statusOf(state, pod, rs, true));
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
    actedSeq.set(state.uid, ++seq);
    await execute(state, pod, rs, actions);
    rs = (await inspect(state.uid)).get(state.uid) ?? emptyRuntimeStatus(pod);
    publish(state, statusOf(state, pod, rs, false));
  };

  const statusOf = (state: PodState, pod: Pod, rs: PodRuntimeStatus, terminal: boolean): PodStatus =>
    computePodStatus(pod, rs, {
      previous: state.status ?? pod.status,
      startFailures: state.startFailures,
      runtimeName,
      hostIPs: options.nodeIPs,
      readiness: prober.ready,
      startup: prober.started,
      now: clock.now(),
      podIsTerminal: terminal,
    });

  /** Runs syncs of one pod one at a time; a request while one runs makes it run once more. */
  const schedule = (state: PodState, fresh = false): Promise<void> => {
    if (state.running) {
      state.rerun = true;
      return state.running;
    }
    state.running = (async () => {
      let first = true;
      do {
        state.rerun = false;
        try {
          await limit(() => syncPod(state, fresh || !first));
        } catch (err) {
          log?.warn("pod sync failed", { pod: state.uid, error: messageOf(err) });
          if (state.pod) emit(state.pod, "Warning", "FailedSync", `error syncing pod: ${messageOf(err)}`);
          state.quiet = "";
        }
        first = false;
      } while (state.rerun);
    })().finally(() => {
      state.running = undefined;
    });
    return state.running;
  };

  /** Nothing changed in the last relist since a sync of this pod that had nothing to do. */
  const isQuiet = (state: PodState): boolean =>
    state.quiet !== "" && state.quiet === fingerprint(state.valid, snapshot.get(state.uid));

  // --- garbage collection --------------------------------------------------------------------

  const collectGarbage = async (): Promise<void> => {
    for (const [uid, rs] of snapshot) {
      const state = pods.get(uid);
      if (!state || state.running || state.removed || !state.valid) continue;
      // A pod with nothing changed since a quiet sync has nothing new to collect either.
      if (isQuiet(state)) continue;
      const byName = new Map<string, RuntimeContainerStatus[]>();
      for (const c of rs.containerStatuses) {
        if (c.state === "running" || c.state === "unknown") continue;
        const list = byName.get(c.name) ?? [];
        list.push(c);
        byName.set(c.name, list);
      }
      const removed = new Set<string>();
      for (const list of byName.values()) {
        // Newest first: keep the newest dead ones (their exit is the container's last state).
        for (const c of list.slice(maxDead)) {
          await runtime.removeContainer({ containerId: c.id }).catch(() => undefined);
          removed.add(c.id);
        }
      }
      // Old sandboxes go once no container in them is kept.
      const newest = rs.sandboxStatuses[0];
      const inUse = new Set(
        rs.containerStatuses.filter((c) => !removed.has(c.id)).map((c) => sandboxOfContainer.get(c.id)),
      );
      for (const sb of rs.sandboxStatuses) {
        if (sb === newest || sb.state === PodSandboxState.SANDBOX_READY || inUse.has(sb.id)) continue;
        await runtime.removePodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
      }
    }
  };

  // --- passes --------------------------------------------------------------------------------

  let versionChecked = false;
  const pass = async (wait: boolean): Promise<void> => {
    if (!versionChecked) {
      runtimeName = (await runtime.version({})).runtimeName || runtimeName;
      versionChecked = true;
    }
    const relistSeq = ++seq;
    let relistError: KubeletError | undefined;
    uninspected.clear();
    try {
      snapshot = await inspect();
      snapshotSeq = relistSeq;
    } catch (err) {
      // The whole-node listing failed (a runtime away, a listing over the message limit). Pods
      // that must stop are still killed, each read with its own small listing by pod uid; the
      // rest wait for a relist that works, and orphans are not looked for in a stale snapshot.
      relistError = new KubeletError("RelistFailed", `relisting the runtime failed: ${messageOf(err)}`, {
        cause: err,
      });
      log?.warn("relist failed: syncing only pods that are being killed", { error: messageOf(err) });
    }
    if (desiredKnown && !relistError) {
      for (const uid of snapshot.keys()) if (!pods.has(uid)) stateOf(uid).removed = true; // an orphan
    }
    const work: Promise<void>[] = [];
    for (const state of pods.values()) {
      if (!wait && state.running) continue;
      if (relistError) {
        if (state.removed || state.valid?.metadata?.deletionTimestamp) work.push(schedule(state, true));
        continue;
      }
      if (uninspected.has(state.uid)) continue;
      // A quiet pod (nothing changed since a sync that had nothing to do, no probes to run) needs
      // no worker at all: the steady state of a large node costs a fingerprint per pod.
      if (!state.removed && !state.running && !hasProbes(state.valid) && isQuiet(state)) continue;
      work.push(schedule(state));
    }
    if (wait) await Promise.all(work);
    if (relistError) throw relistError;
    await collectGarbage();
    crashLoop.gc();
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

  /**
   * Follows GetContainerEvents to sync a pod as soon as one of its containers changes. A stream that
   * ends (a runtime restart) is reopened after a relist period; after 5 failures in a row, or at
   * once on UNIMPLEMENTED, relisting alone goes on (the kubelet's evented PLEG falls back alike).
   */
  const watchEvents = async (): Promise<void> => {
    if (options.useContainerEvents === false) return;
    let failures = 0;
    while (running && failures < 5) {
      try {
        for await (const ev of runtime.getContainerEvents({}, { signal: eventsAbort.signal })) {
          failures = 0;
          const uid = ev.podSandboxStatus?.labels[L.podUid];
          const state = uid ? pods.get(uid) : undefined;
          if (state && running) void schedule(state, true);
        }
        failures++;
      } catch (err) {
        if (isUnimplemented(err) || !running) return;
        failures++;
        log?.warn("container events stream ended", { error: messageOf(err), failures });
      }
      if (running) await sleep(clock, options.relistPeriodMs ?? 1000, eventsAbort.signal).catch(() => undefined);
    }
    if (running) log?.info("container events unavailable: relisting only");
  };

  return {
    updatePods(list) {
      desiredKnown = true;
      const desired = new Set<string>();
      for (const pod of list) {
        const uid = pod.metadata?.uid;
        if (!uid) continue;
        desired.add(uid);
        const state = stateOf(uid);
        const json = JSON.stringify(pod);
        const wasRemoved = state.removed;
        state.pod = pod;
        state.removed = false;
        if (json === state.podJson && !wasRemoved) continue; // the same pod again: nothing to do
        state.podJson = json;
        state.quiet = "";
        const problems = podProblems(pod);
        const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        state.error = problems.length
          ? new KubeletError("InvalidPod", `pod ${name} is invalid: ${problems.join("; ")}`, { pod: name })
          : undefined;
        if (state.error) {
          emit(pod, "Warning", "FailedValidation", state.error.message);
          // Never valid: it fails. Valid before: the last valid spec keeps running.
          if (!state.valid) {
            publish(state, { phase: "Failed", reason: "InvalidPod", message: state.error.message, conditions: [] });
          }
          continue;
        }
        // A deleted or changed pod stops waiting on what its sync is doing (a pull, a hook).
        if (state.valid && (pod.metadata?.deletionTimestamp || state.running)) state.abort.abort();
        state.valid = pod;
      }
      for (const state of pods.values()) {
        if (desired.has(state.uid) || state.removed) continue;
        state.removed = true;
        state.abort.abort();
      }
    },
    syncAll: () => pass(true),
    start() {
      if (running) return;
      running = true;
      eventsAbort = new AbortController();
      void watchEvents();
      tick();
    },
    async stop() {
      running = false;
      eventsAbort.abort();
      for (const s of pods.values()) s.abort.abort();
      clock.clearTimeout(timer);
      await passInFlight;
      await Promise.all([...pods.values()].map((s) => s.running));
    },
    podStatus: (uid) => pods.get(uid)?.status,
    podError: (uid) => pods.get(uid)?.error,
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    events(signal) {
      return {
        async *[Symbol.asyncIterator]() {
          const queue: PodEvent[] = [];
          let wake: (() => void) | undefined;
          const listener = (e: PodEvent) => {
            queue.push(e);
            wake?.();
          };
          const onAbort = () => wake?.();
          eventListeners.add(listener);
          signal?.addEventListener("abort", onAbort);
          try {
            while (!signal?.aborted) {
              const next = queue.shift();
              if (next) yield next;
              else await new Promise<void>((r) => (wake = r));
            }
          } finally {
            eventListeners.delete(listener);
            signal?.removeEventListener("abort", onAbort);
          }
        },
      };
    },
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

function messageOf(err: unknown): string {
  if (err instanceof Error && "rawMessage" in err && typeof err.rawMessage === "string") return err.rawMessage;
  return err instanceof Error ? err.message : String(err);
}

function emptyContainer(id: string, name: string): RuntimeContainerStatus {
  return {
    id,
    name,
    state: "created",
    createdAt: 0n,
    startedAt: 0n,
    finishedAt: 0n,
    exitCode: 0,
    reason: "",
    message: "",
    image: "",
    imageRef: "",
    hash: "",
    restartCount: 0,
  };
}

/** The grace period the kubelet restores from a container's annotations when the pod is gone. */
function graceFromAnnotations(
  rs: PodRuntimeStatus,
  cache: ReadonlyMap<string, { status: CriContainerStatus }>,
): number {
  for (const c of rs.containerStatuses) {
    const a = cache.get(c.id)?.status.annotations;
    const v = Number(a?.[L.podDeletionGracePeriod] ?? a?.[L.podTerminationGracePeriod]);
    if (Number.isFinite(v)) return v;
  }
  return 30;
}

/** A minimal pod rebuilt from the runtime, to kill an orphan. */
function podFromRuntime(rs: PodRuntimeStatus): Pod {
  return { metadata: { uid: rs.uid, name: rs.name, namespace: rs.namespace }, spec: { containers: [] } };
}
