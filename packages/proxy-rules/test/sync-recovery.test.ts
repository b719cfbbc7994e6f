// A failed or repeated sync must not leave stale rules behind (issue 10, item 2). Each case is
// checked where it matters, in the tables: payloads applied in turn to a model of
// `iptables-restore --noflush` must end exactly as one full sync of the last input (no chain left
// over, reachable or not), and a retry after a sync that threw must give the very payload a
// proxier that never saw the throw gives.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileIptables,
  createProxier,
  type EndpointSlice,
  InvalidInputError,
  type IptablesCompilation,
  type Proxier,
  type ProxyInput,
  type Service,
} from "../src/index.js";
import { defined } from "./support/defined.js";
import { appliedSync, service, slice } from "./support/objects.js";
import { applyRestore, dumpTables, emptyTables } from "./support/restore-model.js";
import { corrupted, fullState, opArb, World } from "./support/world.js";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);
const node = { name: "node-1", addresses: ["192.168.0.1"] };
const config = { clusterCIDR: "10.244.0.0/16" };
const http = [{ name: "http", port: 8080 }];

const web = service({ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] });
const api = service({ name: "api", clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] });
const webSlice = slice({ service: "web" }, http, ["10.244.0.11", "10.244.0.12"]);
const apiSlice = slice({ service: "api" }, http, ["10.244.0.21", "10.244.0.22"]);
const input = (services: Service[], endpointSlices: EndpointSlice[]): ProxyInput => ({
  services,
  endpointSlices,
  node,
  config,
});

/**
 * A world with every Service of the generators and two endpoints each, so that the random
 * operations after it change a few Services among several (a full payload then differs from a
 * partial one).
 */
function seeded(): World {
  const world = new World();
  (["a", "b", "c", "d", "e", "f"] as const).forEach((name, i) => {
    world.apply({
      kind: "svc",
      spec: {
        name,
        type: i % 2 ? "NodePort" : "ClusterIP",
        port: 80,
        protocol: "TCP",
        eTP: "Cluster",
        iTP: "Cluster",
        affinity: 0,
        external: false,
        ranges: false,
      },
    });
    const ep = (k: number) => ({
      ip: `10.244.1.${k}`,
      node: "node-a" as const,
      ready: true,
      terminating: false,
      zone: undefined,
    });
    world.apply({ kind: "slice", service: name, n: 1, eps: [ep(i + 1), ep(i + 7)], ports: "service" });
  });
  return world;
}

/** The tables after applying the payloads in turn to empty tables. */
function tablesAfter(...payloads: IptablesCompilation[]): string {
  const t = emptyTables();
  for (const c of payloads) applyRestore(t, defined(c.ipv4).text);
  return dumpTables(t);
}

/** The tables one full sync of `i` gives on a fresh host. */
const fresh = (i: ProxyInput) => tablesAfter(compileIptables(i, { partialResults: true }));

const proxier = () => createProxier({ mode: "iptables" });

function throws(p: Proxier<IptablesCompilation>, i: ProxyInput): void {
  expect(() => p.sync(i)).toThrow(InvalidInputError);
  expect(p.pending).toBe(false);
}

describe("a sync that throws leaves the proxier as it was", () => {
  it("the retry deletes the chains of a Service removed meanwhile (same array lengths)", () => {
    const p = proxier();
    const base = appliedSync(p, input([web, api], [webSlice, apiSlice]));
    // api is replaced by an invalid object at the same position: the sync throws
    const broken = { ...api, spec: { ...api.spec, clusterIP: "10.96.0.300", clusterIPs: ["10.96.0.300"] } };
    throws(p, input([web, broken], [webSlice, apiSlice]));
    // the caller fixes the input: api is gone, with its slice
    const retry = appliedSync(p, input([web], [webSlice]));
    expect(tablesAfter(base, retry)).toBe(fresh(input([web], [webSlice])));
    expect(tablesAfter(base, retry)).not.toContain("default/api");
    // and it is the payload a proxier that never saw the throw gives
    const twin = proxier();
    appliedSync(twin, input([web, api], [webSlice, apiSlice]));
    expect(defined(retry.ipv4).text).toBe(defined(twin.sync(input([web], [webSlice])).ipv4).text);
  });

  it("a throw over a changed slice: the retry still removes the endpoint that went away", () => {
    const p = proxier();
    const base = appliedSync(p, input([web], [webSlice]));
    const fewer = slice({ service: "web" }, http, ["10.244.0.11"]);
    const badSlice = slice({ service: "web", name: "web-zzz" }, http, ["10.244.0.999"]);
    throws(p, input([web], [badSlice]));
    const retry = p.sync(input([web], [fewer]));
    expect(defined(retry.ipv4).partial).toBe(true);
    expect(tablesAfter(base, retry)).toBe(fresh(input([web], [fewer])));
    expect(tablesAfter(base, retry)).not.toContain("10.244.0.12");
  });

  it("property: throws injected anywhere in a history change nothing (tables, and the payload itself)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(opArb, fc.option(fc.nat(), { nil: undefined })), { minLength: 1, maxLength: 20 }),
        (steps) => {
          const world = seeded();
          const kernel = emptyTables();
          const p = createProxier({ mode: "iptables", partialResults: true });
          const twin = createProxier({ mode: "iptables", partialResults: true }); // the same history without the throws
          let first = true;
          for (const [op, fault] of steps) {
            world.apply(op);
            const next = world.input();
            if (fault !== undefined && !first) {
              const bad = corrupted(next, fault);
              expect(() => p.sync(bad, { partialResults: false })).toThrow(InvalidInputError);
            }
            const c = appliedSync(p, next);
            const t = appliedSync(twin, next);
            expect(defined(c.ipv4).text).toBe(defined(t.ipv4).text);
            applyRestore(kernel, defined(c.ipv4).text);
            expect(dumpTables(kernel)).toBe(fullState(next));
            first = false;
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("a payload reported failed", () => {
  it("property: the next (full) sync leaves no chain behind, whether the failed one was loaded or lost", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 12 }), opArb, opArb, fc.boolean(), (ops, first, second, firstLoaded) => {
        const world = seeded();
        for (const op of ops) world.apply(op);
        const p = createProxier({ mode: "iptables", partialResults: true });
        const base = appliedSync(p, world.input());
        const kernel = emptyTables();
        applyRestore(kernel, defined(base.ipv4).text);
        const a = world.clone();
        a.apply(first);
        const lost = p.sync(a.input());
        if (firstLoaded) applyRestore(kernel, defined(lost.ipv4).text);
        p.failed();
        const b = world.clone();
        b.apply(second);
        const retry = appliedSync(p, b.input());
        expect(defined(retry.ipv4).partial).toBe(false);
        applyRestore(kernel, defined(retry.ipv4).text);
        expect(dumpTables(kernel)).toBe(fullState(b.input()));
        // and the syncs after it are exact too
        b.apply(first);
        const after = appliedSync(p, b.input());
        applyRestore(kernel, defined(after.ipv4).text);
        expect(dumpTables(kernel)).toBe(fullState(b.input()));
      }),
      { numRuns: RUNS },
    );
  });

  it("the recovery deletes what the lost payload removed", () => {
    const p = proxier();
    const last = appliedSync(p, input([web, api], [webSlice, apiSlice]));
    // the next payload removes api (same lengths: api's slice replaced by another of web's) and fails to load
    const webSlice2 = slice({ service: "web", name: "web-2" }, http, ["10.244.0.13"]);
    const next = input(
      [web, service({ name: "other", clusterIP: "10.96.0.30", ports: [{ port: 80 }] })],
      [webSlice, webSlice2],
    );
    p.sync(next);
    p.failed();
    const recovery = p.sync(next);
    expect(tablesAfter(last, recovery)).toBe(fresh(next));
  });
});

describe("fullSync recomputes from the objects", () => {
  it("an endpoint changed in place: the full sync programs the new address, not the old", () => {
    const s = structuredClone(webSlice) as unknown as { endpoints: { addresses: string[] }[] };
    const svc = structuredClone(web);
    const p = proxier();
    const base = appliedSync(p, input([svc], [s as unknown as EndpointSlice]));
    defined(s.endpoints[1]).addresses = ["10.244.0.99"];
    const full = p.sync(input([svc], [s as unknown as EndpointSlice]), { fullSync: true });
    const expected = fresh(input([structuredClone(svc)], [structuredClone(s) as unknown as EndpointSlice]));
    expect(tablesAfter(base, full)).toBe(expected);
    expect(defined(full.ipv4).text).toContain("10.244.0.99:8080");
    expect(defined(full.ipv4).text).not.toContain("--to-destination 10.244.0.12:8080");
  });

  it("a Service fixed in place loses its error and is programmed", () => {
    const svc = structuredClone(web) as unknown as { spec: { ports: { name: string; port: number }[] } };
    defined(svc.spec.ports[0]).port = 70000;
    const p = createProxier({ mode: "iptables", partialResults: true });
    const broken = appliedSync(p, input([svc as unknown as Service], [webSlice]));
    expect(broken.errors.map((e) => e.field)).toContain("spec.ports[0].port");
    defined(svc.spec.ports[0]).port = 80;
    const full = p.sync(input([svc as unknown as Service], [webSlice]), { fullSync: true });
    expect(full.errors).toEqual([]);
    expect(tablesAfter(broken, full)).toBe(fresh(input([structuredClone(web)], [webSlice])));
  });

  it("a Service changed in place (port): the full sync rewrites its rules", () => {
    const svc = structuredClone(web) as unknown as { spec: { ports: { name: string; port: number }[] } };
    const p = proxier();
    const base = appliedSync(p, input([svc as unknown as Service], [webSlice]));
    defined(svc.spec.ports[0]).port = 8081;
    const full = p.sync(input([svc as unknown as Service], [webSlice]), { fullSync: true });
    expect(defined(full.ipv4).text).toContain("--dport 8081");
    expect(defined(full.ipv4).text).not.toContain("--dport 80 ");
    expect(tablesAfter(base, full)).toBe(fresh(input([structuredClone(svc) as unknown as Service], [webSlice])));
  });
});
