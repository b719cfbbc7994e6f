// createProxier: the stateful side of the compilers, as kube-proxy's Proxier is. It owns the
// input index and the backend's caches between syncs, hands out one payload at a time, and only
// builds a partial sync on a payload it was told was applied; after a failure the next sync is
// full and cleans up whatever the failed payloads may have left (kube-proxy's behaviour after a
// failed iptables-restore / nft transaction). No state is kept anywhere else.

import { InvalidInputError } from "./errors.js";
import {
  type CompileIptablesOptions,
  type IptablesCompilation,
  type IptablesState,
  syncIptables,
} from "./iptables/compile.js";
import type { IPFamily } from "./model/ip.js";
import type { ProxyInput } from "./plan/input.js";
import type { SyncFrom, SyncOutput } from "./plan/sync.js";
import { UndoLog } from "./plan/undo-log.js";

/** The proxy modes a proxier compiles for. */
export type ProxyMode = "iptables";

/** Options of {@link createProxier}. */
export interface ProxierOptions extends CompileIptablesOptions {
  /** The backend: `iptables` (kube-proxy's `--proxy-mode`). */
  readonly mode: ProxyMode;
  /**
   * Check the informer contract on every sync: an object passed again (same identity) must not
   * have changed since the sync it was last passed to. A change in place is then an
   * {@link InvalidInputError} naming the object, instead of a payload silently built from the
   * stale rules. Costs a JSON serialisation of every object per sync: for tests and debugging.
   */
  readonly debug?: boolean | undefined;
}

/** Options of one {@link Proxier.sync}. */
export interface ProxierSyncOptions {
  /**
   * A full payload even when a partial one would do (kube-proxy makes one periodically and on a
   * node label change), recomputed from the objects as they are now.
   */
  readonly fullSync?: boolean | undefined;
  /** This sync only: override the proxier's `partialResults`. */
  readonly partialResults?: boolean | undefined;
}

/**
 * A stateful compiler for one node. Call {@link Proxier.sync} with the whole current input (as
 * informers hold it) and load the payload it returns; then say how that went with
 * {@link Proxier.applied} or {@link Proxier.failed}. The next sync is partial (only what
 * changed) after `applied()`, full after `failed()`.
 *
 * The informer contract: an object that did not change keeps its identity from one sync to the
 * next; a changed object is a new object. Objects are compared by identity, so an object mutated
 * in place goes unnoticed (use `debug` to detect it).
 */
export interface Proxier<C> {
  readonly mode: ProxyMode;
  /**
   * Compiles the payload that brings the kernel from the last applied payload to `input`. A sync
   * that throws changes nothing (retry it after fixing the input); one that returns must be
   * acknowledged before the next.
   *
   * @throws {@link InvalidInputError} for invalid input (as the one-shot compiler), or when the
   * previous payload was not acknowledged.
   */
  sync(input: ProxyInput, options?: ProxierSyncOptions): C;
  /** The last payload was loaded: the next sync may be partial and build on it. */
  applied(): void;
  /**
   * Loading the last payload failed (or it was not loaded): the next sync is full and deletes
   * what the failed payload may have created.
   */
  failed(): void;
  /** A payload was handed out and not yet acknowledged. */
  readonly pending: boolean;
}

interface Backend<S, C> {
  sync(input: ProxyInput, options: CompileIptablesOptions, from: SyncFrom<S>, log: UndoLog): SyncOutput<S, C>;
}

const iptablesBackend: Backend<IptablesState, IptablesCompilation> = { sync: syncIptables };

/**
 * Creates a {@link Proxier} for `options.mode`.
 *
 * @example
 * ```ts
 * import { createProxier } from "@nodekit/proxy-rules";
 *
 * const proxier = createProxier({ mode: "iptables", partialResults: true });
 * const { ipv4 } = proxier.sync(input); // first sync: full
 * try {
 *   await restore(ipv4!.text); // iptables-restore --noflush
 *   proxier.applied();
 * } catch {
 *   proxier.failed(); // the next sync is full
 * }
 * ```
 */
export function createProxier(options: ProxierOptions & { readonly mode: "iptables" }): Proxier<IptablesCompilation>;
export function createProxier(options: ProxierOptions): Proxier<IptablesCompilation> {
  if (typeof options !== "object" || options === null) {
    throw new InvalidInputError({ kind: "ProxierOptions" }, "", "must be an object", options);
  }
  const { mode, debug, ...compileOptions } = options;
  if (mode !== "iptables") throw new InvalidInputError({ kind: "ProxierOptions" }, "mode", "must be iptables", mode);
  if (debug !== undefined && typeof debug !== "boolean") {
    throw new InvalidInputError({ kind: "ProxierOptions" }, "debug", "must be a boolean", debug);
  }
  return makeProxier(mode, iptablesBackend, compileOptions, debug ?? false);
}

function makeProxier<S, C>(
  mode: ProxyMode,
  backend: Backend<S, C>,
  compileOptions: CompileIptablesOptions,
  debug: boolean,
): Proxier<C> {
  let applied: S | undefined;
  let partialAllowed = false;
  let failedObjects = new Map<IPFamily, Set<string>>();
  let pending: { output: SyncOutput<S, C>; log: UndoLog; input: ProxyInput } | undefined;
  const fingerprints = debug ? new WeakMap<object, string>() : undefined;
  let existingChains = compileOptions.existingChains;

  return {
    mode,
    get pending() {
      return pending !== undefined;
    },
    sync(input, syncOptions = {}) {
      if (pending) {
        throw new InvalidInputError(
          { kind: "Proxier" },
          "sync",
          "the previous payload was neither applied() nor failed(): acknowledge it first",
        );
      }
      const fullSync = syncOptions.fullSync ?? false;
      if (typeof fullSync !== "boolean") {
        throw new InvalidInputError({ kind: "ProxierSyncOptions" }, "fullSync", "must be a boolean", fullSync);
      }
      if (fingerprints) checkUnchanged(input, fingerprints);
      const log = new UndoLog();
      const from: SyncFrom<S> = { state: applied, partialAllowed, failedObjects, fullSync };
      const perSync: CompileIptablesOptions =
        syncOptions.partialResults === undefined
          ? { ...compileOptions, existingChains }
          : { ...compileOptions, existingChains, partialResults: syncOptions.partialResults };
      const output = backend.sync(input, perSync, from, log);
      pending = { output, log, input };
      return output.compilation;
    },
    applied() {
      if (!pending) throw notPending("applied");
      applied = pending.output.state;
      partialAllowed = true;
      failedObjects = new Map();
      existingChains = undefined; // the state knows the chains from now on
      if (fingerprints) remember(pending.input, fingerprints);
      pending = undefined;
    },
    failed() {
      if (!pending) throw notPending("failed");
      // what the payload declared may be in the kernel now (a restore can fail half-way)
      for (const [family, names] of pending.output.declared) {
        const set = failedObjects.get(family) ?? new Set<string>();
        for (const name of names) set.add(name);
        failedObjects.set(family, set);
      }
      pending.log.rollback(); // back to the state of the last applied payload
      partialAllowed = false;
      pending = undefined;
    },
  };
}

function notPending(call: string): InvalidInputError {
  return new InvalidInputError({ kind: "Proxier" }, call, "no payload is pending: call sync() first");
}

/** The objects of an input a proxier compares by identity. */
function objectsOf(input: ProxyInput): object[] {
  const out: object[] = [];
  for (const list of [input.services, input.endpointSlices]) {
    if (Array.isArray(list)) for (const o of list) if (typeof o === "object" && o !== null) out.push(o);
  }
  return out;
}

function remember(input: ProxyInput, fingerprints: WeakMap<object, string>): void {
  for (const o of objectsOf(input)) fingerprints.set(o, JSON.stringify(o));
}

function checkUnchanged(input: ProxyInput, fingerprints: WeakMap<object, string>): void {
  for (const o of objectsOf(input)) {
    const before = fingerprints.get(o);
    if (before === undefined || before === JSON.stringify(o)) continue;
    const meta = (o as { metadata?: { namespace?: unknown; name?: unknown } }).metadata;
    const kind = input.services.includes(o as never) ? "Service" : "EndpointSlice";
    throw new InvalidInputError(
      {
        kind,
        namespace: typeof meta?.namespace === "string" ? meta.namespace : undefined,
        name: typeof meta?.name === "string" ? meta.name : undefined,
      },
      "",
      "changed in place since the last sync: pass a new object for a changed one (as informers do)",
    );
  }
}
