// Property: the compiler's fast path for the common Service port (readyClusterRows: one slice,
// every endpoint ready, no hints, Cluster policy) gives exactly the endpoints, order and chain
// names of the general path (endpointsFor, then categorizeEndpoints), whenever it applies; and it
// applies to the common case. Addresses are drawn from small pools so that prefixes (10.0.0.1,
// 10.0.0.10), repeats and unsorted slices are frequent.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeService, normalizeSlice } from "../src/model/normalize.js";
import {
  categorizeEndpoints,
  type EndpointRows,
  endpointsFor,
  readyClusterRows,
  rowsOf,
  servicePortsFor,
  suffixOf,
} from "../src/model/service-port.js";
import { defined } from "./support/defined.js";
import { service } from "./support/objects.js";

const V4 = ["10.0.0.1", "10.0.0.10", "10.0.0.100", "10.0.0.2", "10.0.1.1", "10.0.0.11", "9.0.0.1"];
const V6 = ["fd00::1", "fd00::10", "fd00::1:0", "fd00::a", "fd00::", "fd00:0:0:1::1", "fd01::1"];
const TOPO = { nodeName: "node-a", zone: "z1", preferSameNode: false };

const endpointArb = fc.record({
  at: fc.nat({ max: V4.length - 1 }),
  ready: fc.constantFrom(true, true, true, true, true, true, false),
  node: fc.constantFrom("node-a", "node-b", undefined),
  hint: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, "z1"),
});

const caseArb = fc.record({
  v6: fc.boolean(),
  type: fc.constantFrom("ClusterIP", "NodePort") as fc.Arbitrary<"ClusterIP" | "NodePort">,
  eTP: fc.constantFrom("Cluster", "Cluster", "Local") as fc.Arbitrary<"Cluster" | "Local">,
  iTP: fc.constantFrom("Cluster", "Cluster", "Local") as fc.Arbitrary<"Cluster" | "Local">,
  port: fc.constantFrom(80, 8080, 9),
  secondSlice: fc.constantFrom(false, false, false, true),
  endpoints: fc.oneof(
    { weight: 4, arbitrary: fc.uniqueArray(endpointArb, { selector: (e) => e.at, maxLength: 7 }) },
    { weight: 1, arbitrary: fc.array(endpointArb, { maxLength: 9 }) },
  ),
});

type CaseSpec = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function sliceOf(c: CaseSpec, name: string, eps: CaseSpec["endpoints"]) {
  return {
    metadata: { namespace: "ns", name, labels: { "kubernetes.io/service-name": "web" } },
    addressType: c.v6 ? "IPv6" : "IPv4",
    endpoints: eps.map((e) => ({
      addresses: [defined((c.v6 ? V6 : V4)[e.at])],
      conditions: { ready: e.ready },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.hint ? { hints: { forZones: [{ name: e.hint }] } } : {}),
    })),
    ports: [{ name: "http", port: c.port, protocol: "TCP" }],
  };
}

function plain(rows: EndpointRows) {
  return rows.ips.map((ip, i) => ({ ip, suffix: suffixOf(rows, i) }));
}

describe("readyClusterRows (the fast path)", () => {
  it("equals endpointsFor + categorizeEndpoints wherever it applies", () => {
    let applied = 0;
    let total = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        total++;
        const svc = defined(
          normalizeService(
            service({
              ns: "ns",
              name: "web",
              type: c.type,
              clusterIP: c.v6 ? "fd00:96::1" : "10.96.0.1",
              ports: [{ name: "http", port: 80, ...(c.type === "NodePort" ? { nodePort: 30080 } : {}) }],
              eTP: c.eTP,
              iTP: c.iTP,
            }),
            "services[0]",
          ).service,
        );
        const family = c.v6 ? "IPv6" : "IPv4";
        const [sp] = servicePortsFor(svc, family);
        const slices = [defined(normalizeSlice(sliceOf(c, "web-1", c.endpoints) as never, "endpointSlices[0]").slice)];
        if (c.secondSlice) {
          slices.push(defined(normalizeSlice(sliceOf(c, "web-2", c.endpoints.slice(0, 2)) as never, "x").slice));
        }
        const fast = readyClusterRows(defined(sp), slices);
        if (fast === undefined) return;
        applied++;
        const general = categorizeEndpoints(endpointsFor(defined(sp), slices, TOPO.nodeName), defined(sp), TOPO);
        expect(general.localEndpoints).toEqual([]);
        expect(general.hasAnyEndpoints).toBe(fast.ips.length > 0);
        expect(plain(fast)).toEqual(plain(rowsOf(general.clusterEndpoints, family)));
        expect(plain(fast)).toEqual(plain(rowsOf(general.allReachableEndpoints, family)));
        // and what it writes is an `ip:port` (`[ip]:port`) that sorts as kube-proxy sorts them
        const texts = fast.ips.map((ip, i) => (c.v6 ? `[${ip}${suffixOf(fast, i)}` : ip + suffixOf(fast, i)));
        expect(texts).toEqual([...texts].sort());
      }),
      { numRuns: 1000 },
    );
    // the property is not vacuous: the common case takes the fast path
    expect(applied).toBeGreaterThan(total / 10);
  });
});
