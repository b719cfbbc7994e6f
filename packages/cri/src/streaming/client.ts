// The client side of the CRI streaming URLs: a WebSocket to the URL an Exec, Attach or
// PortForward call returned, turned into Node streams.

import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { Duplex, Readable, Writable } from "node:stream";
import WebSocket from "ws";
import { Code, CriError } from "../errors.js";
import {
  CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V5,
  checkPort,
  decodeFrame,
  encodeCloseFrame,
  encodeFrame,
  encodeTerminalSize,
  type ProtocolTraits,
  portForwardChannels,
  protocolTraits,
  RemoteCommandChannel,
  readRemoteCommandStatus,
  type StreamStatus,
  type TerminalSize,
} from "./protocol.js";

/** The subprotocols offered for exec and attach by default, best first: v5 (stdin close), then v4. */
export const DEFAULT_REMOTE_COMMAND_PROTOCOLS: readonly string[] = [CHANNEL_PROTOCOL_V5, CHANNEL_PROTOCOL_V4];
/** The subprotocols offered for port-forward by default. */
export const DEFAULT_PORT_FORWARD_PROTOCOLS: readonly string[] = [CHANNEL_PROTOCOL_V4];
// How much received data a stream holds before the socket is paused: a few of the 32 KiB messages
// the kubelet's server writes, so that a steady reader does not pause the socket at every message.
const READ_HIGH_WATER_MARK = 1024 * 1024;

/** How long the WebSocket handshake may take by default (the kubelet's stream creation timeout: 30 s). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

/** Options shared by {@link openExec}, {@link openAttach} and {@link openPortForward}. */
export interface StreamConnectOptions {
  /** Subprotocols to offer, best first; the server picks the first it supports. */
  protocols?: readonly string[];
  /** Extra HTTP headers of the upgrade request (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** Handshake timeout (default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}). */
  handshakeTimeoutMs?: number;
  /** Aborts the handshake, or closes an open session. */
  signal?: AbortSignal;
  /** CA certificates for an `https://` URL. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Verify an `https://` server's certificate (default `true`). */
  rejectUnauthorized?: boolean;
}

/** How a remote command (exec or attach) ended. */
export interface RemoteCommandResult {
  /**
   * The exit code from the error channel: 0 on `Success`, the `ExitCode` cause of a
   * `NonZeroExitCode` failure. `null` when the connection closed without a status (the caller
   * closed it, or an attach whose server went away).
   */
  exitCode: number | null;
  /** The `Status` received on the error channel, if any. */
  status: StreamStatus | undefined;
}

/** An open exec or attach session. */
export interface RemoteCommandSession {
  /** The negotiated subprotocol, e.g. `v4.channel.k8s.io`. */
  readonly protocol: string;
  /**
   * The command's stdin (channel 0). With `v5.channel.k8s.io`, `end()` half-closes it (the
   * command sees EOF and the session goes on); with v4 there is no such signal on the wire and
   * `end()` sends nothing (see {@link stdinCloseSupported}).
   */
  readonly stdin: Writable;
  /** The command's stdout (channel 1); in TTY mode it carries the terminal's output. */
  readonly stdout: Readable;
  /** The command's stderr (channel 2); empty in TTY mode. */
  readonly stderr: Readable;
  /** Whether `stdin.end()` reaches the command (the v5 close signal). */
  readonly stdinCloseSupported: boolean;
  /** Sends a terminal size on the resize channel (4); a server without a TTY ignores it. */
  resize(size: TerminalSize): void;
  /**
   * Settles once the server has closed the connection and stdout/stderr have ended: the exit
   * code, or a `CriError` when the status is a failure other than a non-zero exit.
   */
  readonly done: Promise<RemoteCommandResult>;
  /** Closes the connection (the command's streams close; `done` then settles). */
  close(): void;
}

/**
 * Opens the URL an `Exec` call returned and gives the command's streams.
 *
 * Offers `v5.channel.k8s.io` then `v4.channel.k8s.io` by default; containerd 1.6 picks v4 (it
 * refuses v5 alone with HTTP 403). The URL's token is single use. Read (or `resume()`) stdout
 * and stderr: `done` waits for them, and an unread stream holds the connection back.
 *
 * @example
 * ```ts
 * const { url } = await runtime.exec({ containerId, cmd: ["sh", "-c", "echo hi; exit 3"], stdout: true, stderr: true });
 * const session = await openExec(url);
 * session.stdout.pipe(process.stdout);
 * session.stderr.pipe(process.stderr);
 * const { exitCode } = await session.done; // 3
 * ```
 */
export function openExec(url: string, options: StreamConnectOptions = {}): Promise<RemoteCommandSession> {
  return openRemoteCommand(url, options, "Exec");
}

/**
 * Opens the URL an `Attach` call returned and gives the container's streams, as {@link openExec}.
 *
 * @example
 * ```ts
 * const { url } = await runtime.attach({ containerId, stdout: true, stderr: true });
 * const session = await openAttach(url);
 * session.stdout.on("data", (chunk) => process.stdout.write(chunk));
 * ```
 */
export function openAttach(url: string, options: StreamConnectOptions = {}): Promise<RemoteCommandSession> {
  return openRemoteCommand(url, options, "Attach");
}

function toWsUrl(url: string, method: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new CriError(Code.InvalidArgument, `not a streaming URL: ${JSON.stringify(url)}`, {
      method,
      field: "url",
      cause,
    });
  }
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new CriError(Code.InvalidArgument, `streaming URL scheme ${u.protocol} is not http(s) or ws(s)`, {
      method,
      field: "url",
    });
  }
  return u;
}

/** Connects and resolves once the upgrade is done, with the negotiated protocol's traits. */
function connect(
  url: URL,
  options: StreamConnectOptions,
  defaults: readonly string[],
  method: string,
): Promise<{ ws: WebSocket; traits: ProtocolTraits }> {
  const protocols = [...(options.protocols ?? defaults)];
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CriError(Code.Cancelled, "aborted before connecting", { method, cause: options.signal.reason }));
      return;
    }
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: false,
      handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.rejectUnauthorized } : {}),
      maxPayload: 0,
    });
    ws.binaryType = "nodebuffer";
    let settled = false;
    const fail = (err: CriError) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      ws.terminate();
      reject(err);
    };
    const onAbort = () => fail(new CriError(Code.Cancelled, "aborted", { method, cause: options.signal?.reason }));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (body.length < 4096) body += d;
      });
      const done = () => {
        const status = res.statusCode ?? 0;
        const text = body.trim();
        const detail = text ? `: ${text}` : "";
        if (status === 404) {
          fail(
            new CriError(
              Code.NotFound,
              `streaming URL not found (HTTP 404${detail}); its token is single use and expires`,
              { method },
            ),
          );
        } else if (status === 403 || status === 400) {
          fail(
            new CriError(
              Code.FailedPrecondition,
              `the streaming server refused the upgrade (HTTP ${status}${detail}); offered subprotocols: ${protocols.join(", ") || "(none)"}`,
              { method },
            ),
          );
        } else {
          fail(new CriError(Code.Unknown, `the streaming server answered HTTP ${status}${detail}`, { method }));
        }
      };
      res.once("end", done);
      res.once("error", done);
    });
    ws.once("error", (err: Error) => {
      fail(new CriError(Code.Unavailable, `streaming connection failed: ${err.message}`, { method, cause: err }));
    });
    ws.once("open", () => {
      if (settled) return;
      const traits = protocolTraits(ws.protocol);
      if (!traits || (protocols.length > 0 && !protocols.includes(ws.protocol))) {
        fail(
          new CriError(Code.Internal, `the server selected subprotocol ${JSON.stringify(ws.protocol)}, not offered`, {
            method,
          }),
        );
        return;
      }
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      // Hold the first messages (they may come with the upgrade response) until the caller
      // has its handlers on: it resumes the socket.
      ws.pause();
      resolve({ ws, traits });
    });
  });
}

/** A Readable fed from socket messages, pausing the socket while the reader is behind. */
function channelReadable(ws: WebSocket): Readable {
  return new Readable({
    highWaterMark: READ_HIGH_WATER_MARK,
    read() {
      if (ws.isPaused) ws.resume();
    },
  });
}

function feed(ws: WebSocket, r: Readable, data: Buffer): void {
  if (r.readableEnded || r.destroyed) return;
  if (!r.push(data)) ws.pause();
}

async function openRemoteCommand(
  url: string,
  options: StreamConnectOptions,
  method: "Exec" | "Attach",
): Promise<RemoteCommandSession> {
  const target = toWsUrl(url, method);
  const { ws, traits } = await connect(target, options, DEFAULT_REMOTE_COMMAND_PROTOCOLS, method);
  const stdout = channelReadable(ws);
  const stderr = channelReadable(ws);
  const errorChunks: Buffer[] = [];
  let protocolError: CriError | undefined;

  const send = (frame: Buffer | string, cb?: (err?: Error) => void) => {
    if (ws.readyState !== WebSocket.OPEN) {
      cb?.(new CriError(Code.Unavailable, "the streaming connection is closed", { method }));
      return;
    }
    ws.send(frame, cb);
  };

  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      send(encodeFrame(RemoteCommandChannel.stdin, chunk, traits.base64), (err) => cb(err ?? null));
    },
    final(cb) {
      if (traits.closeSignal && ws.readyState === WebSocket.OPEN) {
        send(encodeCloseFrame(RemoteCommandChannel.stdin), () => cb());
      } else cb();
    },
  });
  // Writing after the server closed is not the caller's bug to crash on: the session's `done` says how it ended.
  stdin.on("error", () => {});

  ws.on("message", (message: Buffer, isBinary: boolean) => {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(isBinary ? message : message.toString("utf8"), traits);
    } catch (err) {
      protocolError = CriError.from(err, method);
      ws.terminate();
      return;
    }
    if (frame.kind === "empty") return;
    if (frame.kind === "close") {
      if (frame.channel === RemoteCommandChannel.stdout) stdout.push(null);
      else if (frame.channel === RemoteCommandChannel.stderr) stderr.push(null);
      return;
    }
    switch (frame.channel) {
      case RemoteCommandChannel.stdout:
        feed(ws, stdout, frame.data);
        break;
      case RemoteCommandChannel.stderr:
        feed(ws, stderr, frame.data);
        break;
      case RemoteCommandChannel.error:
        errorChunks.push(frame.data);
        // v4/v5 write the Status in one message, after the last output: the command is over.
        if (traits.statusJson) statusReceived();
        break;
      default:
        // Frames on other channels are not meant for a client; the kubelet skips unknown channels too.
        break;
    }
  });

  let statusReceived: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    statusReceived = resolve;
    ws.once("close", () => resolve());
  });
  ws.resume();
  ws.on("error", (err: Error) => {
    protocolError ??= new CriError(Code.Unavailable, `streaming connection failed: ${err.message}`, {
      method,
      cause: err,
    });
  });

  const endReadable = (r: Readable) =>
    new Promise<void>((resolve) => {
      if (r.readableEnded || r.destroyed) {
        resolve();
        return;
      }
      r.once("end", resolve);
      r.once("close", resolve);
      r.push(null);
      if (!r.readableFlowing && r.listenerCount("readable") === 0) {
        // Nobody reads this stream: let `done` settle without waiting for a reader that never comes.
        resolve();
      }
    });

  const done = closed.then(async (): Promise<RemoteCommandResult> => {
    if (ws.isPaused) ws.resume();
    if (!stdin.destroyed) stdin.destroy();
    // After the status the server closes too; closing from here as well spares a round trip.
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    await Promise.all([endReadable(stdout), endReadable(stderr)]);
    if (protocolError) throw protocolError;
    if (errorChunks.length === 0) return { exitCode: traits.statusJson ? null : 0, status: undefined };
    return readRemoteCommandStatus(Buffer.concat(errorChunks), traits, method);
  });
  // A caller that never awaits `done` must not get an unhandled rejection.
  done.catch(() => {});

  const onAbort = () => ws.close(1000);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  void closed.then(() => options.signal?.removeEventListener("abort", onAbort));

  return {
    protocol: ws.protocol,
    stdin,
    stdout,
    stderr,
    stdinCloseSupported: traits.closeSignal,
    resize(size) {
      if (!Number.isInteger(size.width) || !Number.isInteger(size.height) || size.width < 0 || size.height < 0) {
        throw new CriError(Code.InvalidArgument, `terminal size ${size.width}x${size.height} is not valid`, {
          method,
          field: "size",
        });
      }
      send(encodeFrame(RemoteCommandChannel.resize, encodeTerminalSize(size), traits.base64));
    },
    done,
    close() {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    },
  };
}

/** Options of {@link openPortForward}. */
export interface PortForwardOptions extends StreamConnectOptions {
  /**
   * The ports of the `PortForward` request, in its order: one data and one error channel each.
   * They are also sent as `?port=` query parameters, which the kubelet's own server reads.
   */
  ports: readonly number[];
}

/** An open port-forward connection: one TCP connection inside the pod per requested port. */
export interface PortForwardSession {
  /** The negotiated subprotocol. */
  readonly protocol: string;
  /**
   * One duplex per requested port, in the request's order: what is written goes to the pod's
   * port, what the pod sends is read. It ends when the server closes the connection, and is
   * destroyed with a `CriError` when the server reports an error for the port (e.g. connection
   * refused inside the pod).
   */
  readonly streams: readonly Duplex[];
  /** Settles when the connection has closed. */
  readonly closed: Promise<void>;
  /** Closes the connection (every port's stream). */
  close(): void;
}

/**
 * Opens the URL a `PortForward` call returned: WebSocket framing with a data and an error
 * channel per port, each starting with the port as two little-endian bytes (checked and
 * stripped here). The v4 WebSocket framing has no half-close: ending a stream's writable side
 * sends nothing; close the session when done.
 *
 * @example
 * ```ts
 * const { url } = await runtime.portForward({ podSandboxId, port: [8080] });
 * const pf = await openPortForward(url, { ports: [8080] });
 * const [http] = pf.streams;
 * http.write("GET / HTTP/1.0\r\n\r\n");
 * http.pipe(process.stdout);
 * ```
 */
export async function openPortForward(url: string, options: PortForwardOptions): Promise<PortForwardSession> {
  const method = "PortForward";
  if (!Array.isArray(options?.ports) || options.ports.length === 0) {
    throw new CriError(Code.InvalidArgument, "at least one port is required", { method, field: "ports" });
  }
  const ports = options.ports.map((p, i) => checkPort(p, `ports[${i}]`));
  const target = toWsUrl(url, method);
  if (!target.searchParams.has("port")) for (const p of ports) target.searchParams.append("port", String(p));
  const { ws, traits } = await connect(target, options, DEFAULT_PORT_FORWARD_PROTOCOLS, method);

  interface PortState {
    port: number;
    stream: Duplex;
    seenDataPrefix: boolean;
    seenErrorPrefix: boolean;
    errors: Buffer[];
    prefix: Buffer[];
  }
  const states: PortState[] = ports.map((port, index) => {
    const channel = portForwardChannels(index).data;
    const stream = new Duplex({
      allowHalfOpen: true,
      readableHighWaterMark: READ_HIGH_WATER_MARK,
      read() {
        if (ws.isPaused) ws.resume();
      },
      write(chunk: Buffer, _enc, cb) {
        if (ws.readyState !== WebSocket.OPEN) {
          cb(new CriError(Code.Unavailable, "the port-forward connection is closed", { method }));
          return;
        }
        ws.send(encodeFrame(channel, chunk, traits.base64), (err) => cb(err ?? null));
      },
      final(cb) {
        // No half-close in the WebSocket port-forward framing.
        cb();
      },
      destroy(err, cb) {
        cb(err);
      },
    });
    return { port, stream, seenDataPrefix: false, seenErrorPrefix: false, errors: [], prefix: [] };
  });
  let protocolError: CriError | undefined;

  const takePrefix = (state: PortState, data: Buffer, kind: "data" | "error"): Buffer | undefined => {
    // The 2-byte port may, in principle, arrive split over frames: gather it first.
    state.prefix.push(data);
    const all = Buffer.concat(state.prefix);
    if (all.length < 2) return undefined;
    state.prefix = [];
    const got = all.readUInt16LE(0);
    if (got !== state.port) {
      throw new CriError(Code.Internal, `the ${kind} channel of port ${state.port} started with port ${got}`, {
        method,
      });
    }
    if (kind === "data") state.seenDataPrefix = true;
    else state.seenErrorPrefix = true;
    return all.subarray(2);
  };

  ws.on("message", (message: Buffer, isBinary: boolean) => {
    try {
      const frame = decodeFrame(isBinary ? message : message.toString("utf8"), traits);
      if (frame.kind !== "data") return;
      const index = frame.channel >> 1;
      const state = states[index];
      if (!state) return;
      const isError = (frame.channel & 1) === 1;
      let data: Buffer | undefined = frame.data;
      if (isError ? !state.seenErrorPrefix : !state.seenDataPrefix) {
        data = takePrefix(state, data, isError ? "error" : "data");
      }
      if (!data || data.length === 0) return;
      if (isError) state.errors.push(data);
      else feed(ws, state.stream as unknown as Readable, data);
    } catch (err) {
      protocolError = CriError.from(err, method);
      ws.terminate();
    }
  });
  ws.on("error", (err: Error) => {
    protocolError ??= new CriError(Code.Unavailable, `port-forward connection failed: ${err.message}`, {
      method,
      cause: err,
    });
  });
  const closed = new Promise<void>((resolve) => {
    ws.once("close", () => {
      if (ws.isPaused) ws.resume();
      for (const s of states) {
        const message = Buffer.concat(s.errors).toString("utf8");
        if (protocolError) s.stream.destroy(protocolError);
        else if (message) s.stream.destroy(new CriError(Code.Unknown, message, { method }));
        else s.stream.push(null);
      }
      resolve();
    });
  });
  ws.resume();
  const onAbort = () => ws.close(1000);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  void closed.then(() => options.signal?.removeEventListener("abort", onAbort));

  return {
    protocol: ws.protocol,
    streams: states.map((s) => s.stream),
    closed,
    close() {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    },
  };
}

/** Options of {@link createPortForwardListener}. */
export interface PortForwardListenerOptions extends StreamConnectOptions {
  /** The port inside the pod. */
  port: number;
  /**
   * Returns a fresh streaming URL for one connection, typically
   * `async () => (await runtime.portForward({ podSandboxId, port: [port] })).url` — a URL's
   * token is single use, and one WebSocket carries one TCP connection.
   */
  openUrl: () => Promise<string>;
  /** Local address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Local port (default 0: any free port). */
  localPort?: number;
}

/** A local TCP listener whose connections are forwarded into a pod. */
export interface PortForwardListener {
  /** The local address it listens on. */
  readonly host: string;
  /** The local port it listens on. */
  readonly localPort: number;
  /** Errors of single connections (each also closes that connection). */
  onError(listener: (err: CriError) => void): void;
  /** Stops listening and closes every forwarded connection. */
  close(): Promise<void>;
}

/**
 * Listens on a local TCP port and forwards each accepted connection to `port` in the pod, over
 * a fresh URL from `openUrl` (what `kubectl port-forward` does).
 *
 * @example
 * ```ts
 * const listener = await createPortForwardListener({
 *   port: 8080,
 *   openUrl: async () => (await runtime.portForward({ podSandboxId, port: [8080] })).url,
 * });
 * await fetch(`http://127.0.0.1:${listener.localPort}/`);
 * await listener.close();
 * ```
 */
export async function createPortForwardListener(options: PortForwardListenerOptions): Promise<PortForwardListener> {
  const port = checkPort(options?.port, "port");
  if (typeof options.openUrl !== "function") {
    throw new CriError(Code.InvalidArgument, "openUrl must be a function returning a streaming URL", {
      method: "PortForward",
      field: "openUrl",
    });
  }
  const host = options.host ?? "127.0.0.1";
  const sessions = new Set<PortForwardSession>();
  const sockets = new Set<Socket>();
  const errorListeners: ((err: CriError) => void)[] = [];
  const report = (err: unknown) => {
    const e = CriError.from(err, "PortForward");
    for (const l of errorListeners) l(e);
  };

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.pause();
    void (async () => {
      let session: PortForwardSession | undefined;
      try {
        const url = await options.openUrl();
        session = await openPortForward(url, { ...options, ports: [port] });
      } catch (err) {
        report(err);
        socket.destroy();
        return;
      }
      sessions.add(session);
      const s = session;
      const [stream] = s.streams as [Duplex];
      stream.on("error", (err) => {
        report(err);
        socket.destroy();
      });
      socket.pipe(stream);
      stream.pipe(socket);
      socket.resume();
      socket.once("close", () => s.close());
      void s.closed.then(() => sessions.delete(s));
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new CriError(Code.Unavailable, `cannot listen on ${host}:${options.localPort ?? 0}: ${err.message}`)),
    );
    server.listen(options.localPort ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    host,
    localPort: address.port,
    onError(listener) {
      errorListeners.push(listener);
    },
    async close() {
      const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      for (const socket of sockets) socket.destroy();
      await Promise.all([closedServer, ...[...sessions].map((s) => s.closed)]);
    },
  };
}
