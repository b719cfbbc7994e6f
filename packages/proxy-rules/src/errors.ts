const brand = Symbol.for("@nodekit/proxy-rules/InvalidInputError");

/** The Kubernetes object (or configuration part) an {@link InvalidInputError} is about. */
export interface InvalidObjectRef {
  /** `Service`, `EndpointSlice`, `Node` or `KubeProxyConfiguration`. */
  readonly kind: string;
  /** The object's namespace, when it has one. */
  readonly namespace?: string | undefined;
  /** The object's name, when known. */
  readonly name?: string | undefined;
}

/**
 * The one error class of `@nodekit/proxy-rules`: an input object that kube-proxy could not
 * program, or a configuration value it would refuse. It names the object (`kind`, `namespace`,
 * `name`) and the path of the offending field in the object's JSON shape
 * (`spec.ports[1].port`), and carries the offending value.
 *
 * `instanceof InvalidInputError` holds across the ESM and CommonJS builds of the package.
 *
 * @example
 * ```ts
 * try {
 *   compileIptables(input);
 * } catch (err) {
 *   if (err instanceof InvalidInputError) console.error(err.object, err.field, err.reason);
 *   else throw err;
 * }
 * ```
 */
export class InvalidInputError extends Error {
  /** The object the error is about. */
  readonly object: InvalidObjectRef;
  /** Path of the offending field, in the object's JSON shape (`spec.ports[0].nodePort`). */
  readonly field: string;
  /** What is wrong, without the object and field prefix. */
  readonly reason: string;
  /** The offending value (as found in the input). */
  readonly value: unknown;

  constructor(object: InvalidObjectRef, field: string, reason: string, value?: unknown) {
    super(`${describeObject(object)}: ${field}: ${reason}`);
    this.name = "InvalidInputError";
    this.object = object;
    this.field = field;
    this.reason = reason;
    this.value = value;
    Object.defineProperty(this, brand, { value: true });
  }

  /** Brand check, so that `instanceof` works across copies of the package (ESM and CJS). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && brand in value;
  }
}

function describeObject(o: InvalidObjectRef): string {
  const id = o.namespace !== undefined ? `${o.namespace}/${o.name ?? "?"}` : (o.name ?? "");
  return id ? `${o.kind} ${JSON.stringify(id)}` : o.kind;
}
