import { posix } from "node:path";
import {
  type ContainerConfig,
  type DeepPartial,
  NamespaceMode,
  type PodSandboxConfig,
  Protocol,
} from "@nodekit/cri/api";
import { KubeletError } from "../errors.js";
import { labels as L } from "../labels.js";
import { dns1123LabelProblems, dns1123SubdomainProblems, podHostname } from "../names.js";
import { hashContainer } from "../plan/hash.js";
import type { Container, Pod } from "../pod.js";
import { podMetadataProblems } from "../validate.js";

/** Settings the sandbox and container configs take from the node, not the pod. */
export interface ConfigOptions {
  /** Root of the pod log folders (the kubelet: `/var/log/pods`). */
  podLogsRoot: string;
  /** The cgroup parent of a pod's sandbox (cgroupfs path), if the runtime needs one. */
  cgroupParent?: ((pod: Pod) => string | undefined) | undefined;
  /** The runtime handler (RuntimeClass) to run sandboxes with; empty for the default. */
  runtimeHandler?: string | undefined;
}

/** An `InvalidPod` {@link KubeletError} about `pod` (and one of its containers). */
function invalidPod(pod: Pod, message: string, container?: string): KubeletError {
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  return new KubeletError("InvalidPod", `pod ${name}: ${message}`, { pod: name, container });
}

/**
 * `<root>/<namespace>_<name>_<uid>`: the kubelet's pod log folder. Checks the pod's metadata again
 * (as {@link podMetadataProblems} does) and that the folder is a direct child of `root`, so no pod
 * can make the runtime write outside the log root, whoever calls this.
 *
 * @throws {KubeletError} `InvalidPod`, naming the field, when a part is missing or not a valid name.
 */
export function podLogDirectory(pod: Pod, root: string): string {
  const { labels: _labels, annotations: _annotations, ...names } = pod.metadata ?? {};
  const problems = podMetadataProblems({ metadata: names });
  if (problems.length) throw invalidPod(pod, `no log folder for an invalid pod: ${problems.join("; ")}`);
  const m = pod.metadata ?? {};
  const base = root.replace(/\/+$/, "");
  const dir = `${base}/${m.namespace}_${m.name}_${m.uid}`;
  if (posix.dirname(posix.resolve(base || "/", dir)) !== posix.resolve(base || "/")) {
    throw invalidPod(pod, `log folder ${JSON.stringify(dir)} is outside ${root}`);
  }
  return dir;
}

/** A container's log path inside its pod's log folder: `<name>/<restartCount>.log`. */
function containerLogPath(pod: Pod, container: Container, restartCount: number): string {
  const problems = dns1123LabelProblems(String(container.name));
  if (problems.length || !Number.isSafeInteger(restartCount) || restartCount < 0) {
    throw invalidPod(
      pod,
      `no log path for container ${JSON.stringify(container.name)} (restart ${restartCount}): ${problems.join("; ") || "bad restart count"}`,
      String(container.name),
    );
  }
  return `${container.name}/${restartCount}.log`;
}

/**
 * Checks a cgroup parent before it reaches the runtime: an absolute cgroupfs path or a systemd
 * slice name (`kubepods-pod<uid>.slice`), with no `.` or `..` part, no whitespace or control
 * characters.
 */
function checkCgroupParent(pod: Pod, value: string): string {
  const bad =
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
    /[\s\u0000-\u001f\u007f]/.test(value) ||
    value.split("/").some((part) => part === "." || part === "..") ||
    (!value.startsWith("/") && value.includes("/"));
  if (bad) {
    throw invalidPod(
      pod,
      `cgroup parent ${JSON.stringify(value)} must be an absolute cgroupfs path or a systemd slice name, without "." or ".." parts, whitespace or control characters`,
    );
  }
  return value;
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
  const logDirectory = podLogDirectory(pod, options.podLogsRoot);
  const given = options.cgroupParent?.(pod);
  const cgroupParent = given ? checkCgroupParent(pod, given) : undefined;
  const hostname = podHostname(m.name ?? "", spec.hostname);
  // The runtime shares the host's UTS namespace with host network: no hostname then.
  let sandboxHostname = "";
  if (!hostNetwork) {
    if (hostname === undefined || dns1123SubdomainProblems(hostname).length) {
      throw invalidPod(
        pod,
        `hostname for pod ${JSON.stringify(m.name)} was invalid: ${JSON.stringify(hostname ?? "")}`,
      );
    }
    sandboxHostname = hostname;
  }
  return {
    metadata: { name: m.name ?? "", namespace: m.namespace ?? "", uid: m.uid ?? "", attempt },
    hostname: sandboxHostname,
    logDirectory,
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
    logPath: containerLogPath(pod, container, restartCount),
    stdin: container.stdin ?? false,
    tty: container.tty ?? false,
    linux: {
      securityContext: { namespaceOptions: { pid: pod.spec?.hostPID ? NamespaceMode.NODE : NamespaceMode.CONTAINER } },
    },
  };
}
