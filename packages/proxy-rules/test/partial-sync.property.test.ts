// Property: a chain of partial syncs leaves the tables exactly as one full sync of the final
// input would, whatever the changes (Services and slices added, removed, changed, renamed,
// invalid objects, node label changes), and every payload loads (no dangling jumps, no rules for
// missing chains). Checked against a model of iptables-restore --noflush.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileIptables, type EndpointSlice, type IptablesCompilation, type Service } from "../src/index.js";
import { service, slice } from "./support/objects.js";
import { applyRestore, dumpTables, emptyTables, reachable } from "./support/restore-model.js";

const NODE = "node-a";

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

type Op =
  | { kind: "svc"; spec: SvcSpec }
  | { kind: "delsvc"; name: string }
  | { kind: "slice"; service: string; n: number; eps: EpSpec[] }
  | { kind: "delslice"; service: string; n: number }
  | { kind: "bad"; name: string }
  | { kind: "zone"; zone: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
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
class World {
  services: (Service | undefined)[] = [];
  slices: (EndpointSlice | undefined)[] = [];
  zone = "z1";
  private readonly svcIndex = new Map<string, number>();
  private readonly sliceIndex = new Map<string, number>();

  apply(op: Op): void {
    switch (op.kind) {
      case "svc":
      case "bad": {
        const name = op.kind === "svc" ? op.spec.name : op.name;
        const at = this.svcIndex.get(name) ?? this.services.length;
        this.svcIndex.set(name, at);
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
          [
            { name: "p", port: 8080, protocol: "TCP" },
            { name: "p", port: 8080, protocol: "UDP" },
          ],
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

  input() {
    return {
      services: this.services.filter((s): s is Service => s !== undefined),
      endpointSlices: this.slices.filter((s): s is EndpointSlice => s !== undefined),
      node: { name: NODE, addresses: ["192.168.1.1"], labels: { "topology.kubernetes.io/zone": this.zone } },
      config: { clusterCIDR: "10.244.0.0/16" },
    };
  }
}

function fullState(input: ReturnType<World["input"]>): string {
  const s = emptyTables();
  applyRestore(s, compileIptables(input, { partialResults: true }).ipv4!.text);
  return dumpTables(s);
}

describe("partial sync (property)", () => {
  it("partial payloads applied in sequence equal one full sync of the final input", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const world = new World();
        const kernel = emptyTables();
        let prev: IptablesCompilation | undefined;
        for (const op of ops) {
          world.apply(op);
          const input = world.input();
          const c = compileIptables(input, { previous: prev, partialResults: true });
          applyRestore(kernel, c.ipv4!.text);
          expect(dumpTables(kernel)).toBe(fullState(input));
          prev = c;
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });

  it("a previous compilation used twice still yields a correct (full) sync", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 2, maxLength: 12 }), opArb, (ops, extra) => {
        const world = new World();
        for (const op of ops) world.apply(op);
        const base = compileIptables(world.input(), { partialResults: true });
        const kernel = emptyTables();
        applyRestore(kernel, base.ipv4!.text);
        // a first successor consumes `base`, then its payload is lost (say the restore failed)
        world.apply(extra);
        compileIptables(world.input(), { previous: base, partialResults: true });
        const retry = compileIptables(world.input(), { previous: base, partialResults: true });
        applyRestore(kernel, retry.ipv4!.text);
        // what traffic can reach equals a fresh full sync; stale chains are harmless leftovers
        const live = reachable(kernel);
        expect(dumpTables(kernel, (c) => live.has(c))).toBe(fullState(world.input()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100) },
    );
  });
});
