import * as grpc from "@grpc/grpc-js";
import type { CallOptions } from "./call-options.js";
import { parseEndpoint } from "./endpoint.js";
import { Code, CriError, isUnimplemented } from "./errors.js";
import type { VersionResponse } from "./gen/messages.js";
import {
  type ImageService,
  imageServiceMethods,
  type MethodInfo,
  type RuntimeService,
  runtimeServiceMethods,
  type ServiceOf,
} from "./gen/services.js";
import { validateResponse } from "./response-validation.js";
import { decodeWith } from "./wire.js";

/** The default deadline of a CRI call: the kubelet's `--runtime-request-timeout`, 2 minutes. */
export const DEFAULT_TIMEOUT_MS = 120_000;
/** The default receive (and send) message limit, 16 MiB, as k8s.io/cri-client sets it. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Options of {@link createRuntimeClient} and {@link createImageClient}. */
export interface ClientOptions {
  /**
   * Base deadline of a call in milliseconds (default 2 minutes). Deadlines derive from it as
   * k8s.io/cri-client derives them: RunPodSandbox gets twice this, StopContainer this plus its
   * `timeout`, ExecSync this plus its `timeout` (none when `timeout` is 0), CheckpointContainer the
   * larger of both; PullImage and GetContainerEvents have none. A call's own `timeoutMs` wins.
   */
  timeoutMs?: number;
  /**
   * Largest message the client accepts, in bytes (default 16 MiB, k8s.io/cri-client's
   * `maxMsgSize`). A larger response fails with a `ResourceExhausted` {@link CriError} naming the
   * method. `Stream*` pages each stay under it when the runtime pages by bytes (the nodekit server
   * kit does); a plain list call (the fallback for runtimes without `Stream*`, e.g. containerd 1.6)
   * is one message and cannot list more than this.
   */
  maxReceiveMessageBytes?: number;
  /** Largest message the client sends, in bytes (default 16 MiB). */
  maxSendMessageBytes?: number;
  /**
   * List calls that have a `Stream*` twin (ListContainers and StreamContainers, …) try the
   * stream first and fall back to the plain call once the runtime answers UNIMPLEMENTED
   * (default true). Set false to use the plain calls only.
   */
  useStreaming?: boolean;
  /**
   * Runtime client only: check on first use that the runtime speaks CRI `v1` (default true).
   * See {@link RuntimeClient.verifyRuntime}.
   */
  verify?: boolean;
  /**
   * Check responses as k8s.io/cri-client does (default true): a response that lacks a field it
   * requires (a PodSandboxStatus without `status.metadata.uid`, a ContainerStatus without
   * `status.imageRef`, a PullImage without `imageRef`, a Status with fewer than two conditions, …)
   * fails with an `Internal` {@link CriError} naming the method and the field (see
   * {@link validateResponse} for the list, {@link isInvalidResponse} to recognise it), instead of
   * handing proto defaults on. Set false to get responses as the runtime sent them.
   */
  validateResponses?: boolean;
  /** Extra grpc-js channel options, applied last. */
  channelOptions?: grpc.ChannelOptions;
}

/** What both clients add to their service interface. */
export interface ClientBase {
  /** The endpoint as given, e.g. `unix:///run/containerd/containerd.sock`. */
  readonly endpoint: string;
  /**
   * Closes the connection. Every call still in flight — with a deadline or without one (PullImage,
   * GetContainerEvents, `timeoutMs: Infinity`), unary or an open stream — fails at once with a
   * `Cancelled` {@link CriError} ("client … was closed while the call was in flight"), and nothing
   * of the client keeps the process alive. Later calls fail with `FailedPrecondition`.
   *
   * `Cancelled`, not `Unavailable`: the caller ended the calls, the runtime did not go away. It is
   * what grpc-go answers for a closed `ClientConn` ("the client connection is closing") and what
   * grpc-js answers for a call cancelled on the client, and it keeps a retry loop built on
   * {@link isUnavailable} from retrying on a client that will never work again.
   */
  close(): void;
}

/** A {@link RuntimeService} over gRPC, as made by {@link createRuntimeClient}. */
export interface RuntimeClient extends RuntimeService, ClientBase {
  /**
   * Calls Version and checks that the runtime speaks CRI `v1` and fills in every field, as
   * k8s.io/cri-client does when it connects. Resolves to the Version response; fails with
   * a `FailedPrecondition` {@link CriError} that says what is wrong.
   */
  verifyRuntime(options?: CallOptions): Promise<VersionResponse>;
}

/** An {@link ImageService} over gRPC, as made by {@link createImageClient}. */
export interface ImageClient extends ImageService, ClientBase {}

/**
 * Connects to a CRI runtime service (containerd, CRI-O, a nodekit shim) over its unix socket.
 * The connection is made lazily and re-made after the runtime restarts.
 *
 * @param endpoint `unix:///abs/path.sock` or `/abs/path.sock`.
 * @example
 * ```ts
 * import { createRuntimeClient } from "@nodekit/cri";
 *
 * const runtime = createRuntimeClient("unix:///run/containerd/containerd.sock");
 * const { runtimeName, runtimeVersion } = await runtime.version({});
 * const { containers } = await runtime.listContainers({ filter: { labelSelector: { app: "web" } } });
 * runtime.close();
 * ```
 */
export function createRuntimeClient(endpoint: string, options: ClientOptions = {}): RuntimeClient {
  const client = buildClient(endpoint, "runtime.v1.RuntimeService", runtimeServiceMethods, options);
  const callVersion = client.unvalidated.version;
  const verifyRuntime = async (callOptions?: CallOptions): Promise<VersionResponse> => {
    const res = await callVersion({}, callOptions);
    checkVersion(res);
    return res;
  };
  if (options.verify !== false) {
    let verifying: Promise<unknown> | undefined;
    client.beforeCall = (method, rpc) => {
      if (method === "version") return undefined;
      // The check is shared by the calls waiting on it, so it uses the client's own deadline,
      // not one caller's timeout or signal.
      verifying ??= verifyRuntime().then(
        () => {
          client.beforeCall = undefined; // verified: later calls go straight out
        },
        (err: unknown) => {
          // A runtime that is down now may be fine later; a wrong version stays wrong.
          if (!(err instanceof CriError && err.code === Code.FailedPrecondition)) verifying = undefined;
          throw err;
        },
      );
      return verifying.catch((err: unknown) => {
        const e = CriError.from(err, "Version");
        throw new CriError(e.code, `checking the runtime's version first: ${e.rawMessage}`, { method: rpc, cause: e });
      });
    };
  }
  const methods: RuntimeService = client.methods;
  return Object.assign(methods, { endpoint, close: client.close, verifyRuntime });
}

/**
 * Connects to a CRI image service over its unix socket (usually the runtime's own socket).
 *
 * @param endpoint `unix:///abs/path.sock` or `/abs/path.sock`.
 * @example
 * ```ts
 * import { createImageClient } from "@nodekit/cri";
 *
 * const images = createImageClient("/run/containerd/containerd.sock");
 * const { image } = await images.imageStatus({ image: { image: "busybox:latest" } });
 * console.log(image ? `present, ${image.size} bytes` : "absent");
 * images.close();
 * ```
 */
export function createImageClient(endpoint: string, options: ClientOptions = {}): ImageClient {
  const client = buildClient(endpoint, "runtime.v1.ImageService", imageServiceMethods, options);
  const methods: ImageService = client.methods;
  return Object.assign(methods, { endpoint, close: client.close });
}

/** Checks a Version response as k8s.io/cri-client checks it at connect time. */
function checkVersion(res: VersionResponse): void {
  const missing = (["version", "runtimeName", "runtimeVersion", "runtimeApiVersion"] as const).filter((k) => !res[k]);
  if (missing.length > 0) {
    throw new CriError(Code.FailedPrecondition, `runtime's Version response lacks ${missing.join(", ")}`, {
      method: "Version",
    });
  }
  if (res.runtimeApiVersion !== "v1") {
    throw new CriError(
      Code.FailedPrecondition,
      `runtime ${res.runtimeName} ${res.runtimeVersion} speaks CRI API ${JSON.stringify(res.runtimeApiVersion)}; nodekit needs "v1"`,
      { method: "Version" },
    );
  }
}

// Twins: list method → [stream method, field of the stream response, field of the list response].
const streamTwins: Record<string, readonly [string, string, string]> = {
  listPodSandbox: ["streamPodSandboxes", "podSandboxes", "items"],
  listContainers: ["streamContainers", "containers", "containers"],
  listContainerStats: ["streamContainerStats", "containerStats", "stats"],
  listPodSandboxStats: ["streamPodSandboxStats", "podSandboxStats", "stats"],
  listPodSandboxMetrics: ["streamPodSandboxMetrics", "podSandboxMetrics", "podMetrics"],
  listImages: ["streamImages", "images", "images"],
};

// biome-ignore lint/suspicious/noExplicitAny: methods are built from a table over many message types
type AnyFn = (request: any, options?: CallOptions) => any;

interface BuiltClient<S> {
  /** The methods, typed from the method table they were built from. */
  methods: S;
  /** Version without response validation: verifyRuntime checks it itself (FailedPrecondition). */
  unvalidated: { version: RuntimeService["version"] };
  close(): void;
  beforeCall?: ((method: string, rpc: string) => Promise<unknown> | undefined) | undefined;
}

function buildClient<T extends readonly MethodInfo[]>(
  endpoint: string,
  serviceName: string,
  table: T,
  options: ClientOptions,
): BuiltClient<ServiceOf<T>> {
  const { target } = parseEndpoint(endpoint);
  const baseTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const grpcClient = new grpc.Client(target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    // Reconnect quickly after a runtime restart, as cri-client's 100 ms → 3 s backoff.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 3000,
    ...options.channelOptions,
  });
  const receiveLimit = options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  let closed = false;
  // Calls in flight, each with a way to fail it now; close() settles them all.
  const inFlight = new Set<() => void>();
  const closedError = (rpc: string): CriError =>
    new CriError(Code.Cancelled, `client for ${serviceName} was closed while the call was in flight`, {
      method: rpc,
    });
  // Per list call: a runtime may stream some lists and not others.
  const streamingOff = new Set<string>(options.useStreaming === false ? Object.keys(streamTwins) : []);
  const validate = options.validateResponses !== false;
  // Filled by name from the table below; typed as the table says (the one cast).
  const methods: Record<string, AnyFn> = {};
  const noVersion: RuntimeService["version"] = () =>
    Promise.reject(new CriError(Code.Unimplemented, `${serviceName} has no Version method`, { method: "Version" }));
  const built: BuiltClient<ServiceOf<T>> = {
    methods: methods as ServiceOf<T>,
    unvalidated: { version: noVersion },
    close() {
      if (closed) return;
      closed = true;
      for (const settle of [...inFlight]) settle();
      inFlight.clear();
      grpcClient.close();
    },
  };

  const checkOpen = (rpc: string): void => {
    if (closed) throw new CriError(Code.FailedPrecondition, `client for ${serviceName} is closed`, { method: rpc });
  };
  const fail = (m: MethodInfo, err: unknown, message: unknown, timeoutMs: number): CriError =>
    closed ? closedError(m.rpc) : errorFor(m, err, message, timeoutMs, receiveLimit);

  const unary = (m: MethodInfo, validating: boolean) => {
    const deserialize = (bytes: Buffer): unknown => decodeWith(m.response, bytes);
    const send = (request: EncodedRequest, callOptions: CallOptions | undefined): Promise<unknown> => {
      const { message, bytes } = request;
      const timeoutMs = callOptions?.timeoutMs ?? defaultTimeout(m.rpc, message, baseTimeout);
      const signal = callOptions?.signal;
      try {
        checkOpen(m.rpc); // closed while the version check ran
      } catch (err) {
        return Promise.reject(err);
      }
      if (signal?.aborted)
        return Promise.reject(new CriError(Code.Cancelled, "aborted before start", { method: m.rpc }));
      return new Promise((resolve, reject) => {
        let call: grpc.ClientUnaryCall | undefined;
        const settle = (): void => {
          inFlight.delete(settle);
          signal?.removeEventListener("abort", onAbort);
          reject(closedError(m.rpc));
          call?.cancel();
        };
        function onAbort(): void {
          call?.cancel();
        }
        try {
          call = grpcClient.makeUnaryRequest(
            m.path,
            passThrough,
            deserialize,
            bytes,
            new grpc.Metadata(),
            callOptionsFor(timeoutMs),
            (err, value) => {
              inFlight.delete(settle);
              signal?.removeEventListener("abort", onAbort);
              if (err) {
                reject(fail(m, err, message, timeoutMs));
                return;
              }
              try {
                if (validating) validateResponse(m.rpc, value, message);
                resolve(value);
              } catch (invalid) {
                reject(invalid);
              }
            },
          );
        } catch (err) {
          reject(CriError.from(err, m.rpc));
          return;
        }
        inFlight.add(settle);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    };
    // Not an async function: a call that needs no verification goes out in the same tick.
    return (request: unknown, callOptions?: CallOptions): Promise<unknown> => {
      try {
        checkOpen(m.rpc);
        const encoded = encodeRequest(m, request);
        const pending = built.beforeCall?.(m.name, m.rpc);
        return pending ? pending.then(() => send(encoded, callOptions)) : send(encoded, callOptions);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  };

  const serverStream = (m: MethodInfo) => {
    const deserialize = (bytes: Buffer): unknown => decodeWith(m.response, bytes);
    return (request: unknown, callOptions?: CallOptions): AsyncIterable<unknown> => {
      // Validate and encode eagerly, so a bad request fails where it is made.
      const { message, bytes } = encodeRequest(m, request);
      return {
        async *[Symbol.asyncIterator]() {
          checkOpen(m.rpc);
          await built.beforeCall?.(m.name, m.rpc);
          checkOpen(m.rpc);
          const timeoutMs = callOptions?.timeoutMs ?? defaultTimeout(m.rpc, message, baseTimeout);
          const signal = callOptions?.signal;
          if (signal?.aborted) throw new CriError(Code.Cancelled, "aborted before start", { method: m.rpc });
          let call: grpc.ClientReadableStream<unknown>;
          try {
            call = grpcClient.makeServerStreamRequest(
              m.path,
              passThrough,
              deserialize,
              bytes,
              new grpc.Metadata(),
              callOptionsFor(timeoutMs),
            );
          } catch (err) {
            throw CriError.from(err, m.rpc);
          }
          // The iterator below reports errors; this keeps a late CANCELLED from being unhandled.
          call.on("error", () => {});
          const onAbort = (): void => call.cancel();
          // close(): cancelling the call ends the iteration below, which then reports the close.
          const settle = (): void => {
            inFlight.delete(settle);
            call.cancel();
          };
          inFlight.add(settle);
          signal?.addEventListener("abort", onAbort, { once: true });
          try {
            for await (const item of call) yield item;
            if (closed) throw closedError(m.rpc); // a stream cut short by close() did not end
          } catch (err) {
            throw fail(m, err, message, timeoutMs);
          } finally {
            inFlight.delete(settle);
            signal?.removeEventListener("abort", onAbort);
            call.cancel();
          }
        },
      };
    };
  };

  for (const m of table) {
    if (m.serverStream) {
      methods[m.name] = serverStream(m);
      continue;
    }
    const call = unary(m, validate);
    methods[m.name] = call;
    if (m.name === "version") {
      const version: AnyFn = validate ? unary(m, false) : call;
      built.unvalidated.version = version;
    }
  }

  // List calls with a Stream* twin: stream first, plain call after UNIMPLEMENTED.
  for (const [listName, [streamName, streamField, listField]] of Object.entries(streamTwins)) {
    const plain = methods[listName];
    const stream = methods[streamName];
    if (!plain || !stream) continue;
    methods[listName] = async (request: unknown, callOptions?: CallOptions) => {
      if (!streamingOff.has(listName)) {
        try {
          const items: unknown[] = [];
          for await (const page of stream(request, callOptions) as AsyncIterable<Record<string, unknown[]>>) {
            for (const item of page[streamField] ?? []) items.push(item);
          }
          return { [listField]: items };
        } catch (err) {
          if (!isUnimplemented(err)) throw err;
          streamingOff.add(listName);
        }
      }
      return plain(request, callOptions);
    };
  }
  return built;
}

/** A request as a complete message (for deadlines) and as the bytes that go on the wire. */
interface EncodedRequest {
  message: unknown;
  bytes: Buffer;
}

/** Requests are encoded where the call is made; grpc-js gets the bytes. */
const passThrough = (bytes: Buffer): Buffer => bytes;

/**
 * Completes and encodes a request. A value the wire cannot carry (`attempt: -1` or `2 ** 40` for a
 * uint32, an int64 beyond 64 bits, a fraction for an integer) fails here with `InvalidArgument`,
 * instead of grpc-js's `Internal` "Request message serialization failure", and nothing is sent.
 */
function encodeRequest(m: MethodInfo, request: unknown): EncodedRequest {
  try {
    const message = m.request.fromPartial((request ?? {}) as never);
    return { message, bytes: Buffer.from(m.request.encode(message).finish()) };
  } catch (err) {
    throw new CriError(Code.InvalidArgument, `bad request: ${(err as Error).message}`, { method: m.rpc, cause: err });
  }
}

function seconds(value: unknown): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** The deadline k8s.io/cri-client gives each RPC, in milliseconds (`Infinity`: none). */
function defaultTimeout(rpc: string, message: unknown, base: number): number {
  const req = message as { timeout?: unknown };
  switch (rpc) {
    case "RunPodSandbox":
      return base * 2;
    case "StopContainer":
      return base + seconds(req.timeout) * 1000;
    case "ExecSync": {
      const t = seconds(req.timeout);
      return t > 0 ? base + t * 1000 : Number.POSITIVE_INFINITY;
    }
    case "CheckpointContainer": {
      const t = seconds(req.timeout);
      if (t < 0) {
        throw new CriError(Code.InvalidArgument, "CheckpointContainer needs a timeout ≥ 0", { method: rpc });
      }
      return Math.max(base, t * 1000);
    }
    case "PullImage":
    case "GetContainerEvents":
      return Number.POSITIVE_INFINITY;
    default:
      return base;
  }
}

function callOptionsFor(timeoutMs: number): grpc.CallOptions {
  return Number.isFinite(timeoutMs) ? { deadline: Date.now() + timeoutMs } : {};
}

function errorFor(m: MethodInfo, err: unknown, message: unknown, timeoutMs: number, receiveLimit: number): CriError {
  const e = CriError.from(err, m.rpc);
  if (e.code === Code.ResourceExhausted && /message larger than max/i.test(e.rawMessage)) {
    return new CriError(Code.ResourceExhausted, tooLarge(m, e.rawMessage, receiveLimit), { method: m.rpc, cause: err });
  }
  if (m.rpc === "ExecSync" && e.code === Code.DeadlineExceeded) {
    const cmd = (message as { cmd?: string[] }).cmd ?? [];
    return new CriError(
      Code.DeadlineExceeded,
      `command ${JSON.stringify(cmd)} timed out after ${Math.round(timeoutMs) / 1000}s`,
      { method: m.rpc, cause: err },
    );
  }
  return e;
}

/** Says which limit a too-large message hit and what to do about it. */
function tooLarge(m: MethodInfo, raw: string, receiveLimit: number): string {
  const received = /^received/i.test(raw);
  const sendLimit = /\(\d+ vs\.? (\d+)\)/.exec(raw)?.[1];
  const limit = received
    ? `this client's receive limit of ${mebibytes(receiveLimit)} (maxReceiveMessageBytes)`
    : `the runtime's send limit${sendLimit ? ` of ${mebibytes(Number(sendLimit))}` : ""}`;
  let hint = "";
  const twin = streamTwins[m.name];
  if (twin) {
    const stream = twin[0].charAt(0).toUpperCase() + twin[0].slice(1);
    hint = `; ${m.rpc} answers in one message, so a runtime without ${stream} (containerd 1.6) cannot list more: filter the list`;
  } else if (m.serverStream && /^Stream/.test(m.rpc)) {
    hint = "; one page, or one item, is over it: the runtime must page by bytes";
  }
  return `response is larger than ${limit}: ${raw}${hint}`;
}

function mebibytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}
