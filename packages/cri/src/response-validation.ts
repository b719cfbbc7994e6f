import { Code, CriError, INVALID_RESPONSE } from "./errors.js";

// What k8s.io/cri-client (remote_runtime.go, remote_image.go, utils.go) refuses in a response,
// per RPC. A check returns the first offending field and why, or undefined when the response is
// acceptable. Request fields only add context to the message.
type Check = (response: Record<string, unknown>, request: Record<string, unknown>) => Problem | undefined;
interface Problem {
  field: string;
  why?: string;
}

const obj = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
const empty = (value: unknown): boolean => value === undefined || value === null || value === "";
const zero = (value: unknown): boolean => value === undefined || value === null || value === 0n || value === 0;

/** The first of `fields` of `value` (under `prefix`) that is empty. */
function firstEmpty(value: Record<string, unknown>, prefix: string, fields: readonly string[]): Problem | undefined {
  for (const f of fields) if (empty(value[f])) return { field: `${prefix}${f}` };
  return undefined;
}

function imageOf(request: Record<string, unknown>): string {
  const image = obj(request.image)?.image;
  return typeof image === "string" && image !== "" ? ` (image ${JSON.stringify(image)})` : "";
}

// PodSandboxStatus and ContainerStatus: a missing status passes (cri-client checks only a present
// one; the caller decides what no status means), a present one must identify the object.
const checks: Readonly<Record<string, Check>> = {
  Version: (res) => firstEmpty(res, "", ["version", "runtimeName", "runtimeApiVersion", "runtimeVersion"]),
  RunPodSandbox: (res) => firstEmpty(res, "", ["podSandboxId"]),
  CreateContainer: (res) => firstEmpty(res, "", ["containerId"]),
  PodSandboxStatus: (res) => {
    const status = obj(res.status);
    if (!status) return undefined;
    if (empty(status.id)) return { field: "status.id" };
    const metadata = obj(status.metadata);
    if (!metadata) return { field: "status.metadata" };
    const missing = firstEmpty(metadata, "status.metadata.", ["name", "namespace", "uid"]);
    if (missing) return missing;
    if (zero(status.createdAt)) return { field: "status.createdAt" };
    return undefined;
  },
  ContainerStatus: (res) => {
    const status = obj(res.status);
    if (!status) return undefined;
    if (empty(status.id)) return { field: "status.id" };
    const metadata = obj(status.metadata);
    if (!metadata) return { field: "status.metadata" };
    if (empty(metadata.name)) return { field: "status.metadata.name" };
    if (zero(status.createdAt)) return { field: "status.createdAt" };
    if (empty(obj(status.image)?.image)) return { field: "status.image.image" };
    if (empty(status.imageRef)) return { field: "status.imageRef" };
    return undefined;
  },
  Status: (res) => {
    const status = obj(res.status);
    if (!status) return { field: "status", why: "the RuntimeReady and NetworkReady conditions are not set" };
    const conditions = Array.isArray(status.conditions) ? status.conditions : [];
    if (conditions.length < 2) {
      return {
        field: "status.conditions",
        why: `has ${conditions.length} condition${conditions.length === 1 ? "" : "s"}; the RuntimeReady and NetworkReady conditions are required`,
      };
    }
    return undefined;
  },
  Exec: (res) => firstEmpty(res, "", ["url"]),
  Attach: (res) => firstEmpty(res, "", ["url"]),
  PortForward: (res) => firstEmpty(res, "", ["url"]),
  ImageStatus: (res, req) => {
    const image = obj(res.image);
    if (!image) return undefined; // absent image: no error, no image
    if (empty(image.id)) return { field: "image.id", why: `is not set${imageOf(req)}` };
    if (zero(image.size)) return { field: "image.size", why: `is not set${imageOf(req)}` };
    return undefined;
  },
  PullImage: (res, req) => (empty(res.imageRef) ? { field: "imageRef", why: `is not set${imageOf(req)}` } : undefined),
};

/** The RPCs whose responses {@link validateResponse} checks. */
export const validatedMethods: readonly string[] = Object.keys(checks);

/**
 * Checks a CRI response as k8s.io/cri-client checks it before handing it on, and fails with an
 * `Internal` {@link CriError} naming the method and the field (`err.field`, see
 * `isInvalidResponse`) instead of passing a proto default on:
 *
 * - Version: `version`, `runtimeName`, `runtimeApiVersion`, `runtimeVersion` set;
 * - RunPodSandbox: `podSandboxId`; CreateContainer: `containerId`;
 * - PodSandboxStatus (when `status` is present): `status.id`, `status.metadata` with `name`,
 *   `namespace` and `uid`, `status.createdAt` ≠ 0;
 * - ContainerStatus (when `status` is present): `status.id`, `status.metadata.name`,
 *   `status.createdAt` ≠ 0, `status.image.image`, `status.imageRef`;
 * - Status: `status` with at least two conditions (RuntimeReady, NetworkReady);
 * - Exec, Attach, PortForward: `url`;
 * - ImageStatus (when `image` is present): `image.id`, `image.size` ≠ 0;
 * - PullImage: `imageRef`.
 *
 * Other responses pass as they are. The gRPC clients call it on every response unless
 * `validateResponses: false`; a shim author can call it in tests of their handlers.
 *
 * @param method The RPC name, e.g. `ContainerStatus`.
 * @param response The decoded response.
 * @param request The request, used only to name the image in ImageStatus and PullImage errors.
 * @example
 * ```ts
 * validateResponse("PullImage", { imageRef: "" }, { image: { image: "busybox" } });
 * // throws CriError: PullImage: [Internal] invalid response: imageRef is not set (image "busybox")
 * ```
 */
export function validateResponse(method: string, response: unknown, request?: unknown): void {
  const check = checks[method];
  if (!check) return;
  const problem = check(obj(response) ?? {}, obj(request) ?? {});
  if (!problem) return;
  throw new CriError(Code.Internal, `${INVALID_RESPONSE}${problem.field} ${problem.why ?? "is not set"}`, {
    method,
    field: problem.field,
  });
}
