import { mkdir, rm, stat } from "node:fs/promises";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { CallOptions } from "./call-options.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./client.js";
import { parseEndpoint } from "./endpoint.js";
import { Code, CriError } from "./errors.js";
import {
  type ImageServiceHandlers,
  imageServiceMethods,
  type MethodInfo,
  type RuntimeServiceHandlers,
  runtimeServiceMethods,
} from "./gen/services.js";
import { decodeWith } from "./wire.js";

/** Options of {@link createCriServer}. */
export interface CriServerOptions {
  /**
   * Serves `runtime.v1.RuntimeService`: any object with (some of) its methods, e.g. a
   * `RuntimeService` (the fake runtime, a client to proxy) or plain handlers. Methods it lacks
   * answer UNIMPLEMENTED.
   */
  runtime?: RuntimeServiceHandlers | undefined;
  /** Serves `runtime.v1.ImageService`. Methods it lacks answer UNIMPLEMENTED. */
  image?: ImageServiceHandlers | undefined;
  /** Largest message accepted, in bytes (default 16 MiB, as containerd and CRI-O). */
  maxReceiveMessageBytes?: number;
  /** Largest message sent, in bytes (default 16 MiB). */
  maxSendMessageBytes?: number;
  /**
   * Largest page of a `Stream*` list (StreamPodSandboxes, StreamContainers, …), in encoded bytes
   * (default 4 MiB, {@link DEFAULT_STREAM_PAGE_BYTES}; never more than `maxSendMessageBytes`).
   * Whatever a handler yields, the server splits each page that is larger into pages of whole
   * items that each stay under it, so a client with gRPC's default 4 MiB receive limit reads any
   * list. Only a single item larger than the limit is sent alone, and fails when it exceeds
   * `maxSendMessageBytes` or the client's receive limit (`ResourceExhausted`).
   */
  maxStreamPageBytes?: number;
  /**
   * How long a new connection may take to send the HTTP/2 connection preface, in milliseconds
   * (default 120 s, grpc-go's `ConnectionTimeout`, which containerd's server uses). A connection
   * that sends nothing is closed then; one that sends something else is closed at once.
   */
  prefaceTimeoutMs?: number;
  /**
   * Called when a handler fails with something that is not a {@link CriError}, or answers a
   * response that cannot be encoded (a uint32 field of -1, …); the call is answered INTERNAL.
   * Default: nothing; the server keeps serving either way.
   */
  onInternalError?: ((error: unknown, method: string) => void) | undefined;
}

/** The default of {@link CriServerOptions.maxStreamPageBytes}: 4 MiB, gRPC's default receive limit. */
export const DEFAULT_STREAM_PAGE_BYTES = 4 * 1024 * 1024;
/** The default of {@link CriServerOptions.prefaceTimeoutMs}: 120 s, as grpc-go's `ConnectionTimeout`. */
export const DEFAULT_PREFACE_TIMEOUT_MS = 120_000;

/** What every HTTP/2 client sends first (RFC 9113, section 3.4). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A CRI gRPC server, as made by {@link createCriServer}. */
export interface CriServer {
  /**
   * Listens on a unix socket (`unix:///abs/path.sock` or `/abs/path.sock`). Creates the folder,
   * replaces a stale socket file, and refuses (`AlreadyExists`) a socket that something still
   * answers on.
   */
  listen(endpoint: string): Promise<void>;
  /**
   * Stops accepting calls and waits for the calls in flight to finish, at most `graceMs`
   * (default 5 s). Calls still running then are answered `Unavailable` ("runtime is shutting
   * down"), as clients expect of a runtime that goes away (a retry loop on `isUnavailable` keeps
   * trying), and their handlers' `signal` aborts. Removes the socket file.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /** The endpoint listened on, `unix:///…`, once {@link CriServer.listen} resolved. */
  readonly endpoint: string | undefined;
}

/**
 * Serves objects implementing {@link RuntimeServiceHandlers} / {@link ImageServiceHandlers} — the
 * `RuntimeService` / `ImageService` interfaces the clients implement, or a plain object with some
 * of their methods answering partial messages — over gRPC on a unix socket: write a runtime shim
 * as a plain object.
 *
 * Handlers receive the decoded request and {@link CallOptions} whose `signal` aborts when the client
 * goes away or its deadline passes. A thrown {@link CriError} becomes its gRPC status; anything else
 * becomes INTERNAL with its message. Responses may be partial messages (unset fields are defaults).
 * Server streams come from an `AsyncIterable`, which is stopped when the client cancels.
 *
 * @example
 * ```ts
 * import { CriError, Code, createCriServer, type RuntimeServiceHandlers } from "@nodekit/cri";
 *
 * const runtime: RuntimeServiceHandlers = {
 *   async version() {
 *     return { version: "0.1.0", runtimeName: "my-shim", runtimeVersion: "0.0.1", runtimeApiVersion: "v1" };
 *   },
 *   async podSandboxStatus({ podSandboxId }) {
 *     throw new CriError(Code.NotFound, `sandbox ${podSandboxId} not found`);
 *   },
 * };
 * const server = createCriServer({ runtime });
 * await server.listen("unix:///run/my-shim/shim.sock");
 * // … later
 * await server.close();
 * ```
 */
export function createCriServer(options: CriServerOptions): CriServer {
  let server: grpc.Server | undefined;
  let listener: NetServer | undefined;
  let socketPath: string | undefined;
  let endpoint: string | undefined;
  // Calls in flight: their controller, and a way to answer them now (close() after graceMs).
  const inFlight = new Map<AbortController, (status: Partial<grpc.StatusObject>) => void>();
  // Connections that have not sent their preface yet, and those handed to gRPC.
  const handshaking = new Set<Socket>();
  const connections = new Set<Socket>();
  const sendLimit = options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const pageLimit = Math.min(options.maxStreamPageBytes ?? DEFAULT_STREAM_PAGE_BYTES, sendLimit);
  const prefaceTimeoutMs = options.prefaceTimeoutMs ?? DEFAULT_PREFACE_TIMEOUT_MS;

  const build = (): grpc.Server => {
    const s = new grpc.Server({
      "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": sendLimit,
    });
    const services = [
      ["RuntimeService", runtimeServiceMethods, options.runtime],
      ["ImageService", imageServiceMethods, options.image],
    ] as const;
    for (const [serviceName, table, impl] of services) {
      const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
      const handlers: grpc.UntypedServiceImplementation = {};
      for (const m of table) {
        definition[m.rpc] = methodDefinition(m);
        const fn = (impl as Record<string, unknown> | undefined)?.[m.name];
        handlers[m.rpc] =
          typeof fn === "function"
            ? m.serverStream
              ? streamHandler(m, fn.bind(impl))
              : unaryHandler(m, fn.bind(impl))
            : unimplemented(serviceName, m);
      }
      s.addService(definition, handlers);
    }
    return s;
  };

  /**
   * Registers a call in flight. `answer` answers it once (a later answer is dropped): by the
   * handler, or by close() after its grace period.
   */
  const track = (
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
    send: (status: Partial<grpc.StatusObject> | undefined) => void,
  ): { controller: AbortController; callOptions: CallOptions; answer: typeof send } => {
    const controller = new AbortController();
    let answered = false;
    // Once answered (or cancelled), a call is no longer in flight and its end is not a cancellation.
    const over = (): boolean => {
      if (answered) return false;
      answered = true;
      inFlight.delete(controller);
      call.off("cancelled", onCancel);
      return true;
    };
    const onCancel = (): void => {
      if (over()) controller.abort(new CriError(Code.Cancelled, "client cancelled the call"));
    };
    const answer = (status: Partial<grpc.StatusObject> | undefined): void => {
      if (over()) send(status);
    };
    inFlight.set(controller, answer);
    call.on("cancelled", onCancel);
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    const callOptions: CallOptions = { signal: controller.signal };
    if (Number.isFinite(at)) callOptions.timeoutMs = Math.max(0, at - Date.now());
    return { controller, callOptions, answer };
  };

  const toStatus = (err: unknown, m: MethodInfo): Partial<grpc.StatusObject> => {
    if (err instanceof CriError) return { code: err.code as number, details: err.rawMessage };
    options.onInternalError?.(err, m.rpc);
    const message = err instanceof Error ? err.message : String(err);
    return { code: grpc.status.INTERNAL, details: message };
  };

  // biome-ignore lint/suspicious/noExplicitAny: handlers come from a table over many message types
  type Handler = (request: any, options: CallOptions) => any;

  const unaryHandler =
    (m: MethodInfo, fn: Handler): grpc.handleUnaryCall<unknown, unknown> =>
    (call, callback) => {
      let bytes: Buffer | undefined;
      const { callOptions, answer } = track(call, (status) => (status ? callback(status) : callback(null, bytes)));
      let result: unknown;
      try {
        result = fn(call.request, callOptions);
      } catch (err) {
        result = Promise.reject(err);
      }
      Promise.resolve(result)
        .then((value) => {
          // Encoded here, not by grpc-js, so that a response that cannot go on the wire is
          // reported like any other handler failure.
          bytes = encodeResponse(m, value ?? {});
        })
        .then(
          () => answer(undefined),
          (err: unknown) => answer(toStatus(err, m)),
        );
    };

  const pagedField = (m: MethodInfo): string | undefined => {
    if (!m.rpc.startsWith("Stream")) return undefined;
    const fields = Object.entries(m.response.fromPartial({}) as Record<string, unknown>);
    return fields.length === 1 && Array.isArray(fields[0]?.[1]) ? fields[0]?.[0] : undefined;
  };

  const streamHandler =
    (m: MethodInfo, fn: Handler): grpc.handleServerStreamingCall<unknown, unknown> =>
    (call) => {
      const { controller, callOptions, answer } = track(call, (status) =>
        // grpc-js turns an 'error' event on a server stream into the call's final status.
        status ? call.emit("error", status) : call.end(),
      );
      const field = pagedField(m);
      const run = async (): Promise<void> => {
        const iterable = fn(call.request, callOptions) as AsyncIterable<unknown>;
        const iterator = iterable[Symbol.asyncIterator]();
        // Stopping the iterable is best effort: a return() that throws must not crash the shim.
        const stop = (): void => {
          Promise.resolve()
            .then(() => iterator.return?.())
            .catch(() => undefined);
        };
        controller.signal.addEventListener("abort", stop, { once: true });
        try {
          while (!controller.signal.aborted) {
            const next = await iterator.next();
            if (next.done || controller.signal.aborted) break;
            const pages = field ? encodePages(m, field, next.value, pageLimit) : [encodeResponse(m, next.value)];
            for (const page of pages) {
              if (controller.signal.aborted) break;
              if (!call.write(page)) await drained(call, controller.signal);
            }
          }
        } finally {
          controller.signal.removeEventListener("abort", stop);
        }
      };
      run().then(
        () => {
          if (!controller.signal.aborted) answer(undefined);
        },
        (err: unknown) => {
          if (!controller.signal.aborted) answer(toStatus(err, m));
        },
      );
    };

  /** Hands a connection to gRPC once it has sent the HTTP/2 preface; closes it otherwise. */
  const accept = (socket: Socket, inject: (socket: Socket) => void): void => {
    handshaking.add(socket);
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), prefaceTimeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      handshaking.delete(socket);
      socket.off("data", onData);
    };
    function onData(chunk: Buffer): void {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const n = Math.min(received.length, HTTP2_PREFACE.length);
      if (!received.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        finish();
        socket.destroy();
        return;
      }
      if (received.length < HTTP2_PREFACE.length) return;
      finish();
      connections.add(socket);
      socket.once("close", () => connections.delete(socket));
      socket.pause();
      socket.unshift(received); // HTTP/2 reads what is buffered before it reads the socket
      inject(socket);
    }
    socket.on("data", onData);
    socket.on("error", () => socket.destroy()); // a peer that went away; nothing to report
    socket.once("close", finish);
  };

  return {
    get endpoint() {
      return endpoint;
    },
    async listen(target: string): Promise<void> {
      if (server) throw new CriError(Code.FailedPrecondition, `already listening on ${endpoint}`);
      const parsed = parseEndpoint(target);
      await prepareSocketPath(parsed.socketPath);
      const s = build();
      // grpc-js serves the connections this listener accepts, once they have sent the preface.
      const injector = s.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      const l = createServer((socket) => accept(socket, (ready) => injector.injectConnection(ready)));
      await new Promise<void>((resolve, reject) => {
        l.once("error", (err) =>
          reject(new CriError(Code.Unavailable, `cannot listen on ${parsed.target}: ${err.message}`)),
        );
        l.listen(parsed.socketPath, () => resolve());
      });
      l.on("error", () => undefined); // after listening, accept errors are the peers' business
      server = s;
      listener = l;
      socketPath = parsed.socketPath;
      endpoint = parsed.target;
    },
    async close({ graceMs = 5_000 } = {}): Promise<void> {
      const s = server;
      if (!s) return;
      server = undefined;
      listener?.close();
      listener = undefined;
      for (const socket of handshaking) socket.destroy();
      await new Promise<void>((resolve) => {
        let flushTimer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
          // Answered as a runtime that goes away is answered; the handlers' signals abort.
          const shuttingDown = new CriError(Code.Unavailable, "runtime is shutting down");
          for (const [controller, answer] of [...inFlight]) {
            controller.abort(shuttingDown);
            answer({ code: grpc.status.UNAVAILABLE, details: shuttingDown.rawMessage });
          }
          // The answers go out as the sessions close; a peer that reads nothing is cut off.
          flushTimer = setTimeout(() => {
            s.forceShutdown();
            // (grpc-js does not always end the sessions of injected connections: Node 24)
            for (const socket of connections) socket.destroy();
            resolve();
          }, SHUTDOWN_FLUSH_MS);
        }, graceMs);
        s.tryShutdown(() => {
          // Node 24's http2 reports the shutdown done while calls of injected connections still
          // run: those are answered when the grace period ends, as above.
          if (inFlight.size > 0) return;
          clearTimeout(timer);
          clearTimeout(flushTimer);
          resolve();
        });
      });
      if (socketPath) await rm(socketPath, { force: true });
      endpoint = undefined;
    },
  };
}

/** How long close() lets the answers to cancelled calls reach their clients before it cuts them off. */
const SHUTDOWN_FLUSH_MS = 1_000;

/** Encodes a (partial) response; what cannot be encoded fails as a handler failure. */
function encodeResponse(m: MethodInfo, value: unknown): Buffer {
  try {
    return Buffer.from(m.response.encode(m.response.fromPartial(value as never)).finish());
  } catch (err) {
    throw new Error(`cannot encode the ${m.rpc} response: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Encodes one page a `Stream*` handler yielded as one or more messages of at most `limit` bytes,
 * each with whole items of its one repeated `field`, in order. An item larger than `limit` goes
 * alone. Protobuf messages concatenate: the bytes of single-item messages joined are the message
 * with all of them, so each item is encoded once.
 */
function encodePages(m: MethodInfo, field: string, value: unknown, limit: number): Buffer[] {
  const whole = encodeResponse(m, value);
  if (whole.length <= limit) return [whole];
  const items = ((value as Record<string, unknown[] | undefined>)[field] ?? []) as unknown[];
  const pages: Buffer[] = [];
  let page: Buffer[] = [];
  let size = 0;
  for (const item of items) {
    const bytes = encodeResponse(m, { [field]: [item] });
    if (page.length > 0 && size + bytes.length > limit) {
      pages.push(Buffer.concat(page, size));
      page = [];
      size = 0;
    }
    page.push(bytes);
    size += bytes.length;
  }
  if (page.length > 0) pages.push(Buffer.concat(page, size));
  return pages;
}

/** Resolves when the stream can take more, or when the call is aborted; leaves no listener behind. */
function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function methodDefinition(m: MethodInfo): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: m.path,
    requestStream: false,
    responseStream: m.serverStream,
    requestSerialize: (value: unknown) => Buffer.from(m.request.encode(value).finish()),
    requestDeserialize: (bytes: Buffer) => decodeWith(m.request, bytes),
    // The handlers encode their responses (encodeResponse): grpc-js gets the bytes.
    responseSerialize: (bytes: unknown) => bytes as Buffer,
    responseDeserialize: (bytes: Buffer) => decodeWith(m.response, bytes),
    originalName: m.name,
  };
}

function unimplemented(serviceName: string, m: MethodInfo): grpc.UntypedHandleCall {
  const status = {
    code: grpc.status.UNIMPLEMENTED,
    details: `${serviceName}/${m.rpc} is not implemented by this runtime`,
  };
  if (m.serverStream) {
    return ((call: grpc.ServerWritableStream<unknown, unknown>) =>
      call.emit("error", status)) as grpc.UntypedHandleCall;
  }
  return ((_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(status)) as grpc.UntypedHandleCall;
}

/** Makes the socket's folder, removes a stale socket file, refuses a live one. */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const existing = await stat(path).catch(() => undefined);
  if (!existing) return;
  if (!existing.isSocket()) {
    throw new CriError(Code.AlreadyExists, `${path} exists and is not a socket; refusing to replace it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new CriError(Code.AlreadyExists, `${path} is in use by a live server`);
  await rm(path, { force: true });
}
