/**
 * gRPC status codes, as numbers on the wire. Named as in connect-es and grpc-go.
 */
export enum Code {
  /** Not an error; returned on success. */
  OK = 0,
  /** The call was cancelled, usually by the caller (an aborted `signal`). */
  Cancelled = 1,
  /** An error without a more specific code; containerd answers most runtime failures with it. */
  Unknown = 2,
  /** The request is malformed, e.g. a required field is missing. */
  InvalidArgument = 3,
  /** The deadline passed before the call finished. */
  DeadlineExceeded = 4,
  /** No such sandbox, container or image. */
  NotFound = 5,
  /** The name is already reserved (a sandbox or container with the same metadata exists). */
  AlreadyExists = 6,
  /** The caller may not do this. */
  PermissionDenied = 7,
  /** A limit was hit, e.g. a message larger than the receive limit. */
  ResourceExhausted = 8,
  /** The object is in the wrong state for the call (e.g. starting a container that is not CREATED). */
  FailedPrecondition = 9,
  /** The call was aborted, typically by a concurrency conflict. */
  Aborted = 10,
  /** A value is out of the valid range. */
  OutOfRange = 11,
  /** The runtime does not implement the method (e.g. GetContainerEvents on containerd 1.6). */
  Unimplemented = 12,
  /** An internal error of the runtime or of a shim's handler. */
  Internal = 13,
  /** The runtime cannot be reached (down, restarting, or nothing listens on the socket). */
  Unavailable = 14,
  /** Unrecoverable data loss or corruption. */
  DataLoss = 15,
  /** The caller is not authenticated. */
  Unauthenticated = 16,
}

const brand = Symbol.for("@nodekit/cri/CriError");

/** Options of the {@link CriError} constructor. */
export interface CriErrorOptions {
  /** The CRI method that failed, e.g. `RunPodSandbox`. */
  method?: string | undefined;
  /** The underlying error (a grpc-js `ServiceError`, a thrown value). */
  cause?: unknown;
  /**
   * The field the error is about, as a dotted path in the TypeScript (camelCase) names, e.g.
   * `status.metadata.uid` for a response that lacks it (see {@link isInvalidResponse}).
   */
  field?: string | undefined;
}

/**
 * The one error class of `@nodekit/cri`: every client call, the server kit and the fake runtime
 * fail with it. It carries the gRPC status `code`, the `method` and the `cause`.
 *
 * `instanceof CriError` holds across the ESM and CommonJS builds of the package.
 *
 * @example
 * ```ts
 * try {
 *   await runtime.containerStatus({ containerId: "gone" });
 * } catch (err) {
 *   if (isNotFound(err)) console.log("already removed");
 *   else throw err;
 * }
 * ```
 */
export class CriError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** The CRI method that failed (RPC name), when known. */
  readonly method: string | undefined;
  /** The status message without the code and method prefix. */
  readonly rawMessage: string;
  /** The field the error is about (dotted camelCase path), when it is about one. */
  readonly field: string | undefined;

  constructor(code: Code, message: string, options: CriErrorOptions = {}) {
    const prefix = `${options.method ? `${options.method}: ` : ""}[${codeName(code)}]`;
    super(message ? `${prefix} ${message}` : prefix, { cause: options.cause });
    this.name = "CriError";
    this.code = code;
    this.method = options.method;
    this.rawMessage = message;
    this.field = options.field;
    Object.defineProperty(this, brand, { value: true });
  }

  /** Brand check, so that `instanceof` works across copies of the package (ESM and CJS). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && brand in value;
  }

  /**
   * Turns anything thrown into a `CriError`: a `CriError` is returned as is (with `method` filled
   * in when missing), a grpc-js `ServiceError` keeps its code and details, anything else is
   * `Unknown` (or `Cancelled` for an `AbortError`).
   */
  static from(reason: unknown, method?: string): CriError {
    if (reason instanceof CriError) {
      if (reason.method !== undefined || method === undefined) return reason;
      return new CriError(reason.code, reason.rawMessage, {
        method,
        cause: reason.cause ?? reason,
        field: reason.field,
      });
    }
    if (isServiceError(reason)) {
      return new CriError(reason.code as Code, reason.details ?? reason.message, { method, cause: reason });
    }
    if (reason instanceof Error) {
      const code = reason.name === "AbortError" ? Code.Cancelled : Code.Unknown;
      return new CriError(code, reason.message, { method, cause: reason });
    }
    return new CriError(Code.Unknown, String(reason), { method, cause: reason });
  }
}

function isServiceError(value: unknown): value is Error & { code: number; details?: string } {
  return (
    value instanceof Error &&
    typeof (value as unknown as { code?: unknown }).code === "number" &&
    (value as unknown as { code: number }).code in Code
  );
}

/** The name of a status code, e.g. `NotFound` for 5. */
export function codeName(code: Code): string {
  return Code[code] ?? `Code${code}`;
}

function hasCode(err: unknown, code: Code): err is CriError {
  return err instanceof CriError && err.code === code;
}

/**
 * True when `err` is a {@link CriError} with code `NotFound` (no such sandbox, container or image).
 * A type guard: in the true branch `err.code`, `err.method` and `err.rawMessage` are typed.
 */
export function isNotFound(err: unknown): err is CriError {
  return hasCode(err, Code.NotFound);
}

/** True when `err` is a {@link CriError} with code `Unimplemented` (the runtime lacks the RPC). */
export function isUnimplemented(err: unknown): err is CriError {
  return hasCode(err, Code.Unimplemented);
}

/** True when `err` is a {@link CriError} with code `Unavailable` (the runtime is down or restarting). */
export function isUnavailable(err: unknown): err is CriError {
  return hasCode(err, Code.Unavailable);
}

/** True when `err` is a {@link CriError} with code `DeadlineExceeded` (the call ran out of time). */
export function isDeadlineExceeded(err: unknown): err is CriError {
  return hasCode(err, Code.DeadlineExceeded);
}

/**
 * True when `err` is the {@link CriError} a client raises for a response that lacks a field
 * k8s.io/cri-client requires (code `Internal`, `field` names it, e.g. `status.imageRef`). See
 * `ClientOptions.validateResponses` and {@link validateResponse}.
 */
export function isInvalidResponse(err: unknown): err is CriError & { readonly field: string } {
  return hasCode(err, Code.Internal) && err.field !== undefined && err.rawMessage.startsWith(INVALID_RESPONSE);
}

/** The start of the message of an invalid-response error. */
export const INVALID_RESPONSE = "invalid response: ";
