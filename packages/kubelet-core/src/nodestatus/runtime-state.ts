// The kubelet's runtimeState (pkg/kubelet/runtime.go) and updateRuntimeUp, as pure functions:
// which runtime and network errors the Ready condition reports.

import type { RuntimeCondition, StatusResponse } from "@nodekit/cri/api";
import type { RuntimeObservation } from "./types.js";

/** The kubelet's maxWaitForContainerRuntime: a `Status` answer older than this means the runtime is down. */
export const defaultRuntimeSyncThresholdMs = 30_000;

/**
 * The runtime state after one `Status` call, as the kubelet's `updateRuntimeUp` keeps it: an error
 * (or no answer) leaves the state as it was; an answer is kept for its conditions, and counts as a
 * sync (`lastSyncAt = now`) only when `RuntimeReady` is true.
 *
 * @example
 * ```ts
 * let runtimeState = observeRuntimeStatus(undefined, await runtime.status({ verbose: false }), Date.now());
 * ```
 */
export function observeRuntimeStatus(
  previous: RuntimeObservation | undefined,
  answer: Pick<StatusResponse, "status"> | Error | undefined,
  now: number,
): RuntimeObservation {
  if (answer === undefined || answer instanceof Error) return previous ?? {};
  const ready = conditionOf(answer, "RuntimeReady");
  return { status: answer, lastSyncAt: ready?.status ? now : previous?.lastSyncAt };
}

const conditionOf = (s: Pick<StatusResponse, "status"> | undefined, type: string): RuntimeCondition | undefined =>
  s?.status?.conditions.find((c) => c.type === type);

/** `RuntimeCondition.String()`, or `<nil>` when the condition is missing (Go's `%v` of a nil pointer). */
const show = (c: RuntimeCondition | undefined): string =>
  c === undefined ? "<nil>" : `${c.type}=${c.status} reason:${c.reason} message:${c.message}`;

/** `runtimeState.runtimeErrors()`: the sync check, the health checks, then the runtime's own error. */
export function runtimeErrors(
  state: RuntimeObservation | undefined,
  now: number,
  healthErrors: readonly string[] = [],
  thresholdMs = defaultRuntimeSyncThresholdMs,
): string[] {
  const errors: string[] = [];
  if (state?.lastSyncAt === undefined) errors.push("container runtime status check may not have completed yet");
  else if (!(state.lastSyncAt + thresholdMs > now)) errors.push("container runtime is down");
  errors.push(...healthErrors);
  if (state?.status !== undefined) {
    const ready = conditionOf(state.status, "RuntimeReady");
    if (!ready?.status) errors.push(`container runtime not ready: ${show(ready)}`);
  }
  return errors;
}

/** `runtimeState.networkErrors()`: `network state unknown` until the first answer, then NetworkReady's. */
export function networkErrors(state: RuntimeObservation | undefined): string[] {
  if (state?.status === undefined) return ["network state unknown"];
  const ready = conditionOf(state.status, "NetworkReady");
  return ready?.status ? [] : [`container runtime network not ready: ${show(ready)}`];
}

/** `utilerrors.NewAggregate(errs).Error()`: one message as it is; several de-duplicated in `[a, b]`. */
export function aggregateMessage(messages: readonly string[]): string | undefined {
  if (messages.length === 0) return undefined;
  if (messages.length === 1) return messages[0];
  const seen = [...new Set(messages)];
  return seen.length === 1 ? seen[0] : `[${seen.join(", ")}]`;
}
