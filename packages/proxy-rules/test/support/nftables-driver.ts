// createProxier({ mode: "nftables" }) with a clock the test moves (for the stale-chain grace), as
// the nftables tests and the kernel tests drive it.

import {
  type CompileNftablesOptions,
  createProxier,
  type NftablesCompilation,
  type Proxier,
  type ProxyInput,
} from "../../src/index.js";

export class NftDriver {
  now = 1_000_000;
  readonly proxier: Proxier<NftablesCompilation>;

  constructor(readonly options: CompileNftablesOptions = {}) {
    this.proxier = createProxier({ mode: "nftables", ...options, clock: () => this.now });
  }

  sync(input: ProxyInput, fullSync = false): NftablesCompilation {
    return this.proxier.sync(input, { fullSync });
  }

  applied(): void {
    this.proxier.applied();
  }

  failed(): void {
    this.proxier.failed();
  }

  /** kube-proxy's tests' ageStaleChains: time passes beyond the grace. */
  ageStaleChains(): void {
    this.now += 2000;
  }
}
