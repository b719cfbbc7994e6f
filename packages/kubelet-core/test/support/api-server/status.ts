// kube-apiserver's Status objects for failures, with its reasons, codes and wording
// (k8s.io/apimachinery/pkg/api/errors), so clients that read `reason` or `code` behave as in a cluster.
import type { JsonObject } from "./json.js";

/** What a resource is called in messages: `pods`, `leases.coordination.k8s.io`. */
export interface QualifiedResource {
  group: string;
  resource: string;
}

const qualified = (r: QualifiedResource) => (r.group ? `${r.resource}.${r.group}` : r.resource);

/** A failure carrying the Status the server answers with. */
export class ApiError extends Error {
  readonly status: JsonObject;
  readonly code: number;
  constructor(code: number, reason: string, message: string, details?: JsonObject, extra?: JsonObject) {
    super(message);
    this.code = code;
    this.status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details ? { details } : {}),
      code,
      ...extra,
    };
  }
}

function details(r: QualifiedResource, name?: string): JsonObject {
  return { ...(name !== undefined ? { name } : {}), ...(r.group ? { group: r.group } : {}), kind: r.resource };
}

export const notFound = (r: QualifiedResource, name: string) =>
  new ApiError(404, "NotFound", `${qualified(r)} "${name}" not found`, details(r, name));

export const alreadyExists = (r: QualifiedResource, name: string) =>
  new ApiError(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, details(r, name));

export const conflict = (r: QualifiedResource, name: string, why: string) =>
  new ApiError(409, "Conflict", `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, details(r, name));

export const OPTIMISTIC_LOCK_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again";

/** A field error of a 422 Invalid: `{ type: "FieldValueRequired", field: "metadata.name", text }`. */
export interface FieldError {
  type: string;
  field: string;
  /** The error as kube-apiserver prints it after the field: `Required value: name or generateName is required`. */
  text: string;
}

export function invalid(kind: { group: string; kind: string }, name: string, errors: FieldError[]) {
  const what = kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
  const list = errors.map((e) => `${e.field}: ${e.text}`);
  const joined = list.length === 1 ? list[0] : `[${list.join(", ")}]`;
  return new ApiError(422, "Invalid", `${what} "${name}" is invalid: ${joined}`, {
    name,
    ...(kind.group ? { group: kind.group } : {}),
    kind: kind.kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.text, field: e.field })),
  });
}

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message);

export const expired = (message: string, extra?: JsonObject) => new ApiError(410, "Expired", message, undefined, extra);

export const unauthorized = () => new ApiError(401, "Unauthorized", "Unauthorized");

export const methodNotSupported = (r: QualifiedResource, action: string) =>
  new ApiError(405, "MethodNotAllowed", `${action} is not supported on resources of kind "${qualified(r)}"`, {
    ...(r.group ? { group: r.group } : {}),
    kind: r.resource,
  });

export const unsupportedMediaType = (accepted: string[]) =>
  new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
  );

export const pathNotFound = () => new ApiError(404, "NotFound", "the server could not find the requested resource", {});

/** The failure `failNext` injects, shaped as kube-apiserver answers that code. */
export function injected(code: number): ApiError {
  switch (code) {
    case 429:
      return new ApiError(429, "TooManyRequests", "Too many requests: injected by the test", { retryAfterSeconds: 1 });
    case 503:
      return new ApiError(503, "ServiceUnavailable", "injected by the test");
    case 504:
      return new ApiError(504, "Timeout", "Timeout: injected by the test", { retryAfterSeconds: 1 });
    case 500:
      return new ApiError(500, "InternalError", "Internal error occurred: injected by the test", {
        causes: [{ message: "injected by the test" }],
      });
    default:
      return new ApiError(code, "", `the server responded with the status code ${code} (injected by the test)`);
  }
}
