/**
 * The one error class of `@nodekit/kubelet-core`. `reason` is the kubelet's reason string where
 * one exists (`ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerError`,
 * `InvalidPod`…), so it can be shown as a container's waiting reason or an event reason.
 * `instanceof` holds across the ESM and CJS builds.
 *
 * @example
 * ```ts
 * try {
 *   validatePod(pod);
 * } catch (err) {
 *   if (err instanceof KubeletError) console.log(err.reason, err.message);
 * }
 * ```
 */
export class KubeletError extends Error {
  /** The kubelet's reason, e.g. `ErrImagePull`. */
  readonly reason: string;
  /** The pod it is about, as `namespace/name`, when known. */
  readonly pod: string | undefined;
  /** The container it is about, when known. */
  readonly container: string | undefined;

  constructor(
    reason: string,
    message: string,
    options: { pod?: string | undefined; container?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "KubeletError";
    this.reason = reason;
    this.pod = options.pod;
    this.container = options.container;
    Object.defineProperty(this, brand, { value: true });
  }

  /** Brand check, so `instanceof` works across copies of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && brand in value;
  }
}

const brand = Symbol.for("@nodekit/kubelet-core/KubeletError");
