// The decisions kube-proxy makes for one Service port before it writes any rule, the same in each
// of its modes (pkg/proxy/iptables/proxier.go and pkg/proxy/nftables/proxier.go, syncProxyRules):
// which endpoints serve internal and external traffic, what traffic is rejected or dropped for
// want of endpoints, what is masqueraded, which sources may reach a load balancer. Backends render
// rules from this plan; none of them decides these things again.

import type { FamilyContext, LocalDetector } from "../model/context.js";
import { cidrContains, type ParsedCIDR } from "../model/ip.js";
import {
  categorizeEndpoints,
  type EndpointInfo,
  type EndpointRows,
  externallyAccessible,
  NO_ROWS,
  rowsOf,
  type ServicePortInfo,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "../model/service-port.js";

/** What happens to traffic that has no endpoint to go to. */
export type MissingEndpointsVerdict = "REJECT" | "DROP";

/** How one kind of traffic (internal: to the cluster IP; external: to the other VIPs) is served. */
export interface TrafficPlan {
  /** The endpoint set serving it: the cluster endpoints, or the node's local ones. */
  readonly policy: "Cluster" | "Local";
  /** It has an endpoint to go to. */
  readonly hasEndpoints: boolean;
  /**
   * Without endpoints: `REJECT` when the port has no usable endpoint anywhere, `DROP` when only
   * the local ones its Local policy needs are missing. `undefined` when it has endpoints.
   */
  readonly verdict: MissingEndpointsVerdict | undefined;
}

/** Which traffic to the cluster IP is masqueraded. */
export type InternalMasquerade =
  /** all of it (`masqueradeAll`) */
  | "all"
  /** traffic that is not from a pod of this node's cluster (the local-traffic detector says so) */
  | "notLocal"
  /** none (no detector: kube-proxy cannot tell pod traffic apart) */
  | "none";

/** The load-balancer source ranges of a port (kube-proxy's firewall chain). */
export interface FirewallPlan {
  /** The ranges of the port's family allowed to reach its load-balancer VIPs. */
  readonly sourceRanges: readonly ParsedCIDR[];
  /**
   * The node's own IP is in a range: traffic from the node to a load-balancer VIP (which the
   * node's routing gives the VIP as source) is allowed too.
   */
  readonly allowFromNode: boolean;
}

/** Every decision kube-proxy makes for one Service port of one IP family. */
export interface ServicePortPlan {
  readonly port: ServicePortInfo;
  /** The endpoints Cluster policy uses (ready ones after topology, else serving-terminating ones). */
  readonly clusterEndpoints: EndpointRows;
  /** The node's local endpoints, for Local policies (ready ones, else serving-terminating ones). */
  readonly localEndpoints: EndpointRows;
  /** Every endpoint some traffic may reach (the endpoint chains / elements to write). */
  readonly allReachableEndpoints: EndpointRows;
  /** The port has a usable endpoint anywhere in the cluster. */
  readonly hasAnyEndpoints: boolean;
  /** Cluster-policy traffic goes somewhere: the cluster endpoint set is written. */
  readonly usesClusterEndpoints: boolean;
  /** Local-policy traffic goes somewhere: the local endpoint set is written. */
  readonly usesLocalEndpoints: boolean;
  /** Traffic to the cluster IP. */
  readonly internal: TrafficPlan;
  /** Traffic to external IPs, load-balancer VIPs and the node port. */
  readonly external: TrafficPlan;
  /**
   * External destinations lead to an external-traffic dispatch (kube-proxy's `KUBE-EXT-` /
   * `external-` chain): the port is externally accessible and has endpoints.
   */
  readonly usesExternalTraffic: boolean;
  /** Traffic to the cluster IP that is masqueraded (only when it has endpoints). */
  readonly internalMasquerade: InternalMasquerade;
  /**
   * External traffic under Cluster policy is masqueraded, all of it. Under Local policy it is
   * not (the client's address is kept), except traffic from the node itself.
   */
  readonly externalMasqueradeAll: boolean;
  /**
   * Local policy and a local-traffic detector: pod traffic to an external destination is
   * short-circuited to the cluster endpoints (as if it were internal).
   */
  readonly podTrafficToCluster: boolean;
  /** Local policy: traffic from the node itself to an external destination is masqueraded and sent to the cluster endpoints. */
  readonly nodeTrafficToCluster: boolean;
  /**
   * Source-range filtering of the load-balancer VIPs, when the port has VIPs and ranges (whether
   * or not it has endpoints: the iptables mode writes its firewall chain only with endpoints, the
   * nftables and IPVS modes always).
   */
  readonly firewall: FirewallPlan | undefined;
  /** ClientIP session affinity timeout in seconds, 0 for none. */
  readonly affinitySeconds: number;
}

/**
 * Plans one Service port from its endpoints: a list gathered by `endpointsFor` (categorised
 * here), or rows already known to be the common case (all ready, Cluster policy; see
 * `readyClusterRows`).
 */
export function planServicePort(
  ctx: FamilyContext,
  sp: ServicePortInfo,
  endpoints: readonly EndpointInfo[] | EndpointRows,
): ServicePortPlan {
  let clusterEndpoints: EndpointRows;
  let localEndpoints: EndpointRows;
  let allReachableEndpoints: EndpointRows;
  let hasAnyEndpoints: boolean;
  if (!Array.isArray(endpoints)) {
    const rows = endpoints as EndpointRows;
    clusterEndpoints = rows;
    localEndpoints = NO_ROWS;
    allReachableEndpoints = rows;
    hasAnyEndpoints = rows.ips.length > 0;
  } else {
    const c = categorizeEndpoints(endpoints as readonly EndpointInfo[], sp, ctx.topology);
    const family = ctx.config.family;
    clusterEndpoints = rowsOf(c.clusterEndpoints, family);
    localEndpoints = rowsOf(c.localEndpoints, family);
    allReachableEndpoints =
      c.allReachableEndpoints === c.clusterEndpoints ? clusterEndpoints : rowsOf(c.allReachableEndpoints, family);
    hasAnyEndpoints = c.hasAnyEndpoints;
  }
  const hasLocal = localEndpoints.ips.length > 0;
  const internal = traffic(sp.internalPolicyLocal, hasAnyEndpoints, hasLocal);
  const external = traffic(sp.externalPolicyLocal, hasAnyEndpoints, hasLocal);
  const detector: LocalDetector | undefined = ctx.detector;
  let internalMasquerade: InternalMasquerade = "none";
  if (internal.hasEndpoints) {
    if (ctx.config.masqueradeAll) internalMasquerade = "all";
    else if (detector) internalMasquerade = "notLocal";
  }
  let firewall: FirewallPlan | undefined;
  if (sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0) {
    const nodeIP = ctx.nodeIP;
    const allowFromNode = nodeIP !== undefined && sp.loadBalancerSourceRanges.some((c) => cidrContains(c, nodeIP));
    firewall = { sourceRanges: sp.loadBalancerSourceRanges, allowFromNode };
  }
  return {
    port: sp,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints,
    hasAnyEndpoints,
    usesClusterEndpoints: clusterEndpoints.ips.length > 0 && usesClusterEndpoints(sp),
    usesLocalEndpoints: hasLocal && usesLocalEndpoints(sp),
    internal,
    external,
    usesExternalTraffic: hasAnyEndpoints && externallyAccessible(sp),
    internalMasquerade,
    externalMasqueradeAll: !sp.externalPolicyLocal,
    podTrafficToCluster: sp.externalPolicyLocal && detector !== undefined,
    nodeTrafficToCluster: sp.externalPolicyLocal,
    firewall,
    affinitySeconds: sp.stickyMaxAgeSeconds,
  };
}

const CLUSTER: TrafficPlan = { policy: "Cluster", hasEndpoints: true, verdict: undefined };
const LOCAL: TrafficPlan = { policy: "Local", hasEndpoints: true, verdict: undefined };
const LOCAL_NONE: TrafficPlan = { policy: "Local", hasEndpoints: false, verdict: "DROP" };
const CLUSTER_REJECT: TrafficPlan = { policy: "Cluster", hasEndpoints: false, verdict: "REJECT" };
const LOCAL_REJECT: TrafficPlan = { policy: "Local", hasEndpoints: false, verdict: "REJECT" };

/** Traffic under a policy, by whether the port has endpoints anywhere and local ones. */
function traffic(local: boolean, hasAny: boolean, hasLocal: boolean): TrafficPlan {
  if (!hasAny) return local ? LOCAL_REJECT : CLUSTER_REJECT;
  if (!local) return CLUSTER;
  return hasLocal ? LOCAL : LOCAL_NONE;
}
