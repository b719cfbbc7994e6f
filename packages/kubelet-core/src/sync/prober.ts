import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { isDeadlineExceeded, type RuntimeService } from "@nodekit/cri";
import type { Clock } from "../clock.js";
import { isRestartableInitContainer } from "../plan/compute-pod-actions.js";
import type { ProbeResult, ProbeResults } from "../plan/types.js";
import type { Container, Pod, Probe } from "../pod.js";
import type { PodRuntimeStatus } from "../runtime-status.js";

/** The three kinds of probes. */
export type ProbeKind = "liveness" | "readiness" | "startup";

/** Runs one probe once; resolves to its outcome. Pluggable for probes nodekit cannot run itself. */
export type ProbeHandler = (request: {
  pod: Pod;
  container: Container;
  containerId: string;
  probe: Probe;
  kind: ProbeKind;
  podIP: string;
}) => Promise<"success" | "failure">;

interface Worker {
  containerId: string;
  lastRunAt: number;
  result: ProbeResult | undefined;
  run: number; // consecutive identical outcomes
  lastOutcome: "success" | "failure" | undefined;
  running: boolean;
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

/**
 * Creates the prober. Exec probes go through ExecSync; tcpSocket probes connect to the pod IP;
 * httpGet probes fetch from it (success for 200–399). Other handlers (gRPC) need `handler`.
 * The reconciler makes its own; use one directly to drive the pure functions yourself.
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
export function createProber(options: {
  runtime: RuntimeService;
  clock: Clock;
  handler?: ProbeHandler | undefined;
}): Prober {
  const { runtime, clock } = options;
  const workers = new Map<string, Worker>(); // `${uid}/${container}/${kind}`
  const byContainer = new Map<string, Map<ProbeKind, Worker>>();

  const run: ProbeHandler =
    options.handler ??
    (async ({ probe, container, containerId, podIP }) => {
      const timeoutS = probe.timeoutSeconds ?? 1;
      if (probe.exec) {
        try {
          const r = await runtime.execSync(
            { containerId, cmd: probe.exec.command ?? [], timeout: BigInt(Math.ceil(timeoutS)) },
            { timeoutMs: timeoutS * 1000 + 5_000 },
          );
          return r.exitCode === 0 ? "success" : "failure";
        } catch (err) {
          if (isDeadlineExceeded(err)) return "failure";
          throw err;
        }
      }
      const host = probe.tcpSocket?.host ?? probe.httpGet?.host ?? (podIP || "127.0.0.1");
      const port = resolvePort(probe.tcpSocket?.port ?? probe.httpGet?.port ?? 0, container);
      if (probe.tcpSocket) {
        return new Promise((resolve) => {
          const socket = connect({ host, port, timeout: timeoutS * 1000 });
          const done = (ok: boolean) => {
            socket.destroy();
            resolve(ok ? "success" : "failure");
          };
          socket.once("connect", () => done(true));
          socket.once("timeout", () => done(false));
          socket.once("error", () => done(false));
        });
      }
      if (probe.httpGet) {
        const scheme = (probe.httpGet.scheme ?? "HTTP").toLowerCase();
        const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}${probe.httpGet.path ?? "/"}`;
        const headers: Record<string, string> = { "User-Agent": "kube-probe/1.35", Accept: "*/*" };
        for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
        return httpStatusOk(url, headers, timeoutS * 1000);
      }
      // A probe nodekit cannot run counts as passing, as an unknown handler does not kill.
      return "success";
    });

  /** A port number, or a named port of the container (an unknown name is an error, discarded). */
  const resolvePort = (port: number | string, container: Container): number => {
    if (typeof port === "number") return port;
    if (/^\d+$/.test(port)) return Number(port);
    const named = container.ports?.find((p) => p.name === port)?.containerPort;
    if (named === undefined) throw new Error(`container ${container.name} has no port named ${JSON.stringify(port)}`);
    return named;
  };

  /** A run that outlives its timeout (a stuck handler) counts as errored. */
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
              lastOutcome: undefined,
              running: false,
            };
            workers.set(key, w);
            const kinds = byContainer.get(status.id) ?? new Map<ProbeKind, Worker>();
            kinds.set(kind, w);
            byContainer.set(status.id, kinds);
          }
          if (status.state !== "running") {
            if (kind === "readiness") w.result = "failure";
            continue;
          }
          if (pod.metadata?.deletionTimestamp && kind !== "readiness") continue;
          if (kind !== "startup" && c.startupProbe && result(status.id, "startup") !== "success") continue;
          if (kind === "startup" && w.result === "success") continue; // the startup worker is done
          const startedAt = Number(status.startedAt / 1_000_000n);
          if (now < startedAt + (probe.initialDelaySeconds ?? 0) * 1000) continue;
          if (w.running || now < w.lastRunAt + (probe.periodSeconds ?? 10) * 1000) continue;
          w.running = true;
          w.lastRunAt = now;
          const worker = w;
          const budgetMs = ((probe.timeoutSeconds ?? 1) + 5) * 1000;
          due.push(
            withBudget(
              run({ pod, container: c, containerId: status.id, probe, kind, podIP: rs.ips[0] ?? "" }),
              budgetMs,
            )
              // A probe that errored (not one that failed) is thrown away, as the kubelet does.
              .catch((): undefined => undefined)
              .then((outcome) => {
                worker.running = false;
                if (outcome === undefined) return false;
                worker.run = outcome === worker.lastOutcome ? worker.run + 1 : 1;
                worker.lastOutcome = outcome;
                const threshold = outcome === "success" ? (probe.successThreshold ?? 1) : (probe.failureThreshold ?? 3);
                if (worker.run < threshold || worker.result === outcome) return false;
                worker.result = outcome;
                return true;
              }),
          );
        }
      }
      const changes = await Promise.all(due);
      return changes.some(Boolean);
    },
  };
}

/**
 * GETs `url` and resolves to success for a 200–399 answer (redirects are not followed: a 3xx is a
 * success), failure for anything else or no answer. HTTPS certificates are not checked, as the
 * kubelet's prober does not check them.
 */
function httpStatusOk(url: string, headers: Record<string, string>, timeoutMs: number): Promise<"success" | "failure"> {
  return new Promise((resolve) => {
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = send(url, { method: "GET", headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume(); // the body is not read
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? "success" : "failure");
    });
    req.once("timeout", () => req.destroy(new Error("timeout")));
    req.once("error", () => resolve("failure"));
    req.end();
  });
}
