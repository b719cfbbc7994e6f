// Validation and normalisation of the input objects, family-independent. Everything kube-proxy
// would silently ignore or crash on is reported as an InvalidInputError naming the object and the
// field path; legacy spellings kube-proxy accepts (IPv4 leading zeros, blanks around source
// ranges) are accepted and normalised as kube-proxy normalises them.

import { InvalidInputError, type InvalidObjectRef } from "../errors.js";
import { canonicalIP, type IPFamily, type ParsedCIDR, type ParsedIP, parseCIDR, parseIP } from "./ip.js";
import type { Endpoint, EndpointSlice, Service } from "./kube-types.js";

/** Protocol of a port, lowercase as it appears in rules. */
export type Protocol = "tcp" | "udp" | "sctp";

/** A Service port, validated. */
export interface NormalizedPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly nodePort: number;
}

/** A Service, validated and normalised (family-independent). */
export interface NormalizedService {
  /** The object it was made from. */
  readonly raw: Service;
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** Not proxied at all (headless, ExternalName, no ClusterIP). */
  readonly skip: boolean;
  /** The cluster IP of each family the Service has. */
  readonly clusterIPv4: string | undefined;
  readonly clusterIPv6: string | undefined;
  readonly ports: readonly NormalizedPort[];
  readonly externalIPs: readonly ParsedIP[];
  readonly loadBalancerSourceRanges: readonly ParsedCIDR[];
  /** VIP-mode load-balancer ingress IPs (`ipMode: Proxy` entries are dropped, as kube-proxy does). */
  readonly loadBalancerVIPs: readonly ParsedIP[];
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** Only set when kube-proxy serves it (LoadBalancer with `externalTrafficPolicy: Local`). */
  readonly healthCheckNodePort: number;
  /** ClientIP affinity timeout in seconds, 0 without affinity. */
  readonly stickyMaxAgeSeconds: number;
}

/** Condition bits of an endpoint in {@link NormalizedEndpoints.flags}. */
export const EP_READY = 1;
export const EP_SERVING = 2;
export const EP_TERMINATING = 4;
/** The conditions of most endpoints: ready and serving. */
const EP_DEFAULT = EP_READY | EP_SERVING;

/** The condition bits of endpoint `k`. */
export function flagsOf(eps: NormalizedEndpoints, k: number): number {
  return eps.flags?.[k] ?? EP_DEFAULT; // without flags, every endpoint has the default
}

/**
 * The endpoints of a slice, validated, held as columns (entry `k` of each is endpoint `k`): a
 * 10,000-slice input then keeps a few arrays per slice rather than an object per endpoint.
 */
export interface NormalizedEndpoints {
  /** Canonical text of the first address. */
  readonly ips: readonly string[];
  readonly nodeNames: readonly (string | undefined)[];
  /**
   * `EP_READY | EP_SERVING | EP_TERMINATING`, as the conditions say (with their defaults);
   * `undefined` when every endpoint is ready, serving and not terminating (see {@link flagsOf}).
   */
  readonly flags: readonly number[] | undefined;
  /** Zone and node hints; `undefined` when no endpoint of the slice has any. */
  readonly zoneHints: readonly (readonly string[] | undefined)[] | undefined;
  readonly nodeHints: readonly (readonly string[] | undefined)[] | undefined;
}

/** An EndpointSlice, validated. */
/** A valid EndpointSlice: its Service, ports and endpoints (the slice holds the columns itself). */
export interface NormalizedSlice extends NormalizedEndpoints {
  /** The object it was made from. */
  readonly raw: EndpointSlice;
  /** `namespace/service-name` of the Service it belongs to. */
  readonly serviceKey: string;
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name` of the slice. */
  readonly id: string;
  /** `IPv4` or `IPv6`; FQDN slices are dropped during normalisation. */
  readonly family: IPFamily;
  /** Usable ports (kube-proxy skips ports without a name or number). */
  readonly ports: readonly { readonly name: string; readonly protocol: Protocol; readonly port: number }[];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The label that ties an EndpointSlice to its Service. */
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";

function isDNS1123Label(s: unknown): s is string {
  return typeof s === "string" && s.length <= 63 && DNS1123_LABEL.test(s);
}
function isDNS1035Label(s: unknown): s is string {
  return typeof s === "string" && s.length <= 63 && DNS1035_LABEL.test(s);
}
/** Whether `s` is a DNS-1123 subdomain (object names such as Node and EndpointSlice names). */
export function isDNS1123Subdomain(s: unknown): s is string {
  return typeof s === "string" && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}
function isPort(n: unknown, allowZero: boolean): n is number {
  return typeof n === "number" && Number.isInteger(n) && n <= 65535 && (allowZero ? n >= 0 : n >= 1);
}
const PROTOCOL_INDEX: Record<Protocol, number> = { tcp: 0, udp: 1, sctp: 2 };

function parseProtocol(p: unknown): Protocol | undefined {
  if (p === undefined || p === null || p === "TCP") return "tcp";
  if (p === "UDP") return "udp";
  if (p === "SCTP") return "sctp";
  return undefined;
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function isPresent<T>(v: T): v is T & object {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
const EMPTY: readonly never[] = [];

function arrayOrEmpty(v: unknown): readonly unknown[] | undefined {
  if (v === undefined || v === null) return EMPTY;
  return Array.isArray(v) ? v : undefined;
}

/** No errors (shared, never changed). */
const NO_ERRORS: InvalidInputError[] = [];

/** Collects the errors of one object (allocating only when there are some). */
class Checker {
  errors: InvalidInputError[] = NO_ERRORS;
  #ref: InvalidObjectRef | undefined;
  constructor(
    readonly kind: string,
    readonly obj: unknown,
  ) {}
  fail(field: string, reason: string, value?: unknown): void {
    this.#ref ??= objectRef(this.kind, this.obj);
    if (this.errors === NO_ERRORS) this.errors = [];
    this.errors.push(new InvalidInputError(this.#ref, field, reason, value));
  }
}

function objectRef(kind: string, obj: unknown): InvalidObjectRef {
  const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : undefined;
  const ns = meta && typeof meta.namespace === "string" ? meta.namespace : undefined;
  const name = meta && typeof meta.name === "string" ? meta.name : undefined;
  return { kind, namespace: ns, name };
}

/**
 * Validates and normalises a Service. Returns the normalised Service, or the errors found
 * (each naming the field).
 */
export function normalizeService(
  svc: Service,
  where: string | (() => string),
): { service?: NormalizedService; errors: InvalidInputError[] } {
  const c = new Checker("Service", svc);
  if (!isPresent(svc)) {
    c.fail(typeof where === "string" ? where : where(), "must be an object", svc);
    return { errors: c.errors };
  }
  const meta = svc.metadata;
  const namespace = meta?.namespace;
  const name = meta?.name;
  if (!isDNS1123Label(namespace)) c.fail("metadata.namespace", "must be a DNS-1123 label", namespace);
  if (!isDNS1035Label(name)) c.fail("metadata.name", "must be a DNS-1035 label", name);
  const spec = svc.spec;
  if (!isPresent(spec)) {
    c.fail("spec", "must be an object", spec);
    return { errors: c.errors };
  }
  const type = spec.type ?? "ClusterIP";
  if (type !== "ClusterIP" && type !== "NodePort" && type !== "LoadBalancer" && type !== "ExternalName") {
    c.fail("spec.type", "must be ClusterIP, NodePort, LoadBalancer or ExternalName", spec.type);
  }

  // cluster IPs, by family
  let clusterIPv4: string | undefined;
  let clusterIPv6: string | undefined;
  const clusterIP = spec.clusterIP;
  if (clusterIP !== undefined && clusterIP !== null && typeof clusterIP !== "string") {
    c.fail("spec.clusterIP", "must be a string", clusterIP);
  }
  const headless = clusterIP === "None";
  const families = arrayOrEmpty(spec.ipFamilies);
  const ips = arrayOrEmpty(spec.clusterIPs);
  if (!families) c.fail("spec.ipFamilies", "must be a list", spec.ipFamilies);
  if (!ips) c.fail("spec.clusterIPs", "must be a list", spec.clusterIPs);
  if (!headless && type !== "ExternalName") {
    if (families && families.length > 0 && ips) {
      families.forEach((f, i) => {
        if (f !== "IPv4" && f !== "IPv6") {
          c.fail(`spec.ipFamilies[${i}]`, "must be IPv4 or IPv6", f);
          return;
        }
        const raw = ips[i];
        if (raw === undefined) return;
        const ip = typeof raw === "string" ? parseIP(raw) : undefined;
        if (!ip) c.fail(`spec.clusterIPs[${i}]`, "must be a valid IP address", raw);
        else if (ip.family !== f) c.fail(`spec.clusterIPs[${i}]`, `is not an ${f} address`, raw);
        else if (f === "IPv4") clusterIPv4 = ip.text;
        else clusterIPv6 = ip.text;
      });
      if (typeof clusterIP === "string" && clusterIP !== "" && ips.length > 0 && ips[0] !== clusterIP) {
        c.fail("spec.clusterIP", "must equal spec.clusterIPs[0]", clusterIP);
      }
    } else if (typeof clusterIP === "string" && clusterIP !== "") {
      // canonical IPv4 (the common case) without parsing into an object
      const v4 = clusterIP.indexOf(":") < 0 ? canonicalIP(clusterIP, "IPv4") : undefined;
      const ip = v4 === undefined ? parseIP(clusterIP) : undefined;
      if (v4 !== undefined) clusterIPv4 = v4;
      else if (!ip) c.fail("spec.clusterIP", "must be a valid IP address or None", clusterIP);
      else if (ip.family === "IPv4") clusterIPv4 = ip.text;
      else clusterIPv6 = ip.text;
    }
  }

  // ports
  const ports: NormalizedPort[] = [];
  const rawPorts = arrayOrEmpty(spec.ports);
  if (!rawPorts) c.fail("spec.ports", "must be a list", spec.ports);
  // duplicates: port names, and port numbers per protocol (as port * 4 + protocol index)
  const portList = rawPorts ?? EMPTY;
  const seenNames: string[] | undefined = portList.length > 1 ? [] : undefined;
  const seenPorts: number[] | undefined = portList.length > 1 ? [] : undefined;
  for (let i = 0; i < portList.length; i++) {
    const p = portList[i];
    const at = () => `spec.ports[${i}]`;
    if (!isObject(p)) {
      c.fail(at(), "must be an object", p);
      continue;
    }
    const portName = p.name ?? "";
    if (typeof portName !== "string" || (portName !== "" && !isDNS1123Label(portName))) {
      c.fail(`${at()}.name`, "must be a DNS-1123 label", p.name);
      continue;
    }
    if (portName === "" && portList.length > 1) {
      c.fail(`${at()}.name`, "is required when a Service has more than one port", p.name);
    }
    if (seenNames?.includes(portName)) {
      c.fail(`${at()}.name`, `duplicate port name ${JSON.stringify(portName)}`, portName);
    }
    seenNames?.push(portName);
    const protocol = parseProtocol(p.protocol);
    if (!protocol) c.fail(`${at()}.protocol`, "must be TCP, UDP or SCTP", p.protocol);
    if (!isPort(p.port, false)) c.fail(`${at()}.port`, "must be an integer between 1 and 65535", p.port);
    const nodePort = p.nodePort ?? 0;
    if (!isPort(nodePort, true)) c.fail(`${at()}.nodePort`, "must be an integer between 0 and 65535", p.nodePort);
    if (protocol && isPort(p.port, false)) {
      const k = p.port * 4 + PROTOCOL_INDEX[protocol];
      if (seenPorts?.includes(k)) {
        c.fail(`${at()}.port`, `duplicate port ${p.port}/${protocol.toUpperCase()}`, p.port);
      }
      seenPorts?.push(k);
      ports.push({ name: portName, protocol, port: p.port, nodePort: isPort(nodePort, true) ? nodePort : 0 });
    }
  }

  // external IPs, source ranges, LB ingress
  const externalIPs: ParsedIP[] = [];
  const rawExternal = arrayOrEmpty(spec.externalIPs);
  if (!rawExternal) c.fail("spec.externalIPs", "must be a list", spec.externalIPs);
  if (rawExternal && rawExternal.length > 0)
    rawExternal.forEach((raw, i) => {
      const ip = typeof raw === "string" ? parseIP(raw) : undefined;
      if (!ip) c.fail(`spec.externalIPs[${i}]`, "must be a valid IP address", raw);
      else externalIPs.push(ip);
    });
  const sourceRanges: ParsedCIDR[] = [];
  const rawRanges = arrayOrEmpty(spec.loadBalancerSourceRanges);
  if (!rawRanges) c.fail("spec.loadBalancerSourceRanges", "must be a list", spec.loadBalancerSourceRanges);
  if (rawRanges && rawRanges.length > 0)
    rawRanges.forEach((raw, i) => {
      const cidr = typeof raw === "string" ? parseCIDR(raw.trim()) : undefined;
      if (!cidr) c.fail(`spec.loadBalancerSourceRanges[${i}]`, "must be a valid CIDR", raw);
      else sourceRanges.push(cidr);
    });
  const vips: ParsedIP[] = [];
  const ingress = arrayOrEmpty(svc.status?.loadBalancer?.ingress);
  if (!ingress) c.fail("status.loadBalancer.ingress", "must be a list", svc.status?.loadBalancer?.ingress);
  if (ingress && ingress.length > 0)
    ingress.forEach((ing, i) => {
      if (!isObject(ing)) {
        c.fail(`status.loadBalancer.ingress[${i}]`, "must be an object", ing);
        return;
      }
      const ipMode = ing.ipMode ?? "VIP";
      if (ipMode !== "VIP" && ipMode !== "Proxy") {
        c.fail(`status.loadBalancer.ingress[${i}].ipMode`, "must be VIP or Proxy", ing.ipMode);
      }
      if (ing.ip === undefined || ing.ip === null || ing.ip === "") return;
      const ip = typeof ing.ip === "string" ? parseIP(ing.ip) : undefined;
      if (!ip) c.fail(`status.loadBalancer.ingress[${i}].ip`, "must be a valid IP address", ing.ip);
      else if (ipMode === "VIP") vips.push(ip);
    });

  // policies
  const etp = spec.externalTrafficPolicy ?? "Cluster";
  if (etp !== "Cluster" && etp !== "Local") {
    c.fail("spec.externalTrafficPolicy", "must be Cluster or Local", spec.externalTrafficPolicy);
  }
  const itp = spec.internalTrafficPolicy ?? "Cluster";
  if (itp !== "Cluster" && itp !== "Local") {
    c.fail("spec.internalTrafficPolicy", "must be Cluster or Local", spec.internalTrafficPolicy);
  }
  const hcnp = spec.healthCheckNodePort ?? 0;
  if (!isPort(hcnp, true)) {
    c.fail("spec.healthCheckNodePort", "must be an integer between 0 and 65535", spec.healthCheckNodePort);
  }
  const affinity = spec.sessionAffinity ?? "None";
  let sticky = 0;
  if (affinity === "ClientIP") {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > 86400) {
      c.fail("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "must be an integer between 1 and 86400", t);
    } else sticky = t;
  } else if (affinity !== "None") {
    c.fail("spec.sessionAffinity", "must be None or ClientIP", spec.sessionAffinity);
  }

  if (c.errors.length > 0) return { errors: c.errors };
  const externallyAccessible =
    type === "LoadBalancer" || type === "NodePort" || (type === "ClusterIP" && externalIPs.length > 0);
  const externalPolicyLocal = externallyAccessible && etp === "Local";
  const needsHealthCheck = type === "LoadBalancer" && externalPolicyLocal;
  return {
    errors: NO_ERRORS,
    service: {
      raw: svc,
      key: `${namespace}/${name}`,
      namespace: namespace as string,
      name: name as string,
      skip: headless || type === "ExternalName" || (clusterIPv4 === undefined && clusterIPv6 === undefined),
      clusterIPv4,
      clusterIPv6,
      ports,
      externalIPs: externalIPs.length > 0 ? externalIPs : EMPTY,
      loadBalancerSourceRanges: sourceRanges.length > 0 ? sourceRanges : EMPTY,
      loadBalancerVIPs: vips.length > 0 ? vips : EMPTY,
      externalPolicyLocal,
      internalPolicyLocal: itp === "Local",
      healthCheckNodePort: needsHealthCheck ? (hcnp as number) : 0,
      stickyMaxAgeSeconds: sticky,
    },
  };
}

const validNodeNames = new Set<string>();

function isNodeName(s: unknown): boolean {
  if (typeof s !== "string") return false;
  if (validNodeNames.has(s)) return true;
  if (!isDNS1123Subdomain(s)) return false;
  if (validNodeNames.size > 100_000) validNodeNames.clear();
  validNodeNames.add(s);
  return true;
}

function hintNames(c: Checker, list: unknown, field: () => string): string[] | undefined {
  const arr = arrayOrEmpty(list);
  if (!arr) {
    c.fail(field(), "must be a list", list);
    return undefined;
  }
  if (arr.length === 0) return undefined;
  const names: string[] = [];
  for (let i = 0; i < arr.length; i++) {
    const h = arr[i];
    if (!isObject(h) || typeof h.name !== "string") c.fail(`${field()}[${i}].name`, "must be a string", h);
    else names.push(h.name);
  }
  return names;
}

function isOptionalBoolean(v: unknown): boolean {
  return v === undefined || v === null || typeof v === "boolean";
}

function endpointPath(index: number): string {
  return `endpoints[${index}]`;
}

interface EndpointColumns {
  ips: string[];
  nodeNames: (string | undefined)[];
  flags: number[] | undefined;
  zoneHints: (readonly string[] | undefined)[] | undefined;
  nodeHints: (readonly string[] | undefined)[] | undefined;
}

/** Validates an endpoint and, when it is valid, appends it to the columns. */
function normalizeEndpoint(c: Checker, ep: Endpoint, index: number, family: IPFamily, cols: EndpointColumns): void {
  if (!isPresent(ep)) {
    c.fail(endpointPath(index), "must be an object", ep);
    return;
  }
  const addresses = arrayOrEmpty(ep.addresses);
  if (!addresses || addresses.length === 0) {
    c.fail(`${endpointPath(index)}.addresses`, "must list at least one address", ep.addresses);
    return;
  }
  let first: string | undefined;
  for (let i = 0; i < addresses.length; i++) {
    const raw = addresses[i];
    const text = typeof raw === "string" ? canonicalIP(raw, family) : undefined;
    if (text !== undefined) {
      if (i === 0) first = text;
      continue;
    }
    const ip = typeof raw === "string" ? parseIP(raw) : undefined;
    if (!ip) c.fail(`${endpointPath(index)}.addresses[${i}]`, "must be a valid IP address", raw);
    else c.fail(`${endpointPath(index)}.addresses[${i}]`, `is not an ${family} address`, raw);
  }
  const cond = ep.conditions ?? {};
  if (!isPresent(cond)) {
    c.fail(`${endpointPath(index)}.conditions`, "must be an object", ep.conditions);
    return;
  }
  const { ready, serving, terminating } = cond;
  if (!isOptionalBoolean(ready)) c.fail(`${endpointPath(index)}.conditions.ready`, "must be a boolean", ready);
  if (!isOptionalBoolean(serving)) c.fail(`${endpointPath(index)}.conditions.serving`, "must be a boolean", serving);
  if (!isOptionalBoolean(terminating))
    c.fail(`${endpointPath(index)}.conditions.terminating`, "must be a boolean", terminating);
  const nodeName = ep.nodeName;
  if (nodeName !== undefined && nodeName !== null && !isNodeName(nodeName)) {
    c.fail(`${endpointPath(index)}.nodeName`, "must be a DNS-1123 subdomain", nodeName);
  }
  let zoneHints: string[] | undefined;
  let nodeHints: string[] | undefined;
  if (ep.hints) {
    zoneHints = hintNames(c, ep.hints.forZones, () => `${endpointPath(index)}.hints.forZones`);
    nodeHints = hintNames(c, ep.hints.forNodes, () => `${endpointPath(index)}.hints.forNodes`);
  }
  if (first === undefined) return;
  // (an endpoint that fails leaves a hole, but then the whole slice is refused)
  cols.ips[index] = first;
  cols.nodeNames[index] = nodeName ?? undefined;
  const flags =
    ((ready ?? true) ? EP_READY : 0) |
    ((serving ?? true) ? EP_SERVING : 0) |
    ((terminating ?? false) ? EP_TERMINATING : 0);
  if (flags !== EP_DEFAULT) cols.flags ??= new Array<number>(cols.ips.length).fill(EP_DEFAULT);
  if (cols.flags) cols.flags[index] = flags;
  if (zoneHints !== undefined) {
    cols.zoneHints ??= new Array(cols.ips.length);
    cols.zoneHints[index] = zoneHints;
  }
  if (nodeHints !== undefined) {
    cols.nodeHints ??= new Array(cols.ips.length);
    cols.nodeHints[index] = nodeHints;
  }
}

/**
 * Validates and normalises an EndpointSlice. FQDN slices come back as `{ errors: [] }` without a
 * slice: kube-proxy ignores them.
 */
export function normalizeSlice(
  slice: EndpointSlice,
  where: string | (() => string),
): { slice?: NormalizedSlice; errors: InvalidInputError[] } {
  const c = new Checker("EndpointSlice", slice);
  if (!isPresent(slice)) {
    c.fail(typeof where === "string" ? where : where(), "must be an object", slice);
    return { errors: c.errors };
  }
  const meta = slice.metadata;
  const namespace = meta?.namespace;
  const name = meta?.name;
  if (!isDNS1123Label(namespace)) c.fail("metadata.namespace", "must be a DNS-1123 label", namespace);
  if (!isDNS1123Subdomain(name)) c.fail("metadata.name", "must be a DNS-1123 subdomain", name);
  const svcName = meta?.labels?.[LABEL_SERVICE_NAME];
  if (!isDNS1035Label(svcName)) {
    c.fail(`metadata.labels["${LABEL_SERVICE_NAME}"]`, "must name the Service (a DNS-1035 label)", svcName);
  }
  const at = slice.addressType;
  if (at !== "IPv4" && at !== "IPv6" && at !== "FQDN") c.fail("addressType", "must be IPv4, IPv6 or FQDN", at);
  if (at === "FQDN") return { errors: c.errors };
  const family = at === "IPv6" ? "IPv6" : "IPv4";

  const ports: { name: string; protocol: Protocol; port: number }[] = [];
  const rawPorts = arrayOrEmpty(slice.ports);
  if (!rawPorts) c.fail("ports", "must be a list", slice.ports);
  // duplicates: name + protocol pairs
  const portList = rawPorts ?? EMPTY;
  const seenNames: string[] | undefined = portList.length > 1 ? [] : undefined;
  const seenProtocols: Protocol[] | undefined = portList.length > 1 ? [] : undefined;
  for (let i = 0; i < portList.length; i++) {
    const p = portList[i];
    if (!isObject(p)) {
      c.fail(`ports[${i}]`, "must be an object", p);
      continue;
    }
    const portName = p.name;
    if (
      portName !== undefined &&
      portName !== null &&
      (typeof portName !== "string" || (portName !== "" && !isDNS1123Label(portName)))
    ) {
      c.fail(`ports[${i}].name`, "must be a DNS-1123 label", portName);
      continue;
    }
    const protocol = parseProtocol(p.protocol);
    if (!protocol) {
      c.fail(`ports[${i}].protocol`, "must be TCP, UDP or SCTP", p.protocol);
      continue;
    }
    const name = portName ?? "";
    if (seenNames && seenProtocols && portName !== undefined && portName !== null) {
      for (let j = 0; j < seenNames.length; j++) {
        if (seenNames[j] === name && seenProtocols[j] === protocol) {
          c.fail(`ports[${i}].name`, `duplicate port name ${JSON.stringify(portName)}`, portName);
          break;
        }
      }
    }
    seenNames?.push(name);
    seenProtocols?.push(protocol);
    if (p.port !== undefined && p.port !== null && !isPort(p.port, true)) {
      c.fail(`ports[${i}].port`, "must be an integer between 1 and 65535", p.port);
      continue;
    }
    // kube-proxy ignores ports without a name or a number
    if (portName === undefined || portName === null || !p.port) continue;
    ports.push({ name: portName, protocol, port: p.port as number });
  }

  const rawEndpoints = arrayOrEmpty(slice.endpoints);
  if (!rawEndpoints) c.fail("endpoints", "must be a list", slice.endpoints);
  const list = rawEndpoints ?? [];
  // exactly sized: the columns are kept as long as the slice is
  const endpoints: EndpointColumns = {
    ips: new Array<string>(list.length),
    nodeNames: new Array<string | undefined>(list.length),
    flags: undefined,
    zoneHints: undefined,
    nodeHints: undefined,
  };
  for (let i = 0; i < list.length; i++) normalizeEndpoint(c, list[i] as Endpoint, i, family, endpoints);
  if (c.errors.length > 0) return { errors: c.errors };
  return {
    errors: NO_ERRORS,
    slice: {
      raw: slice,
      serviceKey: `${namespace}/${svcName}`,
      namespace: namespace as string,
      name: name as string,
      id: `${namespace}/${name}`,
      family,
      ports,
      ips: endpoints.ips,
      nodeNames: endpoints.nodeNames,
      flags: endpoints.flags,
      zoneHints: endpoints.zoneHints,
      nodeHints: endpoints.nodeHints,
    },
  };
}
