// The `ipvs` section of KubeProxyConfiguration (kube-proxy's KubeProxyIPVSConfiguration), checked
// and resolved with kube-proxy's defaults. Every problem is an InvalidInputError with its field path.

import { InvalidInputError } from "../errors.js";
import type { KubeProxyConfiguration } from "../model/config.js";
import { type ParsedCIDR, parseCIDR } from "../model/ip.js";

/** kube-proxy's default scheduler (`defaultScheduler`). */
export const DEFAULT_IPVS_SCHEDULER = "rr";

/**
 * The schedulers the Linux kernel ships (`net/netfilter/ipvs/ip_vs_*.c`). kube-proxy accepts any
 * name since v1.27 (kubernetes/kubernetes#114878) and checks it by creating a probe virtual
 * server; these are the ones that probe can succeed with on a stock kernel.
 */
export const IPVS_KERNEL_SCHEDULERS: readonly string[] = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
  "twos",
];

/** The `ipvs` settings with defaults applied. */
export interface ResolvedIpvsConfig {
  readonly scheduler: string;
  readonly excludeCIDRs: readonly ParsedCIDR[];
  readonly strictARP: boolean;
  /** Seconds, 0: keep the kernel's. */
  readonly tcpTimeout: number;
  readonly tcpFinTimeout: number;
  readonly udpTimeout: number;
}

function cfgError(field: string, reason: string, value: unknown): InvalidInputError {
  return new InvalidInputError({ kind: "KubeProxyConfiguration" }, field, reason, value);
}

// A scheduler name as the kernel stores it (IP_VS_SCHEDNAME_MAXLEN is 16 with the NUL); a plain
// token so that it can never change how an ipvsadm line splits.
const SCHEDULER = /^[a-z0-9_]{1,15}$/;
// Go's time.ParseDuration units
const DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** A Go duration (`"900s"`, `"1h30m"`, `"0"`) in whole seconds (as `ipvsadm --set` takes them). */
function durationSeconds(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== "string") throw cfgError(field, 'must be a Go duration string such as "900s"', v);
  if (v === "0") return 0;
  if (!DURATION.test(v)) throw cfgError(field, 'must be a Go duration such as "900s" or "15m"', v);
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g))
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ""] ?? 0); // DURATION checked the units
  if (!(total < 2 ** 31)) throw cfgError(field, "is too long", v);
  return Math.floor(total);
}

/**
 * Checks and resolves `config.ipvs`.
 *
 * @throws {@link InvalidInputError} naming the `ipvs.*` field.
 */
export function resolveIpvsConfig(config: KubeProxyConfiguration | undefined): ResolvedIpvsConfig {
  const raw: unknown = config?.ipvs;
  if (raw === undefined || raw === null) {
    return {
      scheduler: DEFAULT_IPVS_SCHEDULER,
      excludeCIDRs: [],
      strictARP: false,
      tcpTimeout: 0,
      tcpFinTimeout: 0,
      udpTimeout: 0,
    };
  }
  if (typeof raw !== "object" || Array.isArray(raw)) throw cfgError("ipvs", "must be an object", raw);
  const ipvs = raw as Record<string, unknown>;
  let scheduler = DEFAULT_IPVS_SCHEDULER;
  const s = ipvs.scheduler;
  if (s !== undefined && s !== null && s !== "") {
    if (typeof s !== "string" || !SCHEDULER.test(s)) {
      throw cfgError(
        "ipvs.scheduler",
        "must be an IPVS scheduler name (1-15 lowercase letters, digits or _), such as rr, wrr, lc, wlc, sh, mh",
        s,
      );
    }
    scheduler = s;
  }
  const excludeCIDRs: ParsedCIDR[] = [];
  const ex = ipvs.excludeCIDRs;
  if (ex !== undefined && ex !== null) {
    if (!Array.isArray(ex)) throw cfgError("ipvs.excludeCIDRs", "must be a list of CIDRs", ex);
    ex.forEach((c, i) => {
      const cidr = typeof c === "string" ? parseCIDR(c.trim()) : undefined;
      if (!cidr) throw cfgError(`ipvs.excludeCIDRs[${i}]`, "must be a valid CIDR", c);
      excludeCIDRs.push(cidr);
    });
  }
  const strict = ipvs.strictARP;
  if (strict !== undefined && strict !== null && typeof strict !== "boolean") {
    throw cfgError("ipvs.strictARP", "must be a boolean", strict);
  }
  return {
    scheduler,
    excludeCIDRs,
    strictARP: strict === true,
    tcpTimeout: durationSeconds(ipvs.tcpTimeout, "ipvs.tcpTimeout"),
    tcpFinTimeout: durationSeconds(ipvs.tcpFinTimeout, "ipvs.tcpFinTimeout"),
    udpTimeout: durationSeconds(ipvs.udpTimeout, "ipvs.udpTimeout"),
  };
}
