/**
 * Per-call settings accepted by every method of the CRI service interfaces.
 *
 * @example
 * ```ts
 * await runtime.stopContainer({ containerId, timeout: 10n }, { timeoutMs: 30_000 });
 * ```
 */
export interface CallOptions {
  /**
   * Deadline for this call in milliseconds, replacing the client's default for the method.
   * `Infinity` means no deadline.
   */
  timeoutMs?: number | undefined;
  /** Cancels the call when aborted; the call then fails with code `Cancelled`. */
  signal?: AbortSignal | undefined;
}
