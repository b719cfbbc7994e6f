import { Code, CriError } from "./errors.js";

/**
 * Checks that a request has every field a CRI method needs and fails with an `InvalidArgument`
 * {@link CriError} naming the first missing one, e.g. `config.metadata.uid is required`. A field is
 * missing when it is `undefined`, `null`, an empty string or an empty array. For shim authors:
 * call it first in a handler.
 *
 * @param method The RPC, used in the error (e.g. `RunPodSandbox`).
 * @param request The request as received.
 * @param paths Dotted field paths in the TypeScript (camelCase) names.
 * @example
 * ```ts
 * async runPodSandbox(request) {
 *   requireFields("RunPodSandbox", request, ["config.metadata.name", "config.metadata.namespace", "config.metadata.uid"]);
 *   // …
 * }
 * ```
 */
export function requireFields(method: string, request: unknown, paths: readonly string[]): void {
  for (const path of paths) {
    let value: unknown = request;
    for (const key of path.split(".")) {
      value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
      if (value === undefined) break;
    }
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0)) {
      throw new CriError(Code.InvalidArgument, `${path} is required`, { method });
    }
  }
}
