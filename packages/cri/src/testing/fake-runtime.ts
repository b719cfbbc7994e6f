import { createHash } from "node:crypto";
import { connect } from "node:net";
import { pipeline } from "node:stream/promises";
import type { CallOptions } from "../call-options.js";
import { Code, CriError } from "../errors.js";
import {
  type Container,
  type ContainerConfig,
  type ContainerEventResponse,
  ContainerEventType,
  type ContainerFilter,
  ContainerState,
  ContainerStats,
  type ContainerStatsFilter,
  ContainerStatus,
  type DeepPartial,
  type ExecSyncResponse,
  type Image,
  ImageFsInfoResponse,
  type ImageStatusResponse,
  NamespaceMode,
  type PodSandbox,
  type PodSandboxConfig,
  type PodSandboxFilter,
  PodSandboxState,
  PodSandboxStatus,
  type PodSandboxStatusResponse,
  type RuntimeCondition,
  type VersionResponse,
} from "../gen/messages.js";
import type { ImageService, RuntimeService } from "../gen/services.js";
import { normalizeImageRef } from "../image-ref.js";
import { createStreamingServer, type StreamingServer } from "../streaming/server.js";
import { requireFields } from "../validate.js";

/**
 * Time and timers for the fake runtime. The default is the wall clock; kubelet-core's
 * `createFakeClock()` implements it to run the fake in virtual time.
 */
export interface FakeRuntimeClock {
  /** Milliseconds since the epoch (may be fractional). */
  now(): number;
  /** Runs `fn` after `ms` milliseconds of this clock's time; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** What an exec in the fake produces. */
export interface FakeExecResult {
  /** What the command wrote to stdout (default empty). */
  stdout?: string | Uint8Array;
  /** What the command wrote to stderr (default empty). */
  stderr?: string | Uint8Array;
  /** The command's exit code (default 0). A non-zero exit is not a gRPC error. */
  exitCode?: number;
}

/** How the fake answers a pull of one image reference. */
export interface FakePullScript {
  /** Fail the pull with this error (a string becomes an `Unknown` CriError, as containerd answers). */
  error?: CriError | string;
  /** Take this long (in the fake's clock) before answering. */
  delayMs?: number;
  /** Size of the pulled image in bytes (default 1 MiB). */
  size?: number;
}

/** How a started container behaves on its own, decided when it starts. */
export interface FakeContainerBehaviour {
  /** Exit this long after starting (fake clock ms). Omit to run until stopped. */
  exitAfterMs?: number;
  /** Exit code when it exits on its own (default 0). */
  exitCode?: number;
  /** Reason reported; default `Completed` for 0, `Error` otherwise. */
  reason?: string;
  /** Message reported with the exit. */
  message?: string;
}

/** Options of {@link createFakeRuntime}. */
export interface FakeRuntimeOptions {
  /** Clock for timestamps, pull delays and container exits (default: wall clock and timers). */
  clock?: FakeRuntimeClock;
  /** Seed of the deterministic ids (default `nodekit-fake`); two fakes with one seed give one id sequence. */
  idSeed?: string;
  /** `runtimeName` in Version (default `nodekit-fake`). */
  runtimeName?: string;
  /** `runtimeVersion` in Version (default `0.1.0`). */
  runtimeVersion?: string;
  /** Images present from the start (default: `registry.k8s.io/pause:3.10` and `docker.io/library/busybox:latest`). */
  images?: readonly string[];
  /**
   * Images a pull may fetch, beyond the preloaded ones. A pull of anything else fails with
   * `NotFound`, as a pull from a registry that lacks it. `"*"` lets every pull succeed.
   */
  registry?: readonly string[];
  /** First three octets of the pod IPs handed out (default `10.88.0`, then `10.88.1`, …). */
  podNetwork?: string;
  /** Answers ExecSync; default: a tiny interpreter of `echo`, `true`, `false`, `exit N`, `sh -c '…'`. */
  exec?: (request: {
    containerId: string;
    cmd: string[];
    container: ContainerStatus;
  }) => FakeExecResult | Promise<FakeExecResult>;
  /**
   * Decides how each container behaves once started. When it is not given or returns undefined,
   * the fake reads the command: a script the exec interpreter understands (`sh -c "echo hi; exit 3"`,
   * `true`, `false`) exits with its code right after starting; anything that sleeps, anything else,
   * and an empty command run until stopped.
   */
  containerBehaviour?: (config: ContainerConfig, containerId: string) => FakeContainerBehaviour | undefined;
  /**
   * How many calls `calls` and `callLog` keep (default 100,000; the oldest go first), so a fake
   * that serves a long-running agent does not grow without bound. See also `callLogBytes`.
   */
  callLogLimit?: number;
  /**
   * How many bytes of requests `callLog` keeps (default 32 MiB, {@link DEFAULT_CALL_LOG_BYTES}),
   * estimated from the requests' strings, byte arrays and fields. Past it the oldest calls go
   * first, from `calls` too; `droppedCalls` counts them. The newest call is always kept, whatever
   * its size.
   */
  callLogBytes?: number;
  /**
   * How many events a `GetContainerEvents` subscriber may have waiting (default 1,000, the buffer
   * of containerd 1.7's container events). A subscriber that falls further behind is dropped, as
   * containerd ends a subscription it cannot feed: its waiting events are discarded and its next
   * read fails with `Unavailable` ("container events subscription closed by server"); subscribe
   * again and relist.
   */
  eventQueueLimit?: number;
  /**
   * Serve Exec, Attach and PortForward through a streaming server of the fake's own
   * (`createStreamingServer` on 127.0.0.1, started on the first such call; default `false`:
   * they answer `Unimplemented`). Exec runs the ExecSync interpreter (or `exec`) and streams its
   * output and exit code, `cat` copies stdin to stdout; Attach copies stdin to stdout until stdin
   * ends or the client leaves; PortForward connects to the port on the host's loopback (the fake's
   * pods have no network of their own). Call `closeStreaming()` when done.
   */
  streaming?: boolean;
}

/** The default of {@link FakeRuntimeOptions.callLogBytes}: 32 MiB. */
export const DEFAULT_CALL_LOG_BYTES = 32 * 1024 * 1024;
/** The default of {@link FakeRuntimeOptions.eventQueueLimit}: 1,000 events. */
export const DEFAULT_EVENT_QUEUE_LIMIT = 1_000;

/** How a container exit is driven by a test. */
export interface FakeExit {
  /** The exit code the container status reports. */
  exitCode: number;
  /** Default `Completed` for 0, `Error` otherwise. */
  reason?: string;
  /** The message the container status reports (default empty). */
  message?: string;
}

/** One entry of the fake's call log. */
export interface FakeCall {
  /** RPC name, e.g. `RunPodSandbox`. */
  readonly method: string;
  /** The request as received. */
  readonly request: unknown;
}

/**
 * An in-memory CRI runtime with containerd's semantics, implementing both {@link RuntimeService}
 * and {@link ImageService}, plus controls for tests.
 */
export interface FakeRuntime extends RuntimeService, ImageService {
  /** RPC names of every call, in order, including calls that failed. */
  readonly calls: readonly string[];
  /** Every call with its request, in order. */
  readonly callLog: readonly FakeCall[];
  /**
   * How many calls were dropped from the front of `calls` and `callLog` (by `callLogLimit` or
   * `callLogBytes`) since the fake was made or `clearCalls()` was called; 0 when the log is complete.
   */
  readonly droppedCalls: number;
  /** Empties the call log (and resets `droppedCalls`). */
  clearCalls(): void;
  /**
   * Makes `method` (RPC name like `StopContainer`, or the camelCase method) fail with `error`
   * (default: an `Unknown` CriError "injected error") the next `times` calls (default 1;
   * `Infinity` for always). Injections queue up in order.
   */
  injectError(method: string, error?: CriError | Error, options?: { times?: number }): void;
  /** Removes every queued injected error. */
  clearErrors(): void;
  /** Makes a running container exit as a test decides (crash, completion, OOM kill). */
  exitContainer(containerId: string, exit: FakeExit): void;
  /** Shorthand: exit 0, reason `Completed`. */
  completeContainer(containerId: string): void;
  /** Shorthand: exit `exitCode` (default 1), reason `Error`. */
  crashContainer(containerId: string, exitCode?: number): void;
  /** Shorthand: exit 137, reason `OOMKilled`. */
  oomKillContainer(containerId: string): void;
  /** Scripts the pulls of one image reference (normalized as containerd does). */
  scriptPull(image: string, script: FakePullScript): void;
  /** Adds an image as if pulled; returns its id. */
  addImage(image: string, size?: number): string;
  /** Sets the runtime conditions Status reports (default both ready). */
  setConditions(conditions: { runtimeReady?: boolean; networkReady?: boolean }): void;
  /** A copy of a container's status, or `undefined`. */
  getContainer(containerId: string): ContainerStatus | undefined;
  /** A copy of a sandbox's status, or `undefined`. */
  getSandbox(podSandboxId: string): PodSandboxStatus | undefined;
  /** Stops the streaming server of the `streaming` option (if it was started) and its sessions. */
  closeStreaming(): Promise<void>;
  /** Number of sandboxes and containers held. */
  size(): {
    /** Sandboxes held, in any state. */
    sandboxes: number;
    /** Containers held, in any state. */
    containers: number;
    /** Images present. */
    images: number;
  };
}

interface SandboxRecord {
  id: string;
  config: PodSandboxConfig;
  state: PodSandboxState;
  createdAt: bigint;
  ip: string;
  containers: Set<string>;
}

interface ContainerRecord {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  imageRef: string;
  state: ContainerState;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  exitTimer?: unknown;
  stats?: DeepPartial<ContainerStats>;
}

interface ImageRecord {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: bigint;
}

const systemClock: FakeRuntimeClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const MiB = 1024 * 1024;

/**
 * Creates an in-memory CRI runtime for offline tests, usable in-process (no gRPC) or served on a
 * socket by `createCriServer({ runtime: fake, image: fake })`.
 *
 * It follows containerd's answers (checked against containerd by the conformance suite): sandboxes
 * go READY → NOTREADY, containers CREATED → RUNNING → EXITED with nanosecond timestamps; Stop and
 * Remove are idempotent, and unknown ids answer NOT_FOUND where containerd does; removing a sandbox
 * removes its containers; ids resolve by unique prefix; List filters match id prefix, state and
 * labels. Tests drive exits, pulls, exec results and errors, and read the call log.
 *
 * @example
 * ```ts
 * import { createFakeRuntime } from "@nodekit/cri/testing";
 *
 * const fake = createFakeRuntime();
 * const config = { metadata: { name: "web", namespace: "default", uid: "u1" } };
 * const { podSandboxId } = await fake.runPodSandbox({ config });
 * const { containerId } = await fake.createContainer({
 *   podSandboxId,
 *   config: { metadata: { name: "app" }, image: { image: "busybox" } },
 *   sandboxConfig: config,
 * });
 * await fake.startContainer({ containerId });
 * fake.crashContainer(containerId, 2);
 * const { status } = await fake.containerStatus({ containerId });
 * // status.state === CONTAINER_EXITED, status.exitCode === 2, status.reason === "Error"
 * ```
 */
export function createFakeRuntime(options: FakeRuntimeOptions = {}): FakeRuntime {
  const clock = options.clock ?? systemClock;
  const seed = options.idSeed ?? "nodekit-fake";
  const podNetwork = options.podNetwork ?? "10.88.0";
  const sandboxes = new Map<string, SandboxRecord>();
  const containers = new Map<string, ContainerRecord>();
  const images = new Map<string, ImageRecord>();
  const sandboxNames = new Map<string, string>();
  const containerNames = new Map<string, string>();
  const registry = new Set((options.registry ?? []).map((r) => (r === "*" ? r : normalizeImageRef(r))));
  const pullScripts = new Map<string, FakePullScript>();
  const errors = new Map<string, { error: CriError | Error; remaining: number }[]>();
  const callLog: FakeCall[] = [];
  const callLogLimit = options.callLogLimit ?? 100_000;
  const callLogBytes = options.callLogBytes ?? DEFAULT_CALL_LOG_BYTES;
  const eventQueueLimit = options.eventQueueLimit ?? DEFAULT_EVENT_QUEUE_LIMIT;
  const calls: string[] = [];
  // The estimated size of each logged request, parallel to callLog, and their sum.
  const callSizes: number[] = [];
  let loggedBytes = 0;
  let droppedCalls = 0;
  const listeners = new Set<(event: ContainerEventResponse) => void>();
  let idCounter = 0;
  let ipCounter = 0;
  let runtimeReady = true;
  let networkReady = true;

  // Timestamps strictly increase, even when the clock stands still (a fake clock between advances),
  // so "newest first" is always well defined, as with a real runtime's nanosecond clock.
  let lastNs = 0n;
  const nowNs = (): bigint => {
    const t = BigInt(Math.round(clock.now() * 1e3)) * 1000n;
    lastNs = t > lastNs ? t : lastNs + 1n;
    return lastNs;
  };
  const newId = (kind: string): string => createHash("sha256").update(`${seed}/${kind}/${++idCounter}`).digest("hex");

  // --- bookkeeping -----------------------------------------------------------------------------

  const dropOldestCalls = (n: number): void => {
    if (n <= 0) return;
    calls.splice(0, n);
    callLog.splice(0, n);
    for (const size of callSizes.splice(0, n)) loggedBytes -= size;
    droppedCalls += n;
  };
  const enter = (method: string, request: unknown, callOptions: CallOptions | undefined): void => {
    const size = estimateBytes(method) + estimateBytes(request);
    calls.push(method);
    callLog.push({ method, request });
    callSizes.push(size);
    loggedBytes += size;
    // Trimmed in batches (to 90% of a bound), so recording a call stays O(1) amortised.
    if (calls.length > callLogLimit + callLogLimit / 10) dropOldestCalls(calls.length - callLogLimit);
    if (loggedBytes > callLogBytes) {
      let n = 0;
      let bytes = loggedBytes;
      while (n < callSizes.length - 1 && bytes > callLogBytes * 0.9) bytes -= callSizes[n++] ?? 0;
      dropOldestCalls(n);
    }
    if (callOptions?.signal?.aborted) throw new CriError(Code.Cancelled, "call cancelled", { method });
    const head = errors.get(method)?.[0];
    if (head) {
      if (--head.remaining <= 0) errors.get(method)?.shift();
      throw CriError.from(head.error, method);
    }
  };

  const resolveIn = <T>(map: Map<string, T>, id: string, what: string, method: string): T | undefined => {
    const exact = map.get(id);
    if (exact || !id) return exact;
    let found: T | undefined;
    let count = 0;
    for (const [key, value] of map) {
      if (key.startsWith(id)) {
        found = value;
        count++;
      }
    }
    if (count > 1) throw new CriError(Code.InvalidArgument, `${what} id prefix "${id}" is ambiguous`, { method });
    return found;
  };
  /** The record of a container a sandbox lists; every id in a sandbox's set is one of `containers`. */
  const memberOf = (id: string): ContainerRecord => {
    const c = containers.get(id);
    if (!c)
      throw new CriError(Code.Internal, `fake runtime: a sandbox lists container "${id}", which it does not have`);
    return c;
  };
  const sandboxOrThrow = (id: string, method: string): SandboxRecord => {
    const s = resolveIn(sandboxes, id, "sandbox", method);
    if (!s)
      throw new CriError(Code.NotFound, `an error occurred when try to find sandbox "${id}": not found`, { method });
    return s;
  };
  const containerOrThrow = (id: string, method: string): ContainerRecord => {
    const c = resolveIn(containers, id, "container", method);
    if (!c) {
      throw new CriError(Code.NotFound, `an error occurred when try to find container "${id}": not found`, { method });
    }
    return c;
  };

  const emit = (c: ContainerRecord, type: ContainerEventType): void => {
    if (listeners.size === 0) return;
    const sandbox = sandboxes.get(c.sandboxId);
    const event: ContainerEventResponse = {
      containerId: c.id,
      containerEventType: type,
      createdAt: nowNs(),
      podSandboxStatus: sandbox ? sandboxStatus(sandbox) : undefined,
      containersStatuses: sandbox ? [...sandbox.containers].map((id) => containerStatus(memberOf(id))) : [],
    };
    if (type === ContainerEventType.CONTAINER_DELETED_EVENT) event.containersStatuses.push(containerStatus(c));
    for (const l of listeners) l(event);
  };

  const finish = (c: ContainerRecord, exit: FakeExit): void => {
    if (c.state === ContainerState.CONTAINER_EXITED) return;
    if (c.exitTimer !== undefined) clock.clearTimeout(c.exitTimer);
    c.exitTimer = undefined;
    c.state = ContainerState.CONTAINER_EXITED;
    c.finishedAt = nowNs();
    c.exitCode = exit.exitCode;
    c.reason = exit.reason ?? (exit.exitCode === 0 ? "Completed" : "Error");
    c.message = exit.message ?? "";
    emit(c, ContainerEventType.CONTAINER_STOPPED_EVENT);
  };

  const removeContainerRecord = (c: ContainerRecord): void => {
    if (c.exitTimer !== undefined) clock.clearTimeout(c.exitTimer);
    containers.delete(c.id);
    containerNames.delete(containerNameKey(c.config, sandboxes.get(c.sandboxId)?.config));
    sandboxes.get(c.sandboxId)?.containers.delete(c.id);
    emit(c, ContainerEventType.CONTAINER_DELETED_EVENT);
  };

  // --- views -----------------------------------------------------------------------------------

  const sandboxStatus = (s: SandboxRecord): PodSandboxStatus =>
    PodSandboxStatus.fromPartial({
      id: s.id,
      metadata: s.config.metadata,
      state: s.state,
      createdAt: s.createdAt,
      network: { ip: s.ip },
      linux: { namespaces: { options: s.config.linux?.securityContext?.namespaceOptions ?? {} } },
      labels: s.config.labels,
      annotations: s.config.annotations,
      runtimeHandler: "",
    });
  const sandboxItem = (s: SandboxRecord): PodSandbox => ({
    id: s.id,
    metadata: s.config.metadata && { ...s.config.metadata },
    state: s.state,
    createdAt: s.createdAt,
    labels: { ...s.config.labels },
    annotations: { ...s.config.annotations },
    runtimeHandler: "",
  });
  const containerStatus = (c: ContainerRecord): ContainerStatus =>
    ContainerStatus.fromPartial({
      id: c.id,
      metadata: c.config.metadata,
      state: c.state,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      finishedAt: c.finishedAt,
      exitCode: c.exitCode,
      image: c.config.image,
      imageRef: c.imageRef,
      reason: c.reason,
      message: c.message,
      labels: c.config.labels,
      annotations: c.config.annotations,
      mounts: c.config.mounts,
      logPath: logPathOf(c, sandboxes.get(c.sandboxId)),
      imageId: c.imageRef,
    });
  const containerItem = (c: ContainerRecord): Container => ({
    id: c.id,
    podSandboxId: c.sandboxId,
    metadata: c.config.metadata && { ...c.config.metadata },
    image: c.config.image && { ...c.config.image, annotations: { ...c.config.image.annotations } },
    imageRef: c.imageRef,
    state: c.state,
    createdAt: c.createdAt,
    labels: { ...c.config.labels },
    annotations: { ...c.config.annotations },
    imageId: c.imageRef,
  });
  const imageView = (i: ImageRecord): Image => ({
    id: i.id,
    repoTags: [...i.repoTags],
    repoDigests: [...i.repoDigests],
    size: i.size,
    uid: undefined,
    username: "",
    spec: undefined,
    pinned: false,
  });
  const containerStatsOf = (c: ContainerRecord): ContainerStats => {
    const ts = nowNs();
    const base: DeepPartial<ContainerStats> = {
      attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations },
      cpu: { timestamp: ts, usageCoreNanoSeconds: { value: 0n }, usageNanoCores: { value: 0n } },
      memory: { timestamp: ts, workingSetBytes: { value: 0n }, usageBytes: { value: 0n } },
      writableLayer: { timestamp: ts, fsId: { mountpoint: "/var/lib/nodekit-fake" }, usedBytes: { value: 0n } },
    };
    return ContainerStats.fromPartial({ ...base, ...c.stats, attributes: base.attributes });
  };

  // --- images ----------------------------------------------------------------------------------

  const findImage = (ref: string): ImageRecord | undefined => {
    if (!ref) return undefined;
    const byId = images.get(ref.startsWith("sha256:") ? ref : `sha256:${ref}`);
    if (byId) return byId;
    const normalized = normalizeImageRef(ref);
    for (const image of images.values()) {
      if (image.repoTags.includes(normalized) || image.repoDigests.includes(normalized)) return image;
    }
    if (/^[0-9a-f]{6,64}$/.test(ref)) {
      for (const image of images.values()) if (image.id.slice(7).startsWith(ref)) return image;
    }
    return undefined;
  };
  const addImage = (ref: string, size = MiB): string => {
    const normalized = normalizeImageRef(ref);
    const existing = findImage(normalized);
    if (existing) return existing.id;
    const digest = createHash("sha256").update(`image/${normalized}`).digest("hex");
    const id = `sha256:${digest}`;
    const repo = normalized.replace(/[:@][^/]*$/, "");
    images.set(id, {
      id,
      repoTags: normalized.includes("@") ? [] : [normalized],
      repoDigests: [`${repo}@sha256:${createHash("sha256").update(`manifest/${normalized}`).digest("hex")}`],
      size: BigInt(size),
    });
    return id;
  };
  for (const ref of options.images ?? ["registry.k8s.io/pause:3.10", "docker.io/library/busybox:latest"]) addImage(ref);

  const sleep = (ms: number, signal: AbortSignal | undefined, method: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const handle = clock.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      function onAbort(): void {
        clock.clearTimeout(handle);
        reject(new CriError(Code.Cancelled, "call cancelled", { method }));
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });

  // --- streaming (Exec, Attach, PortForward through the server kit) ---------------------------

  let streaming: Promise<StreamingServer> | undefined;
  const runningContainer = (id: string, method: string): ContainerRecord => {
    if (!id)
      throw new CriError(Code.InvalidArgument, "missing required container_id", { method, field: "containerId" });
    const c = containerOrThrow(id, method);
    if (c.state !== ContainerState.CONTAINER_RUNNING) {
      throw new CriError(Code.FailedPrecondition, `container is in ${ContainerState[c.state]} state`, { method });
    }
    return c;
  };
  const streamingServer = (): Promise<StreamingServer> => {
    streaming ??= (async () => {
      const server = createStreamingServer({
        async exec(request, { stdin, stdout, stderr, tty }) {
          const cmd = request.cmd;
          if (stdin && (cmd[0] === "cat" || cmd[0] === "/bin/cat") && cmd.length === 1) {
            if (stdout) await pipeline(stdin, stdout);
            else stdin.resume();
            return 0;
          }
          const c = containers.get(request.containerId);
          const result = options.exec
            ? await options.exec({ containerId: request.containerId, cmd, container: c && containerStatus(c) } as {
                containerId: string;
                cmd: string[];
                container: ContainerStatus;
              })
            : interpret(cmd);
          // A TTY has one output stream: stderr goes to the terminal too.
          stdout?.write(toBuffer(result.stdout));
          (tty ? stdout : stderr)?.write(toBuffer(result.stderr));
          return result.exitCode ?? 0;
        },
        async attach(_request, { stdin, stdout, signal }) {
          if (stdin && stdout) {
            await pipeline(stdin, stdout, { end: false }).catch(() => {});
            return 0;
          }
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
          return 0;
        },
        async portForward({ port }, stream, signal) {
          const socket = connect({ host: "127.0.0.1", port });
          await new Promise<void>((resolve, reject) => {
            socket.once("connect", () => resolve());
            socket.once("error", reject);
          });
          const onAbort = () => socket.destroy();
          signal.addEventListener("abort", onAbort, { once: true });
          try {
            // As containerd: the forward is over when the pod side has sent all it will send.
            stream.pipe(socket);
            await pipeline(socket, stream);
          } finally {
            signal.removeEventListener("abort", onAbort);
          }
        },
      });
      await server.start();
      return server;
    })();
    return streaming;
  };

  // --- the services ----------------------------------------------------------------------------

  const unimplemented = (method: string) => async (request: unknown, o?: CallOptions) => {
    enter(method, request, o);
    throw new CriError(Code.Unimplemented, `method ${method} not implemented`, { method });
  };
  const unimplementedStream = (method: string) => (request: unknown, o?: CallOptions) => ({
    // biome-ignore lint/correctness/useYield: answers UNIMPLEMENTED before any item
    async *[Symbol.asyncIterator]() {
      enter(method, request, o);
      throw new CriError(Code.Unimplemented, `method ${method} not implemented`, { method });
    },
  });
  const onePage =
    <T>(method: string, list: (request: never) => T) =>
    (request: unknown, o?: CallOptions) => ({
      async *[Symbol.asyncIterator]() {
        enter(method, request, o);
        yield list(request as never);
      },
    });

  const listSandboxes = (filter: DeepPartial<PodSandboxFilter> | undefined): PodSandbox[] => {
    const out: PodSandbox[] = [];
    for (const s of sandboxes.values()) {
      if (filter?.id && !s.id.startsWith(filter.id)) continue;
      if (filter?.state && s.state !== (filter.state.state ?? PodSandboxState.SANDBOX_READY)) continue;
      if (!labelsMatch(s.config.labels, filter?.labelSelector)) continue;
      out.push(sandboxItem(s));
    }
    return out;
  };
  const listContainerRecords = (filter: DeepPartial<ContainerFilter> | undefined): ContainerRecord[] => {
    const out: ContainerRecord[] = [];
    const scope = filter?.podSandboxId ? sandboxesByPrefix(filter.podSandboxId) : undefined;
    for (const c of containers.values()) {
      if (filter?.id && !c.id.startsWith(filter.id)) continue;
      if (scope && !scope.has(c.sandboxId)) continue;
      if (filter?.state && c.state !== (filter.state.state ?? ContainerState.CONTAINER_CREATED)) continue;
      if (!labelsMatch(c.config.labels, filter?.labelSelector)) continue;
      out.push(c);
    }
    return out;
  };
  const sandboxesByPrefix = (prefix: string): Set<string> => {
    const ids = new Set<string>();
    if (sandboxes.has(prefix)) ids.add(prefix);
    else for (const id of sandboxes.keys()) if (id.startsWith(prefix)) ids.add(id);
    return ids;
  };
  const listStats = (filter: DeepPartial<ContainerStatsFilter> | undefined): ContainerStats[] =>
    listContainerRecords(filter)
      .filter((c) => c.state === ContainerState.CONTAINER_RUNNING)
      .map(containerStatsOf);
  const listImages = (filter: { image?: { image?: string } | undefined } | undefined): Image[] => {
    const ref = filter?.image?.image;
    if (ref) {
      const image = findImage(ref);
      return image ? [imageView(image)] : [];
    }
    return [...images.values()].map(imageView);
  };

  const fake: FakeRuntime = {
    get calls() {
      return calls;
    },
    get callLog() {
      return callLog;
    },
    get droppedCalls() {
      return droppedCalls;
    },
    clearCalls() {
      calls.length = 0;
      callLog.length = 0;
      callSizes.length = 0;
      loggedBytes = 0;
      droppedCalls = 0;
    },
    injectError(method, error, { times = 1 } = {}) {
      const key = (method[0] ?? "").toUpperCase() + method.slice(1);
      const queue = errors.get(key) ?? [];
      queue.push({ error: error ?? new CriError(Code.Unknown, "injected error"), remaining: times });
      errors.set(key, queue);
    },
    clearErrors() {
      errors.clear();
    },
    exitContainer(containerId, exit) {
      const c = containerOrThrow(containerId, "exitContainer");
      if (c.state !== ContainerState.CONTAINER_RUNNING) {
        throw new CriError(Code.FailedPrecondition, `container ${c.id} is not running`, { method: "exitContainer" });
      }
      finish(c, exit);
    },
    completeContainer(containerId) {
      fake.exitContainer(containerId, { exitCode: 0 });
    },
    crashContainer(containerId, exitCode = 1) {
      fake.exitContainer(containerId, { exitCode, reason: "Error" });
    },
    oomKillContainer(containerId) {
      fake.exitContainer(containerId, { exitCode: 137, reason: "OOMKilled" });
    },
    scriptPull(image, script) {
      pullScripts.set(normalizeImageRef(image), script);
    },
    addImage,
    setConditions(c) {
      if (c.runtimeReady !== undefined) runtimeReady = c.runtimeReady;
      if (c.networkReady !== undefined) networkReady = c.networkReady;
    },
    getContainer(id) {
      const c = containers.get(id);
      return c && containerStatus(c);
    },
    getSandbox(id) {
      const s = sandboxes.get(id);
      return s && sandboxStatus(s);
    },
    async closeStreaming() {
      const started = streaming;
      streaming = undefined;
      if (started) await (await started).close();
    },
    size: () => ({ sandboxes: sandboxes.size, containers: containers.size, images: images.size }),

    // RuntimeService --------------------------------------------------------------------------
    async version(request, o): Promise<VersionResponse> {
      enter("Version", request, o);
      return {
        version: "0.1.0",
        runtimeName: options.runtimeName ?? "nodekit-fake",
        runtimeVersion: options.runtimeVersion ?? "0.1.0",
        runtimeApiVersion: "v1",
      };
    },
    async status(request, o) {
      enter("Status", request, o);
      const condition = (type: string, status: boolean, reason: string): RuntimeCondition => ({
        type,
        status,
        reason: status ? "" : reason,
        message: status ? "" : `${type} is false in the fake runtime`,
      });
      return {
        status: {
          conditions: [
            condition("RuntimeReady", runtimeReady, "RuntimeNotReady"),
            condition("NetworkReady", networkReady, "NetworkPluginNotReady"),
          ],
        },
        info: {},
        runtimeHandlers: [],
        features: undefined,
      };
    },
    async runPodSandbox(request, o) {
      enter("RunPodSandbox", request, o);
      requireFields("RunPodSandbox", request, [
        "config.metadata.name",
        "config.metadata.namespace",
        "config.metadata.uid",
      ]);
      const config = copyConfig(request.config as PodSandboxConfig);
      const nameKey = sandboxNameKey(config);
      checkNameFree(sandboxNames, nameKey, "sandbox", "RunPodSandbox");
      const id = newId("sandbox");
      const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;
      let ip = "";
      if (!hostNetwork) {
        const n = ipCounter++;
        const [a = "10", b = "88", c = "0"] = podNetwork.split(".");
        ip = `${a}.${b}.${(Number(c) + Math.floor(n / 253)) % 256}.${(n % 253) + 2}`;
      }
      sandboxes.set(id, {
        id,
        config,
        state: PodSandboxState.SANDBOX_READY,
        createdAt: nowNs(),
        ip,
        containers: new Set(),
      });
      sandboxNames.set(nameKey, id);
      return { podSandboxId: id };
    },
    async stopPodSandbox(request, o) {
      enter("StopPodSandbox", request, o);
      requireFields("StopPodSandbox", request, ["podSandboxId"]);
      const s = sandboxOrThrow(request.podSandboxId ?? "", "StopPodSandbox");
      for (const id of s.containers) {
        const c = memberOf(id);
        if (c.state === ContainerState.CONTAINER_RUNNING) finish(c, { exitCode: 137, reason: "Error" });
      }
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      return {};
    },
    async removePodSandbox(request, o) {
      enter("RemovePodSandbox", request, o);
      requireFields("RemovePodSandbox", request, ["podSandboxId"]);
      const s = resolveIn(sandboxes, request.podSandboxId ?? "", "sandbox", "RemovePodSandbox");
      if (!s) return {};
      for (const id of [...s.containers]) {
        const c = memberOf(id);
        if (c.state === ContainerState.CONTAINER_RUNNING) finish(c, { exitCode: 137, reason: "Error" });
        removeContainerRecord(c);
      }
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      sandboxes.delete(s.id);
      sandboxNames.delete(sandboxNameKey(s.config));
      return {};
    },
    async podSandboxStatus(request, o): Promise<PodSandboxStatusResponse> {
      enter("PodSandboxStatus", request, o);
      requireFields("PodSandboxStatus", request, ["podSandboxId"]);
      const s = sandboxOrThrow(request.podSandboxId ?? "", "PodSandboxStatus");
      return {
        status: sandboxStatus(s),
        info: {},
        containersStatuses: [...s.containers].map((id) => containerStatus(memberOf(id))),
        timestamp: nowNs(),
      };
    },
    async listPodSandbox(request, o) {
      enter("ListPodSandbox", request, o);
      return { items: listSandboxes(request?.filter) };
    },
    streamPodSandboxes: onePage("StreamPodSandboxes", (r: { filter?: DeepPartial<PodSandboxFilter> }) => ({
      podSandboxes: listSandboxes(r?.filter),
    })),
    async createContainer(request, o) {
      enter("CreateContainer", request, o);
      requireFields("CreateContainer", request, ["podSandboxId", "config.metadata.name", "config.image.image"]);
      const s = sandboxOrThrow(request.podSandboxId ?? "", "CreateContainer");
      if (s.state !== PodSandboxState.SANDBOX_READY) {
        throw new CriError(Code.FailedPrecondition, `sandbox ${s.id} is not ready`, { method: "CreateContainer" });
      }
      const config = copyContainerConfig(request.config as ContainerConfig);
      const image = findImage(config.image?.image ?? "");
      if (!image) {
        throw new CriError(Code.NotFound, `failed to resolve image "${config.image?.image ?? ""}": not found`, {
          method: "CreateContainer",
        });
      }
      const nameKey = containerNameKey(config, s.config);
      checkNameFree(containerNames, nameKey, "container", "CreateContainer");
      const id = newId("container");
      const c: ContainerRecord = {
        id,
        sandboxId: s.id,
        config,
        imageRef: image.id,
        state: ContainerState.CONTAINER_CREATED,
        createdAt: nowNs(),
        startedAt: 0n,
        finishedAt: 0n,
        exitCode: 0,
        reason: "",
        message: "",
      };
      containers.set(id, c);
      containerNames.set(nameKey, id);
      s.containers.add(id);
      emit(c, ContainerEventType.CONTAINER_CREATED_EVENT);
      return { containerId: id };
    },
    async startContainer(request, o) {
      enter("StartContainer", request, o);
      requireFields("StartContainer", request, ["containerId"]);
      const c = containerOrThrow(request.containerId ?? "", "StartContainer");
      if (c.state !== ContainerState.CONTAINER_CREATED) {
        throw new CriError(
          Code.FailedPrecondition,
          `failed to set starting state for container "${c.id}": container is in ${ContainerState[c.state]} state`,
          { method: "StartContainer" },
        );
      }
      c.state = ContainerState.CONTAINER_RUNNING;
      c.startedAt = nowNs();
      emit(c, ContainerEventType.CONTAINER_STARTED_EVENT);
      const behaviour = options.containerBehaviour?.(c.config, c.id) ?? commandBehaviour(c.config);
      if (behaviour?.exitAfterMs !== undefined) {
        const exitCode = behaviour.exitCode ?? 0;
        const exit: FakeExit = { exitCode };
        if (behaviour.reason !== undefined) exit.reason = behaviour.reason;
        if (behaviour.message !== undefined) exit.message = behaviour.message;
        c.exitTimer = clock.setTimeout(() => {
          c.exitTimer = undefined;
          if (containers.get(c.id) === c) finish(c, exit);
        }, behaviour.exitAfterMs);
      }
      return {};
    },
    async stopContainer(request, o) {
      enter("StopContainer", request, o);
      requireFields("StopContainer", request, ["containerId"]);
      const c = containerOrThrow(request.containerId ?? "", "StopContainer");
      if (c.state === ContainerState.CONTAINER_RUNNING) finish(c, { exitCode: 137, reason: "Error" });
      return {};
    },
    async removeContainer(request, o) {
      enter("RemoveContainer", request, o);
      requireFields("RemoveContainer", request, ["containerId"]);
      const c = resolveIn(containers, request.containerId ?? "", "container", "RemoveContainer");
      if (!c) return {};
      if (c.state === ContainerState.CONTAINER_RUNNING) finish(c, { exitCode: 137, reason: "Error" });
      removeContainerRecord(c);
      return {};
    },
    async listContainers(request, o) {
      enter("ListContainers", request, o);
      return { containers: listContainerRecords(request?.filter).map(containerItem) };
    },
    streamContainers: onePage("StreamContainers", (r: { filter?: DeepPartial<ContainerFilter> }) => ({
      containers: listContainerRecords(r?.filter).map(containerItem),
    })),
    async containerStatus(request, o) {
      enter("ContainerStatus", request, o);
      requireFields("ContainerStatus", request, ["containerId"]);
      const c = containerOrThrow(request.containerId ?? "", "ContainerStatus");
      return { status: containerStatus(c), info: {} };
    },
    async updateContainerResources(request, o) {
      enter("UpdateContainerResources", request, o);
      requireFields("UpdateContainerResources", request, ["containerId"]);
      const c = containerOrThrow(request.containerId ?? "", "UpdateContainerResources");
      if (c.config.linux && request.linux) {
        c.config.linux.resources = copyContainerConfig({
          linux: { resources: request.linux },
        } as ContainerConfig).linux?.resources;
      }
      return {};
    },
    async reopenContainerLog(request, o) {
      enter("ReopenContainerLog", request, o);
      const c = containerOrThrow(request.containerId ?? "", "ReopenContainerLog");
      if (c.state !== ContainerState.CONTAINER_RUNNING) {
        throw new CriError(Code.FailedPrecondition, `container ${c.id} is not running`, {
          method: "ReopenContainerLog",
        });
      }
      return {};
    },
    async execSync(request, o): Promise<ExecSyncResponse> {
      enter("ExecSync", request, o);
      requireFields("ExecSync", request, ["containerId", "cmd"]);
      const c = containerOrThrow(request.containerId ?? "", "ExecSync");
      if (c.state !== ContainerState.CONTAINER_RUNNING) {
        throw new CriError(
          Code.FailedPrecondition,
          `failed to exec in container: container is in ${ContainerState[c.state]} state`,
          { method: "ExecSync" },
        );
      }
      const cmd = (request.cmd ?? []).map(String);
      const result = options.exec
        ? await options.exec({ containerId: c.id, cmd, container: containerStatus(c) })
        : interpret(cmd);
      return {
        stdout: toBuffer(result.stdout),
        stderr: toBuffer(result.stderr),
        exitCode: result.exitCode ?? 0,
      };
    },
    async exec(request, o) {
      if (!options.streaming) return unimplemented("Exec")(request, o);
      enter("Exec", request, o);
      const c = runningContainer(request.containerId ?? "", "Exec");
      const server = await streamingServer();
      return server.getExec({
        containerId: c.id,
        cmd: (request.cmd ?? []).map(String),
        tty: request.tty === true,
        stdin: request.stdin === true,
        stdout: request.stdout === true,
        stderr: request.stderr === true,
      });
    },
    async attach(request, o) {
      if (!options.streaming) return unimplemented("Attach")(request, o);
      enter("Attach", request, o);
      const c = runningContainer(request.containerId ?? "", "Attach");
      const server = await streamingServer();
      return server.getAttach({
        containerId: c.id,
        tty: request.tty === true,
        stdin: request.stdin === true,
        stdout: request.stdout === true,
        stderr: request.stderr === true,
      });
    },
    async portForward(request, o) {
      if (!options.streaming) return unimplemented("PortForward")(request, o);
      enter("PortForward", request, o);
      const method = "PortForward";
      const s = sandboxOrThrow(request.podSandboxId ?? "", method);
      if (s.state !== PodSandboxState.SANDBOX_READY) {
        throw new CriError(Code.FailedPrecondition, `sandbox ${s.id} is not ready`, { method });
      }
      const server = await streamingServer();
      return server.getPortForward({ podSandboxId: s.id, port: (request.port ?? []).map(Number) });
    },
    async containerStats(request, o) {
      enter("ContainerStats", request, o);
      requireFields("ContainerStats", request, ["containerId"]);
      const c = resolveIn(containers, request.containerId ?? "", "container", "ContainerStats");
      if (!c) throw new CriError(Code.NotFound, "failed to find container: not found", { method: "ContainerStats" });
      return { stats: containerStatsOf(c) };
    },
    async listContainerStats(request, o) {
      enter("ListContainerStats", request, o);
      return { stats: listStats(request?.filter) };
    },
    streamContainerStats: onePage("StreamContainerStats", (r: { filter?: DeepPartial<ContainerStatsFilter> }) => ({
      containerStats: listStats(r?.filter),
    })),
    podSandboxStats: unimplemented("PodSandboxStats"),
    listPodSandboxStats: unimplemented("ListPodSandboxStats"),
    streamPodSandboxStats: unimplementedStream("StreamPodSandboxStats"),
    async updateRuntimeConfig(request, o) {
      enter("UpdateRuntimeConfig", request, o);
      return {};
    },
    checkpointContainer: unimplemented("CheckpointContainer"),
    checkpointPod: unimplemented("CheckpointPod"),
    restorePod: unimplemented("RestorePod"),
    getContainerEvents(request, o) {
      return {
        async *[Symbol.asyncIterator]() {
          enter("GetContainerEvents", request, o);
          const queue: ContainerEventResponse[] = [];
          let wake: (() => void) | undefined;
          let dropped: CriError | undefined;
          const listener = (event: ContainerEventResponse): void => {
            if (queue.length >= eventQueueLimit) {
              // Too slow: dropped at once, its queue freed; it learns on its next read.
              listeners.delete(listener);
              queue.length = 0;
              dropped = new CriError(
                Code.Unavailable,
                `container events subscription closed by server: the subscriber fell more than ${eventQueueLimit} events behind`,
                { method: "GetContainerEvents" },
              );
              return;
            }
            queue.push(event);
            wake?.();
          };
          const onAbort = (): void => wake?.();
          listeners.add(listener);
          o?.signal?.addEventListener("abort", onAbort);
          try {
            while (!o?.signal?.aborted) {
              if (dropped) throw dropped;
              const next = queue.shift();
              if (next) {
                yield next;
                continue;
              }
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = undefined;
            }
            // As the gRPC client does: an aborted stream fails with Cancelled, it does not just end.
            throw new CriError(Code.Cancelled, "Cancelled on client", { method: "GetContainerEvents" });
          } finally {
            listeners.delete(listener);
            o?.signal?.removeEventListener("abort", onAbort);
          }
        },
      };
    },
    listMetricDescriptors: unimplemented("ListMetricDescriptors"),
    listPodSandboxMetrics: unimplemented("ListPodSandboxMetrics"),
    streamPodSandboxMetrics: unimplementedStream("StreamPodSandboxMetrics"),
    runtimeConfig: unimplemented("RuntimeConfig"),
    updatePodSandboxResources: unimplemented("UpdatePodSandboxResources"),

    // ImageService ----------------------------------------------------------------------------
    async listImages(request, o) {
      enter("ListImages", request, o);
      return { images: listImages(request?.filter) };
    },
    streamImages: onePage("StreamImages", (r: { filter?: { image?: { image?: string } | undefined } | undefined }) => ({
      images: listImages(r?.filter),
    })),
    async imageStatus(request, o): Promise<ImageStatusResponse> {
      enter("ImageStatus", request, o);
      requireFields("ImageStatus", request, ["image.image"]);
      const image = findImage(request.image?.image ?? "");
      return { image: image && imageView(image), info: {} };
    },
    async pullImage(request, o) {
      enter("PullImage", request, o);
      requireFields("PullImage", request, ["image.image"]);
      const ref = normalizeImageRef(request.image?.image ?? "");
      const script = pullScripts.get(ref);
      if (script?.delayMs) await sleep(script.delayMs, o?.signal, "PullImage");
      if (script?.error) {
        throw typeof script.error === "string"
          ? new CriError(Code.Unknown, script.error, { method: "PullImage" })
          : CriError.from(script.error, "PullImage");
      }
      if (!script && !registry.has("*") && !registry.has(ref) && !findImage(ref)) {
        throw new CriError(
          Code.NotFound,
          `failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": not found`,
          { method: "PullImage" },
        );
      }
      return { imageRef: addImage(ref, script?.size) };
    },
    async removeImage(request, o) {
      enter("RemoveImage", request, o);
      requireFields("RemoveImage", request, ["image.image"]);
      const image = findImage(request.image?.image ?? "");
      if (image) images.delete(image.id);
      return {};
    },
    async imageFsInfo(request, o) {
      enter("ImageFsInfo", request, o);
      let used = 0n;
      for (const i of images.values()) used += i.size;
      return ImageFsInfoResponse.fromPartial({
        imageFilesystems: [
          {
            timestamp: nowNs(),
            fsId: { mountpoint: "/var/lib/nodekit-fake/images" },
            usedBytes: { value: used },
            inodesUsed: { value: BigInt(images.size) },
          },
        ],
      });
    },
  };
  return fake;
}

// --- helpers -------------------------------------------------------------------------------------

/** Fails as containerd does when a sandbox or container name is taken (names are reserved per attempt). */
function checkNameFree(names: ReadonlyMap<string, string>, key: string, what: string, method: string): void {
  const holder = names.get(key);
  if (holder) {
    throw new CriError(Code.AlreadyExists, `failed to reserve ${what} name "${key}": reserved for "${holder}"`, {
      method,
    });
  }
}

function labelsMatch(
  labels: Record<string, string>,
  selector: Record<string, string | undefined> | undefined,
): boolean {
  if (!selector) return true;
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

function sandboxNameKey(config: PodSandboxConfig): string {
  const m = config.metadata;
  if (!m) throw new CriError(Code.InvalidArgument, "the sandbox config has no metadata");
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

function containerNameKey(config: ContainerConfig, sandbox: PodSandboxConfig | undefined): string {
  const m = config.metadata;
  if (!m) throw new CriError(Code.InvalidArgument, "the container config has no metadata");
  return `${m.name}_${sandbox ? sandboxNameKey(sandbox) : ""}_${m.attempt}`;
}

function logPathOf(c: ContainerRecord, s: SandboxRecord | undefined): string {
  if (!c.config.logPath) return "";
  const dir = s?.config.logDirectory ?? "";
  return dir ? `${dir.replace(/\/$/, "")}/${c.config.logPath}` : c.config.logPath;
}

function toBuffer(value: string | Uint8Array | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  return typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
}

/** The default ExecSync: `echo`, `true`, `false`, `exit N`, `sleep`, and `sh -c "a; b"` over them. */
function interpret(cmd: string[]): FakeExecResult {
  if ((cmd[0] === "sh" || cmd[0] === "/bin/sh") && cmd[1] === "-c") {
    let stdout = "";
    let stderr = "";
    for (const statement of (cmd[2] ?? "").split(/;|\n/)) {
      const words = splitWords(statement.trim().replace(/^exec\s+/, ""));
      if (words.length === 0) continue;
      const toErr = words.at(-1) === ">&2";
      if (toErr) words.pop();
      const [name = "", ...args] = words;
      if (name === "exit") return { stdout, stderr, exitCode: Number(args[0] ?? 0) };
      const r = builtin(name, args);
      if (r === undefined) return { stdout, stderr: `${stderr}sh: ${name}: not found\n`, exitCode: 127 };
      if (toErr) stderr += r.stdout ?? "";
      else stdout += r.stdout ?? "";
      if ((r.exitCode ?? 0) !== 0 && statement.includes("set -e")) return { stdout, stderr, exitCode: r.exitCode ?? 0 };
    }
    return { stdout, stderr, exitCode: 0 };
  }
  const r = builtin(cmd[0] ?? "", cmd.slice(1));
  if (r === undefined) {
    throw new CriError(Code.Unknown, `failed to exec in container: executable file "${cmd[0]}" not found in $PATH`, {
      method: "ExecSync",
    });
  }
  return r;
}

/** How a container behaves by its command alone (see {@link FakeRuntimeOptions.containerBehaviour}). */
function commandBehaviour(config: ContainerConfig): FakeContainerBehaviour | undefined {
  const cmd = [...config.command, ...config.args];
  if (cmd.length === 0 || cmd.some((word) => /(^|[\s;])sleep(\s|$)/.test(word))) return undefined;
  try {
    const result = interpret(cmd);
    return { exitAfterMs: 0, exitCode: result.exitCode ?? 0 };
  } catch {
    return undefined;
  }
}

function builtin(name: string, args: string[]): FakeExecResult | undefined {
  switch (name.replace(/^\/bin\//, "")) {
    case "echo":
      return { stdout: `${args.join(" ")}\n`, exitCode: 0 };
    case "true":
    case "sleep":
      return { exitCode: 0 };
    case "false":
      return { exitCode: 1 };
    default:
      return undefined;
  }
}

function splitWords(s: string): string[] {
  const words: string[] = [];
  for (const m of s.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3] ?? "");
  return words;
}

function copyConfig(config: PodSandboxConfig): PodSandboxConfig {
  return {
    ...config,
    metadata: config.metadata && { ...config.metadata, attempt: config.metadata.attempt ?? 0 },
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    linux: config.linux && structuredCloneLite(config.linux),
  } as PodSandboxConfig;
}

function copyContainerConfig(config: ContainerConfig): ContainerConfig {
  return {
    ...config,
    metadata: config.metadata && { ...config.metadata, attempt: config.metadata.attempt ?? 0 },
    image: config.image && { ...config.image, annotations: { ...config.image.annotations } },
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    command: [...(config.command ?? [])],
    args: [...(config.args ?? [])],
    mounts: [...(config.mounts ?? [])],
    linux: config.linux && structuredCloneLite(config.linux),
  } as ContainerConfig;
}

/**
 * A cheap estimate of the memory a request holds: its strings' lengths, byte arrays' sizes, and
 * 8 bytes per other value and 16 per object or array. Requests are trees; depth is capped anyway.
 */
function estimateBytes(value: unknown, depth = 0): number {
  switch (typeof value) {
    case "string":
      return value.length;
    case "object": {
      if (value === null) return 8;
      if (value instanceof Uint8Array) return value.byteLength;
      if (depth > 32) return 16;
      let n = 16;
      if (Array.isArray(value)) for (const item of value) n += estimateBytes(item, depth + 1);
      else for (const key in value) n += key.length + estimateBytes((value as Record<string, unknown>)[key], depth + 1);
      return n;
    }
    default:
      return 8;
  }
}

/** A deep copy of plain data (objects, arrays, bigints), without structuredClone's cost. */
function structuredCloneLite<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCloneLite) as T;
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const key in value) out[key] = structuredCloneLite((value as Record<string, unknown>)[key]);
    return out as T;
  }
  return value;
}
