import { isAbsolute } from "node:path";
import { Code, CriError } from "./errors.js";

/** A CRI endpoint after parsing: the socket path and the gRPC target naming it. */
export interface ParsedEndpoint {
  /** Absolute path of the unix socket. */
  readonly socketPath: string;
  /** gRPC target, `unix:///abs/path.sock`. */
  readonly target: string;
}

/**
 * Parses a CRI endpoint the way crictl and the kubelet accept it: `unix:///abs/path.sock` or a
 * bare absolute socket path. Anything else fails with an `InvalidArgument` {@link CriError} that
 * says what was given and what is accepted.
 *
 * @example
 * ```ts
 * parseEndpoint("/run/containerd/containerd.sock").target; // "unix:///run/containerd/containerd.sock"
 * ```
 */
export function parseEndpoint(endpoint: string): ParsedEndpoint {
  const bad = (why: string): never => {
    throw new CriError(
      Code.InvalidArgument,
      `invalid CRI endpoint ${JSON.stringify(endpoint)}: ${why}; use unix:///absolute/path.sock or /absolute/path.sock`,
    );
  };
  if (typeof endpoint !== "string" || endpoint.trim() === "") bad("empty");
  let path: string;
  if (endpoint.startsWith("unix://")) {
    path = endpoint.slice("unix://".length);
    if (!path.startsWith("/")) bad("a unix:// endpoint needs an absolute path (three slashes)");
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(endpoint)) {
    bad(`only unix sockets are supported, not ${endpoint.split(":")[0]}`);
    path = "";
  } else {
    path = endpoint;
    if (!isAbsolute(path)) bad("the socket path must be absolute");
  }
  if (path.includes("\0")) bad("NUL in path");
  if (Buffer.byteLength(path) > 107) bad("unix socket paths are limited to 107 bytes");
  return { socketPath: path, target: `unix://${path}` };
}
