// What kube-proxy's per-Service health-check servers answer (pkg/proxy/healthcheck,
// service_health.go): a LoadBalancer Service with externalTrafficPolicy Local gets an HTTP server
// on its healthCheckNodePort that tells the load balancer whether this node has a ready endpoint
// of it. Pure: the responses from the input; serving them is the caller's.

import { parseNode } from "../model/context.js";
import type { IPFamily } from "../model/ip.js";
import { endpointsFor } from "../model/service-port.js";
import type { ProxyInput } from "./input.js";
import { visitServicePorts } from "./service-plan.js";

/** The health check of one Service on this node, and the HTTP response kube-proxy gives for it. */
export interface ServiceHealthCheck {
  readonly namespace: string;
  readonly name: string;
  /** The Service's `healthCheckNodePort`, where kube-proxy listens on every node address. */
  readonly nodePort: number;
  /** Ready endpoints on this node (distinct addresses, whatever the ports). */
  readonly localEndpoints: number;
  /** 200 with a local ready endpoint (and a healthy proxy), else 503. */
  readonly status: 200 | 503;
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body, byte for byte as kube-proxy writes it. */
  readonly body: string;
}

/** Options of {@link serviceHealthChecks}. */
export interface ServiceHealthChecksOptions {
  /** The family whose endpoints count (kube-proxy's per-family proxier); default the node's first. */
  readonly family?: IPFamily | undefined;
  /** The proxy's own health (`serviceProxyHealthy`); false makes every check answer 503. */
  readonly proxyHealthy?: boolean | undefined;
  /** Leave invalid objects out instead of throwing, as `compileIptables` does. */
  readonly partialResults?: boolean | undefined;
}

/**
 * The health checks kube-proxy serves for `input`'s node: one per Service with a
 * `healthCheckNodePort` (LoadBalancer, externalTrafficPolicy Local), sorted by namespace and
 * name, with the response a load balancer gets.
 *
 * @throws InvalidInputError as `compileIptables` does, unless `partialResults` is set.
 */
export function serviceHealthChecks(input: ProxyInput, options: ServiceHealthChecksOptions = {}): ServiceHealthCheck[] {
  const node = parseNode(input.node);
  const family = options.family ?? node.addresses[0]?.family ?? "IPv4";
  const nodeName = node.name;
  const healthy = options.proxyHealthy ?? true;
  const out: ServiceHealthCheck[] = [];
  visitServicePorts(input, [family], options.partialResults ?? false, (svc, _family, ports, slices) => {
    if (svc.healthCheckNodePort === 0 || ports.length === 0) return;
    const local = new Set<string>();
    for (const sp of ports) {
      for (const ep of endpointsFor(sp, slices, nodeName)) if (ep.isLocal && ep.ready) local.add(ep.ip);
    }
    const count = local.size;
    out.push({
      namespace: svc.namespace,
      name: svc.name,
      nodePort: svc.healthCheckNodePort,
      localEndpoints: count,
      status: count !== 0 && healthy ? 200 : 503,
      headers: {
        "Content-Type": "application/json",
        "X-Content-Type-Options": "nosniff",
        "X-Load-Balancing-Endpoint-Weight": String(count),
      },
      body: `{\n\t"service": {\n\t\t"namespace": ${JSON.stringify(svc.namespace)},\n\t\t"name": ${JSON.stringify(svc.name)}\n\t},\n\t"localEndpoints": ${count},\n\t"serviceProxyHealthy": ${healthy}\n}`,
    });
  });
  return out;
}
