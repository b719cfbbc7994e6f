import { type ContainerConfig, type DeepPartial, NamespaceMode, type PodSandboxConfig, Protocol } from "@nodekit/cri";
import { labels as L } from "../labels.js";
import { hashContainer } from "../plan/hash.js";
import type { Container, Pod } from "../pod.js";

/** Settings the sandbox and container configs take from the node, not the pod. */
export interface ConfigOptions {
  /** Root of the pod log folders (the kubelet: `/var/log/pods`). */
  podLogsRoot: string;
  /** The cgroup parent of a pod's sandbox (cgroupfs path), if the runtime needs one. */
  cgroupParent?: ((pod: Pod) => string | undefined) | undefined;
  /** The runtime handler (RuntimeClass) to run sandboxes with; empty for the default. */
  runtimeHandler?: string | undefined;
}

/** `namespace_name_uid`: the kubelet's pod log folder name. */
export function podLogDirectory(pod: Pod, root: string): string {
  const m = pod.metadata ?? {};
  return `${root.replace(/\/$/, "")}/${m.namespace}_${m.name}_${m.uid}`;
}

/**
 * The CRI sandbox config the kubelet generates for a pod (generatePodSandboxConfig): metadata with
 * the attempt, the pod's labels plus the kubelet's identity labels, its annotations, hostname, log
 * folder, port mappings and Linux namespaces.
 */
export function generatePodSandboxConfig(
  pod: Pod,
  attempt: number,
  options: ConfigOptions,
): DeepPartial<PodSandboxConfig> {
  const m = pod.metadata ?? {};
  const spec = pod.spec ?? { containers: [] };
  const hostNetwork = spec.hostNetwork === true;
  const portMappings = [];
  for (const c of spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      portMappings.push({
        protocol: p.protocol === "UDP" ? Protocol.UDP : p.protocol === "SCTP" ? Protocol.SCTP : Protocol.TCP,
        containerPort: p.containerPort,
        hostPort: p.hostPort,
        hostIp: p.hostIP ?? "",
      });
    }
  }
  const cgroupParent = options.cgroupParent?.(pod);
  return {
    metadata: { name: m.name ?? "", namespace: m.namespace ?? "", uid: m.uid ?? "", attempt },
    // The runtime shares the host's UTS namespace with host network: no hostname then.
    hostname: hostNetwork ? "" : (spec.hostname ?? m.name ?? ""),
    logDirectory: podLogDirectory(pod, options.podLogsRoot),
    portMappings,
    labels: { ...m.labels, [L.podName]: m.name ?? "", [L.podNamespace]: m.namespace ?? "", [L.podUid]: m.uid ?? "" },
    annotations: { ...m.annotations },
    linux: {
      ...(cgroupParent ? { cgroupParent } : {}),
      securityContext: {
        namespaceOptions: {
          network: hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD,
          pid: spec.hostPID ? NamespaceMode.NODE : NamespaceMode.CONTAINER,
          ipc: spec.hostIPC ? NamespaceMode.NODE : NamespaceMode.POD,
        },
      },
    },
  };
}

/**
 * The CRI container config the kubelet generates (generateContainerConfig): metadata with the
 * restart count as attempt, the resolved image, command, env, the kubelet's four labels and its
 * annotations (hash, restart count, termination message, grace periods, preStop, ports), and the
 * log path `<name>/<restartCount>.log`.
 */
export function generateContainerConfig(
  pod: Pod,
  container: Container,
  restartCount: number,
  imageRef: string,
  kind: "init" | "regular" | "ephemeral",
): DeepPartial<ContainerConfig> {
  const m = pod.metadata ?? {};
  const annotations: Record<string, string> = {
    [L.containerHash]: hashContainer(container),
    [L.containerRestartCount]: String(restartCount),
    [L.containerTerminationMessagePath]: container.terminationMessagePath ?? "/dev/termination-log",
    [L.containerTerminationMessagePolicy]: container.terminationMessagePolicy ?? "File",
  };
  if (m.deletionGracePeriodSeconds !== undefined)
    annotations[L.podDeletionGracePeriod] = String(m.deletionGracePeriodSeconds);
  if (pod.spec?.terminationGracePeriodSeconds !== undefined) {
    annotations[L.podTerminationGracePeriod] = String(pod.spec.terminationGracePeriodSeconds);
  }
  if (container.lifecycle?.preStop)
    annotations[L.containerPreStopHandler] = JSON.stringify(container.lifecycle.preStop);
  if (container.ports?.length) annotations[L.containerPorts] = JSON.stringify(container.ports);
  return {
    metadata: { name: container.name, attempt: restartCount },
    image: { image: imageRef, userSpecifiedImage: container.image ?? "" },
    command: container.command ?? [],
    args: container.args ?? [],
    workingDir: container.workingDir ?? "",
    // KeyValue.value is `bytes` in the CRI schema.
    envs: (container.env ?? []).map((e) => ({ key: e.name, value: Buffer.from(e.value ?? "") })),
    labels: {
      [L.podName]: m.name ?? "",
      [L.podNamespace]: m.namespace ?? "",
      [L.podUid]: m.uid ?? "",
      [L.containerName]: container.name,
    },
    annotations: { ...annotations, [L.containerType]: kind === "regular" ? "container" : kind },
    logPath: `${container.name}/${restartCount}.log`,
    stdin: container.stdin ?? false,
    tty: container.tty ?? false,
    linux: {
      securityContext: { namespaceOptions: { pid: pod.spec?.hostPID ? NamespaceMode.NODE : NamespaceMode.CONTAINER } },
    },
  };
}
