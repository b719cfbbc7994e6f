// Bad input in the nftables mode: the neutral layer's InvalidInputError naming the object and the
// field (as for the iptables mode), the backend's own options checked the same way, invalid
// objects left out with partialResults, and a sync that throws leaves the state it was given.

import { describe, expect, it } from "vitest";
import { compileNftables, InvalidInputError, type ProxyInput, type Service } from "../src/index.js";
import { defined } from "./support/defined.js";
import { NftDriver } from "./support/nftables-driver.js";
import { NftTableModel } from "./support/nftables-model.js";
import { service, slice } from "./support/objects.js";

const node = { name: "node-1", addresses: ["192.168.0.1"] };
const good = service({ name: "good", clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] });
const goodSlice = slice({ service: "good" }, [{ name: "http", port: 8080 }], ["10.244.0.5"]);
const badIP = {
  ...good,
  metadata: { namespace: "default", name: "bad" },
  spec: { ...good.spec, clusterIP: "10.96.0.300", clusterIPs: ["10.96.0.300"] },
} as Service;

function errorOf(f: () => unknown): InvalidInputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error("expected an InvalidInputError");
}

const input = (services: Service[], slices = [goodSlice]): ProxyInput => ({ services, endpointSlices: slices, node });

describe("nftables: InvalidInputError", () => {
  it("the masquerade settings are checked in the nftables section, which this mode reads", () => {
    const withConfig = (config: ProxyInput["config"]): ProxyInput => ({ ...input([good]), config });
    expect(errorOf(() => compileNftables(withConfig({ nftables: { masqueradeBit: 32 } }))).field).toBe(
      "nftables.masqueradeBit",
    );
    expect(
      errorOf(() => compileNftables(withConfig({ nftables: { masqueradeAll: "yes" as unknown as boolean } }))).field,
    ).toBe("nftables.masqueradeAll");
    // the iptables section's masquerade bit is not this mode's setting
    expect(() => compileNftables(withConfig({ iptables: { masqueradeBit: 12 } }))).not.toThrow();
  });

  it("an invalid Service names the object and the field path", () => {
    const e = errorOf(() => compileNftables(input([good, badIP])));
    expect(e.object).toEqual({ kind: "Service", namespace: "default", name: "bad" });
    expect(e.field).toBe("spec.clusterIPs[0]");
  });

  it("a slice for a missing Service is an error unless partialResults", () => {
    const orphan = slice({ service: "gone" }, [{ name: "http", port: 8080 }], ["10.244.0.6"]);
    const e = errorOf(() => compileNftables(input([good], [goodSlice, orphan])));
    expect(e.object).toMatchObject({ kind: "EndpointSlice", name: "gone-abc12" });
    expect(e.field).toBe('metadata.labels["kubernetes.io/service-name"]');
  });

  it("with partialResults the invalid objects are listed and left out, the rest compiles", () => {
    const c = compileNftables(input([good, badIP]), { partialResults: true });
    expect(c.errors.map((e) => e.object.name)).toEqual(["bad"]);
    const t = new NftTableModel("ip");
    t.apply(defined(c.ipv4).text);
    expect([...defined(t.containers.get("cluster-ips")).elements.keys()]).toEqual(["10.96.0.1"]);
  });

  it.each([
    [{ serviceCIDRs: ["10.96.0.0/33"] }, "serviceCIDRs[0]"],
    [{ serviceCIDRs: "10.96.0.0/12" }, "serviceCIDRs"],
    [{ existingChains: ["bad name"] }, "existingChains[0]"],
    [{ existingChains: "service-x/y" }, "existingChains"],
    [{ clock: 5 }, "clock"],
    [{ partialResults: "yes" }, "partialResults"],
    [{ families: ["IPv5"] }, "families"],
    [{ previous: {} }, "previous"],
    [{ fullSync: true }, "fullSync"],
  ])("option %j is refused (%s)", (options, field) => {
    const e = errorOf(() => compileNftables(input([good]), options as never));
    expect(e.object.kind).toBe("CompileNftablesOptions");
    expect(e.field).toBe(field);
  });

  it("a sync that throws leaves the proxier's state: the retry is the sync it would have been", () => {
    const a = new NftDriver();
    const b = new NftDriver();
    for (const d of [a, b]) {
      d.sync(input([good]));
      d.applied();
    }
    // same position, a broken object: the partial sync throws after having changed its state
    expect(() => a.sync(input([badIP]))).toThrow(InvalidInputError);
    const other = service({ name: "good", clusterIP: "10.96.0.1", ports: [{ name: "http", port: 81 }] });
    const ra = a.sync(input([other]));
    const rb = b.sync(input([other]));
    expect(defined(ra.ipv4).partial).toBe(true);
    expect(defined(ra.ipv4).text).toBe(defined(rb.ipv4).text);
  });

  it("chains named in existingChains and no longer used are flushed (created first: they may be gone)", () => {
    const c = compileNftables(input([good]), { existingChains: ["service-ABCDEFGH-default/old/tcp/http"] });
    const text = defined(c.ipv4).text;
    expect(text).toContain("add chain ip kube-proxy service-ABCDEFGH-default/old/tcp/http\n");
    expect(text).toContain("flush chain ip kube-proxy service-ABCDEFGH-default/old/tcp/http\n");
    expect(defined(c.ipv4).stats.staleChains).toBe(1);
  });
});
