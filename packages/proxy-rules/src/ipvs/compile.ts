// compileIpvs / syncIpvs: Services + EndpointSlices + node + KubeProxyConfiguration → what
// kube-proxy's IPVS mode programs (pkg/proxy/ipvs/proxier.go, syncProxyRules), per IP family:
// virtual and real servers, the kube-ipvs0 addresses, the ipsets and the companion iptables rules,
// structured and as text; rendered from the mode-neutral plan (src/plan). A proxier's sync also
// gives the reconcile plan from the last applied state (only what the changed Services changed).

import { InvalidInputError } from "../errors.js";
import { type FamilyContext, parseNode, resolveFamilyContext } from "../model/context.js";
import type { IPFamily } from "../model/ip.js";
import { asList, compareErrors, defaultFamilies, firstError, type ProxyInput } from "../plan/input.js";
import { compareStrings, InputIndex } from "../plan/input-index.js";
import { EMPTY_GROUP, planService } from "../plan/service-plan.js";
import type { SyncFrom, SyncOutput } from "../plan/sync.js";
import { UndoLog } from "../plan/undo-log.js";
import { type ResolvedIpvsConfig, resolveIpvsConfig } from "./config.js";
import { ipvsNodePortAddresses, validNodeAddress } from "./endpoints.js";
import { IPVS_IPS, IPVS_IPSETS, ipsetNames, SET_COUNT } from "./ipsets.js";
import { gracefulTerminationNeeded, type IpvsReconcilePlan, OperationList } from "./operations.js";
import type { IpsetKernelSet, IpvsKernelRealServer, IpvsKernelState, IpvsKernelVirtualServer } from "./parse.js";
import { planIpvsReconcile } from "./reconcile.js";
import {
  IPVS_IPTABLES_JUMPS,
  type IpvsIpset,
  type IpvsIptablesJump,
  type IpvsIptablesTables,
  ipAddrCommands,
  ipvsIpsets,
  ipvsIptablesTables,
  renderIpBatch,
  renderIpsets,
  renderIpvsadm,
  renderIpvsIptables,
  renderIpvsJumps,
} from "./render.js";
import {
  type IpvsFamilyFacts,
  type IpvsFragment,
  type IpvsRealServer,
  type IpvsVirtualServer,
  type OutFilterEntry,
  writeIpvsFragment,
} from "./services.js";

/** Options of {@link compileIpvs} (and of a proxier in `ipvs` mode). */
export interface CompileIpvsOptions {
  /** Compile what is valid and list invalid objects in `errors` instead of throwing (see compileIptables). */
  readonly partialResults?: boolean | undefined;
  /** The IP families to compile. Default: the families of `node.addresses` (IPv4 when it has none). */
  readonly families?: readonly IPFamily[] | undefined;
  /** Use this mark instead of the one from `iptables.masqueradeBit` (kube-proxy prints `0x00004000`). */
  readonly masqueradeMark?: string | undefined;
}

/** Counters of a result. */
export interface IpvsStats {
  readonly servicePorts: number;
  readonly endpoints: number;
  readonly virtualServers: number;
  readonly realServers: number;
  readonly ipsetEntries: number;
  readonly boundAddresses: number;
  /** Services whose contribution this sync rewrote (all of them in a full sync). */
  readonly rewrittenServices: number;
}

/** What kube-proxy's IPVS mode programs for one IP family. */
export interface IpvsResult {
  readonly family: IPFamily;
  /** Every virtual server with its real servers, sorted by key. */
  readonly virtualServers: readonly IpvsVirtualServer[];
  /** kube-proxy's ipsets (all of them, empty ones too, as it creates them all), in its order. */
  readonly ipsets: readonly IpvsIpset[];
  /** The addresses bound to kube-ipvs0 (KUBE-IPVS-IPS), sorted. */
  readonly addresses: readonly string[];
  /** The companion iptables rules, structured. */
  readonly iptables: IpvsIptablesTables;
  /** The jumps from built-in chains kube-proxy ensures with `iptables -I`. */
  readonly jumps: readonly IpvsIptablesJump[];
  /** `ipvsadm-restore` input (as `ipvsadm -S -n` prints the state). */
  readonly ipvsadmText: string;
  /** `ipset restore` input (as `ipset save` prints the sets). */
  readonly ipsetText: string;
  /** `iptables-restore --noflush` input (`ip6tables-restore` for IPv6), as kube-proxy writes it. */
  readonly iptablesText: string;
  /** The jumps as `iptables-restore --noflush` input (load once, after `iptablesText`). */
  readonly jumpsText: string;
  /** `ip` commands (argv without `ip`): create kube-ipvs0, bind every address. */
  readonly ipCommands: readonly (readonly string[])[];
  /** The same as `ip -batch` input. */
  readonly ipText: string;
  /** The sysctls kube-proxy's IPVS mode sets (path under /proc/sys → value). */
  readonly sysctls: Readonly<Record<string, string>>;
  /** `ipvsadm --set tcp tcpfin udp` arguments when a timeout is configured. */
  readonly ipvsTimeouts: readonly string[] | undefined;
  /** CIDRs whose virtual servers a reconcile leaves alone (`ipvs.excludeCIDRs`). */
  readonly excludeCIDRs: readonly string[];
  /**
   * The operations from the state of the last applied payload to this one (only what changed;
   * from nothing for a first sync or `compileIpvs`). Removed TCP real servers are set to weight 0
   * and listed in `draining`: reconcile against the kernel (`planIpvsReconcile`, with
   * `ipvsadm -L -n` connection counts) to remove them once they are idle.
   */
  readonly changes: IpvsReconcilePlan;
  readonly stats: IpvsStats;
}

/** The result of {@link compileIpvs}: one result per IP family. */
export interface IpvsCompilation {
  readonly results: readonly IpvsResult[];
  readonly ipv4: IpvsResult | undefined;
  readonly ipv6: IpvsResult | undefined;
  /** With `partialResults`: the invalid objects that were left out. */
  readonly errors: readonly InvalidInputError[];
}

/** The per-family state of an applied payload. */
interface FamilyState {
  readonly contextKey: string;
  readonly order: readonly string[];
  /** The fragments in `order` (a new array per state: a result keeps its own). */
  readonly frags: readonly IpvsFragment[];
  readonly fragments: Map<string, IpvsFragment>;
  /**
   * Fragments per virtual-server key, set entry (`index\0entry`) and bound address: built from
   * the fragments on the first partial sync (a one-shot compile never needs them), then kept up
   * to date in place. Shared by the states of one lineage, like `fragments`.
   */
  readonly counts: { value: Counts | undefined };
  /** Real servers left at weight 0 (`vsKey rsKey`). */
  readonly draining: Set<string>;
  readonly servicePorts: number;
  readonly endpoints: number;
}

interface Counts {
  readonly vs: Map<string, number>;
  readonly entry: Map<string, number>;
  readonly addr: Map<string, number>;
}

/** The counts of a state's fragments (built once). */
function countsOf(state: FamilyState): Counts {
  let c = state.counts.value;
  if (!c) {
    c = { vs: new Map(), entry: new Map(), addr: new Map() };
    for (const f of state.fragments.values()) {
      const seen = new Set<string>();
      for (const vs of f.virtualServers) {
        if (seen.has(vs.key)) continue;
        seen.add(vs.key);
        c.vs.set(vs.key, (c.vs.get(vs.key) ?? 0) + 1);
      }
      const entry = c.entry;
      f.entries.forEach((list, i) => {
        if (i === IPVS_IPS) return;
        for (const e of new Set(list)) entry.set(`${i}\0${e}`, (entry.get(`${i}\0${e}`) ?? 0) + 1);
      });
      for (const a of new Set(f.bind)) c.addr.set(a, (c.addr.get(a) ?? 0) + 1);
    }
    state.counts.value = c;
  }
  return c;
}

/** What a proxier keeps of the IPVS state it last saw applied. */
export interface IpvsState {
  readonly index: InputIndex;
  readonly families: ReadonlyMap<IPFamily, FamilyState>;
}

/** A sync of the IPVS backend from a proxier's state. */
export type IpvsSyncFrom = SyncFrom<IpvsState>;

/**
 * Compiles Services and EndpointSlices into what kube-proxy's IPVS mode would program on
 * `input.node`, one result per IP family: virtual servers, real servers, kube-ipvs0 addresses,
 * ipsets and the companion iptables rules, structured and as restore text. Pure and one-shot.
 *
 * @throws {@link InvalidInputError} for invalid objects (unless `partialResults`), configuration
 * (`ipvs.*` included) or node, as {@link compileIptables} does.
 *
 * @example
 * ```ts
 * import { compileIpvs } from "@nodekit/proxy-rules";
 *
 * const { ipv4 } = compileIpvs({ services, endpointSlices, node: { name: "node-1", addresses: ["192.168.77.1"] } });
 * // on a node: ip -batch ipv4.ipText; ipset restore < ipv4.ipsetText; ipvsadm-restore < ipv4.ipvsadmText;
 * // iptables-restore --noflush < ipv4.iptablesText
 * console.log(ipv4?.ipvsadmText);
 * ```
 */
export function compileIpvs(input: ProxyInput, options: CompileIpvsOptions = {}): IpvsCompilation {
  const from: IpvsSyncFrom = { state: undefined, partialAllowed: false, failedObjects: new Map(), fullSync: false };
  return syncIpvs(input, options, from, new UndoLog()).compilation;
}

/**
 * One sync of the IPVS backend, for {@link compileIpvs} (no state) and a proxier (src/plan/sync.ts).
 * Changes to `from.state` in place are recorded in `log`; when it throws, they are undone already.
 */
export function syncIpvs(
  input: ProxyInput,
  options: CompileIpvsOptions,
  from: IpvsSyncFrom,
  log: UndoLog,
): SyncOutput<IpvsState, IpvsCompilation> {
  if (typeof input !== "object" || input === null) {
    throw new InvalidInputError({ kind: "ProxyInput" }, "", "must be an object", input);
  }
  checkOptions(options);
  const node = parseNode(input.node);
  const ipvs = resolveIpvsConfig(input.config);
  const families = options.families ?? defaultFamilies(node.addresses.map((a) => a.family));
  for (const f of families) {
    if (f !== "IPv4" && f !== "IPv6") {
      throw new InvalidInputError({ kind: "CompileIpvsOptions" }, "families", "must be IPv4 or IPv6", f);
    }
  }
  const contexts = families.map((f) =>
    resolveFamilyContext(f, node, input.config ?? {}, input.host ?? {}, { masqueradeMark: options.masqueradeMark }),
  );
  const services = asList(input.services, "services");
  const slices = asList(input.endpointSlices, "endpointSlices");
  const prev = from.state;
  const incrementalAllowed = prev !== undefined && from.partialAllowed && !from.fullSync;
  try {
    let index: InputIndex | undefined;
    let dirty: Set<string> | undefined;
    if (incrementalAllowed) {
      dirty = prev.index.update(services, slices, log);
      if (dirty) index = prev.index;
      else log.rollback();
    }
    if (!index) {
      index = new InputIndex(from.fullSync ? undefined : prev?.index);
      index.build(services, slices);
      index.sortGroups();
    }
    const errors = index.errors();
    const results: IpvsResult[] = [];
    const states = new Map<IPFamily, FamilyState>();
    const declared = new Map<IPFamily, readonly string[]>();
    let order: readonly string[] | undefined;
    for (const ctx of contexts) {
      const family = ctx.config.family;
      const facts = familyFacts(ctx, ipvs);
      const contextKey = JSON.stringify([ctx.key, ipvs.scheduler, facts.nodePortIPs, [...facts.nodeAddresses]]);
      const prevFamily = prev?.families.get(family);
      const sameContext = prevFamily !== undefined && prevFamily.contextKey === contextKey;
      let out: { state: FamilyState; ops: ChangesSource; rewritten: readonly IpvsFragment[] };
      if (incrementalAllowed && sameContext && dirty && index === prev.index) {
        out = updateFamily(facts, index, prevFamily, dirty, log);
      } else {
        order ??= index.sortedKeys();
        const base = prevFamily ?? emptyFamily(contextKey);
        out = buildFamily(facts, contextKey, order, index, base, from.failedObjects.get(family));
      }
      for (const f of out.state.fragments.values()) if (f.errors.length > 0) errors.push(...f.errors);
      results.push(makeResult(facts, ipvs, out.state, out.ops, out.rewritten.length));
      states.set(family, out.state);
      declared.set(family, declaredObjects(out.rewritten));
    }
    errors.sort(compareErrors);
    if (errors.length > 0 && !options.partialResults) throw firstError(errors);
    const compilation: IpvsCompilation = {
      results,
      ipv4: results.find((r) => r.family === "IPv4"),
      ipv6: results.find((r) => r.family === "IPv6"),
      errors: options.partialResults ? errors : [],
    };
    return { compilation, state: { index, families: states }, declared };
  } catch (err) {
    log.rollback();
    throw err;
  }
}

function checkOptions(options: CompileIpvsOptions): void {
  const fail = (field: string, reason: string, value: unknown): never => {
    throw new InvalidInputError({ kind: "CompileIpvsOptions" }, field, reason, value);
  };
  if (typeof options !== "object" || options === null) fail("", "must be an object", options);
  const present = (v: unknown) => v !== undefined && v !== null;
  if (present(options.partialResults) && typeof options.partialResults !== "boolean") {
    fail("partialResults", "must be a boolean", options.partialResults);
  }
  if (present(options.families) && !Array.isArray(options.families))
    fail("families", "must be a list", options.families);
  if (present(options.masqueradeMark) && typeof options.masqueradeMark !== "string") {
    fail("masqueradeMark", "must be a string", options.masqueradeMark);
  }
}

function familyFacts(ctx: FamilyContext, ipvs: ResolvedIpvsConfig): IpvsFamilyFacts {
  const mine = ctx.nodeAddresses;
  const nodeAddresses = new Set<string>();
  for (const a of mine) if (validNodeAddress(a)) nodeAddresses.add(a.text);
  return { ctx, ipvs, nodePortIPs: ipvsNodePortAddresses(ctx, mine), nodeAddresses };
}

function emptyFamily(contextKey: string): FamilyState {
  return {
    contextKey,
    order: [],
    frags: [],
    fragments: new Map(),
    counts: { value: undefined },
    draining: new Set(),
    servicePorts: 0,
    endpoints: 0,
  };
}

/**
 * A whole family from the index. Its changes are those from `base` (the applied state) to it,
 * made by planIpvsReconcile from a view of `base`: lazily from nothing for a first sync, at once
 * otherwise (they tell which real servers are left draining).
 */
function buildFamily(
  facts: IpvsFamilyFacts,
  contextKey: string,
  order: readonly string[],
  index: InputIndex,
  base: FamilyState,
  failed: ReadonlySet<string> | undefined,
): { state: FamilyState; ops: ChangesSource; rewritten: readonly IpvsFragment[] } {
  const fragments = new Map<string, IpvsFragment>();
  let servicePorts = 0;
  let endpoints = 0;
  const family = facts.ctx.config.family;
  for (const key of order) {
    const svc = index.serviceByKey.get(key);
    if (!svc) continue; // `order` is the index's keys
    const group = index.groups.get(key) ?? EMPTY_GROUP;
    const frag = writeIpvsFragment(facts, planService(facts.ctx, key, svc, group));
    fragments.set(key, frag);
    servicePorts += frag.servicePorts;
    endpoints += frag.endpointCount;
  }
  const draining = new Set<string>();
  const state: FamilyState = {
    contextKey,
    order,
    frags: fragmentsInOrder(order, fragments),
    fragments,
    counts: { value: undefined },
    draining,
    servicePorts,
    endpoints,
  };
  const fresh = base.fragments.size === 0 && base.draining.size === 0 && (failed === undefined || failed.size === 0);
  if (fresh) return { state, ops: { lazyFromNothing: true }, rewritten: [...fragments.values()] };
  return {
    state,
    ops: {
      fromView: (result: IpvsResult) => {
        const plan = planIpvsReconcile(viewOf(base, family, failed), result, { excludeCIDRs: [] });
        for (const d of plan.draining) draining.add(`${d.virtualServer} ${d.realServer}`);
        return plan;
      },
    },
    rewritten: [...fragments.values()],
  };
}

/** What the kernel has after `state` was applied (and what failed payloads may have added). */
function viewOf(state: FamilyState, family: IPFamily, failed: ReadonlySet<string> | undefined): IpvsKernelState {
  const vsMap = new Map<string, IpvsKernelVirtualServer>();
  const names = ipsetNames(family);
  const entries: Set<string>[] = IPVS_IPSETS.map(() => new Set<string>());
  const addresses = new Set<string>();
  for (const key of state.order) {
    const f = state.fragments.get(key);
    if (!f) continue; // every key of `order` has its fragment
    for (const vs of f.virtualServers) {
      if (vsMap.has(vs.key)) continue;
      const rs = new Map<string, IpvsKernelRealServer>();
      for (const r of vs.realServers) {
        rs.set(rsKey(r), { ...r, activeConnections: undefined, inactiveConnections: undefined });
      }
      vsMap.set(vs.key, { ...vs, realServers: rs });
    }
    f.entries.forEach((list, i) => {
      for (const e of list) setAt(entries, i).add(e);
    });
    for (const a of f.bind) {
      addresses.add(a);
      setAt(entries, IPVS_IPS).add(a);
    }
  }
  for (const d of state.draining) {
    const [vsKey = "", r = ""] = d.split(" ");
    const vs = vsMap.get(vsKey);
    const hp = parseKey(r);
    if (vs && hp) {
      (vs.realServers as Map<string, IpvsKernelRealServer>).set(r, {
        ...hp,
        weight: 0,
        activeConnections: undefined,
        inactiveConnections: undefined,
      });
    }
  }
  for (const obj of failed ?? []) {
    const [kind, ...rest] = obj.split(" ");
    const value = rest.join(" ");
    if (kind === "vs" && !vsMap.has(value)) {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)\/(TCP|UDP|SCTP)$/.exec(value);
      if (m?.[1] !== undefined) {
        const address = m[1].replace(/^\[|\]$/g, "");
        vsMap.set(value, {
          key: value,
          address,
          port: Number(m[2]),
          protocol: m[3] as "TCP",
          scheduler: "",
          flags: 0,
          timeout: 0,
          realServers: new Map(),
        });
      }
    } else if (kind === "addr") {
      addresses.add(value);
      setAt(entries, IPVS_IPS).add(value);
    } else if (kind === "entry") {
      const [i, e] = value.split("\0");
      if (e !== undefined) setAt(entries, Number(i)).add(e);
    }
  }
  const ipsets = new Map<string, IpsetKernelSet>();
  IPVS_IPSETS.forEach((info, i) => {
    const name = names[i]; // one name per set
    if (name === undefined) return;
    ipsets.set(name, {
      name,
      type: info.type,
      family: family === "IPv4" ? "inet" : "inet6",
      entries: setAt(entries, i),
    });
  });
  return { virtualServers: vsMap, ipsets, addresses };
}

function parseKey(k: string): { address: string; port: number } | undefined {
  const at = k.lastIndexOf(":");
  if (at < 0) return undefined;
  const host = k.slice(0, at).replace(/^\[|\]$/g, "");
  return { address: host, port: Number(k.slice(at + 1)) };
}

/** Where a result's changes come from: collected operations, a view to reconcile from, or nothing. */
type ChangesSource =
  | OperationList
  | { readonly lazyFromNothing: true }
  | { readonly fromView: (result: IpvsResult) => IpvsReconcilePlan };

/** A partial sync touching the Services in `dirty`; updates `prev` in place (recorded in `log`). */
function updateFamily(
  facts: IpvsFamilyFacts,
  index: InputIndex,
  prev: FamilyState,
  dirty: ReadonlySet<string>,
  log: UndoLog,
): { state: FamilyState; ops: OperationList; rewritten: readonly IpvsFragment[] } {
  const family = facts.ctx.config.family;
  const counts = countsOf(prev);
  const ops = new OperationList();
  const rewritten: IpvsFragment[] = [];
  let servicePorts = prev.servicePorts;
  let endpoints = prev.endpoints;
  let order = prev.order;
  const changed: IpvsFragment[] = [];
  const added: string[] = [];
  const removed = new Set<string>();
  for (const key of [...dirty].sort(compareStrings)) {
    const svc = index.serviceByKey.get(key);
    const old = prev.fragments.get(key);
    let next: IpvsFragment | undefined;
    if (svc) {
      const group = index.groups.get(key) ?? EMPTY_GROUP;
      if (old && old.svc === svc && old.group === group) continue;
      next = writeIpvsFragment(facts, planService(facts.ctx, key, svc, group));
      rewritten.push(next);
      log.mapSet(prev.fragments, key, next);
      if (!old) added.push(key);
      else changed.push(next);
    } else if (old) {
      log.mapDelete(prev.fragments, key);
      removed.add(key);
    } else continue;
    servicePorts += (next?.servicePorts ?? 0) - (old?.servicePorts ?? 0);
    endpoints += (next?.endpointCount ?? 0) - (old?.endpointCount ?? 0);
    replace(prev, counts, family, old, next, ops, log);
  }
  let frags: IpvsFragment[];
  if (added.length > 0 || removed.size > 0) {
    const next = order.filter((k) => !removed.has(k));
    for (const key of added) next.splice(lowerBound(next, key), 0, key);
    order = next;
    frags = fragmentsInOrder(order, prev.fragments);
  } else {
    frags = prev.frags.slice();
    for (const f of changed) frags[lowerBound(order, f.key)] = f;
  }
  const state: FamilyState = { ...prev, order, frags, servicePorts, endpoints };
  return { state, ops, rewritten };
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]; // lo <= mid < hi <= length
    if (v !== undefined && v < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Map updates through the log when there is one. */
function bump(m: Map<string, number>, k: string, d: number, log: UndoLog | undefined): number {
  const n = (m.get(k) ?? 0) + d;
  if (log) {
    if (n === 0) log.mapDelete(m, k);
    else log.mapSet(m, k, n);
  } else if (n === 0) m.delete(k);
  else m.set(k, n);
  return n;
}

const rsKey = (rs: { address: string; port: number }) =>
  rs.address.indexOf(":") >= 0 ? `[${rs.address}]:${rs.port}` : `${rs.address}:${rs.port}`;

/**
 * One Service's contribution replaced (`old` → `next`, either may be absent): the counts are
 * updated and the operations that follow are collected. A virtual server, set entry or address
 * shared with another Service stays as long as one still has it.
 */
function replace(
  state: FamilyState,
  counts: Counts,
  family: IPFamily,
  old: IpvsFragment | undefined,
  next: IpvsFragment | undefined,
  ops: OperationList,
  log: UndoLog | undefined,
): void {
  if (old === next) return;
  const names = ipsetNames(family);
  // virtual servers
  const oldVS = new Map<string, IpvsVirtualServer>();
  if (old) for (const vs of old.virtualServers) oldVS.set(vs.key, vs);
  const seen = new Set<string>();
  if (next) {
    for (const vs of next.virtualServers) {
      if (seen.has(vs.key)) continue;
      seen.add(vs.key);
      const before = oldVS.get(vs.key);
      const n = bump(counts.vs, vs.key, before ? 0 : 1, log);
      if (before) diffVirtualServer(state, before, vs, ops, log);
      else if (n === 1) {
        ops.addService(vs);
        for (const rs of vs.realServers) addServer(state, vs, rs, ops, log);
      }
    }
  }
  for (const [key, vs] of oldVS) {
    if (seen.has(key)) continue;
    if (bump(counts.vs, key, -1, log) === 0) {
      ops.deleteService(vs);
      for (const d of [...state.draining]) if (d.startsWith(`${key} `)) setDelete(state.draining, d, log);
    }
  }
  // set entries (KUBE-IPVS-IPS is the bound addresses)
  names.forEach((name, i) => {
    if (i === IPVS_IPS) return;
    const a = old?.entries[i] ?? [];
    const b = next?.entries[i] ?? [];
    if (a.length === 0 && b.length === 0) return;
    const inA = new Set(a);
    const inB = new Set(b);
    for (const e of inB) if (!inA.has(e) && bump(counts.entry, `${i}\0${e}`, 1, log) === 1) ops.addEntry(name, e);
    for (const e of inA) if (!inB.has(e) && bump(counts.entry, `${i}\0${e}`, -1, log) === 0) ops.delEntry(name, e);
  });
  const ipsName = names[IPVS_IPS] ?? "";
  const a = new Set(old ? old.bind : []);
  const b = new Set(next ? next.bind : []);
  for (const ip of b) {
    if (!a.has(ip) && bump(counts.addr, ip, 1, log) === 1) {
      ops.bindAddress(ip);
      ops.addEntry(ipsName, ip);
    }
  }
  for (const ip of a) {
    if (!b.has(ip) && bump(counts.addr, ip, -1, log) === 0) {
      ops.unbindAddress(ip);
      ops.delEntry(ipsName, ip);
    }
  }
}

function setDelete(s: Set<string>, v: string, log: UndoLog | undefined): void {
  if (log) log.setDelete(s, v);
  else s.delete(v);
}
function setAdd(s: Set<string>, v: string, log: UndoLog | undefined): void {
  if (log) log.setAdd(s, v);
  else s.add(v);
}

function addServer(
  state: FamilyState,
  vs: IpvsVirtualServer,
  rs: IpvsRealServer,
  ops: OperationList,
  log: UndoLog | undefined,
) {
  const d = `${vs.key} ${rsKey(rs)}`;
  if (state.draining.has(d)) {
    // back before it drained: weight restored
    setDelete(state.draining, d, log);
    ops.editServer(vs, rs);
  } else ops.addServer(vs, rs);
}

/** The operations between two versions of one virtual server (kube-proxy's syncService + syncEndpoint). */
function diffVirtualServer(
  state: FamilyState,
  before: IpvsVirtualServer,
  after: IpvsVirtualServer,
  ops: OperationList,
  log: UndoLog | undefined,
): void {
  if (before.scheduler !== after.scheduler || before.flags !== after.flags || before.timeout !== after.timeout) {
    ops.editService(after);
  }
  if (before.realServers === after.realServers) return;
  const had = new Map<string, IpvsRealServer>();
  for (const rs of before.realServers) had.set(rsKey(rs), rs);
  const now = new Set<string>();
  for (const rs of after.realServers) {
    const k = rsKey(rs);
    now.add(k);
    const b = had.get(k);
    if (!b) addServer(state, after, rs, ops, log);
    else if (b.weight !== rs.weight) ops.editServer(after, rs);
  }
  for (const [k, rs] of had) {
    if (now.has(k)) continue;
    if (gracefulTerminationNeeded(after.protocol)) {
      ops.editServer(after, { ...rs, weight: 0 });
      setAdd(state.draining, `${after.key} ${k}`, log);
      ops.draining.push({
        virtualServer: after.key,
        realServer: k,
        activeConnections: undefined,
        inactiveConnections: undefined,
      });
    } else ops.deleteServer(after, rs);
  }
}

/** The objects a payload creates (for a failure's clean-up): virtual servers, addresses, set entries. */
function declaredObjects(rewritten: readonly IpvsFragment[]): string[] {
  const out: string[] = [];
  for (const f of rewritten) {
    for (const vs of f.virtualServers) out.push(`vs ${vs.key}`);
    for (const a of f.bind) out.push(`addr ${a}`);
    f.entries.forEach((list, i) => {
      for (const e of list) out.push(`entry ${i}\0${e}`);
    });
  }
  return out;
}

const SYSCTLS = {
  "net/ipv4/vs/conntrack": "1",
  "net/ipv4/vs/expire_nodest_conn": "1",
  "net/ipv4/vs/expire_quiescent_template": "1",
  "net/ipv4/ip_forward": "1",
};

/** A result; its structured views and texts are made from the fragments on first use. */
function makeResult(
  facts: IpvsFamilyFacts,
  ipvs: ResolvedIpvsConfig,
  state: FamilyState,
  source: ChangesSource,
  rewritten: number,
): IpvsResult {
  const { ctx } = facts;
  const family = ctx.config.family;
  // a snapshot of the fragments: later syncs change the state's map, not this
  const frags = state.frags;
  let vsList: IpvsVirtualServer[] | undefined;
  let setData: { entries: string[][]; addresses: string[]; outFilter: OutFilterEntry[] } | undefined;
  let sets: IpvsIpset[] | undefined;
  let tables: IpvsIptablesTables | undefined;
  const virtualServers = () => {
    if (!vsList) {
      const byKey = new Map<string, IpvsVirtualServer>();
      for (const f of frags) for (const vs of f.virtualServers) if (!byKey.has(vs.key)) byKey.set(vs.key, vs);
      vsList = [...byKey.values()].sort((a, b) => compareStrings(a.key, b.key));
    }
    return vsList;
  };
  const data = () => {
    if (!setData) {
      const all: string[][] = [];
      for (let i = 0; i < SET_COUNT; i++) all.push([]);
      const addrs: string[] = [];
      const out: OutFilterEntry[] = [];
      for (const f of frags) {
        f.entries.forEach((e, i) => {
          const to = all[i];
          if (to && e.length > 0) for (const x of e) to.push(x);
        });
        for (const a of f.bind) addrs.push(a);
        for (const o of f.outFilter) out.push(o);
      }
      const addresses = sortedUnique(addrs);
      all[IPVS_IPS] = addresses;
      setData = { entries: all.map((e, i) => (i === IPVS_IPS ? e : sortedUnique(e))), addresses, outFilter: out };
    }
    return setData;
  };
  const setEntries = () => data().entries;
  const ipsets = () => {
    if (!sets) sets = ipvsIpsets(family, setEntries());
    return sets;
  };
  const iptables = () => {
    if (!tables) {
      const e = setEntries();
      tables = ipvsIptablesTables({
        family,
        nonEmpty: e.map((x) => x.length > 0),
        masqueradeAll: ctx.config.masqueradeAll,
        detector: ctx.detector,
        masqueradeMark: ctx.config.masqueradeMark,
        randomFully: ctx.config.randomFully,
        outFilter: data().outFilter,
      });
    }
    return tables;
  };
  const sysctls: Record<string, string> = { ...SYSCTLS };
  if (ipvs.strictARP) {
    sysctls["net/ipv4/conf/all/arp_ignore"] = "1";
    sysctls["net/ipv4/conf/all/arp_announce"] = "2";
  }
  const timeouts =
    ipvs.tcpTimeout > 0 || ipvs.tcpFinTimeout > 0 || ipvs.udpTimeout > 0
      ? ["--set", String(ipvs.tcpTimeout), String(ipvs.tcpFinTimeout), String(ipvs.udpTimeout)]
      : undefined;
  const texts: { ipvsadm?: string; ipset?: string; iptables?: string; ip?: string } = {};
  let plan: IpvsReconcilePlan | undefined = source instanceof OperationList ? source.plan() : undefined;
  const changes = (): IpvsReconcilePlan => {
    if (!plan) {
      plan =
        "fromView" in source
          ? source.fromView(result)
          : planIpvsReconcile({ virtualServers: new Map(), ipsets: new Map(), addresses: undefined }, result, {
              excludeCIDRs: [],
            });
    }
    return plan;
  };
  const once = (k: keyof typeof texts, make: () => string): string => {
    let t = texts[k];
    if (t === undefined) {
      t = make();
      texts[k] = t;
    }
    return t;
  };
  const result: IpvsResult = {
    family,
    get virtualServers() {
      return virtualServers();
    },
    get ipsets() {
      return ipsets();
    },
    get addresses() {
      return data().addresses;
    },
    get iptables() {
      return iptables();
    },
    jumps: IPVS_IPTABLES_JUMPS,
    get ipvsadmText() {
      return once("ipvsadm", () => renderIpvsadm(virtualServers()));
    },
    get ipsetText() {
      return once("ipset", () => renderIpsets(ipsets()));
    },
    get iptablesText() {
      return once("iptables", () => renderIpvsIptables(iptables()));
    },
    jumpsText: renderIpvsJumps(),
    get ipCommands() {
      return ipAddrCommands(data().addresses);
    },
    get ipText() {
      const { addresses } = data();
      return once("ip", () => renderIpBatch(ipAddrCommands(addresses)));
    },
    sysctls,
    ipvsTimeouts: timeouts,
    excludeCIDRs: ipvs.excludeCIDRs.map((c) => c.text),
    get changes() {
      return changes();
    },
    get stats(): IpvsStats {
      const vs = virtualServers();
      let rs = 0;
      for (const v of vs) rs += v.realServers.length;
      let n = 0;
      for (const e of setEntries()) n += e.length;
      return {
        servicePorts: state.servicePorts,
        endpoints: state.endpoints,
        virtualServers: vs.length,
        realServers: rs,
        ipsetEntries: n,
        boundAddresses: data().addresses.length,
        rewrittenServices: rewritten,
      };
    },
  };
  // a view-based change set also tells the state which real servers drain: make it now
  if (!(source instanceof OperationList) && "fromView" in source) changes();
  return result;
}

/** The set at index `i` of `sets`, made when it is not there yet. */
function setAt(sets: Set<string>[], i: number): Set<string> {
  let s = sets[i];
  if (!s) {
    s = new Set<string>();
    sets[i] = s;
  }
  return s;
}

/** The fragments of `order`'s keys, in that order (every key has one). */
function fragmentsInOrder(order: readonly string[], fragments: ReadonlyMap<string, IpvsFragment>): IpvsFragment[] {
  const out: IpvsFragment[] = [];
  for (const k of order) {
    const f = fragments.get(k);
    if (f) out.push(f);
  }
  return out;
}

/** Sorted (code-unit order) without repeats, in place. */
function sortedUnique(xs: string[]): string[] {
  xs.sort(compareStrings);
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (x !== undefined && (i === 0 || x !== xs[n - 1])) xs[n++] = x;
  }
  xs.length = n;
  return xs;
}
