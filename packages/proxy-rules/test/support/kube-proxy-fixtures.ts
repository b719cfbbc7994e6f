// The fixtures of kube-proxy's iptables unit tests (pkg/proxy/iptables/proxier_test.go), as
// facts: the fake proxier's node and configuration, and builders equivalent to makeTestService /
// makeTestEndpointSlice. Used to check byte-for-byte parity with kube-proxy's expectations.

import type { EndpointSlice, ProxyInput, Service } from "../../src/index.js";
import { defined } from "./defined.js";

export const testNodeName = "test-node";
export const testNodeIP = "192.168.0.2";
export const testNodeIPAlt = "192.168.1.2";
export const testExternalIP = "192.168.99.11";
export const testNodeIPv6 = "2001:db8::1";
export const testNodeIPv6Alt = "2001:db8:1::2";

type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;
export type MService = Mutable<Service> & { spec: NonNullable<Mutable<Service>["spec"]> };
export type MSlice = Mutable<EndpointSlice>;

export function makeTestService(namespace: string, name: string, fn: (svc: MService) => void): Service {
  const svc: MService = { metadata: { namespace, name, annotations: {} }, spec: {}, status: {} };
  fn(svc);
  return svc;
}

export function makeTestEndpointSlice(
  namespace: string,
  name: string,
  sliceNum: number,
  fn: (eps: MSlice) => void,
): EndpointSlice {
  const eps: MSlice = {
    metadata: { namespace, name: `${name}-${sliceNum}`, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints: [],
  };
  fn(eps);
  return eps;
}

/** The node and configuration of kube-proxy's NewFakeProxier (IPv4 or IPv6). */
export function fakeProxierInput(
  services: readonly Service[],
  endpointSlices: readonly EndpointSlice[],
  family: "IPv4" | "IPv6" = "IPv4",
): ProxyInput {
  return {
    services,
    endpointSlices,
    node: {
      name: testNodeName,
      addresses:
        family === "IPv4"
          ? [testNodeIP, testNodeIPAlt, testExternalIP, testNodeIPv6, testNodeIPv6Alt]
          : [testNodeIPv6, testNodeIPv6Alt, testNodeIP, testNodeIPAlt, testExternalIP],
    },
    config: {
      clusterCIDR: family === "IPv4" ? "10.0.0.0/8" : "fd00:10::/64",
      iptables: { localhostNodePorts: true },
    },
    // the fake iptables has no --random-fully; the fake proxier's nfacct counters exist
    host: { randomFully: false, nfacct: true, conntrackTCPBeLiberal: false },
  };
}

/** Options that reproduce the fake proxier's mark. */
export const fakeOptions = { masqueradeMark: "0x4000" } as const;

/**
 * kube-proxy's checkIPTablesRuleJumps: every jump goes to a chain that is created and filled, no
 * chain is created and left unused (except the fixed top-level chains).
 */
export function checkRuleJumps(text: string): string | undefined {
  const tables = text.split("COMMIT\n").filter((t) => t.trim() !== "");
  for (const t of tables) {
    const lines = t.split("\n").filter((l) => l !== "");
    const name = defined(lines[0]).slice(1);
    const all = (re: RegExp) => new Set(lines.map((l) => re.exec(l)?.[1]).filter((m): m is string => !!m));
    const created = all(/^:([^ ]*)/);
    for (const x of all(/-X ([^ ]*)/)) created.delete(x);
    const filled = all(/-A ([^ ]*)/);
    const jumped = all(/-j ([^ ]*)/);
    for (const t of ["ACCEPT", "REJECT", "DROP", "MARK", "RETURN", "DNAT", "SNAT", "MASQUERADE"]) jumped.delete(t);
    const missing = [...jumped, ...filled].filter((c) => !created.has(c));
    if (missing.length) return `some chains in ${name} are used but were not created: ${missing}`;
    const empty = [...jumped].filter((c) => !filled.has(c) && c !== "KUBE-NODEPORTS");
    if (empty.length) return `some chains in ${name} are jumped to but have no rules: ${empty}`;
    const fixed = [
      "KUBE-SERVICES",
      "KUBE-EXTERNAL-SERVICES",
      "KUBE-NODEPORTS",
      "KUBE-POSTROUTING",
      "KUBE-FORWARD",
      "KUBE-MARK-MASQ",
      "KUBE-PROXY-FIREWALL",
      "KUBE-FIREWALL",
    ];
    const extra = [...created].filter((c) => !jumped.has(c) && !fixed.includes(c));
    if (extra.length) return `some chains in ${name} are created but not used: ${extra}`;
  }
  return undefined;
}

/** Removes the leading indentation of a template literal block (Go's dedent.Dedent). */
export function dedent(s: string): string {
  const lines = s.replace(/^\n/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => defined(/^\s*/.exec(l))[0].length));
  return lines.map((l) => l.slice(indent)).join("\n");
}
