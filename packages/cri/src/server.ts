import { mkdir, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
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
   * Called when a handler fails with something that is not a {@link CriError} (it is answered as
   * INTERNAL). Default: nothing; the server keeps serving either way.
   */
  onInternalError?: ((error: unknown, method: string) => void) | undefined;
}

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
   * (default 5 s); calls still running then are cancelled. Removes the socket file.
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
  let socketPath: string | undefined;
  let endpoint: string | undefined;
  const inFlight = new Set<AbortController>();

  const build = (): grpc.Server => {
    const s = new grpc.Server({
      "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
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

  const track = (
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ): { controller: AbortController; callOptions: CallOptions; done(): void } => {
    const controller = new AbortController();
    inFlight.add(controller);
    const onCancel = () => controller.abort(new CriError(Code.Cancelled, "client cancelled the call"));
    call.on("cancelled", onCancel);
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    const callOptions: CallOptions = { signal: controller.signal };
    if (Number.isFinite(at)) callOptions.timeoutMs = Math.max(0, at - Date.now());
    // Once answered, a call is no longer in flight and its end is not a cancellation.
    const done = () => {
      inFlight.delete(controller);
      call.off("cancelled", onCancel);
    };
    return { controller, callOptions, done };
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
      const { callOptions, done } = track(call);
      let result: unknown;
      try {
        result = fn(call.request, callOptions);
      } catch (err) {
        result = Promise.reject(err);
      }
      Promise.resolve(result).then(
        (value) => {
          done();
          callback(null, value ?? {});
        },
        (err: unknown) => {
          done();
          callback(toStatus(err, m));
        },
      );
    };

  const streamHandler =
    (m: MethodInfo, fn: Handler): grpc.handleServerStreamingCall<unknown, unknown> =>
    (call) => {
      const { controller, callOptions, done } = track(call);
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
            if (!call.write(next.value)) await drained(call, controller.signal);
          }
        } finally {
          controller.signal.removeEventListener("abort", stop);
        }
      };
      run().then(
        () => {
          done();
          if (!controller.signal.aborted) call.end();
        },
        (err: unknown) => {
          done();
          // grpc-js turns an 'error' event on a server stream into the call's final status.
          if (!controller.signal.aborted) call.emit("error", toStatus(err, m));
        },
      );
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
      await new Promise<void>((resolve, reject) =>
        s.bindAsync(parsed.target, grpc.ServerCredentials.createInsecure(), (err) =>
          err ? reject(new CriError(Code.Unavailable, `cannot listen on ${parsed.target}: ${err.message}`)) : resolve(),
        ),
      );
      server = s;
      socketPath = parsed.socketPath;
      endpoint = parsed.target;
    },
    async close({ graceMs = 5_000 } = {}): Promise<void> {
      const s = server;
      if (!s) return;
      server = undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const c of inFlight) c.abort(new CriError(Code.Unavailable, "server is shutting down"));
          s.forceShutdown();
          resolve();
        }, graceMs);
        s.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (socketPath) await rm(socketPath, { force: true });
      endpoint = undefined;
    },
  };
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
    // Handlers may answer partial messages: fill in the defaults before encoding.
    responseSerialize: (value: unknown) =>
      Buffer.from(m.response.encode(m.response.fromPartial(value as never)).finish()),
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
