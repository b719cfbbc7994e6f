import type { Pod, PodStatus } from "@nodekit/kubelet-core";
import type { EndpointSlice, Service } from "@nodekit/proxy-rules";

/** A pod the agent runs, with its latest status. */
export interface RunningPod {
  pod: Pod;
  status: PodStatus | undefined;
}

/**
 * Builds the EndpointSlices the EndpointSlice controller would publish for the agent's own pods:
 * one slice per Service with a selector, holding each selected pod that has an IP, its readiness
 * (ready, serving, terminating) and this node's name; named target ports resolve through the
 * containers' ports, as the controller resolves them.
 */
export function buildEndpointSlices(
  services: readonly Service[],
  pods: readonly RunningPod[],
  nodeName: string,
): EndpointSlice[] {
  const slices: EndpointSlice[] = [];
  for (const svc of services) {
    const selector = svc.spec?.selector;
    const ns = svc.metadata?.namespace ?? "default";
    if (!selector || Object.keys(selector).length === 0) continue; // a Service without selector has hand-made slices
    const selected = pods.filter(
      ({ pod }) =>
        (pod.metadata?.namespace ?? "default") === ns &&
        Object.entries(selector).every(([k, v]) => pod.metadata?.labels?.[k] === v),
    );
    const endpoints = [];
    for (const { pod, status } of selected) {
      const ip = status?.podIP;
      if (!ip || ip.includes(":")) continue;
      const ready = status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      const terminating = pod.metadata?.deletionTimestamp !== undefined;
      endpoints.push({
        addresses: [ip],
        conditions: { ready: ready && !terminating, serving: ready, terminating },
        nodeName,
        targetRef: { kind: "Pod", namespace: ns, name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
      });
    }
    const ports = (svc.spec?.ports ?? []).map((p) => {
      const target = (p as { targetPort?: number | string }).targetPort ?? p.port;
      return { name: p.name ?? "", protocol: p.protocol ?? "TCP", port: resolvePort(target, selected) ?? p.port };
    });
    slices.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${svc.metadata?.name}-nodekit`,
        namespace: ns,
        labels: {
          "kubernetes.io/service-name": svc.metadata?.name ?? "",
          "endpointslice.kubernetes.io/managed-by": "nodekit-node-agent",
        },
      },
      addressType: "IPv4",
      endpoints,
      ports,
    });
  }
  return slices;
}

function resolvePort(target: number | string, pods: readonly RunningPod[]): number | undefined {
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const { pod } of pods) {
    for (const c of pod.spec?.containers ?? []) {
      const port = c.ports?.find((p) => p.name === target);
      if (port) return port.containerPort;
    }
  }
  return undefined;
}
