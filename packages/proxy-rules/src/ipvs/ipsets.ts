// The ipsets kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/proxier.go ipsetInfo, ipset.go): names,
// types and comments, the IPv6 names, the entry spellings, and how `ipset create` is called.

import type { IPFamily } from "../model/ip.js";

/** An ipset type kube-proxy uses. */
export type IpsetType = "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net" | "bitmap:port" | "hash:ip";

/** One of kube-proxy's ipsets, as its IPv4 proxier names it. */
export interface IpsetInfo {
  readonly name: string;
  readonly type: IpsetType;
  readonly comment: string;
}

// index constants, in kube-proxy's ipsetInfo order
export const LOOP_BACK = 0;
export const CLUSTER_IP = 1;
export const EXTERNAL_IP = 2;
export const EXTERNAL_IP_LOCAL = 3;
export const LOAD_BALANCER = 4;
export const LOAD_BALANCER_FW = 5;
export const LOAD_BALANCER_LOCAL = 6;
export const LOAD_BALANCER_SOURCE_IP = 7;
export const LOAD_BALANCER_SOURCE_CIDR = 8;
export const NODE_PORT_TCP = 9;
export const NODE_PORT_LOCAL_TCP = 10;
export const NODE_PORT_UDP = 11;
export const NODE_PORT_LOCAL_UDP = 12;
export const NODE_PORT_SCTP = 13;
export const NODE_PORT_LOCAL_SCTP = 14;
export const HEALTH_CHECK_NODE_PORT = 15;
export const IPVS_IPS = 16;
export const SET_COUNT = 17;

/** kube-proxy's ipsets, in its `ipsetInfo` order (names of the IPv4 proxier). */
export const IPVS_IPSETS: readonly IpsetInfo[] = [
  {
    name: "KUBE-LOOP-BACK",
    type: "hash:ip,port,ip",
    comment: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
  },
  {
    name: "KUBE-CLUSTER-IP",
    type: "hash:ip,port",
    comment: "Kubernetes service cluster ip + port for masquerade purpose",
  },
  {
    name: "KUBE-EXTERNAL-IP",
    type: "hash:ip,port",
    comment: "Kubernetes service external ip + port for masquerade and filter purpose",
  },
  {
    name: "KUBE-EXTERNAL-IP-LOCAL",
    type: "hash:ip,port",
    comment: "Kubernetes service external ip + port with externalTrafficPolicy=local",
  },
  { name: "KUBE-LOAD-BALANCER", type: "hash:ip,port", comment: "Kubernetes service lb portal" },
  {
    name: "KUBE-LOAD-BALANCER-FW",
    type: "hash:ip,port",
    comment: "Kubernetes service load balancer ip + port for load balancer with sourceRange",
  },
  {
    name: "KUBE-LOAD-BALANCER-LOCAL",
    type: "hash:ip,port",
    comment: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
  },
  {
    name: "KUBE-LOAD-BALANCER-SOURCE-IP",
    type: "hash:ip,port,ip",
    comment: "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
  },
  {
    name: "KUBE-LOAD-BALANCER-SOURCE-CIDR",
    type: "hash:ip,port,net",
    comment: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
  },
  { name: "KUBE-NODE-PORT-TCP", type: "bitmap:port", comment: "Kubernetes nodeport TCP port for masquerade purpose" },
  {
    name: "KUBE-NODE-PORT-LOCAL-TCP",
    type: "bitmap:port",
    comment: "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
  },
  { name: "KUBE-NODE-PORT-UDP", type: "bitmap:port", comment: "Kubernetes nodeport UDP port for masquerade purpose" },
  {
    name: "KUBE-NODE-PORT-LOCAL-UDP",
    type: "bitmap:port",
    comment: "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
  },
  {
    name: "KUBE-NODE-PORT-SCTP-HASH",
    type: "hash:ip,port",
    comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  },
  {
    name: "KUBE-NODE-PORT-LOCAL-SCTP-HASH",
    type: "hash:ip,port",
    comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  },
  { name: "KUBE-HEALTH-CHECK-NODE-PORT", type: "bitmap:port", comment: "Kubernetes health check node port" },
  { name: "KUBE-IPVS-IPS", type: "hash:ip", comment: "Addresses on the ipvs interface" },
];

/**
 * The name of a set in a family: kube-proxy's IPv6 proxier writes `KUBE-6-…` instead of
 * `KUBE-…`, cut to the 31 characters an ipset name may have (`NewIPSet`).
 */
export function ipsetName(name: string, family: IPFamily): string {
  if (family === "IPv4" || !name.startsWith("KUBE-")) return name;
  const v6 = `KUBE-6-${name.slice(5)}`;
  return v6.length > 31 ? v6.slice(0, 31) : v6;
}

/** The names of every set in a family, in `ipsetInfo` order. */
export function ipsetNames(family: IPFamily): readonly string[] {
  return family === "IPv4" ? IPV4_NAMES : IPV6_NAMES;
}
const IPV4_NAMES = IPVS_IPSETS.map((s) => s.name);
const IPV6_NAMES = IPVS_IPSETS.map((s) => ipsetName(s.name, "IPv6"));

/**
 * The `create` arguments kube-proxy's ipset runner passes (after the name and type): the hash
 * types get `family inet|inet6 hashsize 1024 maxelem 65536`, bitmap:port gets `range 0-65535`.
 * The set's comment is not passed to ipset; it is the comment of the iptables rules that match it.
 */
export function createOptions(type: IpsetType, family: IPFamily): string {
  if (type === "bitmap:port") return "range 0-65535";
  return `family ${family === "IPv4" ? "inet" : "inet6"} hashsize 1024 maxelem 65536`;
}

/** `ip,proto:port` (hash:ip,port). */
export function ipPortEntry(ip: string, proto: string, port: number): string {
  return `${ip},${proto}:${port}`;
}
