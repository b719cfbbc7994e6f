import type { Pod, PodStatus } from "@nodekit/kubelet-core";

/** One row of the pod table, as `kubectl get pods` shows it. */
export interface PodRow {
  name: string;
  ready: string;
  status: string;
  restarts: string;
  age: string;
}

/**
 * The STATUS column as kubectl prints it: the reason of a waiting or terminated container
 * (`ContainerCreating`, `CrashLoopBackOff`, `Completed`), `Init:0/2` while init containers run,
 * `Terminating` for a pod being deleted, otherwise the phase.
 */
export function podStatusColumn(pod: Pod, status: PodStatus | undefined): string {
  if (!status) return "Pending";
  let reason = status.reason || status.phase || "Pending";
  const inits = pod.spec?.initContainers ?? [];
  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (const [i, c] of initStatuses.entries()) {
    const t = c.state?.terminated;
    if (t && t.exitCode === 0) continue;
    if (inits[i]?.restartPolicy === "Always" && c.started) continue;
    // The first init container that is not done says where initialization is.
    initializing = true;
    if (t) reason = t.reason ? `Init:${t.reason}` : `Init:ExitCode:${t.exitCode}`;
    else if (c.state?.waiting?.reason && c.state.waiting.reason !== "PodInitializing")
      reason = `Init:${c.state.waiting.reason}`;
    else reason = `Init:${i}/${inits.length}`;
    break;
  }
  if (initializing && reason.startsWith("Init:")) return reason;
  for (const c of [...(status.containerStatuses ?? [])].reverse()) {
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state?.terminated) reason = c.state.terminated.reason || `ExitCode:${c.state.terminated.exitCode}`;
  }
  if (pod.metadata?.deletionTimestamp) return "Terminating";
  return reason;
}

/** A table row for a pod; `now` in ms for the AGE column. */
export function podRow(pod: Pod, status: PodStatus | undefined, startedAt: number, now: number): PodRow {
  const containers = status?.containerStatuses ?? [];
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === "Always");
  const sidecarStatuses = (status?.initContainerStatuses ?? []).filter((s) => sidecars.some((c) => c.name === s.name));
  const total = (pod.spec?.containers.length ?? 0) + sidecars.length;
  const ready = [...containers, ...sidecarStatuses].filter((c) => c.ready).length;
  const restarts = [...containers, ...(status?.initContainerStatuses ?? [])].reduce((n, c) => n + c.restartCount, 0);
  return {
    name: pod.metadata?.name ?? "",
    ready: `${ready}/${total}`,
    status: podStatusColumn(pod, status),
    restarts: String(restarts),
    age: formatAge(now - startedAt),
  };
}

/** kubectl's short ages: `5s`, `3m10s`, `2h5m`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** Renders rows in kubectl's column layout. */
export function renderTable(rows: readonly PodRow[]): string {
  const header: PodRow = { name: "NAME", ready: "READY", status: "STATUS", restarts: "RESTARTS", age: "AGE" };
  const all = [header, ...rows];
  const cols = ["name", "ready", "status", "restarts", "age"] as const;
  const widths = cols.map((k) => Math.max(...all.map((r) => r[k].length)));
  return all
    .map((r) => cols.map((k, i) => (i === cols.length - 1 ? r[k] : r[k].padEnd((widths[i] ?? 0) + 3))).join(""))
    .join("\n");
}
