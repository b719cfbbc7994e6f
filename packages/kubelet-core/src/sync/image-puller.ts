import { CriError, type DeepPartial, type ImageService, type PodSandboxConfig } from "@nodekit/cri/api";
import { type Backoff, createBackoff } from "../backoff.js";
import type { Clock } from "../clock.js";
import { KubeletError } from "../errors.js";
import { createLimiter } from "../limiter.js";
import type { Container, Pod } from "../pod.js";

/** What the reconciler asks of an image puller for one container. */
export interface EnsureImageRequest {
  /** The pod the container belongs to (its uid keys the pull backoff). */
  pod: Pod;
  /** The container whose `image` and `imagePullPolicy` to honour. */
  container: Container;
  /** The pod's sandbox config, passed to PullImage as the kubelet does. */
  sandboxConfig: DeepPartial<PodSandboxConfig>;
  /** Cancels the image check or pull. */
  signal?: AbortSignal | undefined;
}

/** Reports of an image puller, turned into pod events by the reconciler. */
export interface ImagePullEvent {
  /** The event type, as in Kubernetes events. */
  type: "Normal" | "Warning";
  /** The kubelet's event reason. */
  reason: "Pulling" | "Pulled" | "Failed" | "BackOff" | "ErrImageNeverPull" | "InspectFailed";
  /** The kubelet's event message, e.g. `Pulling image "busybox:1.36"`. */
  message: string;
}

/**
 * Makes sure a container's image is present and returns its id (the kubelet's image manager
 * EnsureImageExists). Pluggable: pass your own to the reconciler. Fails with a {@link KubeletError}
 * whose reason is the container's waiting reason (`ErrImagePull`, `ImagePullBackOff`,
 * `ErrImageNeverPull`, `InvalidImageName`).
 */
export interface ImagePuller {
  /** Makes the image of `request.container` present; resolves to its image id, reporting progress to `report`. */
  ensureImage(request: EnsureImageRequest, report: (event: ImagePullEvent) => void): Promise<string>;
}

/** Options of {@link createImagePuller}. */
export interface ImagePullerOptions {
  /** The CRI image service to check and pull with. */
  image: ImageService;
  /** The clock of the pull backoff. */
  clock: Clock;
  /** Pull backoff (default the kubelet's: 10 s doubling to 300 s). */
  backoff?: Backoff;
  /**
   * How many pulls may run at once (the kubelet's serializeImagePulls / maxParallelImagePulls):
   * default 1, one pull at a time.
   */
  maxParallelImagePulls?: number;
}

/**
 * The kubelet's pull policy: `Always`, `IfNotPresent` (pull when absent) and `Never` (fail when
 * absent), defaulting as the API does (`Always` for `:latest` or untagged images, else
 * `IfNotPresent`), with a per pod and image backoff after failures.
 *
 * @example
 * ```ts
 * const puller = createImagePuller({ image: createImageClient(endpoint), clock: systemClock });
 * const imageRef = await puller.ensureImage({ pod, container, sandboxConfig }, (e) => console.log(e.reason, e.message));
 * ```
 */
export function createImagePuller(options: ImagePullerOptions): ImagePuller {
  const { image, clock } = options;
  const backoff = options.backoff ?? createBackoff(clock, { initialMs: 10_000, maxMs: 300_000 });
  // The kubelet serializes pulls by default (serializeImagePulls).
  const limit = createLimiter(options.maxParallelImagePulls ?? 1);
  return {
    async ensureImage({ pod, container, sandboxConfig, signal }, report) {
      const ref = container.image ?? "";
      const podName = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      const fail = (reason: string, message: string, cause?: unknown): never => {
        throw new KubeletError(reason, message, { pod: podName, container: container.name, cause });
      };
      if (!ref.trim() || /\s/.test(ref))
        fail("InvalidImageName", `Failed to apply default image tag "${ref}": invalid reference format`);
      const policy = container.imagePullPolicy ?? defaultPullPolicy(ref);
      let present: string | undefined;
      try {
        present = (await image.imageStatus({ image: { image: ref } }, { signal })).image?.id;
      } catch (err) {
        report({
          type: "Warning",
          reason: "InspectFailed",
          message: `Failed to inspect image "${ref}": ${message(err)}`,
        });
        fail("ImageInspectError", `Failed to inspect image "${ref}": ${message(err)}`, err);
      }
      if (policy === "Never") {
        if (present) return present;
        const msg = `Container image "${ref}" is not present with pull policy of Never`;
        report({ type: "Warning", reason: "ErrImageNeverPull", message: msg });
        fail("ErrImageNeverPull", msg);
      }
      if (present && policy === "IfNotPresent") return present;
      const key = `${pod.metadata?.uid}_${ref}`;
      if (backoff.isInBackOffSinceUpdate(key, clock.now())) {
        const msg = `Back-off pulling image "${ref}"`;
        report({ type: "Normal", reason: "BackOff", message: msg });
        fail("ImagePullBackOff", msg);
      }
      return limit(async () => {
        report({ type: "Normal", reason: "Pulling", message: `Pulling image "${ref}"` });
        const started = clock.now();
        try {
          const { imageRef } = await image.pullImage({ image: { image: ref }, sandboxConfig }, { signal });
          report({
            type: "Normal",
            reason: "Pulled",
            message: `Successfully pulled image "${ref}" in ${((clock.now() - started) / 1000).toFixed(3)}s`,
          });
          backoff.gc();
          return imageRef;
        } catch (err) {
          backoff.next(key, clock.now());
          const [reason, text] = pullError(ref, message(err));
          report({ type: "Warning", reason: "Failed", message: `Failed to pull image "${ref}": ${text}` });
          return fail(reason, `Failed to pull image "${ref}": ${text}`, err);
        }
      });
    },
  };
}

/** The API's default pull policy for an image reference. */
export function defaultPullPolicy(ref: string): "Always" | "IfNotPresent" {
  if (ref.includes("@")) return "IfNotPresent";
  const last = ref.slice(ref.lastIndexOf("/") + 1);
  const tag = last.includes(":") ? last.slice(last.indexOf(":") + 1) : "";
  return tag === "" || tag === "latest" ? "Always" : "IfNotPresent";
}

/**
 * The kubelet's reading of a failed pull (evalCRIPullErr): a runtime error that starts with
 * `RegistryUnavailable` or `SignatureValidationFailed` becomes that reason, anything else ErrImagePull.
 */
function pullError(ref: string, text: string): [reason: string, message: string] {
  for (const [reason, what] of [
    ["RegistryUnavailable", "the registry is unavailable"],
    ["SignatureValidationFailed", "the signature validation failed"],
  ] as const) {
    if (text.startsWith(reason))
      return [reason, `image pull failed for ${ref} because ${what}${text.slice(reason.length)}`];
  }
  return ["ErrImagePull", text];
}

function message(err: unknown): string {
  return err instanceof CriError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}
