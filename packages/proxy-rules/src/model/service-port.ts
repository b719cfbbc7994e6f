// Per-family view of a Service port and its endpoints, as kube-proxy's ServicePortMap and
// EndpointsMap hold them (pkg/proxy/serviceport.go, endpointslicecache.go, topology.go).

import { type IPFamily, joinHostPort, type ParsedCIDR, type ParsedIP } from "./ip.js";
import {
  EP_READY,
  EP_SERVING,
  EP_TERMINATING,
  flagsOf,
  type NormalizedEndpoints,
  type NormalizedService,
  type NormalizedSlice,
  type Protocol,
} from "./normalize.js";

/** One Service port in one IP family, with everything kube-proxy's rule writer reads. */
export interface ServicePortInfo {
  /** `ns/name:port`, or `ns/name` when the port has no name (kube-proxy's `ServicePortName`). */
  readonly nameString: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly nodePort: number;
  readonly clusterIP: string;
  readonly externalIPs: readonly string[];
  readonly loadBalancerVIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly ParsedCIDR[];
  readonly healthCheckNodePort: number;
  readonly stickyMaxAgeSeconds: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
}

/** One endpoint of a Service port (kube-proxy's `BaseEndpointInfo` plus its chain name). */
export interface EndpointInfo {
  readonly ip: string;
  readonly port: number;
  /** `ip:port` or `[ip]:port`. */
  readonly endpoint: string;
  readonly isLocal: boolean;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly zoneHints: readonly string[] | undefined;
  readonly nodeHints: readonly string[] | undefined;
}

/** The Service's cluster IP of the family, if it has one. */
export function clusterIPOf(svc: NormalizedService, family: IPFamily): string | undefined {
  return family === "IPv4" ? svc.clusterIPv4 : svc.clusterIPv6;
}

/** The Service's ports for one family (none if the Service has no ClusterIP of that family). */
export function servicePortsFor(svc: NormalizedService, family: IPFamily): ServicePortInfo[] {
  if (svc.skip) return [];
  const clusterIP = clusterIPOf(svc, family);
  if (clusterIP === undefined) return [];
  const externalIPs = svc.externalIPs.length === 0 ? NONE : ofFamily(svc.externalIPs, family);
  const vips = svc.loadBalancerVIPs.length === 0 ? NONE : ofFamily(svc.loadBalancerVIPs, family);
  const ranges =
    svc.loadBalancerSourceRanges.length === 0
      ? svc.loadBalancerSourceRanges
      : svc.loadBalancerSourceRanges.filter((c) => c.ip.family === family);
  return svc.ports.map((p) => {
    const nameString = p.name === "" ? svc.key : `${svc.key}:${p.name}`;
    return {
      nameString,
      portName: p.name,
      protocol: p.protocol,
      port: p.port,
      nodePort: p.nodePort,
      clusterIP,
      externalIPs,
      loadBalancerVIPs: vips,
      loadBalancerSourceRanges: ranges,
      healthCheckNodePort: svc.healthCheckNodePort,
      stickyMaxAgeSeconds: svc.stickyMaxAgeSeconds,
      externalPolicyLocal: svc.externalPolicyLocal,
      internalPolicyLocal: svc.internalPolicyLocal,
    };
  });
}

const NONE: readonly string[] = [];

function ofFamily(ips: readonly ParsedIP[], family: IPFamily): string[] {
  const out: string[] = [];
  for (const ip of ips) if (ip.family === family) out.push(ip.text);
  return out;
}

/** kube-proxy's `ExternallyAccessible`. */
export function externallyAccessible(sp: ServicePortInfo): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length !== 0 || sp.externalIPs.length !== 0;
}
/** kube-proxy's `UsesClusterEndpoints`. */
export function usesClusterEndpoints(sp: ServicePortInfo): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}
/** kube-proxy's `UsesLocalEndpoints`. */
export function usesLocalEndpoints(sp: ServicePortInfo): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

/**
 * The endpoints of a Service port gathered from its slices of the family, de-duplicated by
 * `ip:port` (a non-terminating endpoint wins) and sorted by the string `ip:port`, as kube-proxy's
 * EndpointSliceCache does.
 */
export function endpointsFor(
  sp: ServicePortInfo,
  slices: readonly NormalizedSlice[],
  nodeName: string,
): EndpointInfo[] {
  const list: EndpointInfo[] = [];
  let seen: Map<string, number> | undefined;
  let matchingSlices = 0;
  for (const slice of slices) {
    for (const port of slice.ports) {
      if (port.name !== sp.portName || port.protocol !== sp.protocol) continue;
      matchingSlices++;
      if (matchingSlices === 2) {
        // endpoints may repeat across slices: index what we have
        seen = new Map();
        for (const [i, e] of list.entries()) seen.set(e.endpoint, i);
      }
      const eps = slice;
      for (let k = 0; k < eps.ips.length; k++) {
        const ip = eps.ips[k];
        if (ip === undefined) continue; // k < length
        const endpoint = joinHostPort(ip, port.port);
        if (seen) {
          const at = seen.get(endpoint);
          if (at !== undefined) {
            // a non-terminating endpoint wins over a terminating one
            if ((flagsOf(eps, k) & EP_TERMINATING) === 0)
              list[at] = makeEndpoint(eps, k, ip, port.port, endpoint, nodeName);
            continue;
          }
          seen.set(endpoint, list.length);
        }
        list.push(makeEndpoint(eps, k, ip, port.port, endpoint, nodeName));
      }
    }
  }
  sortByEndpoint(list);
  // an address repeated within the first slice (indexed only once a second slice comes) is still
  // there: de-duplicate (sorted, so repeats are adjacent)
  for (let i = 1; i < list.length; i++) {
    const before = list[i - 1];
    const here = list[i];
    if (before === undefined || here === undefined || here.endpoint !== before.endpoint) continue;
    const keep = here.terminating ? before : here;
    list.splice(i - 1, 2, keep);
    i--;
  }
  return list;
}

/** Stable sort by `endpoint`; insertion sort (no allocation) for the usual short lists. */
function sortByEndpoint(list: EndpointInfo[]): void {
  if (list.length > 32) {
    list.sort(byEndpoint);
    return;
  }
  for (let i = 1; i < list.length; i++) {
    const x = list[i];
    if (x === undefined) continue;
    let j = i - 1;
    // list[-1] is undefined: the walk stops at the front
    for (let y = list[j]; y !== undefined && y.endpoint > x.endpoint; y = list[--j]) list[j + 1] = y;
    list[j + 1] = x;
  }
}

function byEndpoint(a: EndpointInfo, b: EndpointInfo): number {
  return a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0;
}

function makeEndpoint(
  eps: NormalizedEndpoints,
  k: number,
  ip: string,
  port: number,
  endpoint: string,
  nodeName: string,
): EndpointInfo {
  const flags = flagsOf(eps, k);
  return {
    ip,
    port,
    endpoint,
    isLocal: nodeName !== "" && eps.nodeNames[k] === nodeName,
    ready: (flags & EP_READY) !== 0,
    serving: (flags & EP_SERVING) !== 0,
    terminating: (flags & EP_TERMINATING) !== 0,
    zoneHints: eps.zoneHints?.[k],
    nodeHints: eps.nodeHints?.[k],
  };
}

/**
 * Endpoints as the rule writer reads them: parallel columns in `endpoint` order. An endpoint is
 * `ips[i] + suffixOf(rows, i)` (IPv4) or `"[" + ips[i] + suffixOf(rows, i)` (IPv6, whose suffix
 * is `]:port`).
 */
export interface EndpointRows {
  readonly ips: readonly string[];
  /** The suffix of each endpoint, or `undefined` when all have `suffix`. */
  readonly suffixes: readonly string[] | undefined;
  readonly suffix: string;
  readonly v6: boolean;
}

/** What follows the address of endpoint `i`. */
export function suffixOf(rows: EndpointRows, i: number): string {
  return rows.suffixes === undefined ? rows.suffix : (rows.suffixes[i] ?? ""); // one suffix per row
}

/** No endpoints. */
export const NO_ROWS: EndpointRows = {
  ips: [],
  suffixes: undefined,
  suffix: "",
  v6: false,
};

/** The rows of endpoints gathered by {@link endpointsFor} (kept in their order). */
export function rowsOf(list: readonly EndpointInfo[], family: IPFamily): EndpointRows {
  if (list.length === 0) return NO_ROWS;
  const v6 = family === "IPv6";
  const n = list.length;
  const ips = new Array<string>(n);
  const suffixes = new Array<string>(n);
  let i = 0;
  for (const ep of list) {
    ips[i] = ep.ip;
    suffixes[i] = portSuffix(ep.port, v6);
    i++;
  }
  return { ips, suffixes, suffix: "", v6 };
}

function portSuffix(port: number, v6: boolean): string {
  return v6 ? `]:${port}` : `:${port}`;
}

/**
 * The common case of {@link endpointsFor} followed by {@link categorizeEndpoints}, computed
 * straight from the slice's columns without an object or an `ip:port` string per endpoint: a
 * port whose endpoints come from one slice, all ready, none repeated, without topology hints,
 * served by Cluster policy alone. Then every endpoint is a cluster endpoint and reachable, in
 * `endpoint` order. Returns `undefined` when the case does not apply (the general path then
 * gives the same rules).
 */
export function readyClusterRows(sp: ServicePortInfo, slices: readonly NormalizedSlice[]): EndpointRows | undefined {
  if (usesLocalEndpoints(sp)) return undefined;
  let slice: NormalizedSlice | undefined;
  let port = 0;
  for (const s of slices) {
    for (const p of s.ports) {
      if (p.name !== sp.portName || p.protocol !== sp.protocol) continue;
      if (slice) return undefined;
      slice = s;
      port = p.port;
    }
  }
  if (!slice) return NO_ROWS;
  const eps = slice;
  if (eps.zoneHints !== undefined || eps.nodeHints !== undefined) return undefined;
  const n = eps.ips.length;
  if (n === 0) return NO_ROWS;
  // (an endpoint without flags would count as not ready: the general path then decides)
  if (eps.flags !== undefined) for (let k = 0; k < n; k++) if (((eps.flags[k] ?? 0) & EP_READY) === 0) return undefined;
  const v6 = slice.family === "IPv6";
  // addresses sorted as `ip:port` (or `[ip]:port`) sort: the suffix is shared, so by the address
  // followed by the suffix's first character
  const stop = v6 ? 93 : 58; // "]" or ":"
  const ips = sortedAddresses(eps.ips, stop) ? eps.ips : eps.ips.slice().sort((a, b) => compareAddresses(a, b, stop));
  for (let i = 1; i < n; i++) if (ips[i] === ips[i - 1]) return undefined;
  return { ips, suffixes: undefined, suffix: portSuffix(port, v6), v6 };
}

function sortedAddresses(ips: readonly string[], stop: number): boolean {
  for (let i = 1; i < ips.length; i++) {
    const a = ips[i - 1] ?? "";
    const b = ips[i] ?? ""; // 0 < i < length
    // of equal length, neither is a prefix of the other: the strings compare as they are
    if (a.length === b.length ? a > b : compareAddresses(a, b, stop) > 0) return false;
  }
  return true;
}

/** Compares `a + stop` with `b + stop` (`stop` never occurs in an address). */
function compareAddresses(a: string, b: string, stop: number): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  if (a.length === b.length) return 0;
  return a.length < b.length ? stop - b.charCodeAt(n) : a.charCodeAt(n) - stop;
}

/** The result of kube-proxy's `CategorizeEndpoints`. */
export interface CategorizedEndpoints {
  readonly clusterEndpoints: readonly EndpointInfo[];
  readonly localEndpoints: readonly EndpointInfo[];
  readonly allReachableEndpoints: readonly EndpointInfo[];
  readonly hasAnyEndpoints: boolean;
}

/** Topology facts of the node, for hints. */
export interface TopologyContext {
  readonly nodeName: string;
  readonly zone: string;
  /** Feature gate `PreferSameTrafficDistribution` (node hints). */
  readonly preferSameNode: boolean;
}

function topologyModeFromHints(endpoints: readonly EndpointInfo[], topo: TopologyContext): string {
  let hasForNode = false;
  let allNodeHints = true;
  let hasForZone = false;
  let allZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (!ep.nodeHints || ep.nodeHints.length === 0) allNodeHints = false;
    else if (ep.nodeHints.includes(topo.nodeName)) hasForNode = true;
    if (!ep.zoneHints || ep.zoneHints.length === 0) allZoneHints = false;
    else if (ep.zoneHints.includes(topo.zone)) hasForZone = true;
  }
  if (topo.preferSameNode && allNodeHints && hasForNode) return "PreferSameNode";
  if (allZoneHints && hasForZone) return "PreferSameZone";
  return "";
}

function availableForTopology(ep: EndpointInfo, mode: string, topo: TopologyContext): boolean {
  if (mode === "") return true;
  if (mode === "PreferSameNode") return ep.nodeHints?.includes(topo.nodeName) ?? false;
  return ep.zoneHints?.includes(topo.zone) ?? false;
}

/**
 * kube-proxy's `CategorizeEndpoints`: Cluster-policy endpoints (ready, topology-filtered, falling
 * back to serving-terminating ones), Local-policy endpoints (local ready, falling back to local
 * serving-terminating ones), their union, and whether any usable endpoint exists anywhere.
 * Where kube-proxy builds the union through a map (undefined order) it is sorted here.
 */
export function categorizeEndpoints(
  endpoints: readonly EndpointInfo[],
  sp: ServicePortInfo,
  topo: TopologyContext,
): CategorizedEndpoints {
  let mode = "";
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  let useServingTerminating = false;
  const usesCluster = usesClusterEndpoints(sp);
  if (usesCluster) {
    mode = topologyModeFromHints(endpoints, topo);
    cluster = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, topo));
    if (cluster.length === 0) cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(sp)) {
    return { clusterEndpoints: cluster, localEndpoints: [], allReachableEndpoints: cluster, hasAnyEndpoints: hasAny };
  }
  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAny = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAny = true;
      if (ep.isLocal) hasLocalServingTerminating = true;
    }
  }
  if (hasLocalReady) {
    local = endpoints.filter((ep) => ep.isLocal && ep.ready);
  } else if (hasLocalServingTerminating) {
    useServingTerminating = true;
    local = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }
  if (!usesCluster) {
    return { clusterEndpoints: cluster, localEndpoints: local, allReachableEndpoints: local, hasAnyEndpoints: hasAny };
  }
  if (mode === "" && !useServingTerminating) {
    return {
      clusterEndpoints: cluster,
      localEndpoints: local,
      allReachableEndpoints: cluster,
      hasAnyEndpoints: hasAny,
    };
  }
  const union = new Map<string, EndpointInfo>();
  for (const ep of cluster) union.set(ep.endpoint, ep);
  for (const ep of local) union.set(ep.endpoint, ep);
  const all = [...union.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
  return { clusterEndpoints: cluster, localEndpoints: local, allReachableEndpoints: all, hasAnyEndpoints: hasAny };
}
