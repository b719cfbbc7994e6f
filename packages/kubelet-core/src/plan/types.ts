/** Why the kubelet kills a running container (kuberuntime's kill reasons). */
export type KillReason = "StartupProbe" | "LivenessProbe" | "FailedPostStartHook" | "Unknown";

/** A container the plan kills, keyed by its CRI id in {@link PodActions.containersToKill}. */
export interface ContainerToKill {
  /** Container name in the pod spec. */
  name: string;
  /** Which list of the spec it is in. */
  kind: "init" | "regular" | "ephemeral";
  /** Empty for a plain stop; otherwise the kubelet's reason. */
  reason: KillReason | "";
  /** The kubelet's message, e.g. `Container app definition changed, will be restarted`. */
  message: string;
}

/**
 * What one sync of a pod must do, as the kubelet's `computePodActions` decides it (podActions in
 * pkg/kubelet/kuberuntime/kuberuntime_manager.go). Indexes refer to the pod spec's lists.
 */
export interface PodActions {
  /** Stop every container and sandbox of the pod first. */
  killPod: boolean;
  /** Create a new sandbox (after killing the pod). */
  createSandbox: boolean;
  /** The sandbox to use (or the old one being replaced); empty when there is none. */
  sandboxId: string;
  /** The attempt number of the sandbox to create. */
  attempt: number;
  /** Why the sandbox is (re)created, e.g. `SandboxNotReady`; empty when it is not. */
  createSandboxReason: string;
  /** Init containers to start now, in spec order (indexes into `spec.initContainers`). */
  initContainersToStart: number[];
  /** Regular containers to start (indexes into `spec.containers`). */
  containersToStart: number[];
  /** Containers to kill, by CRI container id. */
  containersToKill: Map<string, ContainerToKill>;
  /** Ephemeral containers to start (indexes into `spec.ephemeralContainers`). */
  ephemeralContainersToStart: number[];
}

/** A probe's latest verdict for one container (prober results). */
export type ProbeResult = "success" | "failure" | "unknown";

/** The prober's verdicts that `computePodActions` reads, by CRI container id. */
export interface ProbeResults {
  /** The liveness verdict of a container; `undefined` when it has no liveness probe result yet. */
  liveness?(containerId: string): ProbeResult | undefined;
  /** The startup verdict of a container; `undefined` when it has no startup probe result yet. */
  startup?(containerId: string): ProbeResult | undefined;
}
