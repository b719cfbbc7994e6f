// What one planned Service contributes to kube-proxy's IPVS state (pkg/proxy/ipvs/proxier.go,
// the per-service loop of syncProxyRules): its virtual servers with their real servers, its ipset
// entries, the addresses it binds to kube-ipvs0 and its KUBE-IPVS-OUT-FILTER entries. Rendered
// from the plan; the IPVS-specific choices are the named functions of endpoints.ts.

import { InvalidInputError } from "../errors.js";
import type { FamilyContext } from "../model/context.js";
import type { NormalizedService, NormalizedSlice, Protocol } from "../model/normalize.js";
import { type EndpointRows, suffixOf } from "../model/service-port.js";
import type { SliceGroup } from "../plan/input-index.js";
import type { ServicePlan } from "../plan/service-plan.js";
import { checkSlices } from "../plan/service-plan.js";
import type { ResolvedIpvsConfig } from "./config.js";
import { ipvsRealServerEndpoints, loopbackEndpoints } from "./endpoints.js";
import {
  CLUSTER_IP,
  EXTERNAL_IP,
  EXTERNAL_IP_LOCAL,
  HEALTH_CHECK_NODE_PORT,
  ipPortEntry,
  LOAD_BALANCER,
  LOAD_BALANCER_FW,
  LOAD_BALANCER_LOCAL,
  LOAD_BALANCER_SOURCE_CIDR,
  LOAD_BALANCER_SOURCE_IP,
  LOOP_BACK,
  NODE_PORT_LOCAL_SCTP,
  NODE_PORT_LOCAL_TCP,
  NODE_PORT_LOCAL_UDP,
  NODE_PORT_SCTP,
  NODE_PORT_TCP,
  NODE_PORT_UDP,
  SET_COUNT,
} from "./ipsets.js";

/** An IPVS protocol, as kube-proxy names it. */
export type IpvsProtocol = "TCP" | "UDP" | "SCTP";

/** kube-proxy's `FlagPersistent`: ClientIP session affinity. */
export const FLAG_PERSISTENT = 0x1;
/** The kernel's `IP_VS_SVC_F_HASHED`, set on every service in the kernel (not part of kube-proxy's flags). */
export const FLAG_HASHED = 0x2;
/** kube-proxy's `FlagSourceHash` (`IP_VS_SVC_F_SCHED2`: `mh-port` / `sh-port`), set for the `mh` scheduler. */
export const FLAG_SOURCE_HASH = 0x10;

/** A real server (IPVS destination) of a virtual server. */
export interface IpvsRealServer {
  readonly address: string;
  readonly port: number;
  /** 1 for every endpoint kube-proxy adds; 0 while it drains one (see the reconcile plan). */
  readonly weight: number;
}

/** What a virtual server serves. */
export type IpvsVirtualServerKind = "ClusterIP" | "ExternalIP" | "LoadBalancer" | "NodePort";

/** An IPVS virtual server (service), as kube-proxy's `utilipvs.VirtualServer` describes it. */
export interface IpvsVirtualServer {
  /** kube-proxy's `VirtualServer.String()`: `10.96.0.10:80/TCP`, `[fd00::10]:80/TCP`. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: IpvsProtocol;
  readonly scheduler: string;
  /** `FLAG_PERSISTENT` and/or `FLAG_SOURCE_HASH` (without the kernel's `FLAG_HASHED`). */
  readonly flags: number;
  /** Persistence timeout in seconds (ClientIP affinity), 0 without. */
  readonly timeout: number;
  readonly realServers: readonly IpvsRealServer[];
  /** `namespace/name:port` of the Service port it belongs to. */
  readonly servicePortName: string;
  readonly kind: IpvsVirtualServerKind;
}

/** An address whose load-balancer port must not be reached from the node itself (KUBE-IPVS-OUT-FILTER). */
export interface OutFilterEntry {
  readonly ip: string;
  readonly protocol: string;
  readonly port: number;
}

/** Everything one Service contributes, in one family. */
export interface IpvsFragment {
  readonly key: string;
  readonly svc: NormalizedService;
  readonly group: SliceGroup;
  readonly servicePorts: number;
  readonly endpointCount: number;
  readonly errors: readonly InvalidInputError[];
  readonly virtualServers: readonly IpvsVirtualServer[];
  /** Entries of each set (by `ipsetInfo` index), in the order kube-proxy inserts them. */
  readonly entries: readonly (readonly string[])[];
  /** Addresses bound to kube-ipvs0 (they are also KUBE-IPVS-IPS's entries). */
  readonly bind: readonly string[];
  readonly outFilter: readonly OutFilterEntry[];
}

/** What every Service of a family shares: the context, the IPVS settings and the node's addresses. */
export interface IpvsFamilyFacts {
  readonly ctx: FamilyContext;
  readonly ipvs: ResolvedIpvsConfig;
  /** The addresses node-port virtual servers are made on (`ipvsNodePortAddresses`). */
  readonly nodePortIPs: readonly string[];
  /** The node's own addresses of the family: an external or LB address among them is not bound. */
  readonly nodeAddresses: ReadonlySet<string>;
}

const NONE: readonly string[] = [];
const PROTO: Record<Protocol, IpvsProtocol> = { tcp: "TCP", udp: "UDP", sctp: "SCTP" };

/** The unspecified address of a family, which neither IPVS nor ipset can hold. */
function unspecified(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::";
}

/**
 * Addresses kube-proxy would hand to IPVS and ipset that the kernel refuses (ipset: "Invalid
 * argument"): the unspecified address as a Service VIP or an endpoint. The API server never
 * allocates it as a cluster IP and refuses it as an external IP or endpoint address; here it is
 * an InvalidInputError of the object (the Service is left out; the endpoint is).
 */
function unloadable(
  plan: ServicePlan,
  usable: readonly NormalizedSlice[],
): { service: InvalidInputError[]; endpoints: InvalidInputError[] } {
  const service: InvalidInputError[] = [];
  const ref = { kind: "Service", namespace: plan.svc.namespace, name: plan.svc.name };
  const reason = "is the unspecified address, which IPVS and ipset cannot hold";
  const sp = plan.ports[0]?.port;
  if (sp) {
    if (unspecified(sp.clusterIP)) service.push(new InvalidInputError(ref, "spec.clusterIP", reason, sp.clusterIP));
    sp.externalIPs.forEach((ip) => {
      if (unspecified(ip)) service.push(new InvalidInputError(ref, "spec.externalIPs", reason, ip));
    });
    sp.loadBalancerVIPs.forEach((ip) => {
      if (unspecified(ip)) service.push(new InvalidInputError(ref, "status.loadBalancer.ingress", reason, ip));
    });
  }
  const endpoints: InvalidInputError[] = [];
  for (const s of usable) {
    s.ips.forEach((ip, k) => {
      if (unspecified(ip)) {
        endpoints.push(
          new InvalidInputError(
            { kind: "EndpointSlice", namespace: s.namespace, name: s.name },
            `endpoints[${k}].addresses[0]`,
            reason,
            ip,
          ),
        );
      }
    });
  }
  return { service, endpoints };
}

/** kube-proxy's `VirtualServer.String()`. */
export function virtualServerKey(address: string, port: number, protocol: IpvsProtocol): string {
  return `${address.indexOf(":") >= 0 ? `[${address}]` : address}:${port}/${protocol}`;
}

/** Writes a planned Service. */
export function writeIpvsFragment(facts: IpvsFamilyFacts, plan: ServicePlan): IpvsFragment {
  const { ctx, ipvs } = facts;
  const family = ctx.config.family;
  const entries: string[][] = [];
  for (let i = 0; i < SET_COUNT; i++) entries.push(NONE as string[]);
  const add = (set: number, entry: string) => {
    let list = entries[set];
    if (list === undefined || list === NONE) {
      list = [];
      entries[set] = list;
    }
    list.push(entry);
  };
  const virtualServers: IpvsVirtualServer[] = [];
  const bind: string[] = [];
  const outFilter: OutFilterEntry[] = [];
  const usable = checkSlices(
    plan.svc,
    plan.ports.map((p) => p.port),
    plan.group,
    family,
  ).usable;
  const bad = unloadable(plan, usable);
  if (bad.service.length > 0) {
    return {
      key: plan.key,
      svc: plan.svc,
      group: plan.group,
      servicePorts: 0,
      endpointCount: 0,
      errors: [...plan.errors, ...bad.service, ...bad.endpoints],
      virtualServers: [],
      entries,
      bind,
      outFilter,
    };
  }
  const skip = bad.endpoints.length > 0;

  for (const portPlan of plan.ports) {
    const sp = portPlan.port;
    const proto = sp.protocol;
    const protocol = PROTO[proto];
    const spn = sp.nameString;
    const flags =
      (portPlan.affinitySeconds > 0 ? FLAG_PERSISTENT : 0) | (ipvs.scheduler === "mh" ? FLAG_SOURCE_HASH : 0);
    const timeout = portPlan.affinitySeconds;
    const internalRows = ipvsRealServerEndpoints(portPlan, sp.internalPolicyLocal);
    const externalRows = ipvsRealServerEndpoints(portPlan, sp.externalPolicyLocal);
    const internalRS = realServers(internalRows, skip);
    const externalRS = externalRows === internalRows ? internalRS : realServers(externalRows, skip);
    const vs = (address: string, port: number, kind: IpvsVirtualServerKind, rs: readonly IpvsRealServer[]) => {
      virtualServers.push({
        key: virtualServerKey(address, port, protocol),
        address,
        port,
        protocol,
        scheduler: ipvs.scheduler,
        flags,
        timeout,
        realServers: rs,
        servicePortName: spn,
        kind,
      });
    };

    // hairpin: every local endpoint, whatever its conditions
    for (const ep of loopbackEndpoints(sp, usable, ctx.topology.nodeName)) {
      if (!unspecified(ep.ip)) add(LOOP_BACK, `${ep.ip},${proto}:${ep.port},${ep.ip}`);
    }

    // cluster IP: always bound to kube-ipvs0
    add(CLUSTER_IP, ipPortEntry(sp.clusterIP, proto, sp.port));
    vs(sp.clusterIP, sp.port, "ClusterIP", internalRS);
    if (!bind.includes(sp.clusterIP)) bind.push(sp.clusterIP);

    // external IPs: bound unless the node has the address
    for (const ip of sp.externalIPs) {
      add(sp.externalPolicyLocal ? EXTERNAL_IP_LOCAL : EXTERNAL_IP, ipPortEntry(ip, proto, sp.port));
      vs(ip, sp.port, "ExternalIP", externalRS);
      if (!facts.nodeAddresses.has(ip) && !bind.includes(ip)) bind.push(ip);
    }

    // load-balancer VIPs
    // the plan's source-range decision holds with or without endpoints, as the IPVS mode needs
    const firewall = portPlan.firewall;
    for (const ip of sp.loadBalancerVIPs) {
      const entry = ipPortEntry(ip, proto, sp.port);
      add(LOAD_BALANCER, entry);
      if (sp.externalPolicyLocal) add(LOAD_BALANCER_LOCAL, entry);
      if (firewall) {
        add(LOAD_BALANCER_FW, entry);
        for (const cidr of firewall.sourceRanges) add(LOAD_BALANCER_SOURCE_CIDR, `${entry},${cidr.text}`);
        if (firewall.allowFromNode) add(LOAD_BALANCER_SOURCE_IP, `${entry},${ip}`);
        else outFilter.push({ ip, protocol: proto, port: sp.port });
      }
      vs(ip, sp.port, "LoadBalancer", externalRS);
      if (!facts.nodeAddresses.has(ip) && !bind.includes(ip)) bind.push(ip);
    }

    // node ports: kube-proxy skips the rest of the port (its health check node port too) when it
    // knows no node address to put them on
    if (sp.nodePort !== 0) {
      const ips = facts.nodePortIPs;
      if (ips.length === 0) continue;
      if (proto === "sctp") {
        for (const ip of ips) {
          const e = ipPortEntry(ip, proto, sp.nodePort);
          add(NODE_PORT_SCTP, e);
          if (sp.externalPolicyLocal) add(NODE_PORT_LOCAL_SCTP, e);
        }
      } else {
        const tcp = proto === "tcp";
        add(tcp ? NODE_PORT_TCP : NODE_PORT_UDP, String(sp.nodePort));
        if (sp.externalPolicyLocal) add(tcp ? NODE_PORT_LOCAL_TCP : NODE_PORT_LOCAL_UDP, String(sp.nodePort));
      }
      for (const ip of ips) vs(ip, sp.nodePort, "NodePort", externalRS);
    }

    if (sp.healthCheckNodePort !== 0) add(HEALTH_CHECK_NODE_PORT, String(sp.healthCheckNodePort));
  }
  return {
    key: plan.key,
    svc: plan.svc,
    group: plan.group,
    servicePorts: plan.ports.length,
    endpointCount: plan.endpointCount,
    errors: bad.endpoints.length > 0 ? [...plan.errors, ...bad.endpoints] : plan.errors,
    virtualServers,
    entries,
    bind,
    outFilter,
  };
}

/** The real servers of endpoint rows, weight 1 each (kube-proxy's `newDest`), in the rows' order. */
function realServers(rows: EndpointRows, skipUnspecified: boolean): readonly IpvsRealServer[] {
  const n = rows.ips.length;
  const list: IpvsRealServer[] = [];
  const shared = rows.suffixes === undefined ? portOf(rows.suffix) : 0;
  for (let i = 0; i < n; i++) {
    const address = rows.ips[i] ?? ""; // i < n
    if (skipUnspecified && unspecified(address)) continue;
    list.push({ address, port: rows.suffixes === undefined ? shared : portOf(suffixOf(rows, i)), weight: 1 });
  }
  return list;
}

/** The port of an endpoint suffix (`:8080`, `]:8080`). */
function portOf(suffix: string): number {
  return Number(suffix.slice(suffix.lastIndexOf(":") + 1));
}
