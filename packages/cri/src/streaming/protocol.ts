// The wire facts of the Kubernetes streaming server's WebSocket protocols, as pure functions:
// channel framing (binary and base64), the v5 close signal, the remote-command status that
// carries the exit code, and port-forward's port prefix. No I/O here.

import { Code, CriError } from "../errors.js";

/** `channel.k8s.io`: binary frames, the first byte the channel; the error channel carries plain text. */
export const CHANNEL_PROTOCOL_V1 = "channel.k8s.io";
/** `base64.channel.k8s.io`: text frames, the channel as an ASCII digit, the payload base64. */
export const BASE64_CHANNEL_PROTOCOL_V1 = "base64.channel.k8s.io";
/** `v4.channel.k8s.io`: `channel.k8s.io` framing with a JSON `Status` on the error channel. */
export const CHANNEL_PROTOCOL_V4 = "v4.channel.k8s.io";
/** `v4.base64.channel.k8s.io`: the base64 framing with a JSON `Status` on the error channel. */
export const BASE64_CHANNEL_PROTOCOL_V4 = "v4.base64.channel.k8s.io";
/** `v5.channel.k8s.io`: v4 plus the close signal (channel 255) that half-closes one stream. */
export const CHANNEL_PROTOCOL_V5 = "v5.channel.k8s.io";

/** The remote-command (exec, attach) channels: stdin 0, stdout 1, stderr 2, error 3, resize 4. */
export const RemoteCommandChannel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  error: 3,
  resize: 4,
} as const;

/** The byte that opens a v5 close frame; the next byte names the channel to half-close. */
export const STREAM_CLOSE_SIGNAL = 255;

/** A terminal size sent on the resize channel, as the kubelet's `TerminalSize` JSON has it. */
export interface TerminalSize {
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/** What one protocol means on the wire. */
export interface ProtocolTraits {
  /** Text frames with base64 payloads instead of binary frames. */
  readonly base64: boolean;
  /** The error channel carries a JSON `Status` (v4, v5) instead of plain text (v1). */
  readonly statusJson: boolean;
  /** The close signal (channel 255) is understood (v5). */
  readonly closeSignal: boolean;
}

const TRAITS: Readonly<Record<string, ProtocolTraits>> = {
  // The empty name is what the kubelet selects when a client offers no subprotocol.
  "": { base64: false, statusJson: false, closeSignal: false },
  [CHANNEL_PROTOCOL_V1]: { base64: false, statusJson: false, closeSignal: false },
  [BASE64_CHANNEL_PROTOCOL_V1]: { base64: true, statusJson: false, closeSignal: false },
  [CHANNEL_PROTOCOL_V4]: { base64: false, statusJson: true, closeSignal: false },
  [BASE64_CHANNEL_PROTOCOL_V4]: { base64: true, statusJson: true, closeSignal: false },
  [CHANNEL_PROTOCOL_V5]: { base64: false, statusJson: true, closeSignal: true },
};

/** The traits of a negotiated subprotocol, or `undefined` for one this package does not speak. */
export function protocolTraits(protocol: string): ProtocolTraits | undefined {
  return Object.hasOwn(TRAITS, protocol) ? TRAITS[protocol] : undefined;
}

/**
 * Picks the subprotocol the way the kubelet's `wsstream` handshake does: the first of the
 * client's offers (in the client's order) that the server supports; no offer at all means `""`.
 * Returns `undefined` when nothing matches (the kubelet then answers 403).
 */
export function negotiateProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  const offers = offered.length === 0 ? [""] : offered;
  return offers.find((p) => supported.includes(p));
}

/** Splits a `Sec-WebSocket-Protocol` header into its offers. */
export function parseProtocolHeader(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/** Encodes one message on `channel`: binary `[channel, ...data]`, or text `'<digit>' + base64(data)`. */
export function encodeFrame(channel: number, data: Uint8Array, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(48 + channel) + Buffer.from(data).toString("base64");
  const frame = Buffer.allocUnsafe(data.length + 1);
  frame[0] = channel;
  frame.set(data, 1);
  return frame;
}

/** The v5 close frame for `channel`: `[255, channel]`. */
export function encodeCloseFrame(channel: number): Buffer {
  return Buffer.from([STREAM_CLOSE_SIGNAL, channel]);
}

/** One decoded message: data on a channel, or (v5) the half-close of a channel. */
export type DecodedFrame =
  | { kind: "data"; channel: number; data: Buffer }
  | { kind: "close"; channel: number }
  | { kind: "empty" };

/**
 * Decodes one received message. An empty message is `empty` (the kubelet skips those); with
 * `closeSignal`, `[255, n]` is the half-close of channel `n` and any other length after 255 is
 * a protocol error.
 */
export function decodeFrame(message: Buffer | string, traits: ProtocolTraits): DecodedFrame {
  if (traits.base64) {
    const text = typeof message === "string" ? message : message.toString("latin1");
    if (text.length === 0) return { kind: "empty" };
    const channel = text.charCodeAt(0) - 48;
    if (channel < 0 || channel > 9) {
      throw new CriError(Code.Internal, `base64 frame with a bad channel character ${JSON.stringify(text[0])}`);
    }
    const body = text.slice(1);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new CriError(Code.Internal, `base64 frame on channel ${channel} is not valid base64`);
    }
    return { kind: "data", channel, data: Buffer.from(body, "base64") };
  }
  const buf = typeof message === "string" ? Buffer.from(message, "utf8") : message;
  if (buf.length === 0) return { kind: "empty" };
  const channel = buf[0] as number;
  if (traits.closeSignal && channel === STREAM_CLOSE_SIGNAL) {
    if (buf.length !== 2) {
      throw new CriError(
        Code.Internal,
        `a close signal is followed by exactly one channel byte, got ${buf.length - 1} bytes`,
      );
    }
    return { kind: "close", channel: buf[1] as number };
  }
  return { kind: "data", channel, data: buf.subarray(1) };
}

/** A Kubernetes `metav1.Status` as the streaming server writes it on the error channel. */
export interface StreamStatus {
  /** `Success` or `Failure`. */
  status?: string;
  /** Human-readable description. */
  message?: string;
  /** Machine-readable reason, e.g. `NonZeroExitCode`, `InternalError`. */
  reason?: string;
  /** HTTP-like code (500 for an internal error). */
  code?: number;
  /** Details; for `NonZeroExitCode` a cause with reason `ExitCode` whose message is the code. */
  details?: { causes?: { reason?: string; message?: string; field?: string }[] };
  /** Always `{}` from the kubelet. */
  metadata?: Record<string, unknown>;
}

/** The end of a remote command as read from the error channel. */
export interface RemoteCommandOutcome {
  /** The exit code: 0 for `Success`, the `ExitCode` cause for `NonZeroExitCode`. */
  exitCode: number;
  /** The status as received (undefined for a v1 server, which writes nothing on success). */
  status: StreamStatus | undefined;
}

/**
 * Reads the error channel's content at the end of a remote command. v4/v5: a JSON `Status`;
 * `Success` is exit 0, `Failure` with reason `NonZeroExitCode` carries the code in the cause
 * whose reason is `ExitCode`. Any other failure (and any v1 text) throws a `CriError` with the
 * server's message.
 */
export function readRemoteCommandStatus(content: Buffer, traits: ProtocolTraits, method: string): RemoteCommandOutcome {
  if (!traits.statusJson) {
    if (content.length === 0) return { exitCode: 0, status: undefined };
    throw new CriError(Code.Unknown, content.toString("utf8"), { method });
  }
  let status: StreamStatus;
  try {
    status = JSON.parse(content.toString("utf8")) as StreamStatus;
  } catch (cause) {
    throw new CriError(Code.Internal, `the error channel does not hold a JSON Status: ${content.toString("utf8")}`, {
      method,
      cause,
    });
  }
  if (status === null || typeof status !== "object") {
    throw new CriError(Code.Internal, "the error channel's Status is not an object", { method });
  }
  if (status.status === "Success") return { exitCode: 0, status };
  if (status.reason === "NonZeroExitCode") {
    const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
    const code = cause?.message !== undefined && /^\d+$/.test(cause.message) ? Number(cause.message) : Number.NaN;
    if (!Number.isInteger(code)) {
      throw new CriError(Code.Internal, `NonZeroExitCode status without a numeric ExitCode cause: ${status.message}`, {
        method,
        field: "details.causes",
      });
    }
    return { exitCode: code, status };
  }
  throw new CriError(Code.Unknown, status.message ?? "remote command failed", { method });
}

/** The `Status` the kubelet writes for a command that exited 0. */
export function successStatus(): StreamStatus {
  return { metadata: {}, status: "Success" };
}

/** The `Status` the kubelet writes for a command that exited with `exitCode` ≠ 0. */
export function exitCodeStatus(exitCode: number, cmd: readonly string[] | undefined): StreamStatus {
  const what = cmd ? `error executing command [${cmd.join(" ")}], exit code ${exitCode}` : `exit code ${exitCode}`;
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: ${what}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(exitCode) }] },
  };
}

/** The `Status` the kubelet writes when the handler failed (an internal error, HTTP 500). */
export function internalErrorStatus(message: string): StreamStatus {
  return {
    metadata: {},
    status: "Failure",
    message: `Internal error occurred: ${message}`,
    reason: "InternalError",
    details: { causes: [{ message }] },
    code: 500,
  };
}

/** Parses a resize message (`{"Width":80,"Height":24}`); `undefined` when it is not one. */
export function parseTerminalSize(data: Buffer): TerminalSize | undefined {
  try {
    const v = JSON.parse(data.toString("utf8")) as { Width?: unknown; Height?: unknown };
    if (typeof v?.Width !== "number" || typeof v.Height !== "number") return undefined;
    if (!Number.isInteger(v.Width) || !Number.isInteger(v.Height) || v.Width < 0 || v.Height < 0) return undefined;
    if (v.Width > 0xffff || v.Height > 0xffff) return undefined;
    return { width: v.Width, height: v.Height };
  } catch {
    return undefined;
  }
}

/** Encodes a resize message as the kubelet reads it. */
export function encodeTerminalSize(size: TerminalSize): Buffer {
  return Buffer.from(JSON.stringify({ Width: size.width, Height: size.height }));
}

/** The port prefix each port-forward channel starts with: the port as uint16 little endian. */
export function encodePortPrefix(port: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(port, 0);
  return b;
}

/** The port-forward channels of the `index`-th requested port: data `2i`, error `2i+1`. */
export function portForwardChannels(index: number): { data: number; error: number } {
  return { data: index * 2, error: index * 2 + 1 };
}

/** Checks a port as the kubelet does (1–65535), naming the field. */
export function checkPort(port: unknown, field: string): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CriError(Code.InvalidArgument, `port ${String(port)} must be an integer in 1-65535`, { field });
  }
  return port;
}
