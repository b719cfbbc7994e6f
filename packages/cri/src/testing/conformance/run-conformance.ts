import { randomUUID } from "node:crypto";
import { Code, CriError } from "../../errors.js";
import type { ContainerConfig, DeepPartial, PodSandboxConfig } from "../../gen/messages.js";
import {
  type ImageService,
  type ImageServiceHandlers,
  imageServiceMethods,
  type MethodInfo,
  type RuntimeService,
  type RuntimeServiceHandlers,
  runtimeServiceMethods,
} from "../../gen/services.js";
import { validateResponse } from "../../response-validation.js";
import { type CaseContext, type ConformanceArea, conformanceCases, isUnsupported } from "./cases.js";
import { type KnownDifference, knownDifferences } from "./known-differences.js";

/** The outcome of one conformance case. */
export interface ConformanceResult {
  /** `area/what`, e.g. `container/stop-exited`. */
  name: string;
  /** The area of the case. */
  area: ConformanceArea;
  /** `unsupported`: the runtime answered UNIMPLEMENTED (or the case was not configured). */
  status: "passed" | "failed" | "unsupported";
  /** Why it failed or is unsupported; empty when passed. */
  message: string;
  /** Wall-clock time the case took, cleanup of its sandboxes included, in whole milliseconds. */
  durationMs: number;
  /** Set when the checked-in list of known differences expects this outcome for this runtime. */
  knownDifference?: KnownDifference | undefined;
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /**
   * The runtime under test: a gRPC client, the fake, or a shim's handler object in-process (its
   * missing methods count as UNIMPLEMENTED, as over gRPC).
   */
  runtime: RuntimeService | RuntimeServiceHandlers;
  /** Its image service. */
  image: ImageService | ImageServiceHandlers;
  /**
   * An image present on the runtime whose containers have `sh`, `echo` and `sleep`
   * (default `docker.io/library/busybox:latest`).
   */
  testImage?: string;
  /** An image the suite may remove; without it `image/remove` is reported unsupported. */
  removableImage?: string;
  /** An image whose pull must fail (default `127.0.0.1:1/nodekit/unreachable:1`: nothing listens there). */
  unpullableImage?: string;
  /** Adapts every sandbox config to the runtime (a cgroup parent, a log folder, host network…). */
  sandboxConfig?: (config: DeepPartial<PodSandboxConfig>) => DeepPartial<PodSandboxConfig>;
  /** Adapts every container config (e.g. a log path). */
  containerConfig?: (config: DeepPartial<ContainerConfig>) => DeepPartial<ContainerConfig>;
  /** Runs only these areas (default all). */
  areas?: readonly ConformanceArea[];
  /** Deadline of one case in ms (default 60 s). */
  caseTimeoutMs?: number;
  /** Called after each case, e.g. to print progress. */
  onResult?: (result: ConformanceResult) => void;
  /**
   * Name under which known differences are looked up (default: the runtime's `runtimeName`
   * from Version). See `knownDifferences`.
   */
  runtimeName?: string;
  /**
   * Known differences of the runtime under test, by case name, added to (and overriding) the
   * checked-in list: how a shim author declares what their runtime does not do yet.
   */
  knownDifferences?: Readonly<Record<string, KnownDifference>>;
}

/**
 * Checks a CRI runtime against the semantics critest checks, in the areas runtime info, sandbox
 * and container lifecycle, exec, idempotency and NOT_FOUND rules, images, filters, stats and
 * events. Each case cleans up the sandboxes it made. Resolves to one result per case; it never
 * throws for a misbehaving runtime. It fails at once, before any case, with an `Unavailable`
 * {@link CriError} ("cannot reach the runtime service: …") when the runtime or image service
 * cannot be reached, so that no case passes or fails for that reason.
 *
 * @example
 * ```ts
 * import { createRuntimeClient, createImageClient } from "@nodekit/cri";
 * import { runConformance } from "@nodekit/cri/testing";
 *
 * const endpoint = "unix:///run/my-shim.sock";
 * const results = await runConformance({
 *   runtime: createRuntimeClient(endpoint),
 *   image: createImageClient(endpoint),
 *   areas: ["runtime", "sandbox", "container", "exec"],
 * });
 * for (const r of results) console.log(r.status.padEnd(11), r.name, r.message);
 * ```
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceResult[]> {
  const runtime = complete<RuntimeService>(options.runtime, runtimeServiceMethods, "RuntimeService");
  const image = complete<ImageService>(options.image, imageServiceMethods, "ImageService");
  const caseTimeoutMs = options.caseTimeoutMs ?? 60_000;

  const runId = randomUUID().slice(0, 8);
  const runLabels = { "nodekit-conformance": runId };
  const testImage = options.testImage ?? "docker.io/library/busybox:latest";
  // A runtime that cannot be reached fails the run at once, before any case: no case may pass
  // (or fail) for that reason.
  const reachable = async (what: string, call: () => Promise<unknown>): Promise<unknown> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof CriError && err.code === Code.Unavailable) {
        throw new CriError(Code.Unavailable, `cannot reach the ${what}: ${err.rawMessage}`, {
          method: err.method,
          cause: err,
        });
      }
      return undefined; // it answered (an error is a case's business)
    }
  };
  const version = (await reachable("runtime service", () => runtime.version({}))) as
    | { runtimeName?: string }
    | undefined;
  await reachable("image service", () => image.imageFsInfo({}));
  const runtimeName = options.runtimeName ?? version?.runtimeName ?? "unknown";
  const expected = { ...knownDifferences[runtimeName], ...options.knownDifferences };
  const results: ConformanceResult[] = [];
  let sandboxCounter = 0;

  for (const c of conformanceCases) {
    if (options.areas && !options.areas.includes(c.area)) continue;
    const sandboxes: string[] = [];
    let ended = false;
    const ctx: CaseContext = {
      runtime,
      image,
      testImage,
      removableImage: options.removableImage,
      unpullableImage: options.unpullableImage ?? "127.0.0.1:1/nodekit/unreachable:1",
      runLabels,
      async runSandbox(name) {
        const n = ++sandboxCounter;
        const base: DeepPartial<PodSandboxConfig> = {
          metadata: { name: `${name}-${n}`, namespace: "nodekit-conformance", uid: `${runId}-${n}`, attempt: 0 },
          labels: { ...runLabels, sandbox: name },
          annotations: { "nodekit.dev/case": c.name },
        };
        const config = options.sandboxConfig ? options.sandboxConfig(base) : base;
        const { podSandboxId } = await runtime.runPodSandbox({ config });
        if (ended) {
          // The case already ended (it timed out) and was cleaned up: this one goes at once.
          await removeSandboxes(runtime, [podSandboxId], {});
          throw new Error(`${c.name} ended before its sandbox was made`);
        }
        sandboxes.push(podSandboxId);
        return { id: podSandboxId, config };
      },
      async createContainer(sandbox, name, extra = {}) {
        const base: DeepPartial<ContainerConfig> = {
          metadata: { name, attempt: 0 },
          image: { image: testImage },
          command: ["sh", "-c", "echo started; exec sleep 3600"],
          logPath: `${name}.log`,
          ...extra,
          labels: { ...runLabels, ...extra.labels },
        };
        const config = options.containerConfig ? options.containerConfig(base) : base;
        const { containerId } = await runtime.createContainer({
          podSandboxId: sandbox.id,
          config,
          sandboxConfig: sandbox.config,
        });
        return containerId;
      },
      async startedContainer(sandbox, name) {
        const id = await ctx.createContainer(sandbox, name);
        await runtime.startContainer({ containerId: id });
        return id;
      },
    };

    const started = performance.now();
    let status: ConformanceResult["status"] = "passed";
    let message = "";
    const running = c.run(ctx);
    try {
      await withTimeout(running, caseTimeoutMs, c.name);
    } catch (err) {
      status = isUnsupported(err) ? "unsupported" : "failed";
      message = err instanceof CriError ? err.message : err instanceof Error ? err.message : String(err);
      // A case that timed out may still be making sandboxes: give it a moment (a sandbox it makes
      // after its end removes itself, see runSandbox).
      await withTimeout(running, caseTimeoutMs, c.name).catch(() => undefined);
    }
    ended = true;
    await removeSandboxes(runtime, sandboxes, runLabels);
    const known = expected[c.name];
    const result: ConformanceResult = {
      name: c.name,
      area: c.area,
      status,
      message,
      durationMs: Math.round(performance.now() - started),
      knownDifference: known && known.status === status ? known : undefined,
    };
    results.push(result);
    options.onResult?.(result);
  }
  return results;
}

/** Stops and removes a case's sandboxes, and any other of this run's that a late call made. */
async function removeSandboxes(runtime: RuntimeService, ids: readonly string[], runLabels: Record<string, string>) {
  const all = new Set(ids);
  const listed = Object.keys(runLabels).length
    ? await runtime.listPodSandbox({ filter: { labelSelector: runLabels } }).catch(() => undefined)
    : undefined;
  for (const item of listed?.items ?? []) all.add(item.id);
  for (const id of all) {
    await runtime.stopPodSandbox({ podSandboxId: id }).catch(() => undefined);
    await runtime.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
  }
}

/**
 * True when no case failed, except failures the list of known differences expects for this
 * runtime. `unsupported` cases (the runtime lacks the RPC, or the case was not configured) are
 * reported but do not fail a run.
 */
export function conformancePassed(results: readonly ConformanceResult[]): boolean {
  return results.every((r) => r.status !== "failed" || r.knownDifference !== undefined);
}

/**
 * A full service over a partial handler object: missing methods fail UNIMPLEMENTED (as the server
 * kit answers them over gRPC); partial responses get the defaults the wire would give them and the
 * checks the gRPC client makes (`validateResponse`).
 */
function complete<T>(impl: object, table: readonly MethodInfo[], service: string): T {
  const out: Record<string, unknown> = {};
  for (const m of table) {
    const fn = (impl as Record<string, unknown>)[m.name];
    if (typeof fn === "function") {
      // Handlers get complete requests, as the server kit decodes them, and their (possibly
      // partial) answers get the defaults the server kit would fill in.
      const call = (request: unknown, o: unknown) =>
        (fn as (r: unknown, o: unknown) => unknown).call(
          impl,
          m.request.fromPartial((request ?? {}) as never),
          o ?? {},
        );
      // …and are checked as the gRPC client checks them (k8s.io/cri-client's required fields), so
      // a shim tested in-process fails where it would fail over its socket.
      const fill = (value: unknown, request: unknown) => {
        const filled = m.response.fromPartial((value ?? {}) as never);
        if (!m.serverStream) validateResponse(m.rpc, filled, request);
        return filled;
      };
      out[m.name] = m.serverStream
        ? (request: unknown, o: unknown) => ({
            async *[Symbol.asyncIterator]() {
              for await (const item of call(request, o) as AsyncIterable<unknown>) yield fill(item, request);
            },
          })
        : async (request: unknown, o: unknown) => fill(await call(request, o), request);
      continue;
    }
    const error = () =>
      new CriError(Code.Unimplemented, `${service}/${m.rpc} is not implemented by this runtime`, { method: m.rpc });
    out[m.name] = m.serverStream
      ? () => ({
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error()) }),
        })
      : () => Promise.reject(error());
  }
  return out as T;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
