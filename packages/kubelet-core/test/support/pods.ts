// Builders of test pods and runtime statuses, shaped like the fixtures of the kubelet's
// computePodActions tests (pkg/kubelet/kuberuntime/kuberuntime_manager_test.go): a pod with three
// busybox containers that the runtime reports as fully running in one READY sandbox, plus variants
// with init containers, sidecars (restartable init containers) and an ephemeral container.

import { NamespaceMode, PodSandboxState, PodSandboxStatus } from "@nodekit/cri";
import { hashContainer } from "../../src/plan/hash.js";
import type { ProbeResult, ProbeResults } from "../../src/plan/types.js";
import type { Container, Pod, PodSpec } from "../../src/pod.js";
import type { PodRuntimeStatus, RuntimeContainerState, RuntimeContainerStatus } from "../../src/runtime-status.js";

export const POD_UID = "12345678";
export const POD_NAME = "foo";
export const POD_NAMESPACE = "new";
/** Id of the base fixture's only sandbox. */
export const SANDBOX_ID = "sandboxID";
export const SANDBOX_IP = "10.0.0.1";

/** A pod and what the runtime holds for it; mutate either freely, each builder call is fresh. */
export interface PodFixture {
  pod: Pod;
  status: PodRuntimeStatus;
}

/** The pod's spec (every fixture has one). */
export function spec(pod: Pod): PodSpec {
  if (!pod.spec) throw new Error("fixture pod has no spec");
  return pod.spec;
}

/** A CRI sandbox status; by default READY, attempt 0, with an IP on the pod network. */
export function sandboxStatus(
  options: {
    id?: string;
    attempt?: number;
    state?: PodSandboxState;
    ip?: string;
    network?: NamespaceMode;
    createdAt?: bigint;
  } = {},
): PodSandboxStatus {
  return PodSandboxStatus.fromPartial({
    id: options.id ?? SANDBOX_ID,
    state: options.state ?? PodSandboxState.SANDBOX_READY,
    metadata: { name: POD_NAME, namespace: POD_NAMESPACE, uid: "sandboxuid", attempt: options.attempt ?? 0 },
    network: { ip: options.ip ?? SANDBOX_IP },
    linux: { namespaces: { options: { network: options.network ?? NamespaceMode.POD } } },
    createdAt: options.createdAt ?? 1n,
  });
}

/**
 * A container as the runtime reports it, created from `spec` (so its hash annotation matches the
 * spec) and in the given state.
 */
export function runtimeContainer(
  id: string,
  container: Container,
  state: RuntimeContainerState,
  exitCode = 0,
): RuntimeContainerStatus {
  return {
    id,
    name: container.name,
    state,
    createdAt: 1n,
    startedAt: state === "created" ? 0n : 1n,
    finishedAt: state === "exited" ? 2n : 0n,
    exitCode,
    reason: "",
    message: "",
    image: container.image ?? "",
    imageRef: container.image ?? "",
    hash: hashContainer(container),
    restartCount: 0,
  };
}

/** Sets the state (and exit code) of the status at `index` of the runtime's container list. */
export function setState(status: PodRuntimeStatus, index: number, state: RuntimeContainerState, exitCode?: number) {
  const c = status.containerStatuses[index];
  if (!c) throw new Error(`no container status at ${index}`);
  c.state = state;
  if (exitCode !== undefined) c.exitCode = exitCode;
}

/** Marks the newest sandbox NOT READY. */
export function killSandbox(status: PodRuntimeStatus) {
  const s = status.sandboxStatuses[0];
  if (!s) throw new Error("no sandbox");
  s.state = PodSandboxState.SANDBOX_NOTREADY;
}

/**
 * The base fixture: pod `new/foo` (uid 12345678) with containers foo1, foo2, foo3 (image busybox,
 * no restartPolicy, i.e. Always) and a status with one READY sandbox `sandboxID` (attempt 0,
 * 10.0.0.1) in which id1, id2, id3 run them with matching hashes.
 */
export function makeBasePodAndStatus(): PodFixture {
  const containers: Container[] = [
    { name: "foo1", image: "busybox" },
    { name: "foo2", image: "busybox" },
    { name: "foo3", image: "busybox" },
  ];
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { uid: POD_UID, name: POD_NAME, namespace: POD_NAMESPACE },
    spec: { containers },
  };
  const status: PodRuntimeStatus = {
    uid: POD_UID,
    name: POD_NAME,
    namespace: POD_NAMESPACE,
    ips: [SANDBOX_IP],
    sandboxStatuses: [sandboxStatus()],
    containerStatuses: containers.map((c, i) => runtimeContainer(`id${i + 1}`, c, "running")),
  };
  return { pod, status };
}

/**
 * The base pod plus init containers init1, init2, init3 (image bar-image); the runtime holds only
 * the init containers (initid1..3), all exited with code 0, and no regular container.
 */
export function makeBasePodAndStatusWithInitContainers(): PodFixture {
  const { pod, status } = makeBasePodAndStatus();
  const init: Container[] = [
    { name: "init1", image: "bar-image" },
    { name: "init2", image: "bar-image" },
    { name: "init3", image: "bar-image" },
  ];
  spec(pod).initContainers = init;
  status.containerStatuses = init.map((c, i) => runtimeContainer(`initid${i + 1}`, c, "exited", 0));
  return { pod, status };
}

/**
 * The base pod plus sidecars restartable-init-1..3 (image bar-image, restartPolicy Always; the 2nd
 * and 3rd with liveness and startup probes); the runtime holds only the three sidecars
 * (initid1..3), all running, and no regular container.
 */
export function makeBasePodAndStatusWithRestartableInitContainers(): PodFixture {
  const { pod, status } = makeBasePodAndStatus();
  const probe = { exec: { command: ["true"] } };
  const init: Container[] = [
    { name: "restartable-init-1", image: "bar-image", restartPolicy: "Always" },
    {
      name: "restartable-init-2",
      image: "bar-image",
      restartPolicy: "Always",
      livenessProbe: probe,
      startupProbe: probe,
    },
    {
      name: "restartable-init-3",
      image: "bar-image",
      restartPolicy: "Always",
      livenessProbe: probe,
      startupProbe: probe,
    },
  ];
  spec(pod).initContainers = init;
  status.containerStatuses = init.map((c, i) => runtimeContainer(`initid${i + 1}`, c, "running"));
  return { pod, status };
}

/**
 * The base pod plus init container init1 (bar-image) and ephemeral container debug (busybox); the
 * runtime list is [id1, id2, id3 running, initid1 exited 0, debug1 running].
 */
export function makeBasePodAndStatusWithInitAndEphemeralContainers(): PodFixture {
  const { pod, status } = makeBasePodAndStatus();
  const init: Container = { name: "init1", image: "bar-image" };
  const debug = { name: "debug", image: "busybox" };
  spec(pod).initContainers = [init];
  spec(pod).ephemeralContainers = [debug];
  status.containerStatuses.push(
    runtimeContainer("initid1", init, "exited", 0),
    runtimeContainer("debug1", debug, "running"),
  );
  return { pod, status };
}

/** Prober verdicts by container id, as plain records the test cases can edit. */
export interface ProbeTable {
  liveness: Record<string, ProbeResult>;
  startup: Record<string, ProbeResult>;
}

/** An empty {@link ProbeTable} (no probe has reported anything yet). */
export function probeTable(): ProbeTable {
  return { liveness: {}, startup: {} };
}

/** {@link ProbeResults} answering from a {@link ProbeTable}; `undefined` when nothing was reported. */
export function probeResults(table: ProbeTable): ProbeResults {
  return {
    liveness: (id) => table.liveness[id],
    startup: (id) => table.startup[id],
  };
}
