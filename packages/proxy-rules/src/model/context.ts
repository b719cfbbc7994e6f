// Resolution of the configuration and node facts for one IP family: defaults as kube-proxy applies
// them, the local-traffic detector, the NodePort addresses. Config errors are InvalidInputErrors.

import { InvalidInputError } from "../errors.js";
import {
  DEFAULT_MASQUERADE_BIT,
  type HostFacts,
  type KubeProxyConfiguration,
  masqueradeMarkFor,
  type NodeInfo,
  type ResolvedConfig,
} from "./config.js";
import {
  cidrContains,
  type IPFamily,
  isLoopback,
  isZeroCIDR,
  type ParsedCIDR,
  type ParsedIP,
  parseCIDR,
  parseIP,
} from "./ip.js";
import { isDNS1123Subdomain } from "./normalize.js";
import type { TopologyContext } from "./service-port.js";

/**
 * kube-proxy's LocalTrafficDetector: what tells traffic from this node's pods apart, whatever the
 * backend writes for it. From the pods' CIDR (modes ClusterCIDR, NodeCIDR), their bridge
 * (BridgeInterface) or their interfaces' name prefix (InterfaceNamePrefix).
 */
export type LocalDetector =
  | { readonly kind: "cidr"; readonly cidr: string }
  | { readonly kind: "interface"; readonly name: string }
  | { readonly kind: "interfacePrefix"; readonly prefix: string };

/** Everything the rule writer needs to know about the node and configuration for one family. */
export interface FamilyContext {
  readonly config: ResolvedConfig;
  /** `undefined` when no detector is implemented (no `clusterCIDR`, …). */
  readonly detector: LocalDetector | undefined;
  readonly topology: TopologyContext;
  /** The node's primary IP of the family, if any. */
  readonly nodeIP: ParsedIP | undefined;
  /** All the node's addresses of the family, in the order given. */
  readonly nodeAddresses: readonly ParsedIP[];
  /** `nodePortAddresses` matches every local address. */
  readonly nodePortMatchAll: boolean;
  /** Otherwise: the node addresses NodePorts are accepted on. */
  readonly nodePortIPs: readonly string[];
  /** A fingerprint of everything above; a change forces a full sync. */
  readonly key: string;
}

const LABEL_ZONE = "topology.kubernetes.io/zone";

/** An address written in this file: it parses, or the module is broken. */
function literalIP(s: string): ParsedIP {
  const ip = parseIP(s);
  if (!ip) throw new Error(`not an IP address: ${s}`);
  return ip;
}

/** A CIDR written in this file: it parses, or the module is broken. */
function literalCIDR(s: string): ParsedCIDR {
  const cidr = parseCIDR(s);
  if (!cidr) throw new Error(`not a CIDR: ${s}`);
  return cidr;
}

const ALL_IPV4 = literalCIDR("0.0.0.0/0");
const ALL_IPV6 = literalCIDR("::/0");

function cfgError(field: string, reason: string, value: unknown): InvalidInputError {
  return new InvalidInputError({ kind: "KubeProxyConfiguration" }, field, reason, value);
}
function hostError(field: string, reason: string, value: unknown): InvalidInputError {
  return new InvalidInputError({ kind: "HostFacts" }, field, reason, value);
}
function nodeError(node: NodeInfo, field: string, reason: string, value: unknown): InvalidInputError {
  const name = typeof node === "object" && node !== null && typeof node.name === "string" ? node.name : undefined;
  return new InvalidInputError({ kind: "Node", name }, field, reason, value);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
/** Absent (`undefined` or `null`, as JSON has it). */
function absent(v: unknown): v is undefined | null {
  return v === undefined || v === null;
}

/** Checks that every field of the configuration has its JS type (values are checked where used). */
function checkConfig(config: KubeProxyConfiguration): void {
  if (!isObject(config)) throw cfgError("", "must be an object", config);
  const optional = (v: unknown, field: string, type: "string" | "boolean") => {
    if (!absent(v) && typeof v !== type) throw cfgError(field, `must be a ${type}`, v);
  };
  const part = (v: unknown, field: string): Record<string, unknown> | undefined => {
    if (absent(v)) return undefined;
    if (!isObject(v)) throw cfgError(field, "must be an object", v);
    return v;
  };
  optional(config.clusterCIDR, "clusterCIDR", "string");
  optional(config.detectLocalMode, "detectLocalMode", "string");
  const detect = part(config.detectLocal, "detectLocal");
  optional(detect?.bridgeInterface, "detectLocal.bridgeInterface", "string");
  optional(detect?.interfaceNamePrefix, "detectLocal.interfaceNamePrefix", "string");
  const ipt = part(config.iptables, "iptables");
  optional(ipt?.masqueradeAll, "iptables.masqueradeAll", "boolean");
  optional(ipt?.localhostNodePorts, "iptables.localhostNodePorts", "boolean");
  const nft = part(config.nftables, "nftables");
  optional(nft?.masqueradeAll, "nftables.masqueradeAll", "boolean");
  const gates = part(config.featureGates, "featureGates");
  if (gates) for (const name of Object.keys(gates)) optional(gates[name], `featureGates.${name}`, "boolean");
  const ct = part(config.conntrack, "conntrack");
  optional(ct?.tcpBeLiberal, "conntrack.tcpBeLiberal", "boolean");
}

/** Checks that every host fact is a boolean. */
function checkHost(host: HostFacts): void {
  if (!isObject(host)) throw hostError("", "must be an object", host);
  for (const field of ["randomFully", "nfacct", "conntrackTCPBeLiberal"] as const) {
    const v = host[field];
    if (!absent(v) && typeof v !== "boolean") throw hostError(field, "must be a boolean", v);
  }
}

const UTF8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Why `name` cannot be an interface name in a rule, or `undefined`. As the kernel's
 * `dev_valid_name` (net/core/dev.c): not empty, shorter than IFNAMSIZ (16) in bytes, not `.` or
 * `..`, no `/`, `:` or byte the kernel's `isspace` takes for a blank (\t \n \v \f \r, space and
 * 0xA0, which many UTF-8 characters contain, `à` for one). Also refused: NUL (the kernel would
 * read the name up to it), the other control characters, quotes and backslashes (they change
 * how iptables-restore splits the line), a lone surrogate (not UTF-8) and a trailing `+`
 * (iptables would read a prefix). `maxBytes`: 15, or 14 for a prefix, which gets a `+`.
 */
export function interfaceNameProblem(name: string, maxBytes: number): string | undefined {
  if (name === "") return "must not be empty";
  if (name === "." || name === "..") return "must not be . or ..";
  if (LONE_SURROGATE.test(name)) return "must be valid Unicode";
  const bytes = UTF8.encode(name);
  if (bytes.length > maxBytes) return `must be at most ${maxBytes} bytes long (UTF-8), the kernel's limit`;
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f) return "must not contain control characters (NUL included)";
    if (b === 0x20 || b === 0xa0) return "must not contain blanks (the kernel counts byte 0xA0 as one)";
    if (b === 0x2f || b === 0x3a) return "must not contain / or :";
    if (b === 0x22 || b === 0x27 || b === 0x5c) return "must not contain quotes or backslashes";
  }
  if (name.endsWith("+")) return "must not end in + (iptables would match a prefix)";
  return undefined;
}

/** Parsed node facts shared by both families. */
export interface ParsedNode {
  readonly name: string;
  readonly addresses: readonly ParsedIP[];
  readonly podCIDRs: readonly ParsedCIDR[];
  readonly zone: string;
}

/** Validates the node. */
export function parseNode(node: NodeInfo): ParsedNode {
  if (!isObject(node)) throw nodeError(node, "node", "must be an object", node);
  if (!isDNS1123Subdomain(node.name)) throw nodeError(node, "name", "must be a DNS-1123 subdomain", node.name);
  const list = (v: unknown, field: string): readonly unknown[] => {
    if (absent(v)) return [];
    if (!Array.isArray(v)) throw nodeError(node, field, "must be a list", v);
    return v;
  };
  const addresses = list(node.addresses, "addresses").map((a, i) => {
    const ip = typeof a === "string" ? parseIP(a) : undefined;
    if (!ip) throw nodeError(node, `addresses[${i}]`, "must be a valid IP address", a);
    return ip;
  });
  const podCIDRs = list(node.podCIDRs, "podCIDRs").map((c, i) => {
    const cidr = typeof c === "string" ? parseCIDR(c) : undefined;
    if (!cidr) throw nodeError(node, `podCIDRs[${i}]`, "must be a valid CIDR", c);
    return cidr;
  });
  const labels: unknown = node.labels;
  if (!absent(labels)) {
    if (!isObject(labels)) throw nodeError(node, "labels", "must be an object", labels);
    for (const key of Object.keys(labels)) {
      const v = labels[key];
      if (typeof v !== "string") throw nodeError(node, `labels[${JSON.stringify(key)}]`, "must be a string", v);
    }
  }
  const zone = node.labels?.[LABEL_ZONE] ?? "";
  return { name: node.name, addresses, podCIDRs, zone };
}

/** Options of {@link resolveFamilyContext} that are not part of KubeProxyConfiguration. */
export interface ContextOverrides {
  readonly masqueradeMark?: string | undefined;
  /**
   * The mode whose section holds the masquerade settings: `nftables.*` for the nftables mode,
   * `iptables.*` for the iptables and IPVS modes (kube-proxy's IPVS mode reads those). Default
   * `iptables`.
   */
  readonly masqueradeSection?: "iptables" | "nftables" | undefined;
}

/** Resolves the configuration for one family, with kube-proxy's defaults. */
export function resolveFamilyContext(
  family: IPFamily,
  node: ParsedNode,
  config: KubeProxyConfiguration = {},
  host: HostFacts = {},
  overrides: ContextOverrides = {},
): FamilyContext {
  checkConfig(config);
  checkHost(host);
  const ipt = config.iptables ?? {};
  const section = overrides.masqueradeSection ?? "iptables";
  const masq = (section === "nftables" ? config.nftables : config.iptables) ?? {};
  const bit = masq.masqueradeBit ?? DEFAULT_MASQUERADE_BIT;
  if (typeof bit !== "number" || !Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw cfgError(`${section}.masqueradeBit`, "must be an integer between 0 and 31", bit);
  }
  const mark = overrides.masqueradeMark ?? masqueradeMarkFor(bit);
  if (typeof mark !== "string" || !/^0x[0-9a-f]{1,8}$/.test(mark)) {
    throw cfgError("masqueradeMark", "must be a hex mark like 0x4000", mark);
  }

  // local traffic detector
  const mode = config.detectLocalMode || "ClusterCIDR";
  let detector: LocalDetector | undefined;
  if (mode === "ClusterCIDR" || mode === "NodeCIDR") {
    let cidrs: ParsedCIDR[];
    if (mode === "ClusterCIDR") {
      const raw = config.clusterCIDR ?? "";
      if (typeof raw !== "string") throw cfgError("clusterCIDR", "must be a string", raw);
      cidrs = raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
        .map((s) => {
          const c = parseCIDR(s);
          if (!c) throw cfgError("clusterCIDR", "must be a comma-separated list of CIDRs", raw);
          return c;
        });
    } else {
      cidrs = [...node.podCIDRs];
    }
    const mine = cidrs.find((c) => c.ip.family === family);
    if (mine) detector = { kind: "cidr", cidr: mine.text };
  } else if (mode === "BridgeInterface") {
    const br = config.detectLocal?.bridgeInterface ?? "";
    const problem = interfaceNameProblem(br, 15);
    if (problem) throw cfgError("detectLocal.bridgeInterface", `an interface name ${problem}`, br);
    detector = { kind: "interface", name: br };
  } else if (mode === "InterfaceNamePrefix") {
    const p = config.detectLocal?.interfaceNamePrefix ?? "";
    const problem = interfaceNameProblem(p, 14);
    if (problem) throw cfgError("detectLocal.interfaceNamePrefix", `an interface name prefix ${problem}`, p);
    detector = { kind: "interfacePrefix", prefix: p };
  } else {
    throw cfgError(
      "detectLocalMode",
      "must be ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix",
      config.detectLocalMode,
    );
  }

  // nodePortAddresses (keywords resolved as kube-proxy's config defaulting does)
  const primary = (f: IPFamily) => node.addresses.find((a) => a.family === f);
  const npaRaw = config.nodePortAddresses ?? [];
  if (!Array.isArray(npaRaw)) throw cfgError("nodePortAddresses", "must be a list", npaRaw);
  const npa: ParsedCIDR[] = [];
  npaRaw.forEach((s, i) => {
    if (s === "all") {
      npa.push(ALL_IPV4, ALL_IPV6);
    } else if (s === "localhost") {
      npa.push(literalCIDR("127.0.0.0/8"), literalCIDR("::1/128"));
    } else if (s === "primary") {
      for (const f of ["IPv4", "IPv6"] as const) {
        const ip = primary(f);
        const prefix = f === "IPv4" ? 32 : 128;
        if (ip) npa.push({ ip, prefix, text: `${ip.text}/${prefix}` });
      }
    } else {
      const c = typeof s === "string" ? parseCIDR(s) : undefined;
      if (!c) throw cfgError(`nodePortAddresses[${i}]`, "must be a CIDR or all, primary, localhost", s);
      npa.push(c);
    }
  });
  let cidrs = npa.filter((c) => c.ip.family === family);
  if (cidrs.length === 0) cidrs = [family === "IPv4" ? ALL_IPV4 : ALL_IPV6];
  const loopbackStart = literalIP("127.0.0.0");
  const containsIPv4Loopback = cidrs.some(
    (c) => c.ip.family === "IPv4" && (isLoopback(c.ip) || cidrContains(c, loopbackStart)),
  );
  const matchAll = cidrs.some(isZeroCIDR);
  const localAddrs = [
    ...node.addresses.filter((a) => a.family === family),
    literalIP(family === "IPv4" ? "127.0.0.1" : "::1"),
  ];
  const nodePortIPs: string[] = [];
  if (!matchAll) {
    for (const a of localAddrs) {
      if (nodePortIPs.includes(a.text)) continue;
      if (cidrs.some((c) => cidrContains(c, a))) nodePortIPs.push(a.text);
    }
  }

  const localhostNodePorts = family === "IPv4" && (ipt.localhostNodePorts ?? true) && containsIPv4Loopback;
  const gates = config.featureGates ?? {};
  const resolved: ResolvedConfig = {
    family,
    masqueradeAll: masq.masqueradeAll ?? false,
    masqueradeMark: mark,
    localhostNodePorts,
    randomFully: host.randomFully ?? true,
    nfacct: host.nfacct ?? false,
    tcpBeLiberal: (host.conntrackTCPBeLiberal ?? false) || (config.conntrack?.tcpBeLiberal ?? false),
  };
  const topology: TopologyContext = {
    nodeName: node.name,
    zone: node.zone,
    preferSameNode: gates.PreferSameTrafficDistribution ?? true,
  };
  const nodeIP = primary(family);
  const key = JSON.stringify([
    resolved,
    detector,
    topology,
    nodeIP?.text,
    matchAll,
    nodePortIPs,
    node.addresses.map((a) => a.text),
  ]);
  const nodeAddresses = node.addresses.filter((a) => a.family === family);
  return { config: resolved, detector, topology, nodeIP, nodeAddresses, nodePortMatchAll: matchAll, nodePortIPs, key };
}
