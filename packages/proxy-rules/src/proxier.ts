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
import { type CompileIpvsOptions, type IpvsCompilation, type IpvsState, syncIpvs } from "./ipvs/compile.js";
import type { IPFamily } from "./model/ip.js";
import {
  type CompileNftablesOptions,
  type NftablesCompilation,
  type NftablesState,
  syncNftables,
} from "./nftables/compile.js";
import type { ProxyInput } from "./plan/input.js";
import type { SyncFrom, SyncOutput } from "./plan/sync.js";
import { UndoLog } from "./plan/undo-log.js";

/** The proxy modes a proxier compiles for (kube-proxy's `--proxy-mode`). */
export type ProxyMode = "iptables" | "nftables" | "ipvs";

/** What every proxier takes besides its backend's options. */
interface ProxierCommonOptions {
  /**
   * Check the informer contract on every sync: an object passed again (same identity) must not
   * have changed since the sync it was last passed to. A change in place is then an
   * {@link InvalidInputError} naming the object, instead of a payload silently built from the
   * stale rules. Costs a JSON serialisation of every object per sync: for tests and debugging.
   */
  readonly debug?: boolean | undefined;
}

/** Options of {@link createProxier} in the iptables mode: those of `compileIptables`. */
export interface ProxierIptablesOptions extends CompileIptablesOptions, ProxierCommonOptions {
  readonly mode: "iptables";
}

/**
 * Options of {@link createProxier} in the nftables mode: those of `compileNftables`. Each sync's
 * results carry two transactions per family, `cleanupText` (stale chains, may fail harmlessly)
 * then `text`; `applied()` means `text` was loaded.
 */
export interface ProxierNftablesOptions extends CompileNftablesOptions, ProxierCommonOptions {
  readonly mode: "nftables";
}

/**
 * Options of {@link createProxier} in the IPVS mode: those of `compileIpvs`. Each sync's results
 * carry the desired state and the changes since the last applied one.
 */
export interface ProxierIpvsOptions extends CompileIpvsOptions, ProxierCommonOptions {
  readonly mode: "ipvs";
}

/** Options of {@link createProxier}, by mode. */
export type ProxierOptions = ProxierIptablesOptions | ProxierNftablesOptions | ProxierIpvsOptions;

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

/** The part of every backend's options a proxier reads and sets. */
interface BackendOptions {
  readonly partialResults?: boolean | undefined;
  readonly existingChains?: Iterable<string> | undefined;
}

interface Backend<S, C, O extends BackendOptions> {
  sync(input: ProxyInput, options: O, from: SyncFrom<S>, log: UndoLog): SyncOutput<S, C>;
}

const iptablesBackend: Backend<IptablesState, IptablesCompilation, CompileIptablesOptions> = { sync: syncIptables };
const nftablesBackend: Backend<NftablesState, NftablesCompilation, CompileNftablesOptions> = { sync: syncNftables };
const ipvsBackend: Backend<IpvsState, IpvsCompilation, CompileIpvsOptions> = { sync: syncIpvs };

/**
 * Creates a {@link Proxier} for `options.mode`: `iptables` (results as `compileIptables`
 * gives), `nftables` (as `compileNftables`) or `ipvs` (as `compileIpvs`).
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
export function createProxier(options: ProxierIptablesOptions): Proxier<IptablesCompilation>;
export function createProxier(options: ProxierNftablesOptions): Proxier<NftablesCompilation>;
export function createProxier(options: ProxierIpvsOptions): Proxier<IpvsCompilation>;
export function createProxier(
  options: ProxierOptions,
): Proxier<IptablesCompilation> | Proxier<NftablesCompilation> | Proxier<IpvsCompilation> {
  if (typeof options !== "object" || options === null) {
    throw new InvalidInputError({ kind: "ProxierOptions" }, "", "must be an object", options);
  }
  const debug = options.debug;
  if (debug !== undefined && typeof debug !== "boolean") {
    throw new InvalidInputError({ kind: "ProxierOptions" }, "debug", "must be a boolean", debug);
  }
  switch (options.mode) {
    case "iptables": {
      const { mode, debug: _, ...rest } = options;
      return makeProxier(mode, iptablesBackend, rest, debug ?? false);
    }
    case "nftables": {
      const { mode, debug: _, ...rest } = options;
      return makeProxier(mode, nftablesBackend, rest, debug ?? false);
    }
    case "ipvs": {
      const { mode, debug: _, ...rest } = options;
      return makeProxier(mode, ipvsBackend, rest, debug ?? false);
    }
    default:
      throw new InvalidInputError(
        { kind: "ProxierOptions" },
        "mode",
        "must be iptables, nftables or ipvs",
        (options as { mode?: unknown }).mode,
      );
  }
}

function makeProxier<S, C, O extends BackendOptions>(
  mode: ProxyMode,
  backend: Backend<S, C, O>,
  compileOptions: O,
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
      const perSync: O = { ...compileOptions };
      if (existingChains !== undefined || "existingChains" in compileOptions) {
        (perSync as { existingChains?: Iterable<string> | undefined }).existingChains = existingChains;
      }
      if (syncOptions.partialResults !== undefined) {
        (perSync as { partialResults?: boolean }).partialResults = syncOptions.partialResults;
      }
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
