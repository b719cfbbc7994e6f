// The input types accept @kubernetes/client-node's objects as they are (checked by tsc over the
// test folder), and such objects compile.

import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { V1EndpointSlice as V2EndpointSlice, V1Service as V2Service } from "@kubernetes/client-node-2"; // client-node 2.x (an npm alias of it)
import { describe, expect, it } from "vitest";
import { compileIptables, type EndpointSlice, type ProxyInput, type Service } from "../src/index.js";
import { defined } from "./support/defined.js";

describe("client-node types", () => {
  it("assigns V1Service and V1EndpointSlice to the input types", () => {
    const svc: V1Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "default", creationTimestamp: new Date(0) },
      spec: {
        type: "ClusterIP",
        clusterIP: "10.96.0.10",
        clusterIPs: ["10.96.0.10"],
        ipFamilies: ["IPv4"],
        ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
        selector: { app: "web" },
      },
      status: { loadBalancer: {} },
    };
    const eps: V1EndpointSlice = {
      addressType: "IPv4",
      metadata: { name: "web-x1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
      endpoints: [{ addresses: ["10.244.0.5"], conditions: { ready: true }, nodeName: "node-1" }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    const services: Service[] = [svc];
    const endpointSlices: EndpointSlice[] = [eps];
    const input: ProxyInput = { services, endpointSlices, node: { name: "node-1", addresses: ["192.168.0.1"] } };
    expect(defined(compileIptables(input).ipv4).text).toContain("--to-destination 10.244.0.5:8080");
  });

  it("assigns client-node 2.x's V1Service and V1EndpointSlice (endpoints optional there)", () => {
    const svc: V2Service = {
      metadata: { name: "web", namespace: "default", creationTimestamp: new Date(0) },
      spec: { type: "ClusterIP", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    };
    const ready: V2EndpointSlice = {
      addressType: "IPv4",
      metadata: { name: "web-x1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
      endpoints: [{ addresses: ["10.244.0.5"], conditions: { ready: true } }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    // a slice without endpoints, as 2.x types it (the field left out)
    const empty: V2EndpointSlice = {
      addressType: "IPv4",
      metadata: { name: "web-x2", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    const services: Service[] = [svc];
    const endpointSlices: EndpointSlice[] = [ready, empty];
    const text = defined(compileIptables({ services, endpointSlices, node: { name: "node-1" } }).ipv4).text;
    expect(text).toContain("--to-destination 10.244.0.5:8080");
    expect(text.match(/-j DNAT/g)).toHaveLength(1);
  });
});
