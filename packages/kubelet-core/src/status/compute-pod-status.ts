import {
  isRestartableInitContainer,
  podSandboxChanged,
  shouldContainerBeRestarted,
} from "../plan/compute-pod-actions.js";
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodStatus, Timestamp } from "../pod.js";
import type { PodRuntimeStatus, RuntimeContainerStatus } from "../runtime-status.js";
import { findContainerStatus } from "../runtime-status.js";

/** Why a container could not be started in the last sync (the kubelet's reason cache entry). */
export interface StartFailure {
  /** E.g. `ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerError`. */
  reason: string;
  /** The detail shown as the waiting state's message. */
  message: string;
}

/** Options of {@link computePodStatus}. */
export interface ComputePodStatusOptions {
  /** The status reported before (for lastState, restart counts, transition times, terminal phases). */
  previous?: PodStatus | undefined;
  /** Why containers failed to start in the last sync, by container name. */
  startFailures?: ReadonlyMap<string, StartFailure> | undefined;
  /** Readiness probe verdicts by CRI container id (`true` ready). Containers without a readiness probe are ready when running. */
  readiness?: ((containerId: string) => boolean | undefined) | undefined;
  /** Startup probe verdicts by CRI container id (`true` started). Containers without a startup probe are started when running. */
  startup?: ((containerId: string) => boolean | undefined) | undefined;
  /** The runtime's name, for `containerID` (`containerd://<id>`); default `containerd`. */
  runtimeName?: string | undefined;
  /** The node's IPs (`hostIP`, `hostIPs`). */
  hostIPs?: readonly string[] | undefined;
  /** The time to stamp on changed conditions and a first `startTime`, as milliseconds (default now). */
  now?: number | undefined;
  /** The pod is terminal: its containers will not run again (the kubelet's podIsTerminal). */
  podIsTerminal?: boolean | undefined;
}

/** The kubelet's waiting reasons for containers that have no runtime status yet. */
export const ContainerCreating = "ContainerCreating";
/** Waiting reason while init containers run. */
export const PodInitializing = "PodInitializing";

/**
 * Computes a pod's `V1PodStatus` the way the kubelet reports it (generateAPIPodStatus): phase by
 * getPhase, the conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady and
 * PodScheduled, init and regular container statuses with state, lastState, restartCount, ready,
 * started and the kubelet's waiting reasons, and the pod IPs from the sandbox. Pure.
 *
 * @example
 * ```ts
 * import { computePodStatus } from "@nodekit/kubelet-core";
 *
 * const status = computePodStatus(pod, runtimeStatus, { previous: pod.status });
 * console.log(status.phase, status.conditions?.find((c) => c.type === "Ready")?.status);
 * ```
 */
export function computePodStatus(
  pod: Pod,
  runtime: PodRuntimeStatus,
  options: ComputePodStatusOptions = {},
): PodStatus {
  const spec = pod.spec ?? { containers: [] };
  const previous = options.previous ?? pod.status ?? {};
  const now = toTimestamp(options.now ?? Date.now());
  const runtimeName = options.runtimeName ?? "containerd";
  const inits = spec.initContainers ?? [];
  const hasInits = inits.length > 0;

  const initStatuses = convertStatuses(
    pod,
    runtime,
    previous.initContainerStatuses,
    inits,
    hasInits,
    true,
    options,
    runtimeName,
  );
  const containerStatuses = convertStatuses(
    pod,
    runtime,
    previous.containerStatuses,
    spec.containers ?? [],
    hasInits,
    false,
    options,
    runtimeName,
  );
  const ephemeral = spec.ephemeralContainers ?? [];
  const ephemeralStatuses = ephemeral.length
    ? convertStatuses(pod, runtime, previous.ephemeralContainerStatuses, ephemeral, false, false, options, runtimeName)
    : undefined;
  applyProbeResults(pod, initStatuses, containerStatuses, options);

  const all = [...initStatuses, ...containerStatuses];
  let phase = getPhase(pod, all, options.podIsTerminal ?? false);
  // A pod never leaves a terminal phase, whether the status manager or the API recorded it.
  const terminalBefore = [previous.phase, pod.status?.phase].find((p) => p === "Succeeded" || p === "Failed");
  if (terminalBefore) phase = terminalBefore;

  const owned = new Set(["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
  const generation = pod.metadata?.generation;
  const stamp = (c: PodCondition): PodCondition => {
    const before = previous.conditions?.find((p) => p.type === c.type);
    const out: PodCondition = {
      ...c,
      lastProbeTime: null,
      lastTransitionTime:
        before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now,
    };
    if (generation !== undefined) out.observedGeneration = generation;
    return out;
  };
  const containersReady = containersReadyCondition(pod, all, phase);
  // Conditions others own (readiness gates, DisruptionTarget…) come from the API's pod, as the
  // kubelet reads them; without one, from the previous status.
  const external = (pod.status ?? previous).conditions ?? [];
  const conditions: PodCondition[] = [
    ...external.filter((c) => !owned.has(c.type)),
    stamp(readyToStartContainersCondition(pod, runtime)),
    stamp(initializedCondition(pod, all, phase)),
    stamp(readyCondition(pod, containersReady, external)),
    stamp(containersReady),
    stamp({ type: "PodScheduled", status: "True" }),
  ];

  const status: PodStatus = { phase, conditions };
  const hostIPs = sortIPs(options.hostIPs ?? [], undefined);
  const [hostIP] = hostIPs;
  if (hostIP !== undefined) {
    status.hostIP = hostIP;
    status.hostIPs = hostIPs.map((ip) => ({ ip }));
  }
  const ips = podIPs(pod, runtime.ips.length ? runtime.ips : (previous.podIPs ?? []).map((p) => p.ip), hostIPs);
  const [podIP] = ips;
  if (podIP !== undefined) {
    status.podIP = podIP;
    status.podIPs = ips.map((ip) => ({ ip }));
  }
  status.startTime = previous.startTime ?? now;
  if (inits.length) status.initContainerStatuses = initStatuses;
  status.containerStatuses = containerStatuses;
  if (ephemeralStatuses) status.ephemeralContainerStatuses = ephemeralStatuses;
  // Keep a reason and message set by others (eviction, deadlines) while the phase stays.
  const kept = [previous, pod.status ?? {}].find((p) => p.phase === phase && (p.reason || p.message));
  if (kept?.reason) status.reason = kept.reason;
  if (kept?.message) status.message = kept.message;
  return status;
}

function convertStatuses(
  pod: Pod,
  runtime: PodRuntimeStatus,
  previousStatuses: ContainerStatus[] | undefined,
  containers: readonly Container[],
  hasInitContainers: boolean,
  isInit: boolean,
  options: ComputePodStatusOptions,
  runtimeName: string,
): ContainerStatus[] {
  const old = new Map((previousStatuses ?? []).map((s) => [s.name, s]));
  const defaultWaiting = hasInitContainers ? PodInitializing : ContainerCreating;
  const statuses = new Map<string, ContainerStatus>();
  for (const c of containers) {
    const before = old.get(c.name);
    let s: ContainerStatus = {
      name: c.name,
      state: { waiting: { reason: defaultWaiting } },
      ready: false,
      restartCount: 0,
      image: c.image ?? "",
      imageID: "",
    };
    if (before?.state?.terminated) s = clone(before);
    else if (before) {
      s.restartCount = before.restartCount;
      if (before.lastState) s.lastState = clone(before.lastState);
    }
    statuses.set(c.name, s);
  }

  // A container that was running and vanished from the runtime terminated, even if its exit is lost.
  for (const c of containers) {
    if (runtime.containerStatuses.some((r) => r.name === c.name)) continue;
    const before = old.get(c.name);
    if (!before || before.state?.terminated || !before.state?.running) continue;
    const s = statuses.get(c.name);
    if (!s) continue; // every container has an entry
    if (s.state?.waiting?.reason !== defaultWaiting || s.lastState?.terminated) continue;
    s.lastState = {
      terminated: {
        exitCode: 137,
        reason: "ContainerStatusUnknown",
        message: "The container could not be located when the pod was deleted.  The container used to be Running",
      },
    };
    if (!pod.metadata?.deletionTimestamp) s.restartCount += 1;
  }

  // The newest instance gives the state, the one before it the last state.
  const seen = new Map<string, number>();
  for (const r of runtime.containerStatuses) {
    if (!statuses.has(r.name)) continue;
    const n = seen.get(r.name) ?? 0;
    if (n >= 2) continue;
    const converted = convertContainerStatus(r, old.get(r.name), runtimeName);
    if (n === 0) statuses.set(r.name, converted);
    else {
      const newest = statuses.get(r.name);
      if (newest) newest.lastState = converted.state;
    }
    seen.set(r.name, n + 1);
  }

  // Containers that will be started again show why they are waiting.
  for (const c of containers) {
    if (isInit) {
      const r = findContainerStatus(runtime, c.name);
      if (r && r.state === "exited" && r.exitCode === 0) continue;
    }
    if (!shouldContainerBeRestarted(c, pod, runtime)) continue;
    const failure = options.startFailures?.get(c.name);
    if (!failure) continue;
    const s = statuses.get(c.name);
    if (!s) continue; // every container has an entry
    if (s.state?.terminated) s.lastState = s.state;
    s.state = { waiting: { reason: failure.reason, message: failure.message } };
  }

  const list = containers.flatMap((c) => statuses.get(c.name) ?? []); // every container has an entry
  // Regular container statuses are sorted by name, init container statuses keep the spec order.
  return isInit ? list : list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function convertContainerStatus(
  r: RuntimeContainerStatus,
  old: ContainerStatus | undefined,
  runtimeName: string,
): ContainerStatus & { state: ContainerState } {
  const containerID = `${runtimeName}://${r.id}`;
  const s: ContainerStatus & { state: ContainerState } = {
    name: r.name,
    restartCount: r.restartCount,
    image: r.image,
    imageID: r.imageRef,
    containerID,
    ready: false,
    state: {},
  };
  switch (r.state) {
    case "running":
      s.state = { running: { startedAt: nsToTimestamp(r.startedAt) } };
      break;
    case "created":
      s.state = { waiting: {} };
      break;
    case "exited":
      s.state = {
        terminated: {
          exitCode: r.exitCode,
          reason: r.reason,
          message: r.message,
          startedAt: nsToTimestamp(r.startedAt),
          finishedAt: nsToTimestamp(r.finishedAt),
          containerID,
        },
      };
      break;
    default:
      if (old?.state?.running) {
        s.state = {
          terminated: {
            exitCode: 137,
            reason: "ContainerStatusUnknown",
            message: "The container could not be located when the pod was terminated",
          },
        };
        s.restartCount = old.restartCount + 1;
      } else {
        s.state = { waiting: {} };
      }
  }
  return s;
}

function applyProbeResults(
  pod: Pod,
  initStatuses: ContainerStatus[],
  containerStatuses: ContainerStatus[],
  options: ComputePodStatusOptions,
): void {
  const idOf = (s: ContainerStatus) => s.containerID?.replace(/^[^:]*:\/\//, "") ?? "";
  const specOf = (name: string, list: readonly Container[] | undefined) => list?.find((c) => c.name === name);
  const decide = (s: ContainerStatus, container: Container | undefined) => {
    const running = s.state?.running !== undefined;
    const id = idOf(s);
    s.started = running && (container?.startupProbe ? options.startup?.(id) === true : true);
    s.ready = running && s.started && (container?.readinessProbe ? options.readiness?.(id) === true : true);
  };
  for (const s of containerStatuses) decide(s, specOf(s.name, pod.spec?.containers));
  for (const s of initStatuses) {
    const container = specOf(s.name, pod.spec?.initContainers);
    if (container && isRestartableInitContainer(container)) decide(s, container);
    else {
      s.ready = s.state?.terminated?.exitCode === 0;
      s.started = s.state?.running !== undefined;
    }
  }
}

/**
 * The kubelet's getPhase: Pending, Running, Succeeded or Failed from the container statuses.
 *
 * @param statuses Init and regular container statuses together.
 * @param podIsTerminal The pod will not run again (deleted, or a finished run-once pod).
 */
export function getPhase(pod: Pod, statuses: readonly ContainerStatus[], podIsTerminal: boolean): string {
  const spec = pod.spec ?? { containers: [] };
  const policy = spec.restartPolicy ?? "Always";
  const byName = new Map(statuses.map((s) => [s.name, s]));
  let pendingRegularInit = 0;
  let pendingSidecars = 0;
  let failedInitialization = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of spec.initContainers ?? []) {
    const s = byName.get(c.name);
    if (isRestartableInitContainer(c)) {
      if (!s) {
        unknown++;
      } else if (s.state?.running) {
        if (!s.started) pendingSidecars++;
        running++;
      } else if (s.state?.terminated) {
        // a stopped sidecar does not count
      } else if (s.state?.waiting) {
        if (!s.lastState?.terminated) {
          pendingSidecars++;
          waiting++;
        }
      } else {
        pendingSidecars++;
        unknown++;
      }
      continue;
    }
    if (!s || s.state?.running) pendingRegularInit++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInitialization++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) {
        if (s.lastState.terminated.exitCode !== 0) failedInitialization++;
      } else pendingRegularInit++;
    } else pendingRegularInit++;
  }
  for (const c of spec.containers ?? []) {
    const s = byName.get(c.name);
    if (!s) unknown++;
    else if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  if (failedInitialization > 0 && policy === "Never") return "Failed";
  // A regular init container still to run keeps the pod Pending; a sidecar not yet started only
  // until an app container has started (after a restart of the sidecar the pod stays Running).
  if (pendingRegularInit > 0 || (pendingSidecars > 0 && !hasAnyRegularContainerStarted(pod, statuses)) || waiting > 0) {
    return "Pending";
  }
  if (running > 0 && unknown === 0) return "Running";
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal) return stopped === succeeded ? "Succeeded" : "Failed";
    if (policy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    if (policy === "Never") return "Failed";
    return "Running";
  }
  return "Pending";
}

function hasAnyRegularContainerStarted(pod: Pod, statuses: readonly ContainerStatus[]): boolean {
  const names = new Set((pod.spec?.containers ?? []).map((c) => c.name));
  return statuses.some(
    (s) => names.has(s.name) && (s.state?.running !== undefined || s.state?.terminated !== undefined),
  );
}

const list = (names: string[]) => `[${names.join(" ")}]`;

function initializedCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: string): PodCondition {
  const inits = pod.spec?.initContainers ?? [];
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of inits) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (isRestartableInitContainer(c) ? !s.started : !s.ready) incomplete.push(c.name);
  }
  if (phase === "Succeeded" && unknown.length === 0) {
    return { type: "Initialized", status: "True", reason: "PodCompleted" };
  }
  if (inits.length === 0 || hasAnyRegularContainerStarted(pod, statuses))
    return { type: "Initialized", status: "True" };
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${list(unknown)}`);
  if (incomplete.length) messages.push(`containers with incomplete status: ${list(incomplete)}`);
  if (messages.length) {
    return { type: "Initialized", status: "False", reason: "ContainersNotInitialized", message: messages.join(", ") };
  }
  return { type: "Initialized", status: "True" };
}

function containersReadyCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: string): PodCondition {
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const unready: string[] = [];
  const consider = (c: Container) => {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  };
  for (const c of pod.spec?.initContainers ?? []) if (isRestartableInitContainer(c)) consider(c);
  for (const c of pod.spec?.containers ?? []) consider(c);
  if (phase === "Succeeded" && unknown.length === 0)
    return { type: "ContainersReady", status: "False", reason: "PodCompleted" };
  if (phase === "Failed") return { type: "ContainersReady", status: "False", reason: "PodFailed" };
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${list(unknown)}`);
  if (unready.length) messages.push(`containers with unready status: ${list(unready)}`);
  if (messages.length) {
    return { type: "ContainersReady", status: "False", reason: "ContainersNotReady", message: messages.join(", ") };
  }
  return { type: "ContainersReady", status: "True" };
}

function readyCondition(pod: Pod, containersReady: PodCondition, external: readonly PodCondition[]): PodCondition {
  if (containersReady.status !== "True") {
    const c: PodCondition = { type: "Ready", status: containersReady.status };
    if (containersReady.reason) c.reason = containersReady.reason;
    if (containersReady.message) c.message = containersReady.message;
    return c;
  }
  const messages: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const condition = external.find((c) => c.type === gate.conditionType);
    if (!condition)
      messages.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    else if (condition.status !== "True") {
      messages.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${condition.status}`);
    }
  }
  if (messages.length)
    return { type: "Ready", status: "False", reason: "ReadinessGatesNotReady", message: messages.join(", ") };
  return { type: "Ready", status: "True" };
}

function readyToStartContainersCondition(pod: Pod, runtime: PodRuntimeStatus): PodCondition {
  const change = podSandboxChanged(pod, runtime);
  if (!change.create) return { type: "PodReadyToStartContainers", status: "True" };
  return { type: "PodReadyToStartContainers", status: "False", reason: "PodSandboxNotReady", message: change.message };
}

/** An IP address in canonical form (`010.000.000.001` → `10.0.0.1`), or undefined when it is none. */
function canonicalIP(ip: string): { ip: string; family: 4 | 6 } | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (v4) {
    const parts = v4.slice(1).map((p) => Number.parseInt(p, 10));
    return parts.every((p) => p <= 255) ? { ip: parts.join("."), family: 4 } : undefined;
  }
  if (!ip.includes(":")) return undefined;
  try {
    // The URL parser writes IPv6 in its canonical, compressed, lowercase form.
    return { ip: new URL(`http://[${ip.trim()}]/`).hostname.slice(1, -1), family: 6 };
  } catch {
    return undefined;
  }
}

/**
 * At most one IP per family, the primary family first (the kubelet's sortPodIPs): the family of
 * the node's first IP, else of the first IP given, else IPv4.
 */
function sortIPs(ips: readonly string[], nodeFamily: 4 | 6 | undefined): string[] {
  const parsed = ips.map(canonicalIP).filter((x) => x !== undefined);
  const primary = nodeFamily ?? parsed[0]?.family ?? 4;
  const first = parsed.find((x) => x.family === primary);
  const second = parsed.find((x) => x.family !== primary);
  return [first, second].filter((x) => x !== undefined).map((x) => x.ip);
}

/** The pod's IPs as the kubelet reports them; a host-network pod takes the node's. */
function podIPs(pod: Pod, criIPs: readonly string[], hostIPs: readonly string[]): string[] {
  const nodeFamily = hostIPs[0] ? canonicalIP(hostIPs[0])?.family : 4;
  const ips = sortIPs(criIPs, nodeFamily);
  if (!pod.spec?.hostNetwork) return ips;
  if (ips.length === 0) return [...hostIPs];
  const [only] = ips;
  if (only !== undefined && ips.length === 1 && hostIPs.length === 2) {
    const family = canonicalIP(only)?.family;
    const other = hostIPs.find((ip) => canonicalIP(ip)?.family !== family);
    if (other) return sortIPs([...ips, other], nodeFamily);
  }
  return ips;
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function toTimestamp(ms: number): string {
  // The API's timestamps have second precision (metav1.Time marshals RFC 3339 in seconds).
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** A CRI nanosecond timestamp as an API timestamp (RFC 3339, seconds). */
export function nsToTimestamp(ns: bigint): Timestamp {
  return toTimestamp(Number(ns / 1_000_000n));
}
