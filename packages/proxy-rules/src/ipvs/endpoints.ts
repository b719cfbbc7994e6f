// The few places where kube-proxy's IPVS proxier (pkg/proxy/ipvs/proxier.go, syncProxyRules and
// syncEndpoint) decides differently from its iptables and nftables proxiers. Each is one named
// function derived from plan fields only (plus the node's addresses), with the upstream behaviour
// it reproduces (each could become a plan field; decision 23).

import type { FamilyContext } from "../model/context.js";
import { isLoopback, type ParsedIP } from "../model/ip.js";
import type { NormalizedSlice } from "../model/normalize.js";
import { type EndpointRows, endpointsFor, type ServicePortInfo } from "../model/service-port.js";
import type { ServicePortPlan } from "../plan/service-port-plan.js";

/**
 * The endpoints the real servers of a virtual server are, as `syncEndpoint` picks them from
 * kube-proxy's CategorizeEndpoints (the plan's `clusterEndpoints` / `localEndpoints`): with
 * `onlyNodeLocal` (the cluster IP of an `internalTrafficPolicy: Local` port, or an external
 * address, load-balancer VIP or node port of an `externalTrafficPolicy: Local` port) the local
 * endpoints — and **when there are none, the cluster endpoints** (kubernetes/kubernetes#97081:
 * local pods keep reaching the Service; the iptables and nftables modes drop instead, the plan's
 * `verdict: "DROP"`). Otherwise the cluster endpoints. Terminating endpoints are in these sets
 * only through the plan's serving-terminating fallback; there they get weight 1 like the others.
 */
export function ipvsRealServerEndpoints(plan: ServicePortPlan, onlyNodeLocal: boolean): EndpointRows {
  if (onlyNodeLocal && plan.localEndpoints.ips.length > 0) return plan.localEndpoints;
  return plan.clusterEndpoints;
}

/**
 * The entries of KUBE-LOOP-BACK for one Service port: **every** endpoint of the port on this node,
 * whatever its conditions (kube-proxy walks its whole endpointsMap, not the categorised sets, so
 * not-ready and non-serving local endpoints get an entry too: TestEndpointSliceReadyAndTerminating*
 * count them). The plan keeps only reachable endpoints, so this reads the port's slices (the ones
 * the plan was made from) through the mode-neutral `endpointsFor`.
 */
export function loopbackEndpoints(
  sp: ServicePortInfo,
  usableSlices: readonly NormalizedSlice[],
  nodeName: string,
): { ip: string; port: number }[] {
  if (nodeName === "") return [];
  let any = false;
  for (const s of usableSlices) {
    if (s.nodeNames.includes(nodeName)) {
      any = true;
      break;
    }
  }
  if (!any) return [];
  const out: { ip: string; port: number }[] = [];
  for (const ep of endpointsFor(sp, usableSlices, nodeName)) if (ep.isLocal) out.push({ ip: ep.ip, port: ep.port });
  return out;
}

/**
 * Whether an address counts as a node address in IPVS mode (`isValidForSet`): not loopback, and
 * for IPv6 not link-local (fe80::/10; IPv4 link-local addresses count, TestIpIsValidForSet).
 */
export function validNodeAddress(ip: ParsedIP): boolean {
  if (isLoopback(ip)) return false;
  return ip.family === "IPv4" || ((ip.words[0] ?? 0) & 0xffc0) !== 0xfe80;
}

/**
 * The node addresses kube-proxy's IPVS mode makes node-port virtual servers on: with
 * `nodePortAddresses` matching everything, every local address but loopback, link-local and those
 * on kube-ipvs0 (`GetAllLocalAddressesExcept`, IPv6 link-local); otherwise the node addresses in those CIDRs,
 * without loopback (no localhost node ports in IPVS mode). The iptables mode instead matches
 * `--dst-type LOCAL`.
 */
export function ipvsNodePortAddresses(ctx: FamilyContext, familyAddresses: readonly ParsedIP[]): string[] {
  const out: string[] = [];
  if (ctx.nodePortMatchAll) {
    for (const a of familyAddresses) if (validNodeAddress(a) && !out.includes(a.text)) out.push(a.text);
    return out;
  }
  for (const text of ctx.nodePortIPs) {
    const a = familyAddresses.find((x) => x.text === text);
    if (a && !isLoopback(a) && !out.includes(text)) out.push(text);
  }
  return out;
}
