// Two Services with the same node port (issue 10, item 3): the API server allocates node ports
// from one range for all Services and protocols and refuses a second Service asking for a port
// already allocated ("provided port is already allocated"). The compiler reports the later Service
// (by namespace/name) as invalid at the port's field, and, as for any invalid object, leaves it
// out with `partialResults`; the earlier one keeps the port.

import { describe, expect, it } from "vitest";
import { compileIptables, createProxier, InvalidInputError, type ProxyInput, type Service } from "../src/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";
import { applyRestore, dumpTables, emptyTables } from "./support/restore-model.js";

const node = { name: "node-1", addresses: ["192.168.0.1"] };
const nodePortService = (name: string, ip: string, nodePort: number, protocol = "TCP"): Service =>
  service({ name, type: "NodePort", clusterIP: ip, ports: [{ name: "http", port: 80, nodePort, protocol }] });
const a = nodePortService("a", "10.96.0.10", 30080);
const b = nodePortService("b", "10.96.0.11", 30080);
const sliceOf = (name: string, ip: string, protocol = "TCP") =>
  slice({ service: name }, [{ name: "http", port: 8080, protocol }], [ip]);
const input = (services: Service[]): ProxyInput => ({
  services,
  endpointSlices: services.map((s, i) =>
    sliceOf(
      defined(defined(s.metadata).name),
      `10.244.0.${i + 1}`,
      defined(defined(defined(s.spec).ports)[0]).protocol,
    ),
  ),
  node,
});

function thrown(f: () => unknown): InvalidInputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error("expected an InvalidInputError");
}

describe("duplicate node ports across Services", () => {
  it("the later Service is invalid, at its port's nodePort field, naming the Service that has the port", () => {
    for (const services of [
      [a, b],
      [b, a],
    ]) {
      const e = thrown(() => compileIptables(input(services)));
      expect([e.object.kind, e.object.namespace, e.object.name, e.field]).toEqual([
        "Service",
        "default",
        "b",
        "spec.ports[0].nodePort",
      ]);
      expect(e.reason).toMatch(/30080.*already allocated.*"default\/a"/);
    }
  });

  it("with partialResults the later Service is left out and the earlier one keeps the port", () => {
    const c = compileIptables(input([b, a]), { partialResults: true });
    expect(c.errors.map((e) => `${e.object.kind} ${e.object.name} ${e.field}`)).toEqual([
      'EndpointSlice b-abc12 metadata.labels["kubernetes.io/service-name"]',
      "Service b spec.ports[0].nodePort",
    ]);
    const nodePortRules = defined(c.ipv4)
      .text.split("\n")
      .filter((l) => l.includes("--dport 30080"));
    expect(nodePortRules.length).toBeGreaterThan(0);
    expect(nodePortRules.every((l) => l.includes("default/a:http"))).toBe(true);
    expect(defined(c.ipv4).text).not.toContain("default/b");
  });

  it("across protocols too (one range for all), but not within one Service (TCP and UDP may share one)", () => {
    const udp = nodePortService("b", "10.96.0.11", 30080, "UDP");
    expect(thrown(() => compileIptables(input([a, udp]))).object.name).toBe("b");
    const dns = service({
      name: "dns",
      type: "NodePort",
      clusterIP: "10.96.0.53",
      ports: [
        { name: "dns-tcp", port: 53, protocol: "TCP", nodePort: 30053 },
        { name: "dns-udp", port: 53, protocol: "UDP", nodePort: 30053 },
      ],
    });
    expect(compileIptables({ services: [dns], endpointSlices: [], node }).errors).toEqual([]);
  });

  it("a health check node port is allocated from the same range", () => {
    const lb = service({
      name: "lb",
      type: "LoadBalancer",
      clusterIP: "10.96.0.20",
      ports: [{ name: "http", port: 80, nodePort: 30090 }],
      eTP: "Local",
      healthCheckNodePort: 30080,
    });
    const e = thrown(() => compileIptables(input([a, lb])));
    expect([e.object.name, e.field]).toEqual(["lb", "spec.healthCheckNodePort"]);
  });

  it("partial syncs: a port taken in place is refused, and freed in place the waiting Service gets it", () => {
    const c = nodePortService("c", "10.96.0.12", 30082);
    const kernel = emptyTables();
    const fresh = (i: ProxyInput) => {
      const t = emptyTables();
      applyRestore(t, defined(compileIptables(i, { partialResults: true }).ipv4).text);
      return dumpTables(t);
    };
    const proxier = createProxier({ mode: "iptables", partialResults: true });
    const step = (i: ProxyInput) => {
      const r = proxier.sync(i);
      applyRestore(kernel, defined(r.ipv4).text);
      proxier.applied();
      expect(dumpTables(kernel)).toBe(fresh(i));
      return r;
    };
    step(input([a, c]));
    const base = input([a, c]);
    // c is replaced in place by b (a's port): b is refused
    const second = step({ ...base, services: [a, b] });
    expect(second.errors.map((e) => `${e.object.name} ${e.field}`)).toContain("b spec.ports[0].nodePort");
    // a moves to another port in place: b gets 30080
    const moved = nodePortService("a", "10.96.0.10", 30081);
    const third = step({ ...base, services: [moved, b] });
    expect(third.errors.filter((e) => e.object.kind === "Service")).toEqual([]);
    expect(defined(third.ipv4).text).toContain("default/b:http");
  });
});
