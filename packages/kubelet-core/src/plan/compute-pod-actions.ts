import { NamespaceMode, PodSandboxState } from "@nodekit/cri/api";
import type { Container, Pod } from "../pod.js";
import type { PodRuntimeStatus, RuntimeContainerStatus } from "../runtime-status.js";
import { findContainerStatus } from "../runtime-status.js";
import { hashContainer } from "./hash.js";
import type { ContainerToKill, PodActions, ProbeResults } from "./types.js";

/** What {@link podSandboxChanged} decides about a pod's sandbox. */
export interface SandboxChange {
  /** A new sandbox must be created. */
  create: boolean;
  /** The attempt number of the sandbox to create, or of the current one. */
  attempt: number;
  /** The current (or replaced) sandbox, or empty. */
  sandboxId: string;
  /** Why a new sandbox is needed, as the kubelet logs it; empty when none is. */
  reason: string;
  /** The short form the PodReadyToStartContainers condition carries as its message; empty when none is needed. */
  message: string;
}

/**
 * Whether a pod needs a new sandbox (the kubelet's PodSandboxChanged): none exists, more than one
 * is READY, the newest is not READY, its network namespace mode no longer matches
 * `spec.hostNetwork`, or a pod-network sandbox has no IP.
 *
 * @example
 * ```ts
 * const { create, attempt, reason } = podSandboxChanged(pod, runtimeStatus);
 * ```
 */
export function podSandboxChanged(pod: Pod, status: PodRuntimeStatus): SandboxChange {
  const sandboxes = status.sandboxStatuses;
  const newest = sandboxes[0];
  if (!newest) {
    return {
      create: true,
      attempt: 0,
      sandboxId: "",
      reason: "No sandbox for pod can be found. Need to start a new one",
      message: "no pod sandbox exists",
    };
  }
  const attempt = newest.metadata?.attempt ?? 0;
  const ready = sandboxes.filter((s) => s.state === PodSandboxState.SANDBOX_READY).length;
  if (ready > 1) {
    return {
      create: true,
      attempt: attempt + 1,
      sandboxId: newest.id,
      reason: "Multiple sandboxes are ready for Pod. Need to reconcile them",
      message: "multiple pod sandboxes are ready",
    };
  }
  if (newest.state !== PodSandboxState.SANDBOX_READY) {
    return {
      create: true,
      attempt: attempt + 1,
      sandboxId: newest.id,
      reason: "No ready sandbox for pod can be found. Need to start a new one",
      message: "pod sandbox is not ready",
    };
  }
  const network = newest.linux?.namespaces?.options?.network ?? NamespaceMode.POD;
  if (network !== networkNamespaceFor(pod)) {
    return {
      create: true,
      attempt: attempt + 1,
      sandboxId: "",
      reason: "Sandbox for pod has changed. Need to start a new one",
      message: "pod sandbox network namespace mode has changed",
    };
  }
  if (!pod.spec?.hostNetwork && newest.network !== undefined && newest.network.ip === "") {
    return {
      create: true,
      attempt: attempt + 1,
      sandboxId: newest.id,
      reason: "Sandbox for pod has no IP address. Need to start a new one",
      message: "pod sandbox has no IP address",
    };
  }
  return { create: false, attempt, sandboxId: newest.id, reason: "", message: "" };
}

/** The CRI network namespace mode a pod needs: NODE for host-network pods, else POD. */
export function networkNamespaceFor(pod: Pod): NamespaceMode {
  return pod.spec?.hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD;
}

/** True for an init container with `restartPolicy: Always` (a sidecar). */
export function isRestartableInitContainer(container: Container): boolean {
  return container.restartPolicy === "Always";
}

/**
 * Whether a container that is not running should be started (the kubelet's
 * ShouldContainerBeRestarted): never for a pod being deleted; always when it never ran or is
 * created/unknown; else by `restartPolicy` (Never: no; OnFailure: only after a non-zero exit).
 */
export function shouldContainerBeRestarted(container: Container, pod: Pod, status: PodRuntimeStatus): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  const s = findContainerStatus(status, container.name);
  if (!s) return true;
  if (s.state === "running") return false;
  if (s.state === "unknown" || s.state === "created") return true;
  const policy = pod.spec?.restartPolicy;
  if (policy === "Never") return false;
  if (policy === "OnFailure" && s.exitCode === 0) return false;
  return true;
}

function shouldRestartOnFailure(pod: Pod): boolean {
  return pod.spec?.restartPolicy !== "Never";
}

function containerChanged(container: Container, status: RuntimeContainerStatus): boolean {
  return status.hash !== hashContainer(container);
}

function isInitContainerFailed(status: RuntimeContainerStatus): boolean {
  if (status.reason === "OOMKilled") return true;
  if (status.state === "exited" && status.exitCode !== 0) return true;
  return status.state === "unknown";
}

/**
 * Decides what one sync of a pod must do, as the kubelet's computePodActions does: whether to
 * kill the pod and (re)create its sandbox, which init containers (sidecars included), regular and
 * ephemeral containers to start, and which containers to kill (changed spec, failed liveness or
 * startup probe, unknown state). Pure: the same inputs give the same plan.
 *
 * @param pod The desired pod (V1Pod JSON shape).
 * @param status What the runtime holds for the pod.
 * @param options.probes The prober's latest liveness/startup verdicts, by container id.
 * @example
 * ```ts
 * import { computePodActions, podRuntimeStatusFrom } from "@nodekit/kubelet-core";
 *
 * const actions = computePodActions(pod, podRuntimeStatusFrom({ uid, name, namespace, sandboxes, containers }));
 * if (actions.createSandbox) console.log("new sandbox, attempt", actions.attempt);
 * console.log("start", actions.containersToStart.map((i) => pod.spec!.containers[i]!.name));
 * ```
 */
export function computePodActions(
  pod: Pod,
  status: PodRuntimeStatus,
  options: { probes?: ProbeResults } = {},
): PodActions {
  const spec = pod.spec ?? { containers: [] };
  const containers = spec.containers ?? [];
  const initContainers = spec.initContainers ?? [];
  const sandbox = podSandboxChanged(pod, status);
  const changes: PodActions = {
    killPod: sandbox.create,
    createSandbox: sandbox.create,
    sandboxId: sandbox.sandboxId,
    attempt: sandbox.attempt,
    createSandboxReason: sandbox.reason,
    initContainersToStart: [],
    containersToStart: [],
    containersToKill: new Map(),
    ephemeralContainersToStart: [],
  };

  if (sandbox.create) {
    // A pod that must not restart and whose containers already ran is only killed.
    if (!shouldRestartOnFailure(pod) && sandbox.attempt !== 0 && status.containerStatuses.length !== 0) {
      changes.createSandbox = false;
      changes.createSandboxReason = "";
      return changes;
    }
    const toStart: number[] = [];
    containers.forEach((c, idx) => {
      if (spec.restartPolicy === "OnFailure" && containerSucceeded(c, status)) return;
      toStart.push(idx);
    });
    if (toStart.length === 0) {
      const initialized = initContainers.some(isRestartableInitContainer)
        ? hasAnyRegularContainerCreated(pod, status)
        : findNextInitContainerToRun(pod, status).done;
      if (initialized) {
        changes.createSandbox = false;
        changes.createSandboxReason = "";
        return changes;
      }
    }
    if (initContainers.length > 0) {
      changes.initContainersToStart = [0];
      return changes;
    }
    changes.containersToStart = toStart;
    return changes;
  }

  // Ephemeral containers start once, even before initialization completes.
  (spec.ephemeralContainers ?? []).forEach((c, i) => {
    if (!findContainerStatus(status, c.name)) changes.ephemeralContainersToStart.push(i);
  });

  const initialized = computeInitContainerActions(pod, status, changes, options.probes);
  if (changes.killPod || !initialized) return changes;

  let keepCount = 0;
  containers.forEach((container, idx) => {
    const s = findContainerStatus(status, container.name);
    if (s?.state !== "running") {
      if (shouldContainerBeRestarted(container, pod, status)) {
        changes.containersToStart.push(idx);
        if (s?.state === "unknown") {
          changes.containersToKill.set(s.id, {
            name: s.name,
            kind: "regular",
            reason: "Unknown",
            message: `Container is in "unknown" state, try killing it before restart`,
          });
        }
      }
      return;
    }
    let message: string;
    let reason: ContainerToKill["reason"] = "";
    let restart = shouldRestartOnFailure(pod);
    if (containerChanged(container, s)) {
      message = `Container ${container.name} definition changed`;
      restart = true; // a changed spec restarts whatever the restart policy
    } else if (options.probes?.liveness?.(s.id) === "failure") {
      message = `Container ${container.name} failed liveness probe`;
      reason = "LivenessProbe";
    } else if (options.probes?.startup?.(s.id) === "failure") {
      message = `Container ${container.name} failed startup probe`;
      reason = "StartupProbe";
    } else {
      keepCount++;
      return;
    }
    if (restart) {
      message = `${message}, will be restarted`;
      changes.containersToStart.push(idx);
    }
    changes.containersToKill.set(s.id, { name: s.name, kind: "regular", reason, message });
  });

  if (keepCount === 0 && changes.containersToStart.length === 0) {
    changes.killPod = true;
    // Sidecars must not keep a finished pod alive.
    changes.initContainersToStart = [];
  }
  return changes;
}

function containerSucceeded(container: Container, status: PodRuntimeStatus): boolean {
  const s = findContainerStatus(status, container.name);
  return s !== undefined && s.state === "exited" && s.exitCode === 0;
}

function hasAnyRegularContainerCreated(pod: Pod, status: PodRuntimeStatus): boolean {
  return (pod.spec?.containers ?? []).some((c) => {
    const s = findContainerStatus(status, c.name);
    return s !== undefined && (s.state === "created" || s.state === "running" || s.state === "exited");
  });
}

/** The kubelet's findNextInitContainerToRun, used for pods without sidecars. */
function findNextInitContainerToRun(
  pod: Pod,
  status: PodRuntimeStatus,
): { failed?: RuntimeContainerStatus; next?: Container; done: boolean } {
  const inits = pod.spec?.initContainers ?? [];
  const [first] = inits;
  if (first === undefined) return { done: true };
  for (const c of pod.spec?.containers ?? []) {
    if (findContainerStatus(status, c.name)?.state === "running") return { done: true };
  }
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i];
    const s = c && findContainerStatus(status, c.name);
    if (c && s && isInitContainerFailed(s)) return { failed: s, next: c, done: false };
  }
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i];
    const s = c && findContainerStatus(status, c.name);
    if (!s) continue;
    if (s.state === "running") return { done: false };
    if (s.state === "exited") {
      // The one after the last init container: none, so all are done.
      const next = inits[i + 1];
      return next === undefined ? { done: true } : { next, done: false };
    }
  }
  return { next: first, done: false };
}

/**
 * The kubelet's computeInitContainerActions: walks the init containers from the last one back,
 * fills in init containers to start and kill, and says whether the pod is initialized.
 */
function computeInitContainerActions(
  pod: Pod,
  status: PodRuntimeStatus,
  changes: PodActions,
  probes: ProbeResults | undefined,
): boolean {
  const inits = pod.spec?.initContainers ?? [];
  if (inits.length === 0) return true;

  // A created or running regular container means initialization happened (an exited one does
  // not: after a node reboot every container is exited and the new sandbox is not initialized).
  let podHasInitialized = (pod.spec?.containers ?? []).some((c) => {
    const state = findContainerStatus(status, c.name)?.state;
    return state === "created" || state === "running";
  });
  let previouslyInitialized = podHasInitialized;
  const restartOnFailure = shouldRestartOnFailure(pod);
  const toStart: number[] = [];
  const kill = (s: RuntimeContainerStatus, container: Container, reason: ContainerToKill["reason"], message: string) =>
    changes.containersToKill.set(s.id, { name: container.name, kind: "init", reason, message });

  for (let i = inits.length - 1; i >= 0; i--) {
    const container = inits[i];
    if (container === undefined) continue;
    const sidecar = isRestartableInitContainer(container);
    const s = findContainerStatus(status, container.name);
    if (!s) {
      if (previouslyInitialized && sidecar) toStart.push(i);
      continue;
    }
    if (previouslyInitialized && !sidecar) continue;

    // One switch arm per state; "stop" ends the walk with the pod not initialized.
    const outcome = ((): "stop" | undefined => {
      switch (s.state) {
        case "created":
          toStart.push(i);
          return undefined;
        case "running": {
          if (!sidecar) return undefined; // a regular init container: wait for it
          if (container.startupProbe) {
            const startup = probes?.startup?.(s.id);
            if (startup === undefined) return undefined;
            if (startup !== "success") {
              if (startup === "failure") {
                kill(s, container, "StartupProbe", `Init container ${container.name} failed startup probe`);
                toStart.push(i);
              }
              return undefined;
            }
          }
          if (i === inits.length - 1) podHasInitialized = true;
          else if (!previouslyInitialized) toStart.push(i + 1);
          if (containerChanged(container, s)) {
            kill(s, container, "", `Init container ${container.name} definition changed`);
            toStart.push(i);
            return undefined;
          }
          if (container.livenessProbe) {
            const liveness = probes?.liveness?.(s.id);
            if (liveness === undefined) return undefined;
            if (liveness === "failure") {
              kill(s, container, "LivenessProbe", `Init container ${container.name} failed liveness probe`);
              toStart.push(i);
            }
          }
          return undefined;
        }
        case "exited":
          if (sidecar) {
            toStart.push(i);
            return undefined;
          }
          if (isInitContainerFailed(s)) {
            if (!restartOnFailure) {
              changes.killPod = true;
              toStart.length = 0;
              return "stop";
            }
            toStart.push(i);
            return undefined;
          }
          if (i === inits.length - 1) podHasInitialized = true;
          else toStart.push(i + 1);
          return undefined;
        default:
          if (!sidecar && !restartOnFailure) {
            changes.killPod = true;
            toStart.length = 0;
            return "stop";
          }
          kill(s, container, "Unknown", `Init container is in "unknown" state, try killing it before restart`);
          toStart.push(i);
          return undefined;
      }
    })();
    if (outcome === "stop") {
      changes.initContainersToStart = [];
      return false;
    }
    previouslyInitialized = true;
  }
  if (!previouslyInitialized) toStart.push(0);
  changes.initContainersToStart = toStart.reverse();
  return podHasInitialized;
}
