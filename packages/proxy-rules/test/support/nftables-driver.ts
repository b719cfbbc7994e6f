// A minimal stand-in for createProxier({ mode: "nftables" }) until the proxier has that mode: it
// keeps the nftables backend's state across syncs with the proxier's protocol (partial syncs
// only after applied(), a full sync after failed()), and a clock the test moves.

import type { CompileNftablesOptions, NftablesCompilation, ProxyInput } from "../../src/index.js";
import type { IPFamily } from "../../src/model/ip.js";
import { type NftablesState, syncNftables } from "../../src/nftables/compile.js";
import type { SyncOutput } from "../../src/plan/sync.js";
import { UndoLog } from "../../src/plan/undo-log.js";

export class NftDriver {
  now = 1_000_000;
  #state: NftablesState | undefined;
  #partialAllowed = false;
  #failed = new Map<IPFamily, Set<string>>();
  #pending: { out: SyncOutput<NftablesState, NftablesCompilation>; log: UndoLog } | undefined;

  constructor(readonly options: CompileNftablesOptions = {}) {}

  sync(input: ProxyInput, fullSync = false): NftablesCompilation {
    if (this.#pending) throw new Error("previous sync not acknowledged");
    const log = new UndoLog();
    const out = syncNftables(
      input,
      { ...this.options, clock: () => this.now },
      { state: this.#state, partialAllowed: this.#partialAllowed, failedObjects: this.#failed, fullSync },
      log,
    );
    this.#pending = { out, log };
    return out.compilation;
  }

  applied(): void {
    this.#state = this.#pending!.out.state;
    this.#partialAllowed = true;
    this.#failed = new Map();
    this.#pending = undefined;
  }

  failed(): void {
    for (const [family, names] of this.#pending!.out.declared) {
      const set = this.#failed.get(family) ?? new Set<string>();
      for (const n of names) set.add(n);
      this.#failed.set(family, set);
    }
    this.#pending!.log.rollback();
    this.#partialAllowed = false;
    this.#pending = undefined;
  }

  /** kube-proxy's tests' ageStaleChains: time passes beyond the grace. */
  ageStaleChains(): void {
    this.now += 2000;
  }
}
