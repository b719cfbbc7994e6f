// What a backend's sync function receives from a proxier and gives back (src/proxier.ts). Each
// backend (iptables, nftables, …) implements one `sync(input, options, from, log)` with these
// shapes; the proxier owns the state between syncs and the acknowledgement protocol.

import type { IPFamily } from "../model/ip.js";

/** How a sync relates to the proxier's state (`S`: a backend's state of an applied payload). */
export interface SyncFrom<S> {
  /** The state of the last applied payload, if any. */
  readonly state: S | undefined;
  /** `state`'s payload is known to be loaded (and nothing failed since): a partial sync may build on it. */
  readonly partialAllowed: boolean;
  /**
   * Per family, the objects (chains, sets, maps) the payloads that failed since `state` declared:
   * they may be in the kernel, and a full sync deletes those it does not use.
   */
  readonly failedObjects: ReadonlyMap<IPFamily, ReadonlySet<string>>;
  /** Recompute everything from the objects (no normalised object reused), as after a failure. */
  readonly fullSync: boolean;
}

/** What a backend's sync gives: the result (`C`), the state it leaves, and what its payload declares. */
export interface SyncOutput<S, C> {
  readonly compilation: C;
  readonly state: S;
  /** Per family, the Service objects (chains, …) the payload declares, for a failure's clean-up. */
  readonly declared: ReadonlyMap<IPFamily, readonly string[]>;
}
