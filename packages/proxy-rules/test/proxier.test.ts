// createProxier: the acknowledgement protocol of partial syncs, its misuse, and the informer
// contract's debug check.

import { describe, expect, it } from "vitest";
import {
  compileIptables,
  compileIpvs,
  compileNftables,
  createProxier,
  type EndpointSlice,
  InvalidInputError,
  type ProxyInput,
  type Service,
} from "../src/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const node = { name: "node-1", addresses: ["192.168.0.1"] };
const web = service({ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] });
const http = [{ name: "http", port: 8080 }];
const webSlice = slice({ service: "web" }, http, ["10.244.0.11", "10.244.0.12"]);
const input = (services: Service[], endpointSlices: EndpointSlice[]): ProxyInput => ({
  services,
  endpointSlices,
  node,
});

function errorOf(f: () => unknown): InvalidInputError {
  try {
    f();
  } catch (err) {
    if (err instanceof InvalidInputError) return err;
    throw err;
  }
  throw new Error("no error");
}

describe("createProxier", () => {
  it("the first sync is full; after applied() the next is partial and holds only what changed", () => {
    const p = createProxier({ mode: "iptables" });
    const first = p.sync(input([web], [webSlice]));
    expect(defined(first.ipv4).partial).toBe(false);
    expect(defined(first.ipv4).text).toBe(defined(compileIptables(input([web], [webSlice])).ipv4).text);
    expect(p.pending).toBe(true);
    p.applied();
    expect(p.pending).toBe(false);
    const fewer = slice({ service: "web" }, http, ["10.244.0.11"]);
    const next = p.sync(input([web], [fewer]));
    expect(defined(next.ipv4).partial).toBe(true);
    expect(defined(next.ipv4).stats.rewrittenServices).toBe(1);
    expect(defined(next.ipv4).text).toContain("-X KUBE-SEP-");
  });

  it("after failed() the next sync is full", () => {
    const p = createProxier({ mode: "iptables" });
    p.sync(input([web], [webSlice]));
    p.applied();
    p.sync(input([web], [slice({ service: "web" }, http, ["10.244.0.13"])]));
    p.failed();
    const again = p.sync(input([web], [slice({ service: "web" }, http, ["10.244.0.14"])]));
    expect(defined(again.ipv4).partial).toBe(false);
    // the chains of the failed payload's endpoint are deleted (they may be in the kernel)
    const failedChain = defined(
      defined(compileIptables(input([web], [slice({ service: "web" }, http, ["10.244.0.13"])])).ipv4)
        .text.split("\n")
        .find((l) => l.startsWith(":KUBE-SEP-")),
    ).slice(1, 26);
    expect(defined(again.ipv4).text).toContain(`-X ${failedChain}\n`);
  });

  it("refuses a sync while a payload is pending, and an acknowledgement without one", () => {
    const p = createProxier({ mode: "iptables" });
    expect(errorOf(() => p.applied())).toMatchObject({ object: { kind: "Proxier" }, field: "applied" });
    expect(errorOf(() => p.failed())).toMatchObject({ object: { kind: "Proxier" }, field: "failed" });
    p.sync(input([web], [webSlice]));
    const e = errorOf(() => p.sync(input([web], [webSlice])));
    expect(e.object.kind).toBe("Proxier");
    expect(e.reason).toMatch(/neither applied\(\) nor failed\(\)/);
    p.applied(); // the pending payload is still the one to acknowledge
    expect(defined(p.sync(input([web], [webSlice])).ipv4).partial).toBe(true);
  });

  it("a sync that throws leaves nothing pending", () => {
    const p = createProxier({ mode: "iptables" });
    p.sync(input([web], [webSlice]));
    p.applied();
    const bad = service({ name: "web", clusterIP: "10.96.0.300", ports: [{ name: "http", port: 80 }] });
    expect(() => p.sync(input([bad], [webSlice]))).toThrow(InvalidInputError);
    expect(p.pending).toBe(false);
  });

  it("debug: an object changed in place since the last sync is an error naming it", () => {
    const s = structuredClone(webSlice);
    const p = createProxier({ mode: "iptables", debug: true });
    p.sync(input([web], [s]));
    p.applied();
    (defined(defined(s.endpoints)[0]).addresses as string[])[0] = "10.244.0.99";
    const e = errorOf(() => p.sync(input([web], [s])));
    expect(e.object).toEqual({ kind: "EndpointSlice", namespace: "default", name: defined(s.metadata).name });
    expect(e.reason).toMatch(/changed in place/);
    // without debug, the same misuse silently keeps the old rules (the contract is by identity)
    const q = createProxier({ mode: "iptables" });
    const t = structuredClone(webSlice);
    q.sync(input([web], [t]));
    q.applied();
    (defined(defined(t.endpoints)[0]).addresses as string[])[0] = "10.244.0.99";
    expect(defined(q.sync(input([web], [t])).ipv4).text).not.toContain("10.244.0.99");
  });

  it("checks its options", () => {
    expect(errorOf(() => createProxier({ mode: "userspace" as "iptables" }))).toMatchObject({ field: "mode" });
    expect(errorOf(() => createProxier({ mode: "iptables", debug: "yes" as unknown as boolean }))).toMatchObject({
      field: "debug",
    });
    const p = createProxier({ mode: "iptables" });
    expect(errorOf(() => p.sync(input([web], [webSlice]), { fullSync: 1 as unknown as boolean }))).toMatchObject({
      field: "fullSync",
    });
  });

  it("compileIptables refuses the options that moved to the proxier", () => {
    const c = compileIptables(input([web], [webSlice]));
    for (const [field, value] of [
      ["previous", c],
      ["fullSync", true],
    ] as const) {
      const e = errorOf(() => compileIptables(input([web], [webSlice]), { [field]: value } as never));
      expect([e.object.kind, e.field]).toEqual(["CompileIptablesOptions", field]);
      expect(e.reason).toMatch(/createProxier/);
    }
  });

  it("mode nftables: full first (as compileNftables), then a partial transaction, full again after failed()", () => {
    const p = createProxier({ mode: "nftables" });
    const first = p.sync(input([web], [webSlice]));
    expect(defined(first.ipv4).partial).toBe(false);
    expect(defined(first.ipv4).text).toBe(defined(compileNftables(input([web], [webSlice])).ipv4).text);
    p.applied();
    const fewer = slice({ service: "web" }, http, ["10.244.0.11"]);
    const next = p.sync(input([web], [fewer]));
    expect(defined(next.ipv4).partial).toBe(true);
    expect(defined(next.ipv4).text.length).toBeLessThan(defined(first.ipv4).text.length);
    p.failed();
    expect(defined(p.sync(input([web], [fewer])).ipv4).partial).toBe(false);
  });

  it("mode ipvs: the changes since the last applied state (a removed endpoint drains at weight 0)", () => {
    const p = createProxier({ mode: "ipvs" });
    const first = p.sync(input([web], [webSlice]));
    expect(defined(first.ipv4).ipvsadmText).toBe(defined(compileIpvs(input([web], [webSlice])).ipv4).ipvsadmText);
    p.applied();
    const next = p.sync(input([web], [slice({ service: "web" }, http, ["10.244.0.11"])]));
    expect(defined(next.ipv4).changes.draining.map((d) => d.realServer)).toEqual(["10.244.0.12:8080"]);
    expect(defined(next.ipv4).changes.ipvsadmText).toContain("10.244.0.12:8080");
  });
});
