// How the kubelet's Go code renders values in the messages it writes (events, container status
// messages), so that nodekit writes the same text: strconv.Quote, time.Duration, net.JoinHostPort,
// the net and gRPC error strings, format.Pod.

/** Go's `strconv.Quote` (the `%q` verb) of a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0; // a for-of character has a code point
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case "\\":
        out += "\\\\";
        continue;
      case "\x07":
        out += "\\a";
        continue;
      case "\b":
        out += "\\b";
        continue;
      case "\f":
        out += "\\f";
        continue;
      case "\n":
        out += "\\n";
        continue;
      case "\r":
        out += "\\r";
        continue;
      case "\t":
        out += "\\t";
        continue;
      case "\v":
        out += "\\v";
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp >= 0x80 && cp < 0xa0) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Go's `time.Duration.String()` of a whole number of seconds: `1s`, `1m30s`, `1h0m0s`. */
export function goDurationSeconds(seconds: number): string {
  const s = Math.trunc(seconds);
  if (s === 0) return "0s";
  const sign = s < 0 ? "-" : "";
  let rest = Math.abs(s);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  if (h > 0) return `${sign}${h}h${m}m${rest}s`;
  if (m > 0) return `${sign}${m}m${rest}s`;
  return `${sign}${rest}s`;
}

/** Go's `net.JoinHostPort`: an IPv6 host (one with a colon) goes in brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The kubelet's `format.Pod`: `name_namespace(uid)`. */
export function formatPod(pod: { metadata?: { name?: string; namespace?: string; uid?: string } }): string {
  const m = pod.metadata ?? {};
  return `${m.name ?? ""}_${m.namespace ?? ""}(${m.uid ?? ""})`;
}

/** Linux errno names to the strings Go's `syscall.Errno.Error()` gives. */
const errnoText: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  ETIMEDOUT: "connection timed out",
  EADDRNOTAVAIL: "cannot assign requested address",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EPIPE: "broken pipe",
  EINVAL: "invalid argument",
};

/**
 * What Go's `net.Dial("tcp", addr)` error says for a Node socket error: `dial tcp 10.0.0.1:80:
 * connect: connection refused`, `dial tcp: lookup foo: no such host`.
 */
export function goDialError(addr: string, host: string, err: unknown): string {
  const code = (err as { code?: string } | undefined)?.code ?? "";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    return `dial tcp: lookup ${host}: no such host`;
  }
  const text = errnoText[code];
  if (text) return `dial tcp ${addr}: connect: ${text}`;
  return `dial tcp ${addr}: ${(err as Error | undefined)?.message ?? String(err)}`;
}

/** The dial error Go gives when the dial outlived its deadline. */
export function goDialTimeout(addr: string): string {
  return `dial tcp ${addr}: i/o timeout`;
}

/** gRPC status code names as Go's `codes.Code.String()` writes them. */
const grpcCodeNames = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** Go's `codes.Code.String()`: `NotFound`, or `Code(42)` for a code it does not know. */
export function goGrpcCodeName(code: number): string {
  return grpcCodeNames[code] ?? `Code(${code})`;
}

/** Go's gRPC status error text: `rpc error: code = NotFound desc = unknown service`. */
export function goStatusError(code: number, message: string): string {
  return `rpc error: code = ${goGrpcCodeName(code)} desc = ${message}`;
}

/**
 * An error as the kubelet's Go code would print it with `%v`: a gRPC status error (a `CriError`
 * or a grpc-js `ServiceError`) as `rpc error: code = … desc = …`, anything else by its message.
 */
export function goErrorText(err: unknown): string {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; rawMessage?: unknown; details?: unknown };
    if (typeof e.code === "number" && typeof e.rawMessage === "string") return goStatusError(e.code, e.rawMessage);
    if (typeof e.code === "number" && typeof e.details === "string") return goStatusError(e.code, e.details);
    return e.message;
  }
  return String(err);
}
