// The configuration, host facts, node and options are checked as strictly as the objects (issue
// 10, item 3): a value of the wrong JS type is an InvalidInputError naming the field, never a
// TypeError and never read as something else ("false" is not false); interface names are checked
// as the kernel checks them (net/core/dev.c, dev_valid_name: bytes, not characters).

import { describe, expect, it } from "vitest";
import { compileIptables, InvalidInputError, type ProxyInput } from "../src/index.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const node = { name: "node-1", addresses: ["192.168.0.1"] };
const web = service({
  name: "web",
  type: "NodePort",
  clusterIP: "10.96.0.10",
  ports: [{ name: "http", port: 80, nodePort: 30080 }],
});
const webSlice = slice({ service: "web" }, [{ name: "http", port: 8080 }], ["10.244.0.11"]);

function errorOf(input: Record<string, unknown>, options: Record<string, unknown> = {}): InvalidInputError {
  let thrown: unknown;
  try {
    compileIptables({ services: [web], endpointSlices: [webSlice], node, ...input } as unknown as ProxyInput, options);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(InvalidInputError);
  return thrown as InvalidInputError;
}

const where = (e: InvalidInputError) => [e.object.kind, e.field];

describe("booleans must be booleans", () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      "iptables.masqueradeAll",
      { config: { iptables: { masqueradeAll: "false" } } },
      "KubeProxyConfiguration",
      "iptables.masqueradeAll",
    ],
    [
      "iptables.localhostNodePorts",
      { config: { iptables: { localhostNodePorts: "false" } } },
      "KubeProxyConfiguration",
      "iptables.localhostNodePorts",
    ],
    [
      "conntrack.tcpBeLiberal",
      { config: { conntrack: { tcpBeLiberal: "false" } } },
      "KubeProxyConfiguration",
      "conntrack.tcpBeLiberal",
    ],
    [
      "a feature gate",
      { config: { featureGates: { PreferSameTrafficDistribution: "false" } } },
      "KubeProxyConfiguration",
      "featureGates.PreferSameTrafficDistribution",
    ],
    ["host.randomFully", { host: { randomFully: "false" } }, "HostFacts", "randomFully"],
    ["host.nfacct", { host: { nfacct: "true" } }, "HostFacts", "nfacct"],
    ["host.conntrackTCPBeLiberal", { host: { conntrackTCPBeLiberal: 1 } }, "HostFacts", "conntrackTCPBeLiberal"],
  ];
  for (const [what, input, kind, field] of cases) {
    it(`${what}: a string is refused, not read as true`, () => {
      const e = errorOf(input);
      expect(where(e)).toEqual([kind, field]);
      expect(e.reason).toMatch(/boolean/);
    });
  }

  it("true and false (and leaving them out) still work", () => {
    const c = compileIptables({
      services: [web],
      endpointSlices: [webSlice],
      node,
      config: { iptables: { masqueradeAll: false, localhostNodePorts: true }, conntrack: { tcpBeLiberal: false } },
      host: { randomFully: true, nfacct: false, conntrackTCPBeLiberal: false },
    });
    expect(defined(c.ipv4).text).toBe(
      defined(compileIptables({ services: [web], endpointSlices: [webSlice], node }).ipv4).text,
    );
  });
});

describe("every part of the configuration has its JS type", () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ["iptables", { config: { iptables: "yes" } }, "KubeProxyConfiguration", "iptables"],
    ["conntrack", { config: { conntrack: true } }, "KubeProxyConfiguration", "conntrack"],
    [
      "detectLocal",
      { config: { detectLocalMode: "BridgeInterface", detectLocal: "cbr0" } },
      "KubeProxyConfiguration",
      "detectLocal",
    ],
    [
      "featureGates",
      { config: { featureGates: ["PreferSameTrafficDistribution"] } },
      "KubeProxyConfiguration",
      "featureGates",
    ],
    ["detectLocalMode", { config: { detectLocalMode: 0 } }, "KubeProxyConfiguration", "detectLocalMode"],
    [
      "clusterCIDR in another mode",
      { config: { detectLocalMode: "NodeCIDR", clusterCIDR: 10 } },
      "KubeProxyConfiguration",
      "clusterCIDR",
    ],
    [
      "bridgeInterface in another mode",
      { config: { detectLocal: { bridgeInterface: 7 } } },
      "KubeProxyConfiguration",
      "detectLocal.bridgeInterface",
    ],
    ["host", { host: "yes" }, "HostFacts", ""],
    ["node.addresses as a string", { node: { name: "node-1", addresses: "1.2.3.4" } }, "Node", "addresses"],
    ["node.addresses as an object", { node: { name: "node-1", addresses: {} } }, "Node", "addresses"],
    ["node.podCIDRs as a string", { node: { name: "node-1", podCIDRs: "10.244.0.0/24" } }, "Node", "podCIDRs"],
    ["node.labels as a string", { node: { name: "node-1", labels: "zone=z1" } }, "Node", "labels"],
    [
      "a node label value",
      { node: { name: "node-1", labels: { "topology.kubernetes.io/zone": 1 } } },
      "Node",
      'labels["topology.kubernetes.io/zone"]',
    ],
  ];
  for (const [what, input, kind, field] of cases) {
    it(`${what}`, () => {
      expect(where(errorOf(input))).toEqual([kind, field]);
    });
  }
});

describe("options have their JS type", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["fullSync", { fullSync: "false" }, "fullSync"],
    ["partialResults", { partialResults: "false" }, "partialResults"],
    ["families", { families: "IPv4" }, "families"],
    ["masqueradeMark", { masqueradeMark: ["0x4000"] }, "masqueradeMark"],
    [
      "largeClusterEndpointsThreshold (string)",
      { largeClusterEndpointsThreshold: "1000" },
      "largeClusterEndpointsThreshold",
    ],
    [
      "largeClusterEndpointsThreshold (NaN)",
      { largeClusterEndpointsThreshold: Number.NaN },
      "largeClusterEndpointsThreshold",
    ],
    ["existingChains", { existingChains: 5 }, "existingChains"],
    ["an existing chain", { existingChains: ["KUBE-SVC-X", 5] }, "existingChains[1]"],
    ["previous", { previous: "last" }, "previous"],
  ];
  for (const [what, options, field] of cases) {
    it(`${what}`, () => {
      expect(where(errorOf({}, options))).toEqual(["CompileIptablesOptions", field]);
    });
  }
});

describe("interface names as the kernel checks them", () => {
  const bridge = (name: unknown) => ({
    config: { detectLocalMode: "BridgeInterface", detectLocal: { bridgeInterface: name } },
  });
  const prefix = (name: unknown) => ({
    config: { detectLocalMode: "InterfaceNamePrefix", detectLocal: { interfaceNamePrefix: name } },
  });
  const ok = (input: Record<string, unknown>) =>
    defined(
      compileIptables({ services: [web], endpointSlices: [webSlice], node, ...input } as unknown as ProxyInput).ipv4,
    ).text;

  const refused: [string, string][] = [
    ["a NUL byte", "cbr0\u0000"],
    ["16 bytes", "abcdefghijklmnop"],
    ["8 characters, 16 bytes of UTF-8", "éééééééé"],
    ["15 characters, 30 bytes of UTF-8", "é".repeat(15)],
    ["a slash", "br/0"],
    ["a colon", "br:0"],
    ["a blank", "br 0"],
    ["a tab", "br\t0"],
    ["a byte the kernel takes for a blank (0xA0, in 'à')", "xà"],
    [".", "."],
    ["..", ".."],
    ["empty", ""],
    ["a lone surrogate", "br\ud800"],
  ];
  for (const [what, name] of refused) {
    it(`bridgeInterface: refused with ${what}`, () => {
      expect(where(errorOf(bridge(name)))).toEqual(["KubeProxyConfiguration", "detectLocal.bridgeInterface"]);
    });
  }

  it("bridgeInterface: 15 bytes pass, multi-byte ones too", () => {
    expect(ok(bridge("abcdefghijklmno"))).toContain("-i abcdefghijklmno ");
    expect(ok(bridge("ééééééé1"))).toContain("-i ééééééé1 "); // 15 bytes
    expect(ok(bridge("ñic0"))).toContain("-i ñic0 ");
  });

  it("interfaceNamePrefix: at most 14 bytes (the + makes 15), counted in bytes", () => {
    expect(ok(prefix("abcdefghijklmn"))).toContain("-i abcdefghijklmn+ ");
    expect(ok(prefix("éééééé12"))).toContain("-i éééééé12+ "); // 14 bytes
    for (const name of ["abcdefghijklmno", "ééééééé1", "veth\u0000", "a/b", "", "xà"]) {
      expect(where(errorOf(prefix(name))), JSON.stringify(name)).toEqual([
        "KubeProxyConfiguration",
        "detectLocal.interfaceNamePrefix",
      ]);
    }
  });
});
