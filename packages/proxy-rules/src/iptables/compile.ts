// compileIptables: Services + EndpointSlices + node + KubeProxyConfiguration → the
// iptables-restore payload kube-proxy's iptables mode would write (pkg/proxy/iptables/proxier.go,
// syncProxyRules), per IP family, deterministic, with partial sync.

import { InvalidInputError } from "../errors.js";
import type { HostFacts, KubeProxyConfiguration, NodeInfo } from "../model/config.js";
import { type FamilyContext, parseNode, resolveFamilyContext } from "../model/context.js";
import { cidrContains, type IPFamily, isLoopback, parseIP } from "../model/ip.js";
import type { EndpointSlice, Service } from "../model/kube-types.js";
import {
  LABEL_SERVICE_NAME,
  type NormalizedService,
  type NormalizedSlice,
  normalizeService,
  normalizeSlice,
} from "../model/normalize.js";
import {
  categorizeEndpoints,
  type EndpointInfo,
  endpointsFor,
  externallyAccessible,
  type ServicePortInfo,
  servicePortsFor,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "../model/service-port.js";
import type { IptablesChain, IptablesJump, IptablesRule, IptablesTables } from "./ir.js";
import { IPTABLES_JUMPS, renderJumps } from "./jumps.js";
import { probability } from "./probability.js";
import { chainLine, renderRule } from "./render.js";

/** The input of the compiler: the API objects and the node they are programmed on. */
export interface ProxyInput {
  /** v1 Services, as `kubectl get services -A -o json` lists them (`.items`). */
  readonly services: readonly Service[];
  /** discovery.k8s.io/v1 EndpointSlices. */
  readonly endpointSlices: readonly EndpointSlice[];
  /** The node kube-proxy runs on. */
  readonly node: NodeInfo;
  /** kube-proxy's configuration; every field defaults as in kube-proxy. */
  readonly config?: KubeProxyConfiguration | undefined;
  /** Facts kube-proxy probes on the host (iptables features, nfacct, sysctls). */
  readonly host?: HostFacts | undefined;
}

/** Options of {@link compileIptables}. */
export interface CompileIptablesOptions {
  /**
   * The compilation whose payload was last loaded successfully. The new payload is then a partial
   * sync for `iptables-restore --noflush`: the top-level chains are rewritten, per-service chains
   * only for Services whose rules changed, and chains no longer used are deleted. When the
   * configuration or node facts changed, a full payload is produced instead.
   *
   * Input objects are compared by identity: pass new objects for changed Services and slices
   * (as informers do) and do not mutate objects in place.
   */
  readonly previous?: IptablesCompilation | undefined;
  /**
   * Produce a full payload even with `previous` (kube-proxy does so after a failed restore, on a
   * node label change and periodically). Chains of `previous` that are no longer used are deleted.
   */
  readonly fullSync?: boolean | undefined;
  /**
   * Compile what is valid and report invalid objects in `errors` instead of throwing the first
   * {@link InvalidInputError}. An invalid object is left out entirely.
   */
  readonly partialResults?: boolean | undefined;
  /**
   * The IP families to compile. Default: the families of `node.addresses` (IPv4 when it has
   * none), so a dual-stack node gets one result per family.
   */
  readonly families?: readonly IPFamily[] | undefined;
  /**
   * Chains present in the nat table before this (full) sync, as `iptables-save` lists them.
   * kube-proxy deletes the stale `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`, `KUBE-FW-` and
   * `KUBE-SEP-` chains among them. With `previous`, the chains of the previous compilation are used.
   */
  readonly existingChains?: Iterable<string> | undefined;
  /**
   * Use this mark string instead of the one derived from `iptables.masqueradeBit`
   * (kube-proxy's unit tests use `0x4000`; kube-proxy itself prints `0x00004000`).
   */
  readonly masqueradeMark?: string | undefined;
  /**
   * Above this many endpoints kube-proxy drops per-endpoint comments ("large cluster mode").
   * Default 1000, as kube-proxy's `largeClusterEndpointsThreshold`.
   */
  readonly largeClusterEndpointsThreshold?: number | undefined;
}

/** Counters describing a result. */
export interface IptablesStats {
  /** Service ports of this family that are proxied. */
  readonly servicePorts: number;
  /** Endpoints of those ports (the count that selects large-cluster mode). */
  readonly endpoints: number;
  /** Per-endpoint comments are left out (more than the threshold of endpoints). */
  readonly largeClusterMode: boolean;
  /** Services whose per-service chains are in this payload. */
  readonly rewrittenServices: number;
  /** Chains this payload deletes. */
  readonly deletedChains: number;
  /** Rules in the payload, per table. */
  readonly filterRules: number;
  readonly natRules: number;
}

/** The ruleset of one IP family. */
export interface IptablesResult {
  readonly family: IPFamily;
  /**
   * The iptables-restore payload (`*filter … COMMIT`, `*nat … COMMIT`), for
   * `iptables-restore --noflush` (or `ip6tables-restore` for IPv6), as kube-proxy writes it.
   */
  readonly text: string;
  /** The structured form `text` was rendered from. */
  readonly tables: IptablesTables;
  /** This payload is a partial sync (it relies on the previous one being loaded). */
  readonly partial: boolean;
  /** The jumps from built-in chains kube-proxy ensures outside the payload. */
  readonly jumps: readonly IptablesJump[];
  /** The jumps as a restore payload for `--noflush`, to load before `text` on a fresh host. */
  readonly jumpsText: string;
  readonly stats: IptablesStats;
}

/** The result of {@link compileIptables}: one ruleset per IP family. */
export interface IptablesCompilation {
  /** One result per compiled family, in the order of `families`. */
  readonly results: readonly IptablesResult[];
  readonly ipv4: IptablesResult | undefined;
  readonly ipv6: IptablesResult | undefined;
  /** With `partialResults`: the invalid objects that were left out. Otherwise empty. */
  readonly errors: readonly InvalidInputError[];
}

// ---------------------------------------------------------------------------------------------
// internal state carried from one compilation to the next (for partial sync and speed)

interface Normalized<T> {
  readonly value: T | undefined;
  readonly errors: readonly InvalidInputError[];
}

interface Fragment {
  readonly svcRaw: Service;
  readonly sliceRaws: readonly EndpointSlice[];
  readonly servicePorts: number;
  readonly endpointCount: number;
  /** Rules per top-level slot (see SLOTS) and their rendered text. */
  readonly slots: readonly (readonly IptablesRule[])[];
  readonly slotText: readonly string[];
  /** The Service's own nat chains, in declaration order, and their rendered text. */
  readonly chains: readonly IptablesChain[];
  readonly chainDecl: string;
  readonly chainRules: string;
  readonly errors: readonly InvalidInputError[];
}

interface FamilyState {
  readonly contextKey: string;
  readonly order: readonly string[];
  readonly fragments: ReadonlyMap<string, Fragment>;
}

interface InternalState {
  readonly serviceCache: WeakMap<object, Normalized<NormalizedService>>;
  readonly sliceCache: WeakMap<object, Normalized<NormalizedSlice>>;
  readonly families: ReadonlyMap<IPFamily, FamilyState>;
}

const states = new WeakMap<IptablesCompilation, InternalState>();

// top-level chain slots a Service contributes rules to
const F_SERVICES = 0;
const F_EXTERNAL = 1;
const F_NODEPORTS = 2;
const F_FIREWALL = 3;
const N_SERVICES = 4;
const N_NODEPORTS = 5;
const SLOT_CHAINS = [
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-FIREWALL",
  "KUBE-SERVICES",
  "KUBE-NODEPORTS",
] as const;

const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
const SERVICE_CHAIN_PREFIXES = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];

const LOCALHOST_NPS_COUNTER = "localhost_nps_accepted_pkts";
const CT_INVALID_COUNTER = "ct_state_invalid_dropped_pkts";

const literalTokens = new WeakMap<TemplateStringsArray, string[][]>();

/**
 * Builds a rule from restore-like text: the literal parts are split on blanks, each interpolated
 * string is one argv token (so a comment with blanks stays one argument), an interpolated list is
 * spliced in. `r\`-m comment --comment ${c} -j ${chain}\``
 */
function r(strings: TemplateStringsArray, ...values: (string | readonly string[])[]): IptablesRule {
  let parts = literalTokens.get(strings);
  if (!parts) {
    parts = strings.map((s) => s.split(" ").filter((t) => t !== ""));
    literalTokens.set(strings, parts);
  }
  const args: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const lit = parts[i]!;
    for (let j = 0; j < lit.length; j++) args.push(lit[j]!);
    if (i < values.length) {
      const v = values[i]!;
      if (typeof v === "string") args.push(v);
      else for (let j = 0; j < v.length; j++) args.push(v[j]!);
    }
  }
  return { args };
}

/**
 * Compiles Services and EndpointSlices into the iptables rules kube-proxy's iptables mode would
 * program on `input.node`, one result per IP family. Pure and deterministic: the same input gives
 * the same text. With `options.previous` the result is a partial sync.
 *
 * @throws {@link InvalidInputError} for an invalid object (unless `partialResults`), an invalid
 * configuration or node.
 *
 * @example
 * ```ts
 * import { compileIptables } from "@nodekit/proxy-rules";
 *
 * const { ipv4 } = compileIptables({
 *   services: [{
 *     metadata: { namespace: "default", name: "web" },
 *     spec: { type: "ClusterIP", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, protocol: "TCP" }] },
 *   }],
 *   endpointSlices: [{
 *     metadata: { namespace: "default", name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
 *     addressType: "IPv4",
 *     endpoints: [{ addresses: ["10.244.0.11"], conditions: { ready: true } }],
 *     ports: [{ name: "http", port: 8080, protocol: "TCP" }],
 *   }],
 *   node: { name: "node-1", addresses: ["192.168.77.1"] },
 *   config: { clusterCIDR: "10.244.0.0/16" },
 * });
 * // ipv4.jumpsText then ipv4.text: `iptables-restore --noflush`
 * console.log(ipv4?.text);
 * ```
 */
export function compileIptables(input: ProxyInput, options: CompileIptablesOptions = {}): IptablesCompilation {
  if (typeof input !== "object" || input === null) {
    throw new InvalidInputError({ kind: "ProxyInput" }, "", "must be an object", input);
  }
  const node = parseNode(input.node);
  const prevState = options.previous ? states.get(options.previous) : undefined;
  const serviceCache = prevState?.serviceCache ?? new WeakMap();
  const sliceCache = prevState?.sliceCache ?? new WeakMap();
  const errors: InvalidInputError[] = [];

  const families = options.families ?? defaultFamilies(node.addresses.map((a) => a.family));
  for (const f of families) {
    if (f !== "IPv4" && f !== "IPv6") {
      throw new InvalidInputError({ kind: "CompileIptablesOptions" }, "families", "must be IPv4 or IPv6", f);
    }
  }
  const contexts = families.map((f) =>
    resolveFamilyContext(f, node, input.config ?? {}, input.host ?? {}, { masqueradeMark: options.masqueradeMark }),
  );

  // --- normalise services (cached by object identity)
  const services = asList(input.services, "services");
  const serviceByKey = new Map<string, { raw: Service; norm: NormalizedService }>();
  for (let i = 0; i < services.length; i++) {
    const raw = services[i]!;
    let n = typeof raw === "object" && raw !== null ? serviceCache.get(raw) : undefined;
    if (!n) {
      const r = normalizeService(raw, `services[${i}]`);
      n = { value: r.service, errors: r.errors };
      if (typeof raw === "object" && raw !== null) serviceCache.set(raw, n);
    }
    if (n.errors.length > 0) {
      errors.push(...n.errors);
      continue;
    }
    const norm = n.value!;
    if (serviceByKey.has(norm.key)) {
      errors.push(
        new InvalidInputError(
          { kind: "Service", namespace: norm.namespace, name: norm.name },
          "metadata.name",
          "duplicate Service",
          norm.name,
        ),
      );
      continue;
    }
    serviceByKey.set(norm.key, { raw, norm });
  }

  // --- normalise slices and group them by Service
  const slices = asList(input.endpointSlices, "endpointSlices");
  const slicesByService = new Map<string, { raws: EndpointSlice[]; norms: NormalizedSlice[] }>();
  const sliceNames = new Set<string>();
  for (let i = 0; i < slices.length; i++) {
    const raw = slices[i]!;
    let n = typeof raw === "object" && raw !== null ? sliceCache.get(raw) : undefined;
    if (!n) {
      const r = normalizeSlice(raw, `endpointSlices[${i}]`);
      n = { value: r.slice, errors: r.errors };
      if (typeof raw === "object" && raw !== null) sliceCache.set(raw, n);
    }
    if (n.errors.length > 0) {
      errors.push(...n.errors);
      continue;
    }
    const norm = n.value;
    if (!norm) continue; // FQDN
    const ns = norm.serviceKey.slice(0, norm.serviceKey.indexOf("/"));
    const id = `${ns}/${norm.name}`;
    if (sliceNames.has(id)) {
      errors.push(
        new InvalidInputError(
          { kind: "EndpointSlice", namespace: ns, name: norm.name },
          "metadata.name",
          "duplicate EndpointSlice",
          norm.name,
        ),
      );
      continue;
    }
    sliceNames.add(id);
    let group = slicesByService.get(norm.serviceKey);
    if (!group) {
      group = { raws: [], norms: [] };
      slicesByService.set(norm.serviceKey, group);
    }
    group.raws.push(raw);
    group.norms.push(norm);
  }
  for (const [key, group] of slicesByService) {
    if (serviceByKey.has(key)) continue;
    for (const s of group.norms) {
      const ns = key.slice(0, key.indexOf("/"));
      errors.push(
        new InvalidInputError(
          { kind: "EndpointSlice", namespace: ns, name: s.name },
          `metadata.labels["${LABEL_SERVICE_NAME}"]`,
          `names Service ${JSON.stringify(key)}, which is not in the input`,
          key.slice(ns.length + 1),
        ),
      );
    }
  }

  // --- service order: sorted by key (reused when the set of keys is unchanged)
  const order = serviceOrder(serviceByKey, prevState?.families.get(families[0] ?? "IPv4")?.order);

  // --- per family
  const threshold = options.largeClusterEndpointsThreshold ?? 1000;
  const results: IptablesResult[] = [];
  const familyStates = new Map<IPFamily, FamilyState>();
  for (const ctx of contexts) {
    const family = ctx.config.family;
    const prevFamily = prevState?.families.get(family);
    const usable = prevFamily && !options.fullSync && prevFamily.contextKey === ctx.key ? prevFamily : undefined;
    const { result, state, familyErrors } = compileFamily(
      ctx,
      order,
      serviceByKey,
      slicesByService,
      usable,
      prevFamily,
      options.existingChains,
      threshold,
    );
    errors.push(...familyErrors);
    results.push(result);
    familyStates.set(family, state);
  }

  if (errors.length > 0 && !options.partialResults) throw errors[0];
  const compilation: IptablesCompilation = {
    results,
    ipv4: results.find((r) => r.family === "IPv4"),
    ipv6: results.find((r) => r.family === "IPv6"),
    errors: options.partialResults ? errors : [],
  };
  states.set(compilation, { serviceCache, sliceCache, families: familyStates });
  return compilation;
}

function asList<T>(v: readonly T[] | undefined, field: string): readonly T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidInputError({ kind: "ProxyInput" }, field, "must be a list", v);
  return v;
}

function defaultFamilies(present: IPFamily[]): IPFamily[] {
  const out: IPFamily[] = [];
  for (const f of present) if (!out.includes(f)) out.push(f);
  return out.length > 0 ? out : ["IPv4"];
}

function serviceOrder(byKey: ReadonlyMap<string, unknown>, prev: readonly string[] | undefined): readonly string[] {
  if (prev && prev.length === byKey.size) {
    let same = true;
    for (const k of prev) {
      if (!byKey.has(k)) {
        same = false;
        break;
      }
    }
    if (same) return prev;
  }
  return [...byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function sameRefs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const EMPTY_SLICES = { raws: [] as EndpointSlice[], norms: [] as NormalizedSlice[] };

interface PortPlan {
  readonly sp: ServicePortInfo;
  readonly endpoints: readonly EndpointInfo[];
}

function compileFamily(
  ctx: FamilyContext,
  order: readonly string[],
  serviceByKey: ReadonlyMap<string, { raw: Service; norm: NormalizedService }>,
  slicesByService: ReadonlyMap<string, { raws: EndpointSlice[]; norms: NormalizedSlice[] }>,
  prev: FamilyState | undefined,
  prevAny: FamilyState | undefined,
  existingChains: Iterable<string> | undefined,
  threshold: number,
): { result: IptablesResult; state: FamilyState; familyErrors: InvalidInputError[] } {
  const family = ctx.config.family;
  const partial = prev !== undefined;
  const familyErrors: InvalidInputError[] = [];

  // Phase 1: which fragments can be reused; plan the others (endpoints per port).
  const reused = new Map<string, Fragment>();
  const plans = new Map<string, { plan: PortPlan[]; sliceErrors: InvalidInputError[]; raws: EndpointSlice[] }>();
  let totalEndpoints = 0;
  let servicePorts = 0;
  for (const key of order) {
    const svc = serviceByKey.get(key)!;
    const group = slicesByService.get(key) ?? EMPTY_SLICES;
    const old = prev?.fragments.get(key);
    if (old && old.svcRaw === svc.raw && sameRefs(old.sliceRaws, group.raws)) {
      reused.set(key, old);
      totalEndpoints += old.endpointCount;
      servicePorts += old.servicePorts;
      continue;
    }
    const ports = servicePortsFor(svc.norm, family);
    const { usable, sliceErrors } = checkSlices(svc.norm, ports, group.norms, family);
    const plan = ports.map((sp) => ({ sp, endpoints: endpointsFor(sp, usable, ctx.topology.nodeName) }));
    for (const p of plan) totalEndpoints += p.endpoints.length;
    servicePorts += plan.length;
    plans.set(key, { plan, sliceErrors, raws: group.raws });
  }
  const largeClusterMode = totalEndpoints > threshold;

  // Phase 2: build the fragments that could not be reused.
  const fragments = new Map<string, Fragment>();
  const rewritten: string[] = [];
  const deleted: string[] = [];
  for (const key of order) {
    const old = reused.get(key);
    if (old) {
      fragments.set(key, old);
      familyErrors.push(...old.errors);
      continue;
    }
    const { plan, sliceErrors, raws } = plans.get(key)!;
    const frag = buildFragment(ctx, serviceByKey.get(key)!.raw, raws, plan, largeClusterMode, sliceErrors);
    fragments.set(key, frag);
    familyErrors.push(...sliceErrors);
    const before = prev?.fragments.get(key);
    if (!partial || !before || before.chainDecl !== frag.chainDecl || before.chainRules !== frag.chainRules) {
      rewritten.push(key);
    }
    if (partial && before) {
      const now = new Set(frag.chains.map((c) => c.name));
      for (const c of before.chains) if (!now.has(c.name)) deleted.push(c.name);
    }
  }

  if (partial) {
    // chains of Services that are gone
    for (const [key, frag] of prev.fragments) {
      if (!fragments.has(key)) for (const c of frag.chains) deleted.push(c.name);
    }
  } else {
    // full sync: everything is rewritten; stale chains come from the previous state or the caller
    const active = new Set<string>();
    for (const f of fragments.values()) for (const c of f.chains) active.add(c.name);
    const existing = new Set<string>(existingChains ?? []);
    if (prevAny) for (const f of prevAny.fragments.values()) for (const c of f.chains) existing.add(c.name);
    for (const name of [...existing].sort()) {
      if (!active.has(name) && SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p))) deleted.push(name);
    }
  }
  deleted.sort();

  const result = assemble(ctx, order, fragments, rewritten, deleted, partial, {
    servicePorts,
    endpoints: totalEndpoints,
    largeClusterMode,
  });
  return { result, state: { contextKey: ctx.key, order, fragments }, familyErrors };
}

/**
 * Cross-object check of a Service's slices (of this family): every port of a slice must match a
 * port (name and protocol) of the Service. Slices that do not are left out and reported.
 */
function checkSlices(
  svc: NormalizedService,
  ports: readonly ServicePortInfo[],
  slices: readonly NormalizedSlice[],
  family: IPFamily,
): { usable: NormalizedSlice[]; sliceErrors: InvalidInputError[] } {
  const sliceErrors: InvalidInputError[] = [];
  if (ports.length === 0) return { usable: [...slices], sliceErrors };
  const usable: NormalizedSlice[] = [];
  for (const s of slices) {
    if (s.family !== family) continue;
    const bad = s.ports.findIndex((p) => !ports.some((sp) => sp.portName === p.name && sp.protocol === p.protocol));
    if (bad >= 0) {
      const p = s.ports[bad]!;
      sliceErrors.push(
        new InvalidInputError(
          { kind: "EndpointSlice", namespace: svc.namespace, name: s.name },
          `ports[${bad}]`,
          `port ${JSON.stringify(p.name)}/${p.protocol.toUpperCase()} matches no port of Service ${JSON.stringify(svc.key)}`,
          p,
        ),
      );
      continue;
    }
    usable.push(s);
  }
  return { usable, sliceErrors };
}

function buildFragment(
  ctx: FamilyContext,
  svcRaw: Service,
  sliceRaws: readonly EndpointSlice[],
  plan: readonly PortPlan[],
  largeClusterMode: boolean,
  errors: readonly InvalidInputError[],
): Fragment {
  const slots: IptablesRule[][] = [[], [], [], [], [], []];
  const chainOrder: string[] = [];
  const chainRules = new Map<string, IptablesRule[]>();
  const declare = (name: string) => {
    if (!chainRules.has(name)) chainRules.set(name, []);
    chainOrder.push(name);
  };
  const write = (chain: string, r: IptablesRule) => {
    let list = chainRules.get(chain);
    if (!list) {
      list = [];
      chainRules.set(chain, list);
    }
    list.push(r);
  };
  let endpointCount = 0;
  for (const { sp, endpoints } of plan) {
    endpointCount += endpoints.length;
    writeServicePort(ctx, sp, endpoints, largeClusterMode, slots, declare, write);
  }
  const chains: IptablesChain[] = chainOrder.map((name) => ({ name, rules: chainRules.get(name)! }));
  let chainDecl = "";
  let chainText = "";
  for (const c of chains) {
    chainDecl += chainLine(c.name);
    for (const r of c.rules) chainText += `${renderRule(c.name, r)}\n`;
  }
  const slotText = slots.map((rules, i) => {
    let t = "";
    for (const r of rules) t += `${renderRule(SLOT_CHAINS[i]!, r)}\n`;
    return t;
  });
  return {
    svcRaw,
    sliceRaws,
    servicePorts: plan.length,
    endpointCount,
    slots,
    slotText,
    chains,
    chainDecl,
    chainRules: chainText,
    errors,
  };
}

/** The rules of one service port, as kube-proxy's syncProxyRules writes them. */
function writeServicePort(
  ctx: FamilyContext,
  sp: ServicePortInfo,
  allEndpoints: readonly EndpointInfo[],
  largeClusterMode: boolean,
  slots: IptablesRule[][],
  declare: (name: string) => void,
  write: (chain: string, r: IptablesRule) => void,
): void {
  const cfg = ctx.config;
  const proto = sp.protocol;
  const spn = sp.nameString;
  const port = String(sp.port);
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(
    allEndpoints,
    sp,
    ctx.topology,
  );

  const clusterPolicyChain = `KUBE-SVC-${sp.hash}`;
  const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
  const localPolicyChain = `KUBE-SVL-${sp.hash}`;
  const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

  let internalPolicyChain = clusterPolicyChain;
  let hasInternalEndpoints = hasAnyEndpoints;
  if (sp.internalPolicyLocal) {
    internalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasInternalEndpoints = false;
  }
  let externalPolicyChain = clusterPolicyChain;
  let hasExternalEndpoints = hasAnyEndpoints;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasExternalEndpoints = false;
  }
  const extChain = `KUBE-EXT-${sp.hash}`;
  const usesExternalTrafficChain = hasAnyEndpoints && externallyAccessible(sp);
  const fwChain = `KUBE-FW-${sp.hash}`;
  const usesFWChain = hasAnyEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFWChain ? fwChain : extChain;

  let internalTarget = "";
  let internalComment = "";
  let externalTarget = "";
  let externalComment = "";
  if (!hasAnyEndpoints) {
    internalTarget = "REJECT";
    internalComment = `${spn} has no endpoints`;
    externalTarget = "REJECT";
    externalComment = internalComment;
  } else {
    if (!hasInternalEndpoints) {
      internalTarget = "DROP";
      internalComment = `${spn} has no local endpoints`;
    }
    if (!hasExternalEndpoints) {
      externalTarget = "DROP";
      externalComment = `${spn} has no local endpoints`;
    }
  }
  const natServices = slots[N_SERVICES]!;
  const natNodePorts = slots[N_NODEPORTS]!;
  const filterServices = slots[F_SERVICES]!;
  const filterExternal = slots[F_EXTERNAL]!;

  // cluster IP
  if (hasInternalEndpoints) {
    natServices.push(
      r`-m comment --comment ${`${spn} cluster IP`} -m ${proto} -p ${proto} -d ${sp.clusterIP} --dport ${port} -j ${internalPolicyChain}`,
    );
  } else {
    filterServices.push(
      r`-m comment --comment ${internalComment} -m ${proto} -p ${proto} -d ${sp.clusterIP} --dport ${port} -j ${internalTarget}`,
    );
  }

  // external IPs
  for (const ip of sp.externalIPs) {
    if (hasAnyEndpoints) {
      natServices.push(
        r`-m comment --comment ${`${spn} external IP`} -m ${proto} -p ${proto} -d ${ip} --dport ${port} -j ${extChain}`,
      );
    }
    if (!hasExternalEndpoints) {
      filterExternal.push(
        r`-m comment --comment ${externalComment} -m ${proto} -p ${proto} -d ${ip} --dport ${port} -j ${externalTarget}`,
      );
    }
  }

  // load-balancer ingress
  for (const ip of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) {
      natServices.push(
        r`-m comment --comment ${`${spn} loadbalancer IP`} -m ${proto} -p ${proto} -d ${ip} --dport ${port} -j ${lbChain}`,
      );
    }
    if (usesFWChain) {
      slots[F_FIREWALL]!.push(
        r`-m comment --comment ${`${spn} traffic not accepted by ${fwChain}`} -m ${proto} -p ${proto} -d ${ip} --dport ${port} -j DROP`,
      );
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of sp.loadBalancerVIPs) {
      filterExternal.push(
        r`-m comment --comment ${externalComment} -m ${proto} -p ${proto} -d ${ip} --dport ${port} -j ${externalTarget}`,
      );
    }
  }

  // node ports (not subject to loadBalancerSourceRanges)
  if (sp.nodePort !== 0) {
    const nodePort = String(sp.nodePort);
    if (hasAnyEndpoints) {
      if (cfg.localhostNodePorts && cfg.family === "IPv4" && cfg.nfacct) {
        natNodePorts.push(
          r`-m comment --comment ${spn} -m ${proto} -p ${proto} -d 127.0.0.0/8 --dport ${nodePort} -m nfacct --nfacct-name ${LOCALHOST_NPS_COUNTER} -j ${extChain}`,
        );
      }
      natNodePorts.push(r`-m comment --comment ${spn} -m ${proto} -p ${proto} --dport ${nodePort} -j ${extChain}`);
    }
    if (!hasExternalEndpoints) {
      filterExternal.push(
        r`-m comment --comment ${externalComment} -m addrtype --dst-type LOCAL -m ${proto} -p ${proto} --dport ${nodePort} -j ${externalTarget}`,
      );
    }
  }

  // health check node port, whether or not there are local endpoints
  if (sp.healthCheckNodePort !== 0) {
    slots[F_NODEPORTS]!.push(
      r`-m comment --comment ${`${spn} health check node port`} -m tcp -p tcp --dport ${String(sp.healthCheckNodePort)} -j ACCEPT`,
    );
  }

  // internal traffic: masquerade off-cluster sources
  if (hasInternalEndpoints) {
    const head =
      r`-m comment --comment ${`${spn} cluster IP`} -m ${proto} -p ${proto} -d ${sp.clusterIP} --dport ${port}`.args;
    if (cfg.masqueradeAll) write(internalPolicyChain, r`${head} -j ${KUBE_MARK_MASQ}`);
    else if (ctx.detector) write(internalPolicyChain, r`${head} ${ctx.detector.ifNotLocal} -j ${KUBE_MARK_MASQ}`);
  }

  // external traffic: every external destination goes through KUBE-EXT
  if (usesExternalTrafficChain) {
    declare(extChain);
    if (!sp.externalPolicyLocal) {
      write(
        extChain,
        r`-m comment --comment ${`masquerade traffic for ${spn} external destinations`} -j ${KUBE_MARK_MASQ}`,
      );
    } else {
      if (ctx.detector) {
        write(
          extChain,
          r`-m comment --comment ${`pod traffic for ${spn} external destinations`} ${ctx.detector.ifLocal} -j ${clusterPolicyChain}`,
        );
      }
      write(
        extChain,
        r`-m comment --comment ${`masquerade LOCAL traffic for ${spn} external destinations`} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      );
      write(
        extChain,
        r`-m comment --comment ${`route LOCAL traffic for ${spn} external destinations`} -m addrtype --src-type LOCAL -j ${clusterPolicyChain}`,
      );
    }
    if (hasExternalEndpoints) write(extChain, r`-j ${externalPolicyChain}`);
  }

  // load-balancer source ranges
  if (usesFWChain) {
    declare(fwChain);
    const comment = `${spn} loadbalancer IP`;
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      write(fwChain, r`-m comment --comment ${comment} -s ${cidr.text} -j ${extChain}`);
      if (ctx.nodeIP && cidrContains(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) {
      for (const ip of sp.loadBalancerVIPs) write(fwChain, r`-m comment --comment ${comment} -s ${ip} -j ${extChain}`);
    }
    write(fwChain, r`-m comment --comment ${`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`}`);
  }

  if (usesClusterPolicyChain) {
    declare(clusterPolicyChain);
    writeServiceToEndpointRules(sp, clusterPolicyChain, clusterEndpoints, largeClusterMode, write);
  }
  if (usesLocalPolicyChain) {
    declare(localPolicyChain);
    writeServiceToEndpointRules(sp, localPolicyChain, localEndpoints, largeClusterMode, write);
  }

  // endpoint chains
  const comment = largeClusterMode ? [] : ["-m", "comment", "--comment", spn];
  for (const ep of allReachableEndpoints) {
    const sep = ep.chainName;
    declare(sep);
    write(sep, r`${comment} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`);
    const affinity = sp.stickyMaxAgeSeconds > 0 ? ["-m", "recent", "--name", sep, "--set"] : [];
    write(sep, r`${comment} ${affinity} -m ${proto} -p ${proto} -j DNAT --to-destination ${ep.endpoint}`);
  }
}

function writeServiceToEndpointRules(
  sp: ServicePortInfo,
  chain: string,
  endpoints: readonly EndpointInfo[],
  largeClusterMode: boolean,
  write: (chain: string, r: IptablesRule) => void,
): void {
  const comment = (ep: EndpointInfo) =>
    largeClusterMode ? [] : ["-m", "comment", "--comment", `${sp.nameString} -> ${ep.endpoint}`];
  if (sp.stickyMaxAgeSeconds > 0) {
    const seconds = String(sp.stickyMaxAgeSeconds);
    for (const ep of endpoints) {
      const sep = ep.chainName;
      write(chain, r`${comment(ep)} -m recent --name ${sep} --rcheck --seconds ${seconds} --reap -j ${sep}`);
    }
  }
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i]!;
    const stat = i < n - 1 ? ["-m", "statistic", "--mode", "random", "--probability", probability(n - i)] : [];
    write(chain, r`${comment(ep)} ${stat} -j ${ep.chainName}`);
  }
}

/** Top-level rules and the final text. */
function assemble(
  ctx: FamilyContext,
  order: readonly string[],
  fragments: ReadonlyMap<string, Fragment>,
  rewritten: readonly string[],
  deleted: readonly string[],
  partial: boolean,
  counts: { servicePorts: number; endpoints: number; largeClusterMode: boolean },
): IptablesResult {
  const cfg = ctx.config;
  const mark = cfg.masqueradeMark;
  const isIPv6 = cfg.family === "IPv6";

  // global rules
  const randomFully = cfg.randomFully ? ["--random-fully"] : [];
  const postrouting: IptablesRule[] = [
    r`-m mark ! --mark ${`${mark}/${mark}`} -j RETURN`,
    r`-j MARK --xor-mark ${mark}`,
    r`-m comment --comment ${"kubernetes service traffic requiring SNAT"} -j MASQUERADE ${randomFully}`,
  ];
  const markMasq: IptablesRule[] = [r`-j MARK --or-mark ${mark}`];
  const kubeletFirewall: IptablesRule[] | undefined =
    !isIPv6 && cfg.localhostNodePorts
      ? [
          r`-m comment --comment ${"block incoming localnet connections"} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
        ]
      : undefined;
  const tail: IptablesRule[] = [];
  const nodePortsComment = "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
  if (ctx.nodePortMatchAll) {
    // localhost NodePorts never work on IPv6, and only with route_localnet on IPv4
    const notLocalhost = isIPv6 ? ["!", "-d", "::1/128"] : cfg.localhostNodePorts ? [] : ["!", "-d", "127.0.0.0/8"];
    tail.push(
      r`-m comment --comment ${nodePortsComment} -m addrtype --dst-type LOCAL ${notLocalhost} -j KUBE-NODEPORTS`,
    );
  } else {
    for (const ip of ctx.nodePortIPs) {
      const parsed = parseIP(ip)!;
      if (isLoopback(parsed) && (isIPv6 || !cfg.localhostNodePorts)) continue;
      tail.push(r`-m comment --comment ${nodePortsComment} -d ${ip} -j KUBE-NODEPORTS`);
    }
  }
  const forward: IptablesRule[] = [];
  if (!cfg.tcpBeLiberal) {
    const counter = cfg.nfacct ? ["-m", "nfacct", "--nfacct-name", CT_INVALID_COUNTER] : [];
    forward.push(r`-m conntrack --ctstate INVALID ${counter} -j DROP`);
  }
  forward.push(
    r`-m comment --comment ${"kubernetes forwarding rules"} -m mark --mark ${`${mark}/${mark}`} -j ACCEPT`,
    r`-m comment --comment ${"kubernetes forwarding conntrack rule"} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  // gather per-service slots
  const frags: Fragment[] = [];
  for (const key of order) frags.push(fragments.get(key)!);
  const slotRules = (slot: number): IptablesRule[] => {
    const out: IptablesRule[] = [];
    for (const f of frags) {
      const rs = f.slots[slot]!;
      for (let i = 0; i < rs.length; i++) out.push(rs[i]!);
    }
    return out;
  };
  const slotText = (slot: number): string => {
    const parts: string[] = [];
    for (const f of frags) {
      const t = f.slotText[slot]!;
      if (t !== "") parts.push(t);
    }
    return parts.join("");
  };
  const render = (chain: string, rules: readonly IptablesRule[]) => {
    let t = "";
    for (const rl of rules) t += `${renderRule(chain, rl)}\n`;
    return t;
  };

  // filter table
  const filterChains: IptablesChain[] = [
    { name: "KUBE-SERVICES", rules: slotRules(F_SERVICES) },
    { name: "KUBE-EXTERNAL-SERVICES", rules: slotRules(F_EXTERNAL) },
    { name: "KUBE-FORWARD", rules: forward },
    { name: "KUBE-NODEPORTS", rules: slotRules(F_NODEPORTS) },
    { name: "KUBE-PROXY-FIREWALL", rules: slotRules(F_FIREWALL) },
  ];
  if (kubeletFirewall) filterChains.push({ name: "KUBE-FIREWALL", rules: kubeletFirewall });
  const filterParts: string[] = ["*filter\n"];
  for (const c of filterChains) filterParts.push(chainLine(c.name));
  filterParts.push(
    slotText(F_SERVICES),
    slotText(F_EXTERNAL),
    render("KUBE-FORWARD", forward),
    slotText(F_NODEPORTS),
    slotText(F_FIREWALL),
  );
  if (kubeletFirewall) filterParts.push(render("KUBE-FIREWALL", kubeletFirewall));
  filterParts.push("COMMIT\n");

  // nat table
  const natServices = slotRules(N_SERVICES);
  for (const t of tail) natServices.push(t);
  const natChains: IptablesChain[] = [
    { name: "KUBE-SERVICES", rules: natServices },
    { name: "KUBE-NODEPORTS", rules: slotRules(N_NODEPORTS) },
    { name: "KUBE-POSTROUTING", rules: postrouting },
    { name: KUBE_MARK_MASQ, rules: markMasq },
  ];
  const natParts: string[] = ["*nat\n"];
  for (const c of natChains) natParts.push(chainLine(c.name));
  const emitted: Fragment[] = [];
  for (const key of rewritten) emitted.push(fragments.get(key)!);
  for (const f of emitted) {
    natParts.push(f.chainDecl);
    for (const c of f.chains) natChains.push(c);
  }
  for (const name of deleted) natParts.push(chainLine(name));
  natParts.push(slotText(N_SERVICES), render("KUBE-SERVICES", tail), slotText(N_NODEPORTS));
  natParts.push(render("KUBE-POSTROUTING", postrouting), render(KUBE_MARK_MASQ, markMasq));
  for (const f of emitted) natParts.push(f.chainRules);
  for (const name of deleted) natParts.push(`-X ${name}\n`);
  natParts.push("COMMIT\n");

  let filterRules = 0;
  for (const c of filterChains) filterRules += c.rules.length;
  let natRules = 0;
  for (const c of natChains) natRules += c.rules.length;
  return {
    family: cfg.family,
    text: filterParts.join("") + natParts.join(""),
    tables: {
      filter: { name: "filter", chains: filterChains, deletedChains: [] },
      nat: { name: "nat", chains: natChains, deletedChains: deleted },
    },
    partial,
    jumps: IPTABLES_JUMPS,
    jumpsText: renderJumps(IPTABLES_JUMPS),
    stats: {
      servicePorts: counts.servicePorts,
      endpoints: counts.endpoints,
      largeClusterMode: counts.largeClusterMode,
      rewrittenServices: emitted.length,
      deletedChains: deleted.length,
      filterRules,
      natRules,
    },
  };
}
