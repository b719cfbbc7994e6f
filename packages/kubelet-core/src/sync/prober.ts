import { isDeadlineExceeded, type RuntimeService } from "@nodekit/cri/api";
import type { Clock } from "../clock.js";
import { KubeletError } from "../errors.js";
import { isRestartableInitContainer } from "../plan/compute-pod-actions.js";
import type { ProbeResult, ProbeResults } from "../plan/types.js";
import type { Container, Pod, Probe } from "../pod.js";
import { formatPod, goErrorText } from "../probe/go-format.js";
import { grpcProbe } from "../probe/grpc.js";
import { HttpGetError, httpGet, maxResponseBodyBytes, newRequestForHttpGet } from "../probe/http.js";
import type { ProbeOutcome } from "../probe/outcome.js";
import { resolveContainerPort } from "../probe/port.js";
import { tcpProbe } from "../probe/tcp.js";
import type { PodRuntimeStatus } from "../runtime-status.js";
import type { EventRecorder } from "./events.js";

export type { ProbeOutcome } from "../probe/outcome.js";

/** The three kinds of probes. */
export type ProbeKind = "liveness" | "readiness" | "startup";

/** One probe to run once. */
export interface ProbeRequest {
  /** The pod. */
  pod: Pod;
  /** The container's spec. */
  container: Container;
  /** The CRI id of the running container. */
  containerId: string;
  /** The probe from the container's spec. */
  probe: Probe;
  /** Which probe it is. */
  kind: ProbeKind;
  /** The pod's IP (empty when the runtime reports none). */
  podIP: string;
}

/**
 * Runs one probe once. Resolves to its outcome (`"success"` and `"failure"` are shorthands of
 * `{ result, output: "" }`); throws when the probe could not be run at all (the kubelet's probe
 * error: retried, reported, and its result thrown away). Pluggable: give your own to the
 * reconciler, and delegate to {@link createProbeRunner}'s for the kinds you do not handle.
 */
export type ProbeHandler = (request: ProbeRequest) => Promise<"success" | "failure" | ProbeOutcome>;

/** The kubelet tries a probe that errored up to this many times within one period (`maxProbeRetries`). */
export const maxProbeRetries = 3;

/**
 * The kubelet's probe runner (`prober.runProbe`) for one attempt:
 * - `exec` through the runtime's ExecSync with `timeoutSeconds` as its timeout: exit 0 is a
 *   success, another exit a failure with the command's output (stdout then stderr, at most
 *   10 KiB); an exec that timed out (`DeadlineExceeded`) is a failure; any other runtime error is
 *   a probe error;
 * - `httpGet` to the action's host or the pod IP with the kubelet's headers (`User-Agent:
 *   kube-probe/1.35`, `Accept: *\/*`): 200–299 success, 300–399 a warning (a redirect to another
 *   host, not followed), else a failure `HTTP probe failed with statuscode: N`; no answer is a
 *   failure with Go's client error (`Get "http://…": dial tcp …: connect: connection refused`);
 * - `tcpSocket`: a connection that opens within the timeout;
 * - `grpc`: `grpc.health.v1.Health/Check` with the probe's `service` against the pod IP;
 * - a port that cannot be resolved, or a probe with no handler, is a probe error: a
 *   {@link KubeletError} (reason `ProbeError`) with the kubelet's text.
 *
 * @example
 * ```ts
 * const runProbe = createProbeRunner(runtime);
 * const outcome = await runProbe({ pod, container, containerId, probe: container.livenessProbe!, kind: "liveness", podIP: "10.88.0.5" });
 * ```
 */
export function createProbeRunner(runtime: RuntimeService): (request: ProbeRequest) => Promise<ProbeOutcome> {
  const runOnce = runProbeOnce(runtime);
  return async (request) => {
    try {
      return await runOnce(request);
    } catch (err) {
      // A probe error: the package's error, the kubelet's text, and the probe.Result it came with.
      const m = request.pod.metadata ?? {};
      const text = err instanceof Error ? err.message : String(err);
      throw Object.assign(
        new KubeletError("ProbeError", text, {
          pod: `${m.namespace}/${m.name}`,
          container: request.container.name,
          cause: err,
        }),
        { probeResult: (err as { probeResult?: string } | undefined)?.probeResult ?? "unknown" },
      );
    }
  };
}

function runProbeOnce(runtime: RuntimeService): (request: ProbeRequest) => Promise<ProbeOutcome> {
  return async ({ pod, probe, container, containerId, podIP }) => {
    const timeoutS = probe.timeoutSeconds ?? 1;
    if (probe.exec) {
      try {
        const r = await runtime.execSync(
          {
            containerId,
            cmd: expandCommand(probe.exec.command ?? [], container),
            timeout: BigInt(Math.trunc(timeoutS)),
          },
          // The kubelet's CRI client waits the runtime's 2 minutes beyond the command's timeout.
          { timeoutMs: timeoutS * 1000 + 120_000 },
        );
        const output = Buffer.concat([Buffer.from(r.stdout), Buffer.from(r.stderr)])
          .subarray(0, maxResponseBodyBytes)
          .toString("utf8");
        return { result: r.exitCode === 0 ? "success" : "failure", output };
      } catch (err) {
        // A timed-out exec is a failed probe (ExecProbeTimeout); its output is whatever it wrote: nothing.
        if (isDeadlineExceeded(err)) return { result: "failure", output: "" };
        throw new Error(goErrorText(err), { cause: err });
      }
    }
    if (probe.httpGet) {
      const req = newRequestForHttpGet(probe.httpGet, container, podIP, "probe");
      try {
        const answer = await httpGet(req, { timeoutMs: timeoutS * 1000 });
        if (answer.statusCode >= 200 && answer.statusCode < 400) {
          if (answer.statusCode >= 300) {
            return { result: "warning", output: `Probe terminated redirects, Response body: ${answer.body}` };
          }
          return { result: "success", output: answer.body };
        }
        return { result: "failure", output: `HTTP probe failed with statuscode: ${answer.statusCode}` };
      } catch (err) {
        if (err instanceof HttpGetError && !err.whileReadingBody) return { result: "failure", output: err.message };
        // A body that did not come is an error with a failure result, as the kubelet's.
        throw Object.assign(err as Error, { probeResult: "failure" });
      }
    }
    if (probe.tcpSocket) {
      const port = resolveContainerPort(probe.tcpSocket.port, container);
      return tcpProbe(probe.tcpSocket.host || podIP, port, timeoutS * 1000);
    }
    if (probe.grpc) {
      return grpcProbe(podIP, probe.grpc.service ?? "", probe.grpc.port, timeoutS);
    }
    throw new Error(`missing probe handler for ${formatPod(pod)}:${container.name}`);
  };
}

/**
 * The kubelet's `ExpandContainerCommandOnlyStatic`: `$(NAME)` in an exec probe's command becomes
 * the value of the container's env var NAME when it has a literal `value`; `$$` is a `$`; any
 * other reference stays as written.
 */
export function expandCommand(command: readonly string[], container: Pick<Container, "env">): string[] {
  const values = new Map<string, string>();
  for (const e of container.env ?? []) if (e.value !== undefined) values.set(e.name, e.value);
  return command.map((word) => {
    let out = "";
    for (let i = 0; i < word.length; i++) {
      const ch = word.charAt(i);
      const next = word[i + 1];
      if (ch !== "$" || next === undefined) {
        out += ch;
      } else if (next === "$") {
        out += "$";
        i++;
      } else if (next === "(") {
        const close = word.indexOf(")", i + 2);
        if (close < 0) {
          out += word.slice(i);
          break;
        }
        const name = word.slice(i + 2, close);
        out += values.get(name) ?? `$(${name})`;
        i = close;
      } else {
        out += ch;
      }
    }
    return out;
  });
}

interface Worker {
  containerId: string;
  lastRunAt: number;
  result: ProbeResult | undefined;
  run: number; // consecutive identical results
  lastResult: "success" | "failure" | undefined;
  running: boolean;
  /** After a liveness failure or a startup verdict: no more runs until a new container. */
  onHold: boolean;
}

/**
 * The kubelet's prober for a reconciler: one worker per container and probe kind, run on the
 * reconciler's clock with the probe's initialDelaySeconds, periodSeconds, timeoutSeconds and
 * success/failure thresholds. Initial results as the kubelet's: readiness failure, liveness
 * success, startup unknown; only the startup probe runs until it succeeded.
 */
export interface Prober extends ProbeResults {
  /** Readiness by container id: true when ready (no readiness probe: not asked). */
  ready(containerId: string): boolean | undefined;
  /** Started by container id: true once the startup probe succeeded. */
  started(containerId: string): boolean | undefined;
  /** Runs the probes that are due for one pod; resolves to true when a result changed. */
  probePod(pod: Pod, rs: PodRuntimeStatus): Promise<boolean>;
  /** Forgets a pod's workers. */
  forget(uid: string): void;
}

/** Options of {@link createProber}. */
export interface ProberOptions {
  /** The runtime exec probes run in. */
  runtime: RuntimeService;
  /** The clock of periods and initial delays. */
  clock: Clock;
  /** Runs one probe instead of {@link createProbeRunner}'s runner. */
  handler?: ProbeHandler | undefined;
  /**
   * Where the kubelet's probe events go: `Warning Unhealthy` `Liveness probe failed: …` for every
   * failed run, `… probe errored and resulted in unknown state: …` for a probe that could not run,
   * `Warning ProbeWarning` `… probe warning: …` for a redirect not followed.
   */
  events?: EventRecorder | undefined;
}

const kindName: Record<ProbeKind, string> = { liveness: "Liveness", readiness: "Readiness", startup: "Startup" };

/**
 * Creates the prober. The reconciler makes its own; use one directly to drive the pure
 * functions yourself. A probe that errors is tried again at once, up to {@link maxProbeRetries}
 * times in all, and if it still errors its result is thrown away (nothing counts toward the
 * thresholds), as the kubelet does.
 *
 * @example
 * ```ts
 * import { computePodActions, computePodStatus, createProber, systemClock } from "@nodekit/kubelet-core";
 *
 * const prober = createProber({ runtime, clock: systemClock });
 * await prober.probePod(pod, runtimeStatus); // runs the probes that are due
 * const actions = computePodActions(pod, runtimeStatus, { probes: prober }); // liveness/startup kills
 * const status = computePodStatus(pod, runtimeStatus, { readiness: prober.ready, startup: prober.started });
 * ```
 */
export function createProber(options: ProberOptions): Prober {
  const { runtime, clock, events } = options;
  const workers = new Map<string, Worker>(); // `${uid}/${container}/${kind}`
  const byContainer = new Map<string, Map<ProbeKind, Worker>>();
  const builtIn = createProbeRunner(runtime);

  /** A custom handler that outlives its timeout (a stuck handler) counts as errored. */
  const withBudget = <T>(promise: Promise<T>, ms: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = clock.setTimeout(() => reject(new Error("probe ran out of time")), ms);
      promise.then(
        (v) => {
          clock.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clock.clearTimeout(timer);
          reject(e);
        },
      );
    });

  const runOnce = async (request: ProbeRequest): Promise<ProbeOutcome> => {
    if (!options.handler) return builtIn(request);
    const budgetMs = ((request.probe.timeoutSeconds ?? 1) + 5) * 1000;
    const r = await withBudget(options.handler(request), budgetMs);
    return typeof r === "string" ? { result: r, output: "" } : r;
  };

  /** The kubelet's `runProbeWithRetries`: an attempt that errored is tried again, up to 3 in all. */
  const runWithRetries = async (request: ProbeRequest): Promise<ProbeOutcome> => {
    let last: unknown;
    for (let i = 0; i < maxProbeRetries; i++) {
      try {
        return await runOnce(request);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };

  const probesOf = (c: Container): [ProbeKind, Probe][] => {
    const out: [ProbeKind, Probe][] = [];
    if (c.startupProbe) out.push(["startup", c.startupProbe]);
    if (c.livenessProbe) out.push(["liveness", c.livenessProbe]);
    if (c.readinessProbe) out.push(["readiness", c.readinessProbe]);
    return out;
  };

  const initial = (kind: ProbeKind): ProbeResult | undefined =>
    kind === "readiness" ? "failure" : kind === "liveness" ? "success" : undefined;

  const result = (id: string, kind: ProbeKind) => byContainer.get(id)?.get(kind)?.result;

  /** Sets a worker's result; true when it changed. */
  const set = (w: Worker, r: ProbeResult): boolean => {
    if (w.result === r) return false;
    w.result = r;
    return true;
  };

  /** Runs one probe with retries, records its event, counts it; resolves to true when the result changed. */
  const probeOnce = async (w: Worker, kind: ProbeKind, request: ProbeRequest): Promise<boolean> => {
    const { pod, container, probe } = request;
    let outcome: ProbeOutcome;
    try {
      outcome = await runWithRetries(request);
    } catch (err) {
      // A probe that errored (not one that failed) is reported and thrown away, as the kubelet does.
      const state = (err as { probeResult?: string } | undefined)?.probeResult ?? "unknown";
      const text = err instanceof Error ? err.message : String(err);
      events?.emit(
        pod,
        "Warning",
        "Unhealthy",
        `${kindName[kind]} probe errored and resulted in ${state} state: ${text}`,
        container.name,
      );
      return false;
    } finally {
      w.running = false;
    }
    if (outcome.result === "failure") {
      events?.emit(pod, "Warning", "Unhealthy", `${kindName[kind]} probe failed: ${outcome.output}`, container.name);
    } else if (outcome.result === "warning") {
      events?.emit(
        pod,
        "Warning",
        "ProbeWarning",
        `${kindName[kind]} probe warning: ${outcome.output}`,
        container.name,
      );
    }
    if (byContainer.get(w.containerId)?.get(kind) !== w) return false; // forgotten or replaced meanwhile
    const r = outcome.result === "success" || outcome.result === "warning" ? "success" : "failure";
    w.run = r === w.lastResult ? w.run + 1 : 1;
    w.lastResult = r;
    const threshold = r === "success" ? (probe.successThreshold ?? 1) : (probe.failureThreshold ?? 3);
    if (w.run < threshold) return false;
    const changed = set(w, r);
    if ((kind === "liveness" && r === "failure") || kind === "startup") {
      // The container will be restarted (or has started): no more runs until a new container.
      w.onHold = true;
      w.run = 0;
    }
    return changed;
  };

  return {
    liveness: (id) => result(id, "liveness"),
    startup: (id) => result(id, "startup"),
    ready: (id) => (byContainer.get(id)?.has("readiness") ? result(id, "readiness") === "success" : undefined),
    started: (id) => (byContainer.get(id)?.has("startup") ? result(id, "startup") === "success" : undefined),
    forget(uid) {
      for (const [key, w] of workers) {
        if (!key.startsWith(`${uid}/`)) continue;
        workers.delete(key);
        byContainer.delete(w.containerId);
      }
    },
    async probePod(pod, rs) {
      const uid = pod.metadata?.uid ?? "";
      const containers = [
        ...(pod.spec?.initContainers ?? []).filter(isRestartableInitContainer),
        ...(pod.spec?.containers ?? []),
      ];
      const now = clock.now();
      const due: Promise<boolean>[] = [];
      let changed = false;
      for (const c of containers) {
        const probes = probesOf(c);
        if (probes.length === 0) continue;
        const status = rs.containerStatuses.find((s) => s.name === c.name);
        for (const [kind, probe] of probes) {
          const key = `${uid}/${c.name}/${kind}`;
          let w = workers.get(key);
          if (!status) continue;
          if (!w || w.containerId !== status.id) {
            // A new container instance starts with fresh results.
            if (w) byContainer.delete(w.containerId);
            w = {
              containerId: status.id,
              lastRunAt: -Infinity,
              result: initial(kind),
              run: 0,
              lastResult: undefined,
              running: false,
              onHold: false,
            };
            workers.set(key, w);
            const kinds = byContainer.get(status.id) ?? new Map<ProbeKind, Worker>();
            kinds.set(kind, w);
            byContainer.set(status.id, kinds);
          }
          if (w.onHold) continue;
          if (status.state !== "running") {
            changed = set(w, "failure") || changed;
            continue;
          }
          if (pod.metadata?.deletionTimestamp && kind !== "readiness") {
            // A pod being deleted is not restarted for a probe: a last success, then quiet.
            changed = set(w, "success") || changed;
            w.onHold = true;
            continue;
          }
          const startedAt = Number(status.startedAt / 1_000_000n);
          if (Math.trunc((now - startedAt) / 1000) < (probe.initialDelaySeconds ?? 0)) continue;
          const containerStarted = !c.startupProbe || result(status.id, "startup") === "success";
          if (containerStarted ? kind === "startup" : kind !== "startup") continue;
          if (w.running || now < w.lastRunAt + (probe.periodSeconds ?? 10) * 1000) continue;
          w.running = true;
          w.lastRunAt = now;
          const podIP = rs.ips[0] ?? "";
          due.push(probeOnce(w, kind, { pod, container: c, containerId: status.id, probe, kind, podIP }));
        }
      }
      const changes = await Promise.all(due);
      return changed || changes.some(Boolean);
    },
  };
}
