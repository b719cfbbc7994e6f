import type { IPFamily } from "./ip.js";

/**
 * The kube-proxy configuration fields that shape iptables rules, named as in
 * `KubeProxyConfiguration` (kubeproxy.config.k8s.io/v1alpha1). Every field is optional and
 * defaults as kube-proxy defaults it.
 */
export interface KubeProxyConfiguration {
  /**
   * Pod CIDR range(s) of the cluster, comma-separated for dual-stack (`10.244.0.0/16,fd00:10::/56`).
   * Used by `detectLocalMode: ClusterCIDR`. Default: empty (no local-traffic detection).
   */
  readonly clusterCIDR?: string | undefined;
  /**
   * How kube-proxy tells pod traffic from other traffic: `ClusterCIDR` (default), `NodeCIDR`
   * (the node's `podCIDRs`), `BridgeInterface` or `InterfaceNamePrefix`.
   */
  readonly detectLocalMode?: string | undefined;
  /** Parameters of the bridge / interface-prefix detectors. */
  readonly detectLocal?:
    | { readonly bridgeInterface?: string | undefined; readonly interfaceNamePrefix?: string | undefined }
    | undefined;
  /**
   * Where NodePorts are accepted: CIDRs, or the keywords `all`, `primary`, `localhost`. Default: all
   * local addresses.
   */
  readonly nodePortAddresses?: readonly string[] | undefined;
  /** iptables-mode settings. */
  readonly iptables?:
    | {
        /** SNAT all traffic sent to a Service IP. Default `false`. */
        readonly masqueradeAll?: boolean | undefined;
        /** The fwmark bit that marks packets for SNAT, 0–31. Default `14` (mark `0x00004000`). */
        readonly masqueradeBit?: number | undefined;
        /** Accept NodePort connections on 127.0.0.0/8 (IPv4 only). Default `true`. */
        readonly localhostNodePorts?: boolean | undefined;
      }
    | undefined;
  /**
   * nftables-mode settings (kube-proxy's `KubeProxyNFTablesConfiguration`). The nftables mode reads
   * its masquerade settings here, as kube-proxy does, and not from `iptables`.
   */
  readonly nftables?:
    | {
        /** SNAT all traffic sent to a Service IP. Default `false`. */
        readonly masqueradeAll?: boolean | undefined;
        /** The fwmark bit that marks packets for SNAT, 0–31. Default `14` (mark `0x00004000`). */
        readonly masqueradeBit?: number | undefined;
      }
    | undefined;
  /**
   * IPVS-mode settings (kube-proxy's `KubeProxyIPVSConfiguration`), read by `compileIpvs` and
   * checked there (`ipvs.*` field paths). The masquerade settings are `iptables.masqueradeAll` /
   * `iptables.masqueradeBit`, as kube-proxy's IPVS mode reads them too.
   */
  readonly ipvs?:
    | {
        /**
         * The IPVS scheduler of every virtual server: `rr` (default, also for `""`), `wrr`, `lc`,
         * `wlc`, `lblc`, `lblcr`, `sh`, `dh`, `sed`, `nq`, `mh` (with the `mh-port` flag), or
         * any other kernel scheduler name (kube-proxy accepts any since v1.27).
         */
        readonly scheduler?: string | undefined;
        /** CIDRs whose virtual servers kube-proxy leaves alone when it cleans up (not its own). */
        readonly excludeCIDRs?: readonly string[] | undefined;
        /** Sets `arp_ignore=1` / `arp_announce=2`. Default `false`. */
        readonly strictARP?: boolean | undefined;
        /** IPVS TCP session timeout, a Go duration (`"900s"`, `"15m"`); `0` keeps the kernel's. */
        readonly tcpTimeout?: string | undefined;
        /** IPVS TCP timeout after a FIN, a Go duration; `0` keeps the kernel's. */
        readonly tcpFinTimeout?: string | undefined;
        /** IPVS UDP timeout, a Go duration; `0` keeps the kernel's. */
        readonly udpTimeout?: string | undefined;
      }
    | undefined;
  /**
   * Feature gates. `PreferSameTrafficDistribution` (default `true`) makes node hints
   * (`hints.forNodes`, trafficDistribution PreferSameNode) count.
   */
  readonly featureGates?: { readonly [name: string]: boolean } | undefined;
  /** Conntrack settings; only `tcpBeLiberal` shapes rules. */
  readonly conntrack?: { readonly tcpBeLiberal?: boolean | undefined } | undefined;
}

/** The node kube-proxy runs on. */
export interface NodeInfo {
  /** `metadata.name` of the Node; endpoints with this `nodeName` are local. */
  readonly name: string;
  /**
   * The node's IP addresses, primary first per family (the first IPv4 and first IPv6 are the
   * node IPs of each family). They are also the addresses matched by `nodePortAddresses` CIDRs;
   * loopback addresses are implied.
   */
  readonly addresses?: readonly string[] | undefined;
  /** The node's labels; `topology.kubernetes.io/zone` selects zone-hinted endpoints. */
  readonly labels?: { readonly [key: string]: string } | undefined;
  /** The node's `spec.podCIDRs`, used by `detectLocalMode: NodeCIDR`. */
  readonly podCIDRs?: readonly string[] | undefined;
}

/**
 * Facts about the host that kube-proxy probes at run time rather than reads from its
 * configuration. The defaults describe a current Linux host (iptables ≥ 1.6.2).
 */
export interface HostFacts {
  /** iptables supports `MASQUERADE --random-fully`. Default `true`. */
  readonly randomFully?: boolean | undefined;
  /**
   * The nfacct counters `ct_state_invalid_dropped_pkts` and `localhost_nps_accepted_pkts` exist
   * (kube-proxy creates them when it can). Rules using `-m nfacct` fail to load without them.
   * Default `false`.
   */
  readonly nfacct?: boolean | undefined;
  /** The sysctl `net.netfilter.nf_conntrack_tcp_be_liberal` is set. Default `false`. */
  readonly conntrackTCPBeLiberal?: boolean | undefined;
}

/** Every field of {@link KubeProxyConfiguration} that matters, with defaults applied, for one family. */
export interface ResolvedConfig {
  readonly family: IPFamily;
  readonly masqueradeAll: boolean;
  readonly masqueradeMark: string;
  readonly localhostNodePorts: boolean;
  readonly randomFully: boolean;
  readonly nfacct: boolean;
  readonly tcpBeLiberal: boolean;
}

/** kube-proxy's default `iptables.masqueradeBit`. */
export const DEFAULT_MASQUERADE_BIT = 14;

/** Go's `fmt.Sprintf("%#08x", 1<<bit)`: `0x` then at least 8 hex digits. */
export function masqueradeMarkFor(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, "0")}`;
}
