// compileNftables: Services + EndpointSlices + node + KubeProxyConfiguration → the `nft -f`
// transaction kube-proxy's nftables mode would run (pkg/proxy/nftables/proxier.go,
// syncProxyRules), per IP family, and the partial syncs a proxier makes from it: only the
// changed Services' chains rewritten, set and map elements added and deleted, stale chains
// flushed and deleted after kube-proxy's one-second grace in a transaction of their own.

import { InvalidInputError } from "../errors.js";
import { type FamilyContext, parseNode, resolveFamilyContext } from "../model/context.js";
import { type IPFamily, isLoopback, type ParsedCIDR, parseCIDR, parseIP } from "../model/ip.js";
import type { NormalizedService } from "../model/normalize.js";
import { asList, compareErrors, defaultFamilies, firstError, type ProxyInput } from "../plan/input.js";
import { compareStrings, InputIndex, type SliceGroup } from "../plan/input-index.js";
import { EMPTY_GROUP, planService } from "../plan/service-plan.js";
import type { SyncFrom, SyncOutput } from "../plan/sync.js";
import { UndoLog } from "../plan/undo-log.js";
import { type ExistingTable, parseExistingRuleset } from "./existing.js";
import {
  type Claim,
  CONTAINERS,
  type FamilySpelling,
  familySpelling,
  IS_SET,
  type RenderedService,
  renderService,
  TextBatch,
} from "./render.js";

/** Options of {@link compileNftables}. */
export interface CompileNftablesOptions {
  /**
   * Compile what is valid and report invalid objects in `errors` instead of throwing the first
   * {@link InvalidInputError} (as for the iptables mode).
   */
  readonly partialResults?: boolean | undefined;
  /** The IP families to compile. Default: the families of `node.addresses` (IPv4 when it has none). */
  readonly families?: readonly IPFamily[] | undefined;
  /** Use this mark string instead of the one derived from `iptables.masqueradeBit` (kube-proxy's tests use `0x4000`). */
  readonly masqueradeMark?: string | undefined;
  /**
   * The cluster's Service CIDRs (kube-proxy reads them from ServiceCIDR objects): traffic to an
   * unallocated address in them is dropped by `cluster-ips-check`. Default: none (no such rule).
   */
  readonly serviceCIDRs?: readonly string[] | undefined;
  /**
   * Service chains (names with a `/`) present in the table before this full sync, as
   * `nft list chains` would list them: those not used any more are flushed and deleted after
   * the grace period. (A proxier knows the chains of its earlier payloads.)
   */
  readonly existingChains?: Iterable<string> | undefined;
  /**
   * The kernel's ruleset before a proxier's first sync, as `nft list ruleset` (or `nft list table
   * ip kube-proxy` and `… ip6 kube-proxy`) prints it; a family whose `kube-proxy` table is not
   * in it has none. That sync then writes, as kube-proxy does when it restarts over its own
   * table, only what differs from it: set and map elements added and deleted (not flushed and
   * written again), endpoint chains whose rules are already right left alone, unused service
   * chains flushed as stale, unused affinity sets deleted. Ignored once a payload was applied.
   */
  readonly existingRuleset?: string | undefined;
  /**
   * The clock of stale-chain deletion, in milliseconds (default `Date.now`): a chain that became
   * stale at least one second before a sync is deleted by that sync's `cleanupText`.
   */
  readonly clock?: (() => number) | undefined;
}

/** Counters describing a result. */
export interface NftablesStats {
  /** Service ports of this family that are proxied. */
  readonly servicePorts: number;
  /** Endpoints of those ports. */
  readonly endpoints: number;
  /** Services whose chains this transaction rewrites. */
  readonly rewrittenServices: number;
  /** Operations (lines) of `text`: knftables' `NumOperations`. */
  readonly operations: number;
  /** Service chains flushed and waiting for deletion after this transaction. */
  readonly staleChains: number;
  /** Chains `cleanupText` deletes. */
  readonly deletedChains: number;
}

/** The transaction of one IP family. */
export interface NftablesResult {
  readonly family: IPFamily;
  /**
   * The transaction, for `nft -f -` (table `ip kube-proxy` or `ip6 kube-proxy`), as kube-proxy's
   * knftables transaction writes it. Empty when a partial sync has nothing to change.
   */
  readonly text: string;
  /**
   * kube-proxy's separate, earlier transaction deleting stale chains whose grace is over: run it
   * before `text` (its failure is not fatal: the chains stay flushed and are retried). Often empty.
   */
  readonly cleanupText: string;
  /** This transaction is a partial sync (it relies on the previous one being loaded). */
  readonly partial: boolean;
  readonly stats: NftablesStats;
}

/** The result of {@link compileNftables}: one transaction per IP family. */
export interface NftablesCompilation {
  readonly results: readonly NftablesResult[];
  readonly ipv4: NftablesResult | undefined;
  readonly ipv6: NftablesResult | undefined;
  /** With `partialResults`: the invalid objects that were left out. Otherwise empty. */
  readonly errors: readonly InvalidInputError[];
}

/** Everything one Service contributes to the table of one family. */
interface Fragment {
  readonly key: string;
  readonly svc: NormalizedService;
  readonly slices: SliceGroup;
  readonly rendered: RenderedService;
  readonly servicePorts: number;
  readonly endpointCount: number;
  readonly errors: readonly InvalidInputError[];
}

/** What a proxier keeps of the table of one family. */
interface FamilyState {
  readonly contextKey: string;
  readonly fragments: Map<string, Fragment>;
  /** Per container, the Services' claims of each element key (the first by owner is in the table). */
  readonly claims: readonly Map<string, readonly Claim[]>[];
  /** Service chains flushed and not yet deleted, with the time (ms) they became stale. */
  readonly stale: Map<string, number>;
  endpoints: number;
  servicePorts: number;
}

/** What a proxier keeps of the nftables transactions it last saw applied. */
export interface NftablesState {
  readonly index: InputIndex;
  readonly families: ReadonlyMap<IPFamily, FamilyState>;
}

/** A sync of the nftables backend from a proxier's state. */
export type NftablesSyncFrom = SyncFrom<NftablesState>;

const GRACE_MS = 1000;

/**
 * Compiles Services and EndpointSlices into the nftables transaction kube-proxy's nftables mode
 * would run on `input.node`, one per IP family: a full sync. Pure and deterministic. Partial
 * syncs are made by a proxier from {@link syncNftables}.
 *
 * @throws {@link InvalidInputError} as `compileIptables` does (object, field path, value).
 *
 * @example
 * ```ts
 * import { compileNftables } from "@nodekit/proxy-rules";
 *
 * const { ipv4 } = compileNftables(input, { serviceCIDRs: ["10.96.0.0/12"] });
 * // nft -f - < ipv4.text
 * ```
 */
export function compileNftables(input: ProxyInput, options: CompileNftablesOptions = {}): NftablesCompilation {
  const from: NftablesSyncFrom = { state: undefined, partialAllowed: false, failedObjects: new Map(), fullSync: false };
  return syncNftables(input, options, from, new UndoLog()).compilation;
}

interface CheckedOptions {
  readonly serviceCIDRs: readonly ParsedCIDR[];
  readonly existingChains: readonly string[];
  /** The parsed `existingRuleset`, by table family. */
  readonly existing: ReadonlyMap<"ip" | "ip6", ExistingTable> | undefined;
  readonly clock: () => number;
}

function checkOptions(options: CompileNftablesOptions): CheckedOptions {
  const fail = (field: string, reason: string, value: unknown): never => {
    throw new InvalidInputError({ kind: "CompileNftablesOptions" }, field, reason, value);
  };
  if (typeof options !== "object" || options === null) fail("", "must be an object", options);
  const present = <T>(v: T): v is NonNullable<T> => v !== undefined && v !== null;
  const { partialResults, families, masqueradeMark, serviceCIDRs, existingChains, existingRuleset, clock } = options;
  for (const removed of ["previous", "fullSync"] as const) {
    const v = (options as Record<string, unknown>)[removed];
    if (present(v))
      fail(removed, "is not an option of compileNftables: partial and full syncs are made by createProxier", v);
  }
  if (present(partialResults) && typeof partialResults !== "boolean")
    fail("partialResults", "must be a boolean", partialResults);
  if (present(families) && !Array.isArray(families)) fail("families", "must be a list", families);
  if (present(masqueradeMark) && typeof masqueradeMark !== "string")
    fail("masqueradeMark", "must be a string", masqueradeMark);
  if (present(clock) && typeof clock !== "function") fail("clock", "must be a function", clock);
  const cidrs: ParsedCIDR[] = [];
  if (present(serviceCIDRs)) {
    if (!Array.isArray(serviceCIDRs)) fail("serviceCIDRs", "must be a list of CIDRs", serviceCIDRs);
    serviceCIDRs.forEach((s, i) => {
      const c = typeof s === "string" ? parseCIDR(s.trim()) : undefined;
      cidrs.push(c ?? fail(`serviceCIDRs[${i}]`, "must be a CIDR", s));
    });
  }
  const names: string[] = [];
  if (present(existingChains)) {
    if (typeof existingChains === "string" || typeof existingChains[Symbol.iterator] !== "function") {
      fail("existingChains", "must be a list of chain names", existingChains);
    }
    let i = 0;
    for (const name of existingChains) {
      if (typeof name !== "string" || !/^[A-Za-z_.][A-Za-z0-9_./-]*$/.test(name))
        fail(`existingChains[${i}]`, "must be an nftables chain name", name);
      names.push(name);
      i++;
    }
  }
  if (present(existingRuleset) && typeof existingRuleset !== "string") {
    fail("existingRuleset", "must be the text nft list ruleset prints", existingRuleset);
  }
  const existing = typeof existingRuleset === "string" ? parseExistingRuleset(existingRuleset) : undefined;
  return { serviceCIDRs: cidrs, existingChains: names, existing, clock: clock ?? Date.now };
}

/**
 * One sync of the nftables backend, for {@link compileNftables} (no state) and a proxier (the
 * backend seam of decision 16). What it changes of `from.state` in place is recorded in `log`;
 * when it throws, the changes are undone already.
 */
export function syncNftables(
  input: ProxyInput,
  options: CompileNftablesOptions,
  from: NftablesSyncFrom,
  log: UndoLog,
): SyncOutput<NftablesState, NftablesCompilation> {
  if (typeof input !== "object" || input === null) {
    throw new InvalidInputError({ kind: "ProxyInput" }, "", "must be an object", input);
  }
  const checked = checkOptions(options);
  const node = parseNode(input.node);
  const families = options.families ?? defaultFamilies(node.addresses.map((a) => a.family));
  for (const f of families) {
    if (f !== "IPv4" && f !== "IPv6") {
      throw new InvalidInputError({ kind: "CompileNftablesOptions" }, "families", "must be IPv4 or IPv6", f);
    }
  }
  const contexts = families.map((f) =>
    resolveFamilyContext(f, node, input.config ?? {}, input.host ?? {}, {
      masqueradeMark: options.masqueradeMark,
      masqueradeSection: "nftables",
    }),
  );
  const services = asList(input.services, "services");
  const slices = asList(input.endpointSlices, "endpointSlices");
  const now = checked.clock();
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new InvalidInputError({ kind: "CompileNftablesOptions" }, "clock", "must return a number", now);
  }

  const prevState = from.state;
  const incrementalAllowed = prevState !== undefined && from.partialAllowed && !from.fullSync;
  try {
    let index: InputIndex | undefined;
    let dirty: Set<string> | undefined;
    if (incrementalAllowed) {
      dirty = prevState.index.update(services, slices, log);
      if (dirty) index = prevState.index;
      else log.rollback();
    }
    if (!index) {
      index = new InputIndex(from.fullSync ? undefined : prevState?.index);
      index.build(services, slices);
      index.sortGroups();
    }
    const results: NftablesResult[] = [];
    const familyStates = new Map<IPFamily, FamilyState>();
    const declared = new Map<IPFamily, readonly string[]>();
    const errors = index.errors();
    let order: readonly string[] | undefined;
    for (const ctx of contexts) {
      const family = ctx.config.family;
      const spell = familySpelling(ctx);
      const contextKey = JSON.stringify([ctx.key, checked.serviceCIDRs.filter((c) => c.ip.family === family)]);
      const prevFamily = prevState?.families.get(family);
      const partial = incrementalAllowed && prevFamily !== undefined && prevFamily.contextKey === contextKey;
      let out: FamilyOutput;
      if (partial && dirty && index === prevState.index) {
        out = updateFamily(ctx, spell, index, prevFamily, dirty, now, log);
      } else {
        order ??= index.sortedKeys();
        out = buildFamily(ctx, spell, contextKey, checked, order, index, {
          // reuse rendered Services only when nothing forces a recomputation
          reuse: from.fullSync ? undefined : prevFamily,
          prev: prevFamily,
          failed: from.failedObjects.get(family),
          first: prevState === undefined,
          // what the kernel has before the first applied payload
          existing: prevState === undefined ? checked.existing?.get(spell.ipX === "ip6" ? "ip6" : "ip") : undefined,
          now,
          partial,
        });
      }
      for (const f of out.state.fragments.values()) if (f.errors.length > 0) errors.push(...f.errors);
      results.push(out.result);
      familyStates.set(family, out.state);
      declared.set(family, out.declared);
    }
    errors.sort(compareErrors);
    if (errors.length > 0 && !options.partialResults) throw firstError(errors);
    const compilation: NftablesCompilation = {
      results,
      ipv4: results.find((r) => r.family === "IPv4"),
      ipv6: results.find((r) => r.family === "IPv6"),
      errors: options.partialResults ? errors : [],
    };
    return { compilation, state: { index, families: familyStates }, declared };
  } catch (err) {
    log.rollback();
    throw err;
  }
}

interface FamilyOutput {
  readonly result: NftablesResult;
  readonly state: FamilyState;
  readonly declared: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// The table's fixed part (setupNFTables)

const BASE_CHAINS: readonly (readonly [string, string, string, number])[] = [
  ["filter-prerouting-pre-dnat", "filter", "prerouting", -110],
  ["filter-output-pre-dnat", "filter", "output", -110],
  ["filter-input", "filter", "input", 0],
  ["filter-forward", "filter", "forward", 0],
  ["filter-output", "filter", "output", 0],
  ["nat-prerouting", "nat", "prerouting", -100],
  ["nat-output", "nat", "output", -100],
  ["nat-postrouting", "nat", "postrouting", 100],
];

/** The jumps from base chains to kube-proxy's top-level chains, in kube-proxy's order. */
const JUMPS: readonly (readonly [string, string, string])[] = [
  ["nodeport-endpoints-check", "filter-input", "ct state new "],
  ["service-endpoints-check", "filter-input", "ct state new "],
  ["service-endpoints-check", "filter-forward", "ct state new "],
  ["service-endpoints-check", "filter-output", "ct state new "],
  ["firewall-check", "filter-prerouting-pre-dnat", "ct state new "],
  ["firewall-check", "filter-output-pre-dnat", "ct state new "],
  ["services", "nat-output", ""],
  ["services", "nat-prerouting", ""],
  ["masquerading", "nat-postrouting", ""],
  ["cluster-ips-check", "filter-forward", "ct state new "],
  ["cluster-ips-check", "filter-output", "ct state new "],
];

const CONTAINER_DECL: readonly (readonly [string, string, string])[] = [
  // name, type (after the family's address type is substituted for ADDR), comment
  ["cluster-ips", "ADDR", "Active ClusterIPs"],
  ["service-ips", "ADDR . inet_proto . inet_service : verdict", "ClusterIP, ExternalIP and LoadBalancer IP traffic"],
  ["service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"],
  [
    "no-endpoint-services",
    "ADDR . inet_proto . inet_service : verdict",
    "vmap to drop or reject packets to services with no endpoints",
  ],
  [
    "no-endpoint-nodeports",
    "inet_proto . inet_service : verdict",
    "vmap to drop or reject packets to service nodeports with no endpoints",
  ],
  [
    "firewall-ips",
    "ADDR . inet_proto . inet_service : verdict",
    "destinations that are subject to LoadBalancerSourceRanges",
  ],
];

function containerDecl(i: number, spell: FamilySpelling): string {
  const [name, type, comment] = CONTAINER_DECL[i] ?? ["", "", ""]; // i is a container index
  return `add ${IS_SET[i] ? "set" : "map"}${spell.prefix}${name} { type ${type.replace("ADDR", spell.addrType)} ; comment "${comment}" ; }\n`;
}

/** setupNFTables: the table, base chains, jumps, fixed chains and rules, sets and maps (flushed). */
function setupText(
  ctx: FamilyContext,
  spell: FamilySpelling,
  serviceCIDRs: readonly ParsedCIDR[],
  first: boolean,
  flushElements: boolean,
): string {
  const p = spell.prefix;
  const ipX = spell.ipX;
  const mark = ctx.config.masqueradeMark;
  const family = ctx.config.family;
  const out: string[] = [`add table ${ipX} kube-proxy { comment "rules for kube-proxy" ; }\n`];
  if (first) {
    // once per proxier: recreate the base chains, in case an earlier version gave them other priorities
    for (const [name] of BASE_CHAINS) out.push(`add chain${p}${name}\n`, `delete chain${p}${name}\n`);
  }
  for (const [name, type, hook, prio] of BASE_CHAINS) {
    out.push(`add chain${p}${name} { type ${type} hook ${hook} priority ${prio} ; }\n`, `flush chain${p}${name}\n`);
  }
  const created = new Set<string>();
  const ensure = (name: string) => {
    if (created.has(name)) return;
    created.add(name);
    out.push(`add chain${p}${name}\n`, `flush chain${p}${name}\n`);
  };
  const rule = (chain: string, r: string) => out.push(`add rule${p}${chain} ${r}\n`);
  for (const [dst, src, extra] of JUMPS) {
    ensure(dst);
    rule(src, `${extra}jump ${dst}`);
  }
  for (const name of ["services", "cluster-ips-check", "masquerading", "mark-for-masquerade"]) ensure(name);
  rule("mark-for-masquerade", `mark set mark or ${mark}`);
  rule("masquerading", `mark and ${mark} == 0 return`);
  rule("masquerading", `mark set mark xor ${mark}`);
  rule("masquerading", "masquerade fully-random");
  out.push(containerDecl(0, spell));
  rule("cluster-ips-check", `${ipX} daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`);
  const cidrs = serviceCIDRs.filter((c) => c.ip.family === family).map((c) => c.text);
  if (cidrs.length > 0) {
    rule(
      "cluster-ips-check",
      `${ipX} daddr { ${cidrs.join(",")} } drop comment "Drop traffic to unallocated ClusterIPs"`,
    );
  }
  out.push(`add set${p}nodeport-ips { type ${spell.addrType} ; comment "IPs that accept NodePort traffic" ; }\n`);
  if (ctx.nodePortMatchAll) {
    out.push(`delete set${p}nodeport-ips\n`);
  } else {
    out.push(`flush set${p}nodeport-ips\n`);
    for (const ip of ctx.nodePortIPs) {
      const parsed = parseIP(ip); // nodePortIPs are parsed IPs
      if (parsed && isLoopback(parsed)) continue; // localhost NodePorts are not supported in nftables mode
      out.push(`add element${p}nodeport-ips { ${ip} }\n`);
    }
  }
  out.push(containerDecl(3, spell), containerDecl(4, spell));
  out.push(
    `add chain${p}reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }\n`,
    `flush chain${p}reject-chain\n`,
  );
  rule("reject-chain", "reject");
  rule("service-endpoints-check", `${ipX} daddr . meta l4proto . th dport vmap @no-endpoint-services`);
  const noLocalhost = family === "IPv6" ? "ip6 daddr != ::1" : "ip daddr != 127.0.0.0/8";
  rule(
    "nodeport-endpoints-check",
    ctx.nodePortMatchAll
      ? `${noLocalhost} meta l4proto . th dport vmap @no-endpoint-nodeports`
      : `${ipX} daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
  );
  out.push(containerDecl(5, spell));
  ensure("firewall-check");
  rule("firewall-check", `${ipX} daddr . meta l4proto . th dport vmap @firewall-ips`);
  out.push(containerDecl(1, spell), containerDecl(2, spell));
  rule("services", `${ipX} daddr . meta l4proto . th dport vmap @service-ips`);
  rule(
    "services",
    ctx.nodePortMatchAll
      ? `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @service-nodeports`
      : `${ipX} daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
  );
  // the element storages are reset (unless the elements in the kernel are known: then diffed)
  if (flushElements) {
    for (const i of [0, 1, 5, 3, 4, 2]) out.push(`flush ${IS_SET[i] ? "set" : "map"}${p}${CONTAINERS[i]}\n`);
  }
  return out.join("");
}

// ---------------------------------------------------------------------------------------------
// Elements

function elementLine(verb: "add" | "delete", p: string, c: Claim): string {
  const name = CONTAINERS[c.container] ?? ""; // a claim's container is an index of CONTAINERS
  if (verb === "delete") return `delete element${p}${name} { ${c.key} }\n`;
  const comment = c.comment === "" ? "" : ` comment "${c.comment}"`;
  const value = c.value === "" ? "" : ` : ${c.value}`;
  return `add element${p}${name} { ${c.key}${comment}${value} }\n`;
}

/** The claim in the table among a key's claims: the first by owner (claims are kept sorted). */
function addClaim(list: readonly Claim[] | undefined, c: Claim): readonly Claim[] {
  if (!list) return [c];
  const out = list.slice();
  let i = out.length;
  for (let before = out[i - 1]; before && compareStrings(before.owner, c.owner) > 0; before = out[i - 1]) i--;
  out.splice(i, 0, c);
  return out;
}

function removeClaims(list: readonly Claim[], owner: string): readonly Claim[] | undefined {
  const out = list.filter((c) => c.owner !== owner);
  return out.length === 0 ? undefined : out;
}

function newClaims(): Map<string, readonly Claim[]>[] {
  return CONTAINERS.map(() => new Map<string, readonly Claim[]>());
}

// ---------------------------------------------------------------------------------------------
// Full and partial syncs

function renderFragment(
  ctx: FamilyContext,
  spell: FamilySpelling,
  index: InputIndex,
  key: string,
  batch: TextBatch,
): Fragment | undefined {
  const svc = index.serviceByKey.get(key);
  if (!svc) return undefined;
  const group = index.groups.get(key) ?? EMPTY_GROUP;
  const plan = planService(ctx, key, svc, group);
  const rendered = renderService(ctx, spell, svc, key, plan.ports, batch);
  return {
    key,
    svc,
    slices: group,
    rendered,
    servicePorts: plan.ports.length,
    endpointCount: plan.endpointCount,
    errors: plan.errors,
  };
}

/**
 * The same slices of the family, by identity: a family's table only depends on its own slices (as
 * each of kube-proxy's per-family proxiers only tracks the slices of its address type).
 */
function sameSlices(a: SliceGroup, b: SliceGroup, family: IPFamily): boolean {
  if (a === b) return true;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && a[i]?.family !== family) i++;
    while (j < b.length && b[j]?.family !== family) j++;
    if (i === a.length || j === b.length) return i === a.length && j === b.length;
    if (a[i] !== b[j]) return false;
    i++;
    j++;
  }
}

/** Deletes the stale chains whose grace is over (kube-proxy's earlier transaction). */
function cleanup(spell: FamilySpelling, stale: Map<string, number>, now: number, log: UndoLog | undefined): string[] {
  const lines: string[] = [];
  const gone: string[] = [];
  for (const [name, since] of stale) if (since < now - GRACE_MS) gone.push(name);
  gone.sort(compareStrings);
  for (const name of gone) {
    lines.push(`delete chain${spell.prefix}${name}\n`);
    if (log) log.mapDelete(stale, name);
    else stale.delete(name);
  }
  return lines;
}

interface BuildFrom {
  /** A state whose rendered Services may be reused (same objects, same rendering). */
  readonly reuse: FamilyState | undefined;
  /** The state of the last applied transaction: its chains and sets exist. */
  readonly prev: FamilyState | undefined;
  /** Objects failed transactions declared (an nft transaction is atomic, but be safe). */
  readonly failed: ReadonlySet<string> | undefined;
  /** No transaction was applied yet: recreate the base chains. */
  readonly first: boolean;
  /** The table in the kernel before this (first) sync, when the caller gave it. */
  readonly existing: ExistingTable | undefined;
  readonly now: number;
  /** Sync against `prev` as a partial one (after an index rebuild): no setup, elements diffed. */
  readonly partial: boolean;
}

/** A family from every Service: a full sync, or a partial one that visits everything (after an index rebuild). */
function buildFamily(
  ctx: FamilyContext,
  spell: FamilySpelling,
  contextKey: string,
  checked: CheckedOptions,
  order: readonly string[],
  index: InputIndex,
  b: BuildFrom,
): FamilyOutput {
  const p = spell.prefix;
  const reuse = b.reuse && b.reuse.contextKey === contextKey ? b.reuse : undefined;
  const prev = b.prev;
  const partial = b.partial && prev !== undefined;
  // the stale chains of the applied state carry over (in a new map: the applied state stays intact)
  const stale = new Map<string, number>(prev?.stale ?? []);
  const cleanupLines = cleanup(spell, stale, b.now, undefined);
  const fragments = new Map<string, Fragment>();
  const claims = newClaims();
  let ops = 0;
  let rewritten = 0;
  const declared: string[] = [];
  let endpoints = 0;
  let servicePorts = 0;
  // the Services rendered now and those reused
  const reused: (Fragment | undefined)[] = order.map((key) => {
    const old = reuse?.fragments.get(key);
    const svc = index.serviceByKey.get(key);
    const group = index.groups.get(key) ?? EMPTY_GROUP;
    return old && svc && old.svc === svc && sameSlices(old.slices, group, ctx.config.family) ? old : undefined;
  });
  // when every Service is rendered now (a first sync, a context change), the whole transaction
  // is one batch of pieces joined once; otherwise the reused Services' texts are joined in
  const existing = partial ? undefined : b.existing;
  const fresh = existing === undefined && reused.every((f) => f === undefined);
  const batch = new TextBatch();
  const lines: string[] = [];
  const emit = fresh ? (s: string) => batch.push(s) : (s: string) => lines.push(s);
  if (!partial) {
    const setup = setupText(ctx, spell, checked.serviceCIDRs, b.first, existing === undefined);
    emit(setup);
    ops += countLines(setup);
  }
  const ordered: Fragment[] = [];
  for (const [k, key] of order.entries()) {
    const frag = reused[k] ?? renderFragment(ctx, spell, index, key, batch);
    if (!frag) continue; // `order` is the index's valid Services, each renders
    fragments.set(key, frag);
    ordered.push(frag);
  }
  if (!fresh) batch.finish();
  for (const frag of ordered) {
    endpoints += frag.endpointCount;
    servicePorts += frag.servicePorts;
    const r = frag.rendered;
    for (const c of r.claims) {
      const m = claims[c.container]; // one map per container
      m?.set(c.key, addClaim(m.get(c.key), c));
    }
    const prevFrag = prev?.fragments.get(frag.key);
    if (!partial || !prevFrag || prevFrag !== frag) {
      if (existing) {
        const kept = withoutExistingEndpointChains(r.text, p, existing);
        lines.push(kept.text);
        ops += kept.operations;
      } else {
        if (!fresh) lines.push(r.text);
        ops += r.operations;
      }
      rewritten++;
      for (const name of r.chains) declared.push(name);
      for (const name of r.sets) declared.push(name);
    }
  }
  // elements: all of them after the flush of a full sync; the differences in a partial one, or
  // from the elements in the kernel
  if (existing) {
    claims.forEach((after, i) => {
      const name = CONTAINERS[i] ?? "";
      const before = existing.containers.get(name) ?? new Map<string, string>();
      for (const [key, rest] of before) {
        const winner = after.get(key)?.[0];
        if (winner === undefined) {
          emit(`delete element${p}${name} { ${key} }\n`);
          ops++;
        } else if (elementRest(winner) !== rest) {
          emit(`delete element${p}${name} { ${key} }\n`);
          emit(elementLine("add", p, winner));
          ops += 2;
        }
      }
      for (const [key, list] of after) {
        const winner = list[0];
        if (before.has(key) || winner === undefined) continue;
        emit(elementLine("add", p, winner));
        ops++;
      }
    });
  } else if (!partial) {
    for (const m of claims) {
      for (const list of m.values()) {
        const winner = list[0];
        if (winner === undefined) continue;
        emit(elementLine("add", p, winner));
        ops++;
      }
    }
  } else {
    claims.forEach((after, i) => {
      const before = prev.claims[i] ?? new Map<string, readonly Claim[]>(); // one map per container
      // A key's list of claims is never empty.
      for (const [key, list] of before) {
        const was = list[0];
        if (was === undefined) continue;
        const is = after.get(key)?.[0];
        if (!is) {
          emit(elementLine("delete", p, was));
          ops++;
        } else if (!sameElement(was, is)) {
          emit(elementLine("delete", p, was));
          emit(elementLine("add", p, is));
          ops += 2;
        }
      }
      for (const [key, list] of after) {
        const winner = list[0];
        if (before.has(key) || winner === undefined) continue;
        emit(elementLine("add", p, winner));
        ops++;
      }
    });
  }
  // stale service chains: those the applied state, earlier stale ones, failed transactions and
  // the caller know of that are not used any more get flushed; they are deleted after the grace
  const staleNow: string[] = [];
  const goneSets: string[] = [];
  const known = new Set<string>();
  if (prev) {
    for (const [key, old] of prev.fragments) {
      const now = fragments.get(key);
      if (now === old) continue;
      const chains = new Set(now?.rendered.chains ?? []);
      for (const name of old.rendered.chains) {
        known.add(name);
        if (!chains.has(name)) staleNow.push(name);
      }
      const sets = new Set(now?.rendered.sets ?? []);
      for (const set of old.rendered.sets) if (!sets.has(set)) goneSets.push(set);
    }
  }
  const uncertain = new Set<string>(checked.existingChains.filter((n) => n.includes("/")));
  // chains the kernel is known to have (no `add chain` needed before their flush)
  const present = new Set<string>();
  if (existing) {
    for (const name of existing.chains.keys()) {
      if (!name.includes("/")) continue;
      uncertain.add(name);
      present.add(name);
    }
    // affinity sets no port uses go at once
    const activeSets = new Set<string>();
    for (const f of fragments.values()) for (const s of f.rendered.sets) activeSets.add(s);
    for (const name of existing.containers.keys()) {
      if (name.startsWith("affinity-") && !activeSets.has(name)) goneSets.push(name);
    }
  }
  if (b.failed)
    for (const name of b.failed) if (name.includes("/") && !name.startsWith("affinity-")) uncertain.add(name);
  if (stale.size > 0 || uncertain.size > 0) {
    // (rare: the chains in use, to tell which of those are stale)
    const active = new Set<string>();
    for (const f of fragments.values()) for (const name of f.rendered.chains) active.add(name);
    for (const name of stale.keys()) {
      if (active.has(name)) stale.delete(name);
      else if (!known.has(name)) staleNow.push(name);
    }
    for (const name of uncertain) if (!active.has(name) && !known.has(name) && !stale.has(name)) staleNow.push(name);
  }
  staleNow.sort(compareStrings);
  for (const name of staleNow) {
    if (!known.has(name) && !stale.has(name) && !present.has(name)) {
      // may not exist: make sure it does, so that the flush cannot fail
      emit(`add chain${p}${name}\n`);
      ops++;
    }
    emit(`flush chain${p}${name}\n`);
    ops++;
    stale.set(name, b.now);
  }
  // stale affinity sets go at once
  goneSets.sort(compareStrings);
  for (const set of goneSets) {
    emit(`delete set${p}${set}\n`);
    ops++;
  }
  const state: FamilyState = { contextKey, fragments, claims, stale, endpoints, servicePorts };
  const joined = fresh ? batch.finish() : lines.join("");
  const text = partial && ops === 0 ? "" : joined;
  return {
    result: {
      family: ctx.config.family,
      text,
      cleanupText: cleanupLines.join(""),
      partial,
      stats: {
        servicePorts,
        endpoints,
        rewrittenServices: rewritten,
        operations: ops,
        staleChains: stale.size,
        deletedChains: cleanupLines.length,
      },
    },
    state,
    declared,
  };
}

/** What follows an element's key, as nft lists it and as {@link elementLine} writes it. */
function elementRest(c: Claim): string {
  return `${c.comment === "" ? "" : ` comment "${c.comment}"`}${c.value === "" ? "" : ` : ${c.value}`}`;
}

/**
 * A Service's text without its endpoint chains that the kernel already has with exactly these
 * rules: kube-proxy leaves those alone when it restarts (an endpoint chain's name fixes its
 * rules but for session affinity, which its rules show).
 */
function withoutExistingEndpointChains(
  text: string,
  p: string,
  existing: ExistingTable,
): { text: string; operations: number } {
  const addRule = `add rule${p}`;
  const ours = new Map<string, string[]>();
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (!line.startsWith(addRule)) continue;
    const rest = line.slice(addRule.length);
    const sp = rest.indexOf(" ");
    const name = rest.slice(0, sp);
    if (!name.startsWith("endpoint-")) continue;
    const list = ours.get(name);
    if (list) list.push(rest.slice(sp + 1));
    else ours.set(name, [rest.slice(sp + 1)]);
  }
  const skip = new Set<string>();
  for (const [name, rules] of ours) {
    const there = existing.chains.get(name);
    if (there && there.length === rules.length && there.every((r, i) => r === rules[i])) skip.add(name);
  }
  if (skip.size === 0) return { text, operations: lines.length };
  const kept = lines.filter((line) => {
    const words = line.split(" ", 5);
    const verb = `${words[0]} ${words[1]}`;
    if (verb !== "add chain" && verb !== "flush chain" && verb !== "add rule") return true;
    return !skip.has(words[4] ?? "");
  });
  return { text: kept.length === 0 ? "" : `${kept.join("\n")}\n`, operations: kept.length };
}

function sameElement(a: Claim, b: Claim): boolean {
  return a.value === b.value && a.comment === b.comment;
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/** A partial sync touching only the Services in `dirty`; updates `prev` in place (recorded in `log`). */
function updateFamily(
  ctx: FamilyContext,
  spell: FamilySpelling,
  index: InputIndex,
  prev: FamilyState,
  dirty: ReadonlySet<string>,
  now: number,
  log: UndoLog,
): FamilyOutput {
  const p = spell.prefix;
  const cleanupLines = cleanup(spell, prev.stale, now, log);
  const lines: string[] = [];
  const elementLines: string[] = [];
  let ops = 0;
  let rewritten = 0;
  const declared: string[] = [];
  const keys = [...dirty].sort(compareStrings);
  const batch = new TextBatch();
  const emitted: Fragment[] = [];
  const newlyStale: string[] = [];
  const goneSets: string[] = [];
  // element keys whose claims change, per container, with the claim in the table before
  const touched = CONTAINERS.map(() => new Map<string, Claim | undefined>());
  let endpoints = prev.endpoints;
  let servicePorts = prev.servicePorts;
  for (const key of keys) {
    const old = prev.fragments.get(key);
    const entry = index.serviceByKey.get(key);
    const group = index.groups.get(key) ?? EMPTY_GROUP;
    if (old && entry && old.svc === entry && sameSlices(old.slices, group, ctx.config.family)) continue;
    const frag = entry ? renderFragment(ctx, spell, index, key, batch) : undefined;
    if (!old && !frag) continue;
    // claims: the old ones out, the new ones in
    const change = (c: Claim, add: boolean) => {
      const m = prev.claims[c.container];
      const t = touched[c.container];
      if (!m || !t) return; // one map of each per container
      const list = m.get(c.key);
      if (!t.has(c.key)) t.set(c.key, list?.[0]);
      const next = add ? addClaim(list, c) : list && removeClaims(list, c.owner);
      if (next) log.mapSet(m, c.key, next);
      else log.mapDelete(m, c.key);
    };
    if (old) for (const c of old.rendered.claims) change(c, false);
    if (frag) for (const c of frag.rendered.claims) change(c, true);
    const nowChains = new Set(frag?.rendered.chains ?? []);
    if (old) for (const name of old.rendered.chains) if (!nowChains.has(name)) newlyStale.push(name);
    const nowSets = new Set(frag?.rendered.sets ?? []);
    if (old) for (const s of old.rendered.sets) if (!nowSets.has(s)) goneSets.push(s);
    if (frag) {
      emitted.push(frag);
      ops += frag.rendered.operations;
      rewritten++;
      for (const name of frag.rendered.chains) {
        declared.push(name);
        if (prev.stale.has(name)) log.mapDelete(prev.stale, name);
      }
      for (const name of frag.rendered.sets) declared.push(name);
      log.mapSet(prev.fragments, key, frag);
      endpoints += frag.endpointCount - (old?.endpointCount ?? 0);
      servicePorts += frag.servicePorts - (old?.servicePorts ?? 0);
    } else if (old) {
      log.mapDelete(prev.fragments, key);
      endpoints -= old.endpointCount;
      servicePorts -= old.servicePorts;
    }
  }
  batch.finish();
  for (const frag of emitted) lines.push(frag.rendered.text);
  // element differences
  for (const [i, t] of touched.entries()) {
    const m = prev.claims[i];
    if (!m) continue; // one map per container
    for (const [key, before] of t) {
      const after = m.get(key)?.[0];
      if (before && after && sameElement(before, after)) continue;
      if (before) elementLines.push(elementLine("delete", p, before));
      if (after) elementLines.push(elementLine("add", p, after));
    }
  }
  lines.push(...elementLines);
  ops += elementLines.length;
  // stale chains: the earlier ones are flushed again (kube-proxy flushes every unused service
  // chain it lists, and restarts its grace), the new ones for the first time
  const reflush = [...prev.stale.keys()].filter((n) => !newlyStale.includes(n));
  const staleNames = [...new Set([...reflush, ...newlyStale])].sort(compareStrings);
  for (const name of staleNames) {
    lines.push(`flush chain${p}${name}\n`);
    ops++;
    log.mapSet(prev.stale, name, now);
  }
  goneSets.sort(compareStrings);
  for (const s of goneSets) {
    lines.push(`delete set${p}${s}\n`);
    ops++;
  }
  const state: FamilyState = {
    contextKey: prev.contextKey,
    fragments: prev.fragments,
    claims: prev.claims,
    stale: prev.stale,
    endpoints,
    servicePorts,
  };
  return {
    result: {
      family: ctx.config.family,
      text: lines.join(""),
      cleanupText: cleanupLines.join(""),
      partial: true,
      stats: {
        servicePorts,
        endpoints,
        rewrittenServices: rewritten,
        operations: ops,
        staleChains: prev.stale.size,
        deletedChains: cleanupLines.length,
      },
    },
    state,
    declared,
  };
}
