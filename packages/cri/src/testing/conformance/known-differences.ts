/** A case outcome a runtime is known to give, with why. */
export interface KnownDifference {
  /** The outcome the runtime gives instead of `passed`. */
  status: "failed" | "unsupported";
  /** Why, in a sentence; where the gap is upstream, say which version closes it. */
  reason: string;
}

/**
 * The checked-in list of known differences, by the runtime's `runtimeName` (from Version) and
 * case name. A result that matches an entry is marked `knownDifference`; anything else that is not
 * `passed` is a regression. Kept small and explained: each entry is a fact about that runtime.
 */
export const knownDifferences: Readonly<Record<string, Readonly<Record<string, KnownDifference>>>> = {
  containerd: {
    "events/container-lifecycle": {
      status: "unsupported",
      reason: "containerd 1.6 has no GetContainerEvents (added in 1.7); the kubelet relists instead",
    },
  },
  "nodekit-fake": {},
};
