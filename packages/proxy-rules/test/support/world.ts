// Random histories of Services and EndpointSlices for partial-sync property tests: operations
// (Services and slices added, removed, changed, renamed, invalid objects, node label changes)
// replayed by a World that keeps arrays of equal length when it can (in-place updates), and the
// tables one full sync of an input gives in the model of iptables-restore --noflush.

import fc from "fast-check";
import { compileIptables, type EndpointSlice, type Service } from "../../src/index.js";
import { defined } from "./defined.js";
import { service, slice } from "./objects.js";
import { applyRestore, dumpTables, emptyTables } from "./restore-model.js";

export const NODE = "node-a";

const svcArb = fc.record({
  name: fc.constantFrom("a", "b", "c", "d", "e", "f"),
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer") as fc.Arbitrary<
    "ClusterIP" | "NodePort" | "LoadBalancer"
  >,
  port: fc.constantFrom(80, 443),
  protocol: fc.constantFrom("TCP", "UDP"),
  eTP: fc.constantFrom("Cluster", "Local") as fc.Arbitrary<"Cluster" | "Local">,
  iTP: fc.constantFrom("Cluster", "Local") as fc.Arbitrary<"Cluster" | "Local">,
  affinity: fc.constantFrom(0, 0, 300),
  external: fc.boolean(),
  ranges: fc.boolean(),
});

const epArb = fc.record({
  ip: fc.integer({ min: 1, max: 12 }).map((i) => `10.244.1.${i}`),
  node: fc.constantFrom(NODE, "node-b", undefined),
  ready: fc.boolean(),
  terminating: fc.boolean(),
  zone: fc.constantFrom(undefined, "z1", "z2"),
});

type SvcSpec = typeof svcArb extends fc.Arbitrary<infer T> ? T : never;
type EpSpec = typeof epArb extends fc.Arbitrary<infer T> ? T : never;

export type Op =
  | { kind: "svc"; spec: SvcSpec }
  | { kind: "delsvc"; name: string }
  | { kind: "slice"; service: string; n: number; eps: EpSpec[]; ports: "service" | "both" }
  | { kind: "delslice"; service: string; n: number }
  | { kind: "bad"; name: string }
  | { kind: "zone"; zone: string };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: svcArb.map((spec) => ({ kind: "svc" as const, spec })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("a", "b", "c", "d", "e", "f").map((name) => ({ kind: "delsvc" as const, name })),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("slice" as const),
      service: fc.constantFrom("a", "b", "c", "d", "e", "f", "zz"),
      n: fc.integer({ min: 1, max: 2 }),
      eps: fc.array(epArb, { maxLength: 5 }),
      // the Service's protocol, or both TCP and UDP (a port that matches nothing: an error)
      ports: fc.constantFrom("service", "service", "service", "both") as fc.Arbitrary<"service" | "both">,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("delslice" as const),
      service: fc.constantFrom("a", "b", "c"),
      n: fc.integer({ min: 1, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom("a", "b").map((name) => ({ kind: "bad" as const, name })) },
  { weight: 1, arbitrary: fc.constantFrom("z1", "z2").map((zone) => ({ kind: "zone" as const, zone })) },
);

function makeService(spec: SvcSpec, index: number): Service {
  const external = spec.type !== "ClusterIP" || spec.external;
  return service({
    name: spec.name,
    type: spec.type,
    clusterIP: `10.96.0.${index + 10}`,
    ports: [
      {
        name: "p",
        port: spec.port,
        protocol: spec.protocol,
        ...(spec.type !== "ClusterIP" ? { nodePort: 30000 + index } : {}),
      },
    ],
    ...(spec.external ? { externalIPs: [`192.168.99.${index + 1}`] } : {}),
    ...(spec.type === "LoadBalancer" ? { lbIPs: [`203.0.113.${index + 1}`] } : {}),
    ...(spec.ranges && spec.type === "LoadBalancer" ? { sourceRanges: ["192.168.0.0/16"] } : {}),
    ...(external ? { eTP: spec.eTP } : {}),
    iTP: spec.iTP,
    ...(spec.type === "LoadBalancer" && spec.eTP === "Local" ? { healthCheckNodePort: 32000 + index } : {}),
    ...(spec.affinity ? { affinity: spec.affinity } : {}),
  });
}

/** Replays the operations, keeping arrays of equal length when possible (in-place updates). */
export class World {
  services: (Service | undefined)[] = [];
  slices: (EndpointSlice | undefined)[] = [];
  zone = "z1";
  private readonly svcIndex = new Map<string, number>();
  private readonly sliceIndex = new Map<string, number>();
  /** The protocol of each Service as last written (its slices are written to match it). */
  private readonly protocols = new Map<string, string>();

  apply(op: Op): void {
    switch (op.kind) {
      case "svc":
      case "bad": {
        const name = op.kind === "svc" ? op.spec.name : op.name;
        const at = this.svcIndex.get(name) ?? this.services.length;
        this.svcIndex.set(name, at);
        this.protocols.set(name, op.kind === "svc" ? op.spec.protocol : "TCP");
        this.services[at] =
          op.kind === "svc"
            ? makeService(op.spec, at)
            : ({
                metadata: { namespace: "default", name },
                spec: { clusterIP: "10.96.0.999", ports: [{ port: 80 }] },
              } as Service);
        break;
      }
      case "delsvc": {
        const at = this.svcIndex.get(op.name);
        if (at !== undefined) this.services[at] = undefined;
        break;
      }
      case "slice": {
        const id = `${op.service}-${op.n}`;
        const at = this.sliceIndex.get(id) ?? this.slices.length;
        this.sliceIndex.set(id, at);
        this.slices[at] = slice(
          { service: op.service, name: id },
          op.ports === "both"
            ? [
                { name: "p", port: 8080, protocol: "TCP" },
                { name: "p", port: 8080, protocol: "UDP" },
              ]
            : [{ name: "p", port: 8080, protocol: this.protocols.get(op.service) ?? "TCP" }],
          op.eps.map((e) => ({
            ip: e.ip,
            node: e.node,
            ready: e.ready,
            serving: e.ready || e.terminating,
            terminating: e.terminating,
            zones: e.zone ? [e.zone] : undefined,
          })),
        );
        break;
      }
      case "delslice": {
        const at = this.sliceIndex.get(`${op.service}-${op.n}`);
        if (at !== undefined) this.slices[at] = undefined;
        break;
      }
      case "zone":
        this.zone = op.zone;
        break;
    }
  }

  /** A copy that shares the objects (so that two futures of one history can be compiled). */
  clone(): World {
    const w = new World();
    w.services = this.services.slice();
    w.slices = this.slices.slice();
    w.zone = this.zone;
    for (const [k, v] of this.svcIndex) w.svcIndex.set(k, v);
    for (const [k, v] of this.sliceIndex) w.sliceIndex.set(k, v);
    for (const [k, v] of this.protocols) w.protocols.set(k, v);
    return w;
  }

  input() {
    return {
      services: this.services.filter((s): s is Service => s !== undefined),
      endpointSlices: this.slices.filter((s): s is EndpointSlice => s !== undefined),
      node: { name: NODE, addresses: ["192.168.1.1"], labels: { "topology.kubernetes.io/zone": this.zone } },
      config: { clusterCIDR: "10.244.0.0/16" },
    };
  }
}

export function fullState(input: ReturnType<World["input"]>): string {
  const s = emptyTables();
  applyRestore(s, defined(compileIptables(input, { partialResults: true }).ipv4).text);
  return dumpTables(s);
}

/**
 * The input with one object replaced, at the same position, by an invalid one (a Service with a
 * bad cluster IP, or a slice with a bad address): a compilation of it without `partialResults`
 * throws after it has looked at the changed objects.
 */
export function corrupted(input: ReturnType<World["input"]>, k: number): ReturnType<World["input"]> {
  const broken = {
    metadata: { namespace: "default", name: "broken" },
    spec: { clusterIP: "10.96.0.300", ports: [{ port: 80 }] },
  } as Service;
  if (input.services.length === 0 && input.endpointSlices.length === 0) return { ...input, services: [broken] };
  const useSlice = input.services.length === 0 || (k % 2 === 1 && input.endpointSlices.length > 0);
  if (useSlice) {
    const at = k % input.endpointSlices.length;
    const endpointSlices = input.endpointSlices.slice();
    endpointSlices[at] = slice({ service: "a", name: "broken" }, [{ name: "p", port: 8080 }], ["10.244.1.300"]);
    return { ...input, endpointSlices };
  }
  const at = k % input.services.length;
  const services = input.services.slice();
  services[at] = broken;
  return { ...input, services };
}
