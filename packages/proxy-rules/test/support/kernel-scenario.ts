// The Services and slices the kernel tests load (iptables, nftables, explainPacket): one
// scenario, so every mode and the tracer are checked against the same traffic cases.

import type { EndpointSlice, Service } from "../../src/index.js";
import { POD_IP6S, POD_IPS, type ProbeCounts } from "./netns.js";
import { service, slice } from "./objects.js";

/** The node the scenario's local endpoints are on. */
export const E2E_NODE = "e2e-node";
const [pod1, pod2, pod3] = POD_IPS;
const http = [{ name: "http", port: 8080 }];
const port80 = [{ port: 8080 }];

/** Options of the scenario: the nftables tests add an IPv6 web and a draining Service. */
export interface KernelScenarioOptions {
  /** web gets an IPv6 cluster IP and an IPv6 slice. */
  readonly dualStackWeb?: boolean;
  /** A Service whose endpoints all terminate, one still serving. */
  readonly draining?: boolean;
}

/** web: LoadBalancer with an external IP, the Service the partial-sync tests change. */
export function webService(dualStack = false): Service {
  return service({
    name: "web",
    type: "LoadBalancer",
    clusterIP: dualStack ? ["10.96.0.10", "fd00:96::10"] : "10.96.0.10",
    ports: [{ name: "http", port: 80, nodePort: 30080 }],
    externalIPs: ["192.168.99.10"],
    lbIPs: ["203.0.113.10"],
  });
}

/** web's IPv4 slice with these pods, all on the node. */
export function webSlice(ips: readonly string[]): EndpointSlice {
  return slice(
    { service: "web" },
    http,
    ips.map((ip) => ({ ip, node: E2E_NODE })),
  );
}

/** The scenario's Services, web first. */
export function kernelServices(options: KernelScenarioOptions = {}): Service[] {
  const out = [
    webService(options.dualStackWeb),
    service({ name: "dns", clusterIP: "10.96.0.11", ports: [{ name: "dns", port: 53, protocol: "UDP" }] }),
    service({ name: "empty", type: "NodePort", clusterIP: "10.96.0.30", ports: [{ port: 80, nodePort: 30090 }] }),
    service({
      name: "local",
      type: "LoadBalancer",
      clusterIP: "10.96.0.50",
      ports: [{ port: 80, nodePort: 30100 }],
      lbIPs: ["203.0.113.20"],
      eTP: "Local",
      healthCheckNodePort: 32000,
    }),
    service({
      name: "localok",
      type: "NodePort",
      clusterIP: "10.96.0.51",
      ports: [{ port: 80, nodePort: 30101 }],
      eTP: "Local",
    }),
    service({ name: "sticky", clusterIP: "10.96.0.40", ports: [{ port: 80 }], affinity: 600 }),
    service({
      name: "fwallow",
      type: "LoadBalancer",
      clusterIP: "10.96.0.60",
      ports: [{ port: 80, nodePort: 30110 }],
      lbIPs: ["203.0.113.30"],
      sourceRanges: ["192.168.77.0/24"],
    }),
    service({
      name: "fwdeny",
      type: "LoadBalancer",
      clusterIP: "10.96.0.61",
      ports: [{ port: 80, nodePort: 30111 }],
      lbIPs: ["203.0.113.31"],
      sourceRanges: ["198.51.100.0/24"],
    }),
  ];
  if (options.draining) out.push(service({ name: "draining", clusterIP: "10.96.0.70", ports: [{ port: 80 }] }));
  return out;
}

/** The scenario's slices, web's first. */
export function kernelSlices(options: KernelScenarioOptions = {}): EndpointSlice[] {
  const onNode = (ips: readonly string[]) => ips.map((ip) => ({ ip, node: E2E_NODE }));
  const out = [webSlice([pod1, pod2, pod3])];
  if (options.dualStackWeb) {
    out.push(slice({ service: "web", name: "web-v6", family: "IPv6" }, http, onNode([POD_IP6S[0], POD_IP6S[1]])));
  }
  out.push(
    slice({ service: "dns" }, [{ name: "dns", port: 8053, protocol: "UDP" }], onNode([pod1, pod2, pod3])),
    slice({ service: "local" }, port80, [{ ip: pod2, node: "other-node" }]),
    slice({ service: "localok" }, port80, [
      { ip: pod3, node: E2E_NODE },
      { ip: pod1, node: "other-node" },
    ]),
    slice({ service: "sticky" }, port80, onNode([pod1, pod2, pod3])),
    slice({ service: "fwallow" }, port80, onNode([pod1])),
    slice({ service: "fwdeny" }, port80, onNode([pod1])),
  );
  if (options.draining) {
    // every endpoint terminating; pod2 still serving: the terminating fallback sends traffic to it
    out.push(
      slice({ service: "draining" }, port80, [
        { ip: pod1, node: E2E_NODE, ready: false, serving: false, terminating: true },
        { ip: pod2, node: E2E_NODE, ready: false, serving: true, terminating: true },
      ]),
    );
  }
  return out;
}

/** Probes that reached no pod (refused, timed out, failed). */
export function errorKinds(c: ProbeCounts): number {
  return Object.entries(c)
    .filter(([k]) => !k.startsWith("pod"))
    .reduce((s, [, v]) => s + v, 0);
}
