import { isNotFound, type RuntimeService } from "@nodekit/cri";
import { type Clock, sleep } from "../clock.js";
import { KubeletError } from "../errors.js";
import type { Container, LifecycleHandler, Pod } from "../pod.js";

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
}

/**
 * Runs lifecycle hooks (postStart, preStop). Pluggable: pass your own to the reconciler, e.g. to
 * run httpGet hooks against pod IPs. Resolves when the hook succeeded; rejects with why it failed.
 */
export interface HookRunner {
  /** Runs one hook; resolves when it succeeded, rejects with why it failed. */
  run(request: HookRequest): Promise<void>;
}

/**
 * The default hook runner: `exec` hooks through the runtime's ExecSync (non-zero exit fails),
 * `sleep` hooks on the reconciler's clock. `httpGet` and `tcpSocket` hooks fail with a
 * `KubeletError` saying they need a custom runner.
 *
 * @example
 * ```ts
 * const hooks = createExecHookRunner(runtime, systemClock);
 * await hooks.run({ pod, container, containerId, kind: "preStop", handler: { exec: { command: ["nginx", "-s", "quit"] } }, timeoutMs: 30_000 });
 * ```
 */
export function createExecHookRunner(runtime: RuntimeService, clock: Clock): HookRunner {
  return {
    async run({ handler, containerId, container, kind, timeoutMs, signal }) {
      if (handler.exec) {
        const cmd = handler.exec.command ?? [];
        const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
        try {
          const r = await runtime.execSync(
            { containerId, cmd, timeout: BigInt(seconds) },
            { signal, timeoutMs: timeoutMs + 5_000 },
          );
          if (r.exitCode !== 0) {
            const out = Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString();
            throw new KubeletError(
              kind === "postStart" ? "PostStartHookError" : "FailedPreStopHook",
              `command '${cmd.join(" ")}' exited with ${r.exitCode}: ${out}`,
              { container: container.name },
            );
          }
        } catch (err) {
          if (isNotFound(err) && kind === "preStop") return; // already gone
          throw err;
        }
        return;
      }
      if (handler.sleep) {
        await sleep(clock, Math.min(handler.sleep.seconds * 1000, timeoutMs), signal);
        return;
      }
      throw new KubeletError(
        kind === "postStart" ? "PostStartHookError" : "FailedPreStopHook",
        `${kind} hook of ${container.name}: only exec and sleep handlers are run by the default hook runner; pass hooks to the reconciler for httpGet/tcpSocket`,
        { container: container.name },
      );
    },
  };
}
