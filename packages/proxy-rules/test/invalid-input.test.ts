// Bad input: every invalid object gives an InvalidInputError naming the object and the field;
// with partialResults the rest still compiles.

import { describe, expect, it } from "vitest";
import { compileIptables, InvalidInputError, type ProxyInput, type Service } from "../src/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const node = { name: "node-1", addresses: ["192.168.0.1"] };
const good = service({ name: "good", clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] });
const goodSlice = slice({ service: "good" }, [{ name: "http", port: 8080 }], ["10.244.0.5"]);

function errorOf(input: Partial<ProxyInput>): InvalidInputError {
  try {
    compileIptables({ services: [], endpointSlices: [], node, ...input });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error("expected an InvalidInputError");
}

const bad = (patch: (s: { metadata: Record<string, unknown>; spec: Record<string, unknown> }) => void): Service => {
  const s = structuredClone(good) as unknown as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  patch(s);
  return s as unknown as Service;
};

describe("InvalidInputError", () => {
  const cases: [string, Service, string, RegExp][] = [
    [
      "bad cluster IP",
      bad((s) => {
        s.spec.clusterIP = "10.96.0.300";
        s.spec.clusterIPs = ["10.96.0.300"];
      }),
      "spec.clusterIPs[0]",
      /valid IP/,
    ],
    [
      "port out of range",
      bad((s) => {
        s.spec.ports = [{ name: "http", port: 70000 }];
      }),
      "spec.ports[0].port",
      /between 1 and 65535/,
    ],
    [
      "node port out of range",
      bad((s) => {
        s.spec.ports = [{ name: "http", port: 80, nodePort: -1 }];
      }),
      "spec.ports[0].nodePort",
      /between 0 and 65535/,
    ],
    [
      "unknown protocol",
      bad((s) => {
        s.spec.ports = [{ name: "http", port: 80, protocol: "ICMP" }];
      }),
      "spec.ports[0].protocol",
      /TCP, UDP or SCTP/,
    ],
    [
      "duplicate port names",
      bad((s) => {
        s.spec.ports = [
          { name: "http", port: 80 },
          { name: "http", port: 81 },
        ];
      }),
      "spec.ports[1].name",
      /duplicate port name/,
    ],
    [
      "unnamed port among several",
      bad((s) => {
        s.spec.ports = [{ port: 80 }, { name: "b", port: 81 }];
      }),
      "spec.ports[0].name",
      /required/,
    ],
    [
      "bad external IP",
      bad((s) => {
        s.spec.externalIPs = ["1.2.3"];
      }),
      "spec.externalIPs[0]",
      /valid IP/,
    ],
    [
      "bad source range",
      bad((s) => {
        s.spec.loadBalancerSourceRanges = ["10.0.0.0/33"];
      }),
      "spec.loadBalancerSourceRanges[0]",
      /CIDR/,
    ],
    [
      "quote in a name",
      bad((s) => {
        s.metadata.name = 'a"b';
      }),
      "metadata.name",
      /DNS-1035/,
    ],
    [
      "newline in a port name",
      bad((s) => {
        s.spec.ports = [{ name: "a\nb", port: 80 }];
      }),
      "spec.ports[0].name",
      /DNS-1123/,
    ],
    [
      "unknown type",
      bad((s) => {
        s.spec.type = "Headless";
      }),
      "spec.type",
      /ClusterIP, NodePort/,
    ],
    [
      "unknown traffic policy",
      bad((s) => {
        s.spec.externalTrafficPolicy = "Global";
      }),
      "spec.externalTrafficPolicy",
      /Cluster or Local/,
    ],
    [
      "affinity timeout",
      bad((s) => {
        s.spec.sessionAffinity = "ClientIP";
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 0 } };
      }),
      "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
      /between 1 and 86400/,
    ],
  ];
  for (const [what, svc, field, reason] of cases) {
    it(`names the Service and the field: ${what}`, () => {
      const err = errorOf({ services: [svc] });
      expect(err.object.kind).toBe("Service");
      expect(err.object.namespace).toBe("default");
      expect(err.field).toBe(field);
      expect(err.reason).toMatch(reason);
      expect(err.message).toContain(field);
    });
  }

  it("names the EndpointSlice and the field", () => {
    const wrongFamily = slice({ service: "good" }, [{ name: "http", port: 8080 }], ["fd00::1"]);
    let err = errorOf({ services: [good], endpointSlices: [wrongFamily] });
    expect([err.object.kind, err.object.name, err.field]).toEqual([
      "EndpointSlice",
      "good-abc12",
      "endpoints[0].addresses[0]",
    ]);
    expect(err.reason).toMatch(/not an IPv4 address/);

    const badPort = slice({ service: "good" }, [{ name: "http", port: 99999 }], ["10.0.0.1"]);
    err = errorOf({ services: [good], endpointSlices: [badPort] });
    expect(err.field).toBe("ports[0].port");

    const noLabel = { ...goodSlice, metadata: { namespace: "default", name: "x" } };
    err = errorOf({ services: [good], endpointSlices: [noLabel] });
    expect(err.field).toBe('metadata.labels["kubernetes.io/service-name"]');
  });

  it("reports slices that do not match their Service (selector vs slices)", () => {
    const orphan = slice({ service: "missing" }, [{ name: "http", port: 8080 }], ["10.0.0.1"]);
    let err = errorOf({ services: [good], endpointSlices: [orphan] });
    expect(err.reason).toMatch(/names Service "default\/missing", which is not in the input/);

    const otherPort = slice({ service: "good" }, [{ name: "https", port: 8443 }], ["10.0.0.1"]);
    err = errorOf({ services: [good], endpointSlices: [otherPort] });
    expect(err.field).toBe("ports[0]");
    expect(err.reason).toMatch(/matches no port of Service "default\/good"/);
  });

  it("names an invalid Service, not its slice, when the Service is invalid", () => {
    const broken = bad((s) => {
      s.spec.ports = [{ name: "http", port: 70000 }];
    });
    const err = errorOf({ services: [broken], endpointSlices: [goodSlice] });
    expect([err.object.kind, err.object.namespace, err.object.name, err.field]).toEqual([
      "Service",
      "default",
      "good",
      "spec.ports[0].port",
    ]);
    expect(err.message).toBe('Service "default/good": spec.ports[0].port: must be an integer between 1 and 65535');

    const c = compileIptables({ services: [broken], endpointSlices: [goodSlice], node }, { partialResults: true });
    expect(c.errors.map((e) => `${e.object.kind} ${e.field}: ${e.reason}`)).toEqual([
      'EndpointSlice metadata.labels["kubernetes.io/service-name"]: names Service "default/good", which is invalid',
      "Service spec.ports[0].port: must be an integer between 1 and 65535",
    ]);
  });

  it("reports duplicates", () => {
    const err = errorOf({ services: [good, structuredClone(good)] });
    expect([err.field, err.reason]).toEqual(["metadata.name", "duplicate Service"]);
  });

  it("rejects a bad configuration or node", () => {
    let err = errorOf({ config: { iptables: { masqueradeBit: 32 } } });
    expect([err.object.kind, err.field]).toEqual(["KubeProxyConfiguration", "iptables.masqueradeBit"]);
    err = errorOf({ config: { clusterCIDR: "10.0.0.0/40" } });
    expect(err.field).toBe("clusterCIDR");
    err = errorOf({ config: { detectLocalMode: "Magic" } });
    expect(err.field).toBe("detectLocalMode");
    err = errorOf({ config: { nodePortAddresses: ["nowhere"] } });
    expect(err.field).toBe("nodePortAddresses[0]");
    err = errorOf({ node: { name: "Node_1" } });
    expect([err.object.kind, err.field]).toEqual(["Node", "name"]);
  });

  it("compiles the rest when asked for partial results", () => {
    const broken = bad((s) => {
      s.metadata.name = "broken";
      s.spec.ports = [{ name: "http", port: 0 }];
    });
    const orphan = slice({ service: "missing" }, [{ name: "http", port: 8080 }], ["10.0.0.1"]);
    const c = compileIptables(
      { services: [broken, good], endpointSlices: [orphan, goodSlice], node },
      { partialResults: true },
    );
    expect(c.errors.map((e) => `${e.object.kind} ${e.object.name} ${e.field}`)).toEqual([
      'EndpointSlice missing-abc12 metadata.labels["kubernetes.io/service-name"]',
      "Service broken spec.ports[0].port",
    ]);
    expect(defined(c.ipv4).text).toContain("--to-destination 10.244.0.5:8080");
    expect(defined(c.ipv4).text).not.toContain("broken");
  });

  it("keeps instanceof across copies via its brand", () => {
    const e = new InvalidInputError({ kind: "Service" }, "spec", "bad");
    const foreign = Object.assign(Object.create(Error.prototype), {
      [Symbol.for("@nodekit/proxy-rules/InvalidInputError")]: true,
    });
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(foreign).toBeInstanceOf(InvalidInputError);
    expect(new Error("x")).not.toBeInstanceOf(InvalidInputError);
  });
});
