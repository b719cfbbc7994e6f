// The kubelet's eviction thresholds (pkg/kubelet/eviction: ParseThresholdConfig and its helpers,
// api/types.go, defaults_linux.go), as a pure function of the KubeletConfiguration maps.

import { KubeletError } from "../errors.js";
import { parseGoDuration, parseGoFloat32 } from "./go-parse.js";
import { parseQuantity } from "./quantity.js";

/**
 * The signals the kubelet accepts in `evictionHard`, `evictionSoft`, `evictionSoftGracePeriod`
 * and `evictionMinimumReclaim`. `allocatableMemory.available` is normally derived from
 * `memory.available` (see {@link EvictionThresholdConfig.enforceNodeAllocatable}); the kubelet
 * later replaces `containerfs.*` thresholds with the nodefs or imagefs ones. `swap.available` has
 * an operator upstream but is not accepted.
 */
export const evictionSignals = [
  "memory.available",
  "allocatableMemory.available",
  "nodefs.available",
  "nodefs.inodesFree",
  "imagefs.available",
  "imagefs.inodesFree",
  "containerfs.available",
  "containerfs.inodesFree",
  "pid.available",
] as const;

/** An eviction signal, e.g. `memory.available`. */
export type EvictionSignal = (typeof evictionSignals)[number];

/** How a signal is compared with its threshold; the kubelet has only `LessThan`. */
export type ThresholdOperator = "LessThan";

/**
 * A threshold's value: an absolute quantity (bytes, inodes or PIDs, rounded up to an integer as
 * `Quantity.Value()` does) or a fraction of capacity. `percentage` is a float32 value, as in the
 * kubelet (`10%` is `Math.fround(0.1)`), so capacity × percentage comes out as it does there.
 */
export type ThresholdValue =
  | {
      readonly quantity: bigint;
      /** How the quantity prints (`Quantity.String()`, e.g. `100Mi`), as the kubelet's messages show it; default its BinarySI form. */
      readonly text?: string;
    }
  | { readonly percentage: number };

/** One eviction threshold, as the kubelet's `evictionapi.Threshold`. */
export interface EvictionThreshold {
  /** What is measured. */
  readonly signal: EvictionSignal;
  /** How it is compared with `value`. */
  readonly operator: ThresholdOperator;
  /** The threshold. */
  readonly value: ThresholdValue;
  /** How long a soft threshold must be met before eviction; 0 for hard thresholds. */
  readonly gracePeriodMs: number;
  /** The least to reclaim once the threshold is met, when `evictionMinimumReclaim` names the signal. */
  readonly minReclaim?: ThresholdValue;
}

/** The KubeletConfiguration fields eviction thresholds are parsed from. */
export interface EvictionThresholdConfig {
  /** `evictionHard`: signal → quantity or percentage, e.g. `{ "memory.available": "100Mi" }`. */
  readonly evictionHard?: Readonly<Record<string, string>>;
  /** `evictionSoft`: like `evictionHard`; every entry needs a grace period. */
  readonly evictionSoft?: Readonly<Record<string, string>>;
  /** `evictionSoftGracePeriod`: signal → Go duration, e.g. `{ "memory.available": "1m30s" }`. */
  readonly evictionSoftGracePeriod?: Readonly<Record<string, string>>;
  /** `evictionMinimumReclaim`: signal → quantity or percentage. */
  readonly evictionMinimumReclaim?: Readonly<Record<string, string>>;
  /**
   * `enforceNodeAllocatable`: when it holds `pods`, each hard `memory.available` threshold is
   * copied as an `allocatableMemory.available` one, as the kubelet does.
   */
  readonly enforceNodeAllocatable?: readonly string[];
}

/** The kubelet's Linux default for `evictionHard`. */
export const defaultEvictionHard: Readonly<Record<string, string>> = Object.freeze({
  "memory.available": "100Mi",
  "nodefs.available": "10%",
  "nodefs.inodesFree": "5%",
  "imagefs.available": "15%",
  "imagefs.inodesFree": "5%",
});

/** The `enforceNodeAllocatable` key that enforces allocatable on pods (kubetypes.NodeAllocatableEnforcementKey). */
const nodeAllocatableEnforcementKey = "pods";
const reason = "InvalidEvictionThreshold";
const fail = (message: string): never => {
  throw new KubeletError(reason, message);
};
const validSignal = (signal: string): signal is EvictionSignal =>
  (evictionSignals as readonly string[]).includes(signal);
const checkSignal = (signal: string): EvictionSignal =>
  validSignal(signal) ? signal : fail(`unsupported eviction signal ${signal}`);

/** Errors from the quantity, duration and float parsers become the kubelet's error, same text. */
function parsing<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new KubeletError(reason, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** `parsePercentage`: trailing `%` signs dropped, parsed as float32, divided by 100 in float32. */
export const parsePercentage = (input: string): number =>
  parsing(() => Math.fround(parseGoFloat32(input.replace(/%+$/, "")) / 100));

interface Statement {
  signal: EvictionSignal;
  value: ThresholdValue;
}

/** `parseThresholdStatement`: `undefined` for the thresholds the kubelet ignores (`0%`, `100%`). */
function parseThresholdStatement(name: string, val: string): Statement | undefined {
  const signal = checkSignal(name);
  if (val.endsWith("%")) {
    if (val === "0%" || val === "100%") return undefined;
    const percentage = parsePercentage(val);
    if (percentage < 0) fail(`eviction percentage threshold ${signal} must be >= 0%: ${val}`);
    if (percentage > 1) fail(`eviction percentage threshold ${signal} must be <= 100%: ${val}`);
    return { signal, value: { percentage } };
  }
  const quantity = parsing(() => parseQuantity(val));
  // `value` is rounded away from zero, so its sign is the quantity's sign.
  if (quantity.value <= 0n) {
    fail(`eviction threshold ${signal} must be positive: ${quantity.text}`);
  }
  return { signal, value: { quantity: quantity.value, text: quantity.text } };
}

function parseThresholdStatements(statements: Readonly<Record<string, string>> | undefined): Statement[] {
  const results: Statement[] = [];
  for (const [name, val] of Object.entries(statements ?? {})) {
    const result = parseThresholdStatement(name, val);
    if (result !== undefined) results.push(result);
  }
  return results;
}

function parseGracePeriods(statements: Readonly<Record<string, string>> | undefined): Map<EvictionSignal, bigint> {
  const results = new Map<EvictionSignal, bigint>();
  for (const [name, val] of Object.entries(statements ?? {})) {
    const signal = checkSignal(name);
    const gracePeriod = parsing(() => parseGoDuration(val));
    if (gracePeriod < 0n) fail(`invalid eviction grace period specified: ${val}, must be a positive value`);
    results.set(signal, gracePeriod);
  }
  return results;
}

function parseMinimumReclaims(
  statements: Readonly<Record<string, string>> | undefined,
): Map<EvictionSignal, ThresholdValue> {
  const results = new Map<EvictionSignal, ThresholdValue>();
  for (const [name, val] of Object.entries(statements ?? {})) {
    const signal = checkSignal(name);
    if (val.endsWith("%")) {
      const percentage = parsePercentage(val);
      if (percentage <= 0) fail(`eviction percentage minimum reclaim ${signal} must be positive: ${val}`);
      results.set(signal, { percentage });
      continue;
    }
    const quantity = parsing(() => parseQuantity(val));
    if (quantity.value < 0n) fail(`negative eviction minimum reclaim specified for ${signal}`);
    results.set(signal, { quantity: quantity.value, text: quantity.text });
  }
  return results;
}

/**
 * Parses the kubelet's eviction settings into thresholds, as `ParseThresholdConfig` does: hard
 * thresholds first, then soft ones with their grace periods, each with its minimum reclaim, then
 * (when `enforceNodeAllocatable` holds `pods`) `allocatableMemory.available` copies of the hard
 * `memory.available` thresholds. Entries keep the order of the maps. Throws a
 * {@link KubeletError} with reason `InvalidEvictionThreshold` and the kubelet's message on the
 * first bad entry; nothing is returned half-parsed.
 *
 * @example
 * ```ts
 * const thresholds = parseEvictionThresholds({
 *   evictionHard: defaultEvictionHard,
 *   evictionSoft: { "memory.available": "300Mi" },
 *   evictionSoftGracePeriod: { "memory.available": "1m30s" },
 *   evictionMinimumReclaim: { "nodefs.available": "500Mi" },
 * });
 * thresholds[0]; // { signal: "memory.available", operator: "LessThan", value: { quantity: 104857600n, text: "100Mi" }, gracePeriodMs: 0 }
 * ```
 */
export function parseEvictionThresholds(config: EvictionThresholdConfig): EvictionThreshold[] {
  const hard = parseThresholdStatements(config.evictionHard);
  const soft = parseThresholdStatements(config.evictionSoft);
  const gracePeriods = parseGracePeriods(config.evictionSoftGracePeriod);
  const minReclaims = parseMinimumReclaims(config.evictionMinimumReclaim);
  const build = (statement: Statement, gracePeriodNs: bigint): EvictionThreshold => {
    const minReclaim = minReclaims.get(statement.signal);
    const threshold = {
      signal: statement.signal,
      operator: "LessThan" as const,
      value: statement.value,
      gracePeriodMs: Number(gracePeriodNs) / 1e6,
    };
    return minReclaim === undefined ? threshold : { ...threshold, minReclaim };
  };
  const results = hard.map((statement) => build(statement, 0n));
  for (const statement of soft) {
    const period = gracePeriods.get(statement.signal);
    if (period === undefined) {
      return fail(`grace period must be specified for the soft eviction threshold ${statement.signal}`);
    }
    results.push(build(statement, period));
  }
  if (config.enforceNodeAllocatable?.includes(nodeAllocatableEnforcementKey)) {
    for (const threshold of [...results]) {
      if (threshold.signal === "memory.available" && threshold.gracePeriodMs === 0) {
        results.push({ ...threshold, signal: "allocatableMemory.available" });
      }
    }
  }
  return results;
}

/** What {@link updateContainerFsThresholds} gives back. */
export interface ContainerFsThresholds {
  /** The thresholds with the `containerfs.*` ones set from the nodefs or imagefs ones. */
  readonly thresholds: EvictionThreshold[];
  /** The kubelet's complaint when `containerfs.*` thresholds were given (they are overridden), else `undefined`. */
  readonly warning: string | undefined;
}

const isHard = (t: EvictionThreshold) => t.gracePeriodMs === 0;

/**
 * Sets the `containerfs.available` and `containerfs.inodesFree` thresholds as the kubelet's
 * `UpdateContainerFsThresholds` does once it knows the runtime's filesystems: a copy of the nodefs
 * thresholds when containers write to the node's filesystem (one filesystem, or images apart and
 * containers split off), a copy of the imagefs thresholds when images and containers share a
 * dedicated image filesystem. Given `containerfs.*` thresholds are replaced in place (the warning
 * says so); the others are appended. Unlike upstream, a copy whose source threshold does not exist
 * is left out (upstream appends an operator-less threshold that can never be met).
 *
 * @example
 * ```ts
 * const { thresholds } = updateContainerFsThresholds(parseEvictionThresholds({ evictionHard: defaultEvictionHard }), false, false);
 * thresholds.find((t) => t.signal === "containerfs.available")?.value; // { percentage: 0.1 } (nodefs's 10%)
 * ```
 */
export function updateContainerFsThresholds(
  thresholds: readonly EvictionThreshold[],
  imageFs: boolean,
  separateContainerImageFs: boolean,
): ContainerFsThresholds {
  const last = (signal: EvictionSignal, hard: boolean) =>
    thresholds.findLast((t) => t.signal === signal && isHard(t) === hard);
  const at = (signal: EvictionSignal, hard: boolean) =>
    result.findLastIndex((t) => t.signal === signal && isHard(t) === hard);
  const result = [...thresholds];
  let warning: string | undefined;
  for (const t of thresholds) {
    if (t.signal === "containerfs.available" || t.signal === "containerfs.inodesFree") {
      warning = `found ${t.signal} for ${isHard(t) ? "hard" : "soft"} eviction. ignoring`;
    }
  }
  // A split container filesystem without an image filesystem is a layout the kubelet leaves alone.
  if (!imageFs && separateContainerImageFs) return { thresholds: [...thresholds], warning };
  const fromImageFs = imageFs && !separateContainerImageFs;
  const copy = (target: EvictionSignal, source: EvictionSignal, hard: boolean) => {
    const from = last(source, hard);
    const index = at(target, hard);
    if (from === undefined) {
      // Upstream overwrites it with an operator-less threshold that is never met: the same as none.
      if (index >= 0) result.splice(index, 1);
      return;
    }
    const next: EvictionThreshold = { ...from, signal: target, gracePeriodMs: hard ? 0 : from.gracePeriodMs };
    if (index >= 0) result[index] = next;
    else result.push(next);
  };
  const bytes: EvictionSignal = fromImageFs ? "imagefs.available" : "nodefs.available";
  const inodes: EvictionSignal = fromImageFs ? "imagefs.inodesFree" : "nodefs.inodesFree";
  copy("containerfs.available", bytes, true);
  copy("containerfs.available", bytes, false);
  copy("containerfs.inodesFree", inodes, true);
  copy("containerfs.inodesFree", inodes, false);
  return { thresholds: result, warning };
}
