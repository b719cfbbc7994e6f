// Compact builders of Service / EndpointSlice JSON for tests.

import type { EndpointSlice, Proxier, ProxierSyncOptions, ProxyInput, Service } from "../../src/index.js";

export interface SvcSpec {
  ns?: string;
  name: string;
  type?: "ClusterIP" | "NodePort" | "LoadBalancer";
  clusterIP: string | string[];
  ports: { name?: string; port: number; protocol?: string; nodePort?: number }[];
  externalIPs?: string[];
  lbIPs?: string[];
  sourceRanges?: string[];
  eTP?: "Cluster" | "Local";
  iTP?: "Cluster" | "Local";
  healthCheckNodePort?: number;
  affinity?: number;
}

export function service(s: SvcSpec): Service {
  const ips = Array.isArray(s.clusterIP) ? s.clusterIP : [s.clusterIP];
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: s.ns ?? "default", name: s.name },
    spec: {
      type: s.type ?? "ClusterIP",
      clusterIP: ips[0],
      clusterIPs: ips,
      ipFamilies: ips.map((ip) => (ip.includes(":") ? "IPv6" : "IPv4")),
      ports: s.ports.map((p) => ({ protocol: "TCP", ...p })),
      ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}),
      ...(s.sourceRanges ? { loadBalancerSourceRanges: s.sourceRanges } : {}),
      ...(s.eTP ? { externalTrafficPolicy: s.eTP } : {}),
      ...(s.iTP ? { internalTrafficPolicy: s.iTP } : {}),
      ...(s.healthCheckNodePort ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
      ...(s.affinity
        ? { sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinity } } }
        : {}),
    },
    status: { loadBalancer: s.lbIPs ? { ingress: s.lbIPs.map((ip) => ({ ip })) } : {} },
  };
}

export interface EpSpec {
  ip: string;
  node?: string | undefined;
  ready?: boolean | undefined;
  serving?: boolean | undefined;
  terminating?: boolean | undefined;
  zones?: string[] | undefined;
  nodes?: string[] | undefined;
}

export function slice(
  s: { ns?: string; service: string; name?: string; family?: "IPv4" | "IPv6" },
  ports: { name?: string; port: number; protocol?: string }[],
  endpoints: (string | EpSpec)[],
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace: s.ns ?? "default",
      name: s.name ?? `${s.service}-abc12`,
      labels: { "kubernetes.io/service-name": s.service },
    },
    addressType: s.family ?? "IPv4",
    ports: ports.map((p) => ({ name: "", protocol: "TCP", ...p })),
    endpoints: endpoints.map((e) => {
      const ep = typeof e === "string" ? { ip: e } : e;
      return {
        addresses: [ep.ip],
        conditions: {
          ready: ep.ready ?? true,
          serving: ep.serving ?? ep.ready ?? true,
          terminating: ep.terminating ?? false,
        },
        ...(ep.node ? { nodeName: ep.node } : {}),
        ...(ep.zones || ep.nodes
          ? {
              hints: {
                ...(ep.zones ? { forZones: ep.zones.map((name) => ({ name })) } : {}),
                ...(ep.nodes ? { forNodes: ep.nodes.map((name) => ({ name })) } : {}),
              },
            }
          : {}),
      };
    }),
  };
}

/** One sync of a proxier whose payload is then taken as loaded (`applied()`). */
export function appliedSync<C>(proxier: Proxier<C>, input: ProxyInput, options?: ProxierSyncOptions): C {
  const c = proxier.sync(input, options);
  proxier.applied();
  return c;
}
