import { isNotFound, PodSandboxState, type RuntimeService } from "@nodekit/cri/api";
import { type Clock, sleep } from "../clock.js";
import { KubeletError } from "../errors.js";
import { labels as L } from "../labels.js";
import type { Container, LifecycleHandler, Pod } from "../pod.js";
import { formatPod, goErrorText, goQuote } from "../probe/go-format.js";
import { type HttpGetRequest, httpGet, newRequestForHttpGet } from "../probe/http.js";

/** One lifecycle hook to run. */
export interface HookRequest {
  /** The pod the container belongs to. */
  pod: Pod;
  /** The container's spec. */
  container: Container;
  /** The CRI id of the container to run the hook in. */
  containerId: string;
  /** Which hook: after the container started, or before it is stopped. */
  kind: "postStart" | "preStop";
  /** The hook from the container's `lifecycle`. */
  handler: LifecycleHandler;
  /** Time the hook may take, in ms (preStop: the grace period). */
  timeoutMs: number;
  /** Aborts when the hook's time budget is spent; stop the hook then. */
  signal?: AbortSignal | undefined;
  /**
   * The pod's IP, when the caller knows it. An httpGet hook without a host goes to it; when it is
   * not given, the runner asks the runtime for the pod's ready sandbox, as the kubelet does.
   */
  podIP?: string | undefined;
  /** Records an event about the pod's container (the runner's `LifecycleHTTPFallback`). */
  recordEvent?: ((type: "Normal" | "Warning", reason: string, message: string) => void) | undefined;
}

/**
 * Runs lifecycle hooks (postStart, preStop). Pluggable: pass your own to the reconciler. Resolves
 * when the hook succeeded; rejects with why it failed (a {@link KubeletError} whose message is the
 * kubelet's, e.g. `HTTP lifecycle hook (/stop) for Container "app" in Pod "web_default(uid)"
 * failed - error: …`).
 */
export interface HookRunner {
  /** Runs one hook; resolves when it succeeded, rejects with why it failed. */
  run(request: HookRequest): Promise<void>;
}

/** Options of {@link createHookRunner}. */
export interface HookRunnerOptions {
  /** The runtime exec hooks run in, and where a pod's IP is looked up. */
  runtime: RuntimeService;
  /** The clock sleep hooks sleep on. */
  clock: Clock;
}

/**
 * The kubelet's hook runner (`pkg/kubelet/lifecycle/handlers.go`):
 * - `exec` through the runtime's ExecSync; a non-zero exit fails with the kubelet's `Exec
 *   lifecycle hook ([cmd]) for Container "c" in Pod "p_ns(uid)" failed - error: command 'cmd'
 *   exited with N: …, message: "…"`;
 * - `httpGet` to the action's host, else the pod IP, with `User-Agent: kube-lifecycle/1.35` and
 *   `Accept: *\/*`, the port by name or number; any HTTP answer is a success (the kubelet does not
 *   read the status), no answer fails with `HTTP lifecycle hook (path) for Container … failed -
 *   error: Get "…": …`; an HTTPS hook answered in plain HTTP is retried over HTTP without its
 *   `Authorization` header, with a `Warning LifecycleHTTPFallback` event;
 * - `sleep` on the clock, failing with `container terminated before sleep hook finished` when the
 *   hook's time (`timeoutMs`, the grace period for preStop) or `signal` ends it first;
 * - anything else (a `tcpSocket` hook: deprecated, never run by the kubelet) fails with the
 *   kubelet's `Cannot run handler: invalid handler: …`.
 *
 * @example
 * ```ts
 * const hooks = createHookRunner({ runtime, clock: systemClock });
 * await hooks.run({ pod, container, containerId, kind: "preStop", handler: { httpGet: { path: "/quit", port: 8080 } }, timeoutMs: 30_000 });
 * ```
 */
export function createHookRunner(options: HookRunnerOptions): HookRunner {
  const { runtime, clock } = options;

  const reasonOf = (kind: HookRequest["kind"]) => (kind === "postStart" ? "PostStartHookError" : "FailedPreStopHook");

  /** The pod's IP from its newest ready sandbox (the kubelet's GetPodStatus). */
  const lookUpPodIP = async (pod: Pod): Promise<string> => {
    const uid = pod.metadata?.uid ?? "";
    const { items } = await runtime.listPodSandbox({ filter: { labelSelector: { [L.podUid]: uid } } });
    const ready = items
      .filter((s) => s.state === PodSandboxState.SANDBOX_READY)
      .sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0))[0];
    if (!ready) return "";
    const { status } = await runtime.podSandboxStatus({ podSandboxId: ready.id });
    return status?.network?.ip ?? "";
  };

  const runHttp = async (request: HookRequest, action: NonNullable<LifecycleHandler["httpGet"]>): Promise<void> => {
    const { pod, container, signal } = request;
    let podIP = action.host ?? "";
    if (!podIP) {
      podIP = request.podIP || (await lookUpPodIP(pod));
      if (!podIP) throw new Error(`failed to find networking container: pod ${formatPod(pod)} has no IP`);
    }
    const req = newRequestForHttpGet(action, container, podIP, "lifecycle");
    try {
      await httpGet(req, { signal });
    } catch (err) {
      if (!(err instanceof Error && "httpResponseToHttps" in err && err.httpResponseToHttps)) throw err;
      const retry: HttpGetRequest = { url: req.url.replace(/^https:/, "http:"), headers: new Map(req.headers) };
      retry.headers.delete("Authorization");
      try {
        await httpGet(retry, { signal });
      } catch {
        throw err; // the fallback failed too: the HTTPS error stands
      }
      const hostPort = new URL(retry.url).host;
      request.recordEvent?.(
        "Warning",
        "LifecycleHTTPFallback",
        `request to HTTPS lifecycle hook ${hostPort} got HTTP response, retry with HTTP succeeded`,
      );
    }
  };

  return {
    async run(request) {
      const { handler, containerId, container, kind, timeoutMs, signal, pod } = request;
      const where = `for Container ${goQuote(container.name)} in Pod ${goQuote(formatPod(pod))}`;
      if (handler.exec) {
        const cmd = handler.exec.command ?? [];
        const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
        let detail: string;
        let output = "";
        try {
          const r = await runtime.execSync(
            { containerId, cmd, timeout: BigInt(seconds) },
            { signal, timeoutMs: timeoutMs + 5_000 },
          );
          if (r.exitCode === 0) return;
          const stderr = Buffer.from(r.stderr).toString();
          output = Buffer.from(r.stdout).toString() + stderr;
          detail = `command '${cmd.join(" ")}' exited with ${r.exitCode}: ${stderr}`;
        } catch (err) {
          if (isNotFound(err) && kind === "preStop") return; // already gone
          detail = goErrorText(err);
        }
        throw new KubeletError(
          reasonOf(kind),
          `Exec lifecycle hook ([${cmd.join(" ")}]) ${where} failed - error: ${detail}, message: ${goQuote(output)}`,
          { container: container.name },
        );
      }
      if (handler.httpGet) {
        try {
          await runHttp(request, handler.httpGet);
        } catch (err) {
          throw new KubeletError(
            reasonOf(kind),
            `HTTP lifecycle hook (${handler.httpGet.path ?? ""}) ${where} failed - error: ${err instanceof Error ? err.message : String(err)}`,
            { container: container.name, cause: err },
          );
        }
        return;
      }
      if (handler.sleep) {
        const wanted = handler.sleep.seconds * 1000;
        try {
          await sleep(clock, Math.min(wanted, timeoutMs), signal);
          if (wanted <= timeoutMs) return;
        } catch {
          // aborted: the container is being stopped before the sleep ended
        }
        throw new KubeletError(
          reasonOf(kind),
          `Sleep lifecycle hook (${handler.sleep.seconds}) ${where} failed - error: container terminated before sleep hook finished`,
          { container: container.name },
        );
      }
      throw new KubeletError(reasonOf(kind), `Cannot run handler: invalid handler: ${goHandlerText(handler)}`, {
        container: container.name,
      });
    },
  };
}

/**
 * The former name of {@link createHookRunner}, kept for callers of the first release: it runs
 * every kind of hook the kubelet runs (exec, httpGet, sleep), not only exec.
 *
 * @deprecated Use {@link createHookRunner}.
 * @example
 * ```ts
 * const hooks = createExecHookRunner(runtime, systemClock);
 * ```
 */
export function createExecHookRunner(runtime: RuntimeService, clock: Clock): HookRunner {
  return createHookRunner({ runtime, clock });
}

/**
 * A handler as the kubelet's `%v` prints a `*v1.LifecycleHandler` (the generated `String()`):
 * `&LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}`.
 */
function goHandlerText(h: LifecycleHandler): string {
  const port = (p: number | string) => (typeof p === "number" ? `{0 ${p} }` : `{1 0 ${p}}`);
  const tcp = h.tcpSocket ? `&TCPSocketAction{Port:${port(h.tcpSocket.port)},Host:${h.tcpSocket.host ?? ""},}` : "nil";
  return `&LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:${tcp},Sleep:nil,}`;
}
