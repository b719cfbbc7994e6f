import { type DeepPartial, isNotFound, type PodSandboxConfig, type RuntimeService } from "@nodekit/cri/api";
import { type Backoff, formatDuration } from "../backoff.js";
import type { Clock } from "../clock.js";
import { KubeletError } from "../errors.js";
import { isRestartableInitContainer } from "../plan/compute-pod-actions.js";
import { hashContainer } from "../plan/hash.js";
import type { PodActions } from "../plan/types.js";
import type { Container, LifecycleHandler, Pod } from "../pod.js";
import type { PodRuntimeStatus, RuntimeContainerStatus } from "../runtime-status.js";
import type { StartFailure } from "../status/compute-pod-status.js";
import { generateContainerConfig, generatePodSandboxConfig } from "./configs.js";
import type { EventRecorder } from "./events.js";
import type { HookRunner } from "./hooks.js";
import type { ImagePuller } from "./image-puller.js";
import { type Logger, messageOf } from "./listeners.js";

/** What one sync of a pod carries besides the pod: where start failures go, and its cancellation. */
export interface SyncContext {
  /** Why containers could not start, by container name: set on failure, cleared on success. */
  startFailures: Map<string, StartFailure>;
  /** Aborts what the sync waits on (a pull) when the pod is deleted, removed or changed. */
  signal: AbortSignal;
}

/**
 * Carries out the kubelet's SyncPod and KillPod on a runtime, for one pod at a time: callable
 * by the reconciler's pod workers, and by anything else that must act on one pod (an eviction
 * manager).
 */
export interface Executor {
  /**
   * The kubelet's `kubeGenericRuntimeManager.SyncPod` after `computePodActions`: kill what must
   * go (the pod, or single containers), create the sandbox, then start ephemeral, init and
   * regular containers (pull → create → start → postStart), recording why a container could not
   * start in `context.startFailures`.
   */
  syncPod(pod: Pod, runtime: PodRuntimeStatus, actions: PodActions, context: SyncContext): Promise<void>;
  /**
   * The kubelet's KillPod: stops every running container (regular ones at once, then sidecars in
   * reverse order), preStop hooks first within the grace period, then every sandbox.
   */
  killPod(pod: Pod, runtime: PodRuntimeStatus, gracePeriodOverrideSeconds?: number): Promise<void>;
  /** Removes every container and sandbox of a pod that was killed. */
  removePod(runtime: PodRuntimeStatus): Promise<void>;
}

/** Options of {@link createExecutor}. */
export interface ExecutorOptions {
  /** The runtime acted on. */
  runtime: RuntimeService;
  /** The clock of grace periods and backoff. */
  clock: Clock;
  /** Makes images present. */
  puller: ImagePuller;
  /** Runs postStart and preStop hooks. */
  hooks: HookRunner;
  /** CrashLoopBackOff per container. */
  crashLoop: Backoff;
  /** Where pod events go. */
  events: EventRecorder;
  /** Log lines. */
  logger?: Logger | undefined;
  /** Root of the pod log folders. */
  podLogsRoot: string;
  /** The sandbox cgroup parent of a pod. */
  cgroupParent?: ((pod: Pod) => string | undefined) | undefined;
  /** The runtime handler sandboxes run with. */
  runtimeHandler?: string | undefined;
  /** Adapts every generated sandbox config, last. */
  sandboxConfig?: ((pod: Pod, config: DeepPartial<PodSandboxConfig>) => DeepPartial<PodSandboxConfig>) | undefined;
}

/**
 * The kubelet's grace period for a kill by a liveness or startup probe: the probe's own
 * `terminationGracePeriodSeconds` when set (and the pod is not being deleted), else undefined (the
 * pod's).
 */
function probeGracePeriod(pod: Pod, container: Container | undefined, reason: string): number | undefined {
  if (pod.metadata?.deletionGracePeriodSeconds !== undefined) return undefined;
  const probe =
    reason === "LivenessProbe"
      ? container?.livenessProbe
      : reason === "StartupProbe"
        ? container?.startupProbe
        : undefined;
  return probe?.terminationGracePeriodSeconds ?? undefined;
}

/** The grace period of a pod: the deletion's, else the spec's, else 30 s. */
export function gracePeriodOf(pod: Pod): number {
  return pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
}

/**
 * Creates an {@link Executor}.
 *
 * @example
 * ```ts
 * const executor = createExecutor({ runtime, clock, puller, hooks, crashLoop, events, podLogsRoot: "/var/log/pods" });
 * await executor.killPod(pod, runtimeStatus, 0);
 * ```
 */
export function createExecutor(options: ExecutorOptions): Executor {
  const { runtime, clock, puller, hooks, crashLoop, events } = options;
  const log = options.logger;
  const emit = events.emit;

  const killContainer = async (
    pod: Pod,
    c: RuntimeContainerStatus,
    spec: Container | undefined,
    message: string,
    gracePeriodOverride?: number,
    podIP?: string,
  ): Promise<void> => {
    let grace = gracePeriodOverride ?? gracePeriodOf(pod);
    emit(pod, "Normal", "Killing", message || `Stopping container ${c.name}`, c.name);
    const preStop: LifecycleHandler | undefined = spec?.lifecycle?.preStop;
    if (spec && preStop && grace > 0 && c.state === "running") {
      const started = clock.now();
      const budget = new AbortController();
      let outOfTime = false;
      const timer = clock.setTimeout(() => {
        outOfTime = true;
        budget.abort(new KubeletError("FailedPreStopHook", "preStop hook ran out of time"));
      }, grace * 1000);
      try {
        await hooks.run({
          pod,
          container: spec,
          containerId: c.id,
          kind: "preStop",
          handler: preStop,
          timeoutMs: grace * 1000,
          signal: budget.signal,
          podIP: podIP || undefined,
          recordEvent: (type, reason, text) => emit(pod, type, reason, text, c.name),
        });
      } catch (err) {
        // A hook still running when the grace period ends is left behind without an event, as the
        // kubelet leaves it; one that failed is reported, without its output (it may hold secrets).
        // (A sleep hook cut at the grace period may end a moment before the budget's timer fires.)
        if (!outOfTime && clock.now() - started < grace * 1000) {
          emit(pod, "Warning", "FailedPreStopHook", "PreStopHook failed", c.name);
        }
        log?.warn("preStop hook failed", { container: c.name, error: messageOf(err) });
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
    const ip = rs.ips[0];
    await Promise.all(others.map((c) => killContainer(pod, c, specs.get(c.name)?.c, "", gracePeriodOverride, ip)));
    // Every sidecar has a spec with sidecarIndex >= 0 (that is how it was picked).
    const sidecarIndex = (c: RuntimeContainerStatus) => specs.get(c.name)?.sidecarIndex ?? -1;
    sidecars.sort((a, b) => sidecarIndex(b) - sidecarIndex(a));
    for (const c of sidecars) await killContainer(pod, c, specs.get(c.name)?.c, "", gracePeriodOverride, ip);
    // Every sandbox, ready or not: a dead one may still hold its network.
    for (const sb of rs.sandboxStatuses) {
      try {
        await runtime.stopPodSandbox({ podSandboxId: sb.id });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };

  const removePod = async (rs: PodRuntimeStatus): Promise<void> => {
    for (const c of rs.containerStatuses) await runtime.removeContainer({ containerId: c.id });
    for (const sb of rs.sandboxStatuses) await runtime.removePodSandbox({ podSandboxId: sb.id });
  };

  /** Starts one container; returns false when it could not (the reason is recorded). */
  const startContainer = async (
    context: SyncContext,
    pod: Pod,
    rs: PodRuntimeStatus,
    container: Container,
    kind: "init" | "regular" | "ephemeral",
    sandboxId: string,
    sandboxConfig: DeepPartial<PodSandboxConfig>,
  ): Promise<boolean> => {
    const m = pod.metadata ?? {};
    const fail = (reason: string, message: string): false => {
      context.startFailures.set(container.name, { reason, message });
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
      imageRef = await puller.ensureImage({ pod, container, sandboxConfig, signal: context.signal }, (e) =>
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
          // A sandbox made in this sync is not in `rs`: the hook runner then asks the runtime.
          podIP: sandboxId === rs.sandboxStatuses[0]?.id ? rs.ips[0] : undefined,
          recordEvent: (type, reason, text) => emit(pod, type, reason, text, container.name),
        });
      } catch (err) {
        // The event does not carry the hook's message (it may hold secrets); the status does.
        emit(pod, "Warning", "FailedPostStartHook", "PostStartHook failed", container.name);
        const started: RuntimeContainerStatus = {
          ...emptyContainer(containerId, container.name),
          state: "running",
        };
        await killContainer(pod, started, container, "FailedPostStartHook", undefined, rs.ips[0]);
        return fail("PostStartHookError", messageOf(err));
      }
    }
    context.startFailures.delete(container.name);
    return true;
  };

  const syncPod = async (pod: Pod, rs: PodRuntimeStatus, actions: PodActions, context: SyncContext): Promise<void> => {
    const spec = pod.spec;
    if (!spec)
      throw new KubeletError("InvalidPod", "the pod has no spec", {
        pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
      });
    // The configs first: a pod whose names cannot become paths and labels changes nothing.
    let sandboxConfig = generatePodSandboxConfig(pod, actions.attempt, {
      podLogsRoot: options.podLogsRoot,
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
        const c = rs.containerStatuses.find((s) => s.id === id);
        if (!c) continue; // the plan kills only containers of this runtime status
        const list =
          k.kind === "init" ? spec.initContainers : k.kind === "ephemeral" ? spec.ephemeralContainers : spec.containers;
        const killed = list?.find((s) => s.name === k.name);
        await killContainer(pod, c, killed, k.message, probeGracePeriod(pod, killed, k.reason), rs.ips[0]);
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
    // The plan's indexes are into these same lists.
    for (const i of actions.ephemeralContainersToStart) {
      const c = spec.ephemeralContainers?.[i];
      if (c) await startContainer(context, pod, rs, c, "ephemeral", sandboxId, sandboxConfig);
    }
    for (const i of actions.initContainersToStart) {
      const c = spec.initContainers?.[i];
      if (!c) continue;
      const ok = await startContainer(context, pod, rs, c, "init", sandboxId, sandboxConfig);
      if (!ok && !isRestartableInitContainer(c)) return;
    }
    for (const i of actions.containersToStart) {
      const c = spec.containers[i];
      if (c) await startContainer(context, pod, rs, c, "regular", sandboxId, sandboxConfig);
    }
  };

  return { syncPod, killPod, removePod };
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
