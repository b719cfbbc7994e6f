// The server kit for shims: the part of the kubelet's streaming server a runtime embeds. It hands
// out single-use URLs for Exec/Attach/PortForward requests and serves them over the WebSocket
// channel protocols, calling the shim's handlers with Node streams.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex as NetDuplex } from "node:stream";
import { Duplex, Readable, Writable } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";
import { Code, CriError } from "../errors.js";
import type {
  AttachRequest,
  AttachResponse,
  ExecRequest,
  ExecResponse,
  PortForwardRequest,
  PortForwardResponse,
} from "../gen/messages.js";
import {
  BASE64_CHANNEL_PROTOCOL_V1,
  BASE64_CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V1,
  CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V5,
  checkPort,
  decodeFrame,
  encodeFrame,
  encodePortPrefix,
  exitCodeStatus,
  internalErrorStatus,
  negotiateProtocol,
  type ProtocolTraits,
  parseProtocolHeader,
  parseTerminalSize,
  portForwardChannels,
  protocolTraits,
  RemoteCommandChannel,
  successStatus,
  type TerminalSize,
} from "./protocol.js";

/** How long a URL's token stays valid: the kubelet's one minute. */
export const DEFAULT_STREAM_TOKEN_TTL_MS = 60_000;
/** How many URLs may be handed out and not yet used: the kubelet's 1,000. */
export const DEFAULT_STREAM_MAX_IN_FLIGHT = 1_000;
/** The remote-command subprotocols the server accepts by default (as the kubelet, plus v5). */
export const DEFAULT_SERVER_REMOTE_COMMAND_PROTOCOLS: readonly string[] = [
  CHANNEL_PROTOCOL_V5,
  CHANNEL_PROTOCOL_V4,
  BASE64_CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V1,
  BASE64_CHANNEL_PROTOCOL_V1,
  "",
];
/** The port-forward subprotocols the server accepts (as the kubelet: `""`, v4 binary, v4 base64). */
export const SERVER_PORT_FORWARD_PROTOCOLS: readonly string[] = ["", CHANNEL_PROTOCOL_V4, BASE64_CHANNEL_PROTOCOL_V4];

/** The streams a shim's exec or attach handler works with. */
export interface RemoteCommandStreams {
  /** What the client sends (`null` unless the request asked for stdin); ends on client EOF or disconnect. */
  readonly stdin: Readable | null;
  /** Where the command's stdout goes (`null` unless asked for); in TTY mode the terminal's output. */
  readonly stdout: Writable | null;
  /** Where the command's stderr goes (`null` unless asked for; always `null` with a TTY). */
  readonly stderr: Writable | null;
  /** Whether the request asked for a TTY. */
  readonly tty: boolean;
  /** The last terminal size the client sent, if any. */
  readonly terminalSize: TerminalSize | undefined;
  /** Calls `listener` on each resize the client sends. */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Aborted when the client disconnects. */
  readonly signal: AbortSignal;
}

/**
 * Runs an exec: write to the streams, resolve with the exit code (0 or nothing for success).
 * A thrown error is reported to the client as an internal error status.
 */
export type StreamingExecHandler = (
  request: ExecRequest,
  streams: RemoteCommandStreams,
) => Promise<number | undefined> | number | undefined;

/** Attaches to a running container's streams; resolve when the attach is over. */
export type StreamingAttachHandler = (
  request: AttachRequest,
  streams: RemoteCommandStreams,
) => Promise<number | undefined> | number | undefined;

/**
 * Forwards one port of a pod: pipe `stream` to a connection to `port` inside the sandbox and
 * resolve when that connection is over. A thrown error is written on the port's error channel.
 */
export type StreamingPortForwardHandler = (
  target: { podSandboxId: string; port: number },
  stream: Duplex,
  signal: AbortSignal,
) => Promise<void>;

/** Options of {@link createStreamingServer}. */
export interface StreamingServerOptions {
  /** Serves exec URLs; without it an Exec request is `Unimplemented`. */
  exec?: StreamingExecHandler;
  /** Serves attach URLs; without it an Attach request is `Unimplemented`. */
  attach?: StreamingAttachHandler;
  /** Serves port-forward URLs; without it a PortForward request is `Unimplemented`. */
  portForward?: StreamingPortForwardHandler;
  /** Address to listen on (default `127.0.0.1`, as containerd's default stream server address). */
  host?: string;
  /** Port to listen on (default 0: a free port). */
  port?: number;
  /**
   * The URL clients reach the server at, when it differs from the listen address (a proxy,
   * a mounted path); URLs are `<baseUrl>/exec/<token>` and so on.
   */
  baseUrl?: string;
  /** Token lifetime (default {@link DEFAULT_STREAM_TOKEN_TTL_MS}). */
  tokenTtlMs?: number;
  /** URLs handed out and not used yet, at most (default {@link DEFAULT_STREAM_MAX_IN_FLIGHT}). */
  maxInFlight?: number;
  /** Clock for token expiry (default `Date.now`). */
  now?: () => number;
  /** Remote-command subprotocols accepted (default {@link DEFAULT_SERVER_REMOTE_COMMAND_PROTOCOLS}). */
  remoteCommandProtocols?: readonly string[];
}

/** A running streaming server a shim hands URLs out from. */
export interface StreamingServer {
  /** Starts listening (unless {@link handleUpgrade} is used on the shim's own HTTP server). */
  start(): Promise<void>;
  /** The base URL (after `start`, or the `baseUrl` option). */
  readonly url: string;
  /** Validates an Exec request as the kubelet does and returns its single-use URL. */
  getExec(request: ExecRequest): ExecResponse;
  /** Validates an Attach request as the kubelet does and returns its single-use URL. */
  getAttach(request: AttachRequest): AttachResponse;
  /** Validates a PortForward request as the kubelet does and returns its single-use URL. */
  getPortForward(request: PortForwardRequest): PortForwardResponse;
  /** For mounting on an existing HTTP server: serves a plain request; `false` if the path is not ours. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** For mounting on an existing HTTP server's `upgrade` event; `false` if the path is not ours. */
  handleUpgrade(req: IncomingMessage, socket: NetDuplex, head: Buffer): boolean;
  /** How many URLs are handed out and not yet used or expired. */
  readonly inFlight: number;
  /** Stops listening and closes every open session. */
  close(): Promise<void>;
}

type Cached =
  | { kind: "exec"; request: ExecRequest; expiresAt: number }
  | { kind: "attach"; request: AttachRequest; expiresAt: number }
  | { kind: "portforward"; request: PortForwardRequest; expiresAt: number };

const TOKEN_LEN = 8;

/**
 * Creates the streaming server a shim embeds, as containerd and CRI-O embed the kubelet's:
 * `getExec`/`getAttach`/`getPortForward` validate the request, store it under a random token
 * (single use, one minute) and return `<url>/exec/<token>`; the URL is served over the
 * WebSocket channel protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`, … for exec and attach;
 * the port-forward framing with the port prefix), calling the handlers with streams.
 *
 * SPDY is not served: a request without a WebSocket upgrade gets 400.
 *
 * @example
 * ```ts
 * const streaming = createStreamingServer({
 *   async exec(request, { stdout }) {
 *     stdout?.end(`ran ${request.cmd.join(" ")}\n`);
 *     return 0;
 *   },
 * });
 * await streaming.start();
 * // in the shim's RuntimeService: exec: async (request) => streaming.getExec(request)
 * ```
 */
export function createStreamingServer(options: StreamingServerOptions = {}): StreamingServer {
  const now = options.now ?? Date.now;
  const ttl = options.tokenTtlMs ?? DEFAULT_STREAM_TOKEN_TTL_MS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_STREAM_MAX_IN_FLIGHT;
  const rcProtocols = options.remoteCommandProtocols ?? DEFAULT_SERVER_REMOTE_COMMAND_PROTOCOLS;
  // A token is only made for a handler given here, so an upgrade always finds its handler.
  const { exec, attach, portForward } = options;
  for (const p of rcProtocols) {
    if (!protocolTraits(p)) {
      throw new CriError(Code.InvalidArgument, `unknown remote-command subprotocol ${JSON.stringify(p)}`, {
        field: "remoteCommandProtocols",
      });
    }
  }
  // Insertion order is age order: the oldest tokens come first, as the kubelet's list.
  const cache = new Map<string, Cached>();
  const sockets = new Set<WebSocket>();
  // The subprotocol is chosen before the upgrade (to answer 403 as the kubelet does); ws then echoes it.
  const chosenProtocol = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 0,
    handleProtocols: (_offered, req) => chosenProtocol.get(req) ?? false,
  });
  let httpServer: Server | undefined;
  let baseUrl = options.baseUrl?.replace(/\/+$/, "");
  const basePath = () => (baseUrl ? new URL(baseUrl).pathname.replace(/\/+$/, "") : "");

  const gc = () => {
    const t = now();
    for (const [token, entry] of cache) {
      if (t <= entry.expiresAt) break;
      cache.delete(token);
    }
  };

  const insert = (entry: Cached, method: string): string => {
    if (!baseUrl) {
      throw new CriError(Code.FailedPrecondition, "the streaming server is not started (call start())", { method });
    }
    gc();
    if (cache.size >= maxInFlight) {
      throw new CriError(Code.ResourceExhausted, "maximum number of in-flight requests exceeded", { method });
    }
    let token = "";
    for (let i = 0; i < 10; i++) {
      token = randomBytes(Math.ceil((TOKEN_LEN * 6) / 8))
        .toString("base64url")
        .slice(0, TOKEN_LEN);
      if (!cache.has(token)) break;
    }
    if (cache.has(token)) throw new CriError(Code.Internal, "failed to generate unique token", { method });
    cache.set(token, entry);
    return `${baseUrl}/${entry.kind}/${token}`;
  };

  const consume = (token: string): Cached | undefined => {
    const entry = cache.get(token);
    if (!entry) return undefined;
    cache.delete(token);
    return now() > entry.expiresAt ? undefined : entry;
  };

  const checkStdio = (
    request: { containerId?: string; tty?: boolean; stdin?: boolean; stdout?: boolean; stderr?: boolean },
    method: string,
    conjunction: "or" | "and",
  ) => {
    if (!request.containerId) {
      throw new CriError(Code.InvalidArgument, "missing required container_id", { method, field: "containerId" });
    }
    if (request.tty && request.stderr) {
      throw new CriError(Code.InvalidArgument, "tty and stderr cannot both be true", { method, field: "stderr" });
    }
    if (!request.stdin && !request.stdout && !request.stderr) {
      throw new CriError(Code.InvalidArgument, `one of stdin, stdout, ${conjunction} stderr must be set`, { method });
    }
  };

  const route = (rawUrl: string | undefined): { kind: Cached["kind"]; token: string } | undefined => {
    const path = new URL(rawUrl ?? "/", "http://x").pathname;
    const prefix = basePath();
    if (!path.startsWith(`${prefix}/`)) return undefined;
    const m = /^\/(exec|attach|portforward)\/([^/]+)$/.exec(path.slice(prefix.length));
    if (!m) return undefined;
    return { kind: m[1] as Cached["kind"], token: m[2] as string };
  };

  const rejectUpgrade = (socket: NetDuplex, status: number, reason: string, body: string) => {
    const payload = Buffer.from(body);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  const server: StreamingServer = {
    async start() {
      if (httpServer) return;
      const srv = createServer((req, res) => {
        if (!server.handleRequest(req, res)) {
          res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
        }
      });
      srv.on("upgrade", (req, socket, head) => {
        if (!server.handleUpgrade(req, socket, head)) rejectUpgrade(socket, 404, "Not Found", "404 page not found\n");
      });
      await new Promise<void>((resolve, reject) => {
        srv.once("error", (err) =>
          reject(new CriError(Code.Unavailable, `streaming server cannot listen: ${err.message}`, { cause: err })),
        );
        srv.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
      });
      httpServer = srv;
      if (!baseUrl) {
        const a = srv.address() as AddressInfo;
        const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
        baseUrl = `http://${host}:${a.port}`;
      }
    },
    get url() {
      return baseUrl ?? "";
    },
    get inFlight() {
      gc();
      return cache.size;
    },
    getExec(request) {
      if (!exec) throw new CriError(Code.Unimplemented, "exec is not served", { method: "Exec" });
      checkStdio(request, "Exec", "or");
      return { url: insert({ kind: "exec", request, expiresAt: now() + ttl }, "Exec") };
    },
    getAttach(request) {
      if (!attach) throw new CriError(Code.Unimplemented, "attach is not served", { method: "Attach" });
      checkStdio(request, "Attach", "and");
      return { url: insert({ kind: "attach", request, expiresAt: now() + ttl }, "Attach") };
    },
    getPortForward(request) {
      const method = "PortForward";
      if (!portForward) throw new CriError(Code.Unimplemented, "port-forward is not served", { method });
      if (!request.podSandboxId) {
        throw new CriError(Code.InvalidArgument, "missing required pod_sandbox_id", { method, field: "podSandboxId" });
      }
      request.port.forEach((p, i) => {
        checkPort(p, `port[${i}]`);
      });
      return { url: insert({ kind: "portforward", request, expiresAt: now() + ttl }, method) };
    },
    handleRequest(req, res) {
      const r = route(req.url);
      if (!r) return false;
      // As the kubelet: the token is consumed whatever the request turns out to be.
      const entry = consume(r.token);
      if (!entry || entry.kind !== r.kind) {
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
        return true;
      }
      res
        .writeHead(400, { "Content-Type": "text/plain; charset=utf-8" })
        .end("unable to upgrade: only WebSocket upgrades are served (SPDY is not supported)\n");
      return true;
    },
    handleUpgrade(req, socket, head) {
      const r = route(req.url);
      if (!r) return false;
      const entry = consume(r.token);
      if (!entry || entry.kind !== r.kind) {
        rejectUpgrade(socket, 404, "Not Found", "404 page not found\n");
        return true;
      }
      if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
        rejectUpgrade(socket, 400, "Bad Request", "unable to upgrade: only WebSocket upgrades are served\n");
        return true;
      }
      const offered = parseProtocolHeader(req.headers["sec-websocket-protocol"]);
      const supported = entry.kind === "portforward" ? SERVER_PORT_FORWARD_PROTOCOLS : rcProtocols;
      const chosen = negotiateProtocol(offered, supported);
      if (chosen === undefined) {
        rejectUpgrade(
          socket,
          403,
          "Forbidden",
          `requested protocol(s) are not supported: [${offered.join(" ")}]; supports [${supported.filter((p) => p).join(" ")}]\n`,
        );
        return true;
      }
      const traits = protocolTraits(chosen) as ProtocolTraits;
      chosenProtocol.set(req, chosen);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        ws.once("close", () => sockets.delete(ws));
        ws.on("error", () => {});
        if (entry.kind === "portforward") {
          if (portForward) servePortForward(ws, traits, entry.request, portForward);
        } else if (entry.kind === "exec") {
          if (exec) serveRemoteCommand(ws, traits, entry.request, entry.request.cmd, (s) => exec(entry.request, s));
        } else if (attach) {
          serveRemoteCommand(ws, traits, entry.request, undefined, (s) => attach(entry.request, s));
        }
      });
      return true;
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      cache.clear();
      const srv = httpServer;
      httpServer = undefined;
      if (srv) {
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      }
    },
  };
  return server;
}

/** Sends on the socket; a send after the client left is dropped (the handler's signal says so). */
function sender(ws: WebSocket, traits: ProtocolTraits) {
  return (channel: number, data: Uint8Array, cb?: () => void) => {
    if (ws.readyState !== WebSocket.OPEN) {
      cb?.();
      return;
    }
    ws.send(encodeFrame(channel, data, traits.base64), () => cb?.());
  };
}

function serveRemoteCommand(
  ws: WebSocket,
  traits: ProtocolTraits,
  request: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean },
  cmd: readonly string[] | undefined,
  run: (streams: RemoteCommandStreams) => Promise<number | undefined> | number | undefined,
): void {
  const send = sender(ws, traits);
  const abort = new AbortController();
  const resizeListeners: ((size: TerminalSize) => void)[] = [];
  let terminalSize: TerminalSize | undefined;

  const stdin = request.stdin
    ? new Readable({
        read() {
          if (ws.isPaused) ws.resume();
        },
      })
    : null;
  const writer = (channel: number) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        send(channel, chunk, () => cb());
      },
    });
  const stdout = request.stdout ? writer(RemoteCommandChannel.stdout) : null;
  const stderr = request.stderr && !request.tty ? writer(RemoteCommandChannel.stderr) : null;

  ws.on("message", (message: Buffer, isBinary: boolean) => {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(isBinary ? message : message.toString("utf8"), traits);
    } catch {
      ws.terminate();
      return;
    }
    if (frame.kind === "empty") return;
    if (frame.kind === "close") {
      if (frame.channel === RemoteCommandChannel.stdin && stdin && !stdin.readableEnded) stdin.push(null);
      return;
    }
    if (frame.channel === RemoteCommandChannel.stdin) {
      if (stdin && !stdin.readableEnded && !stdin.push(frame.data)) ws.pause();
    } else if (frame.channel === RemoteCommandChannel.resize) {
      const size = parseTerminalSize(frame.data);
      if (size) {
        terminalSize = size;
        for (const l of resizeListeners) l(size);
      }
    }
  });
  ws.once("close", () => {
    if (ws.isPaused) ws.resume();
    if (stdin && !stdin.readableEnded) stdin.push(null);
    abort.abort(new CriError(Code.Cancelled, "the streaming client disconnected"));
  });

  // The empty message on the lowest writable channel tells the client the streams are set up.
  const first = stdout
    ? RemoteCommandChannel.stdout
    : stderr
      ? RemoteCommandChannel.stderr
      : RemoteCommandChannel.error;
  send(first, new Uint8Array(0));

  const streams: RemoteCommandStreams = {
    stdin,
    stdout,
    stderr,
    tty: request.tty,
    get terminalSize() {
      return terminalSize;
    },
    onResize(listener) {
      resizeListeners.push(listener);
    },
    signal: abort.signal,
  };
  const ended = (w: Writable | null) =>
    new Promise<void>((resolve) => {
      if (!w || w.writableFinished || w.destroyed) {
        resolve();
        return;
      }
      w.once("finish", () => resolve());
      w.once("close", () => resolve());
      if (!w.writableEnded) w.end();
    });

  void (async () => {
    let status: object | undefined;
    let text = "";
    try {
      const code = (await run(streams)) ?? 0;
      if (!Number.isInteger(code)) throw new Error(`the handler returned exit code ${String(code)}`);
      if (code !== 0) {
        status = exitCodeStatus(code, cmd);
        text = `command terminated with non-zero exit code: exit code ${code}`;
      } else status = successStatus();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      status = internalErrorStatus(message);
      text = message;
    }
    await Promise.all([ended(stdout), ended(stderr)]);
    if (traits.statusJson) send(RemoteCommandChannel.error, Buffer.from(JSON.stringify(status)));
    else if (text) send(RemoteCommandChannel.error, Buffer.from(text));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  })();
}

function servePortForward(
  ws: WebSocket,
  traits: ProtocolTraits,
  request: PortForwardRequest,
  handler: StreamingPortForwardHandler,
): void {
  const send = sender(ws, traits);
  const abort = new AbortController();
  const streams = request.port.map((port, index) => {
    const { data, error } = portForwardChannels(index);
    const prefix = encodePortPrefix(port);
    send(data, prefix);
    send(error, prefix);
    const stream = new Duplex({
      allowHalfOpen: true,
      read() {
        if (ws.isPaused) ws.resume();
      },
      write(chunk: Buffer, _enc, cb) {
        send(data, chunk, () => cb());
      },
    });
    return { port, index, stream, error };
  });
  ws.on("message", (message: Buffer, isBinary: boolean) => {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(isBinary ? message : message.toString("utf8"), traits);
    } catch {
      ws.terminate();
      return;
    }
    if (frame.kind !== "data" || (frame.channel & 1) === 1) return;
    const s = streams[frame.channel >> 1];
    if (s && !s.stream.readableEnded && !s.stream.push(frame.data)) ws.pause();
  });
  ws.once("close", () => {
    if (ws.isPaused) ws.resume();
    for (const s of streams) if (!s.stream.readableEnded) s.stream.push(null);
    abort.abort(new CriError(Code.Cancelled, "the port-forward client disconnected"));
  });
  void Promise.all(
    streams.map(async (s) => {
      try {
        await handler({ podSandboxId: request.podSandboxId, port: s.port }, s.stream, abort.signal);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        send(s.error, Buffer.from(`error forwarding port ${s.port} to pod ${request.podSandboxId}, uid : ${message}`));
      }
      await new Promise<void>((resolve) => {
        if (s.stream.writableFinished || s.stream.destroyed) resolve();
        else {
          s.stream.once("finish", () => resolve());
          s.stream.once("close", () => resolve());
          if (!s.stream.writableEnded) s.stream.end();
        }
      });
    }),
  ).then(() => {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  });
}
