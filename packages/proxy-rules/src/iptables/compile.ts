// compileIptables: Services + EndpointSlices + node + KubeProxyConfiguration → the
// iptables-restore payload kube-proxy's iptables mode would write (pkg/proxy/iptables/proxier.go,
// syncProxyRules), per IP family, deterministic, with partial sync.

import { InvalidInputError } from "../errors.js";
import { type FamilyContext, parseNode, resolveFamilyContext } from "../model/context.js";
import { type IPFamily, isLoopback, parseIP } from "../model/ip.js";
import type { NormalizedService } from "../model/normalize.js";
import { asList, compareErrors, defaultFamilies, firstError, type ProxyInput } from "../plan/input.js";
import { compareStrings, InputIndex, type SliceGroup } from "../plan/input-index.js";
import { EMPTY_GROUP, endpointBound, planService, type ServicePlan } from "../plan/service-plan.js";
import type { SyncFrom, SyncOutput } from "../plan/sync.js";
import { UndoLog } from "../plan/undo-log.js";
import { chainFromRules, chainFromText, linesOf, type SizedChain } from "./chain.js";
import type { IptablesChain, IptablesJump, IptablesTables } from "./ir.js";
import { IPTABLES_JUMPS, renderJumps } from "./jumps.js";
import { chainLine, quoteComment as q } from "./render.js";
import {
  DECL,
  F_EXTERNAL,
  F_FIREWALL,
  F_NODEPORTS,
  F_SERVICES,
  FragmentWriter,
  KUBE_MARK_MASQ,
  LINES,
  N_NODEPORTS,
  N_SERVICES,
  spanText,
  type TextBatch,
  type TextSpan,
  writeServicePort,
} from "./service-rules.js";

/** Options of {@link compileIptables}. */
export interface CompileIptablesOptions {
  /**
   * Compile what is valid and report invalid objects in `errors` instead of throwing the first
   * {@link InvalidInputError}. An invalid object is left out entirely. Recommended for callers fed
   * by informers: there a slice whose Service is missing (not yet seen, or deleted) is normal for a
   * moment, and without this option it is an error.
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
   * `KUBE-SEP-` chains among them. (A proxier knows the chains of its earlier payloads.)
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
  /** Rules in the payload's filter table. */
  readonly filterRules: number;
  /** Rules in the payload's nat table. */
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
  /**
   * The jumps as a restore payload for `--noflush`, to load once after `text` on a fresh host
   * (it creates the jump targets `text` does not declare, and nothing else).
   */
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
// The state carried from one sync to the next (for partial sync and speed) is owned by a proxier
// (src/proxier.ts): the input index and the fragments of the last payload it was told was
// applied. A partial sync updates that state in place and records every change in an undo log;
// the proxier keeps the log until the payload is acknowledged: applied, the log is dropped;
// failed (or a compilation that throws), the changes are undone. After a failure the next sync is
// full and deletes every chain the failed payloads may have left in the kernel (decision 14).

/**
 * Everything one Service contributes to the payload of one family. Its text lives in a
 * {@link TextBatch} shared with the Services written along with it.
 */
class Fragment {
  #chainNames: readonly string[] | undefined;
  constructor(
    readonly key: string,
    readonly svc: NormalizedService,
    /** The Service's slices it was written from (compared by identity: same slices, same rules). */
    readonly slices: SliceGroup,
    readonly servicePorts: number,
    readonly endpointCount: number,
    readonly errors: readonly InvalidInputError[],
    readonly span: TextSpan,
  ) {}
  /** Rendered lines of a top-level slot (F_SERVICES…N_NODEPORTS), `""` when none. */
  slotText(s: number): string {
    return spanText(this.span, s);
  }
  /** Rules in a top-level slot. */
  slotSize(s: number): number {
    return this.span.slotSize(s);
  }
  /** Declarations of the Service's own nat chains (`:NAME - [0:0]` lines). */
  get chainDecl(): string {
    return spanText(this.span, DECL);
  }
  /** The rules of the Service's own nat chains, in declaration order. */
  get chainText(): string {
    return spanText(this.span, LINES);
  }
  /** Rules per own chain. */
  get chainSizes(): readonly number[] {
    return this.span.chainSizes();
  }
  /** Names of the Service's own chains, in declaration order. */
  get chainNames(): readonly string[] {
    if (!this.#chainNames) {
      const names: string[] = [];
      const decl = this.chainDecl;
      for (let at = 0; at < decl.length; ) {
        const end = decl.indexOf(" ", at);
        names.push(decl.slice(at + 1, end));
        at = decl.indexOf("\n", end) + 1;
      }
      this.#chainNames = names;
    }
    return this.#chainNames;
  }
}

interface FamilyState {
  readonly contextKey: string;
  readonly order: readonly string[];
  readonly fragments: Map<string, Fragment>;
  /** Rendered lines of each top-level slot over all Services, and their count. */
  readonly blocks: readonly string[];
  readonly blockSizes: readonly number[];
  readonly endpoints: number;
  readonly servicePorts: number;
}

/** What compiling one family gives: the result, the state for the next compilation, the chains its payload declares. */
interface FamilyOutput {
  readonly result: IptablesResult;
  readonly state: FamilyState;
  readonly declared: readonly string[];
}

/** What a proxier keeps of the iptables payload it last saw applied. */
export interface IptablesState {
  readonly index: InputIndex;
  readonly families: ReadonlyMap<IPFamily, FamilyState>;
}

/** A sync of the iptables backend from a proxier's state. */
export type IptablesSyncFrom = SyncFrom<IptablesState>;

const SERVICE_CHAIN_PREFIXES = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];
const CT_INVALID_COUNTER = "ct_state_invalid_dropped_pkts";
const SLOTS = 6;

/**
 * Compiles Services and EndpointSlices into the iptables rules kube-proxy's iptables mode would
 * program on `input.node`, one result per IP family. Pure and deterministic: the same input gives
 * the same text: a full sync. Partial syncs are made by a proxier (`createProxier`).
 *
 * Input is checked object by object and across objects. An EndpointSlice whose Service is not in
 * the input (or is invalid), and a slice port that matches no port of its Service (selector vs
 * slices mismatches), are errors by default, like an invalid object. Callers fed by informers,
 * where a slice can arrive before its Service or outlive it, should pass `partialResults: true`:
 * the rest compiles and the problems are listed in `errors`.
 *
 * @throws {@link InvalidInputError} for an invalid object (unless `partialResults`), an invalid
 * configuration or node. The first error in a fixed order is thrown, an object's own error before
 * a mismatch between objects: for an invalid Service, the Service's error rather than its slice's.
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
  const log = new UndoLog();
  const from: IptablesSyncFrom = { state: undefined, partialAllowed: false, failedObjects: new Map(), fullSync: false };
  return syncIptables(input, options, from, log).compilation;
}

/**
 * One sync of the iptables backend, for {@link compileIptables} (no state) and a proxier. What
 * it changes of `from.state` in place is recorded in `log`; when it throws, the changes are
 * undone already.
 */
export function syncIptables(
  input: ProxyInput,
  options: CompileIptablesOptions,
  from: IptablesSyncFrom,
  log: UndoLog,
): SyncOutput<IptablesState, IptablesCompilation> {
  if (typeof input !== "object" || input === null) {
    throw new InvalidInputError({ kind: "ProxyInput" }, "", "must be an object", input);
  }
  const existingChains = checkOptions(options);
  const node = parseNode(input.node);
  const families = options.families ?? defaultFamilies(node.addresses.map((a) => a.family));
  for (const f of families) {
    if (f !== "IPv4" && f !== "IPv6") {
      throw new InvalidInputError({ kind: "CompileIptablesOptions" }, "families", "must be IPv4 or IPv6", f);
    }
  }
  const contexts = families.map((f) =>
    resolveFamilyContext(f, node, input.config ?? {}, input.host ?? {}, { masqueradeMark: options.masqueradeMark }),
  );
  const services = asList(input.services, "services");
  const slices = asList(input.endpointSlices, "endpointSlices");

  const prevState = from.state;
  // a partial sync updates the state in place (the changes recorded in `log`); `fullSync`
  // recomputes everything from the objects: no state is reused.
  const incrementalAllowed = prevState !== undefined && from.partialAllowed && !from.fullSync;
  try {
    let index: InputIndex | undefined;
    let dirty: Set<string> | undefined;
    if (incrementalAllowed) {
      dirty = prevState.index.update(services, slices, log);
      if (dirty) index = prevState.index;
      else log.rollback(); // (it may have stopped halfway)
    }
    if (!index) {
      index = new InputIndex(from.fullSync ? undefined : prevState?.index);
      index.build(services, slices);
      index.sortGroups();
    }

    const threshold = options.largeClusterEndpointsThreshold ?? 1000;
    const results: IptablesResult[] = [];
    const familyStates = new Map<IPFamily, FamilyState>();
    const declared = new Map<IPFamily, readonly string[]>();
    const errors = index.errors();
    let order: readonly string[] | undefined;
    for (const ctx of contexts) {
      const family = ctx.config.family;
      const prevFamily = prevState?.families.get(family);
      const incremental = incrementalAllowed && prevFamily !== undefined && prevFamily.contextKey === ctx.key;
      let out: FamilyOutput;
      if (incremental && dirty && index === prevState.index) {
        out = updateFamily(ctx, index, prevFamily, dirty, threshold, log);
      } else {
        order ??= index.sortedKeys();
        const stale = incremental
          ? undefined
          : staleCandidates(prevFamily, from.failedObjects.get(family), existingChains);
        out = buildFamily(ctx, order, index, incremental ? prevFamily : undefined, stale, threshold);
      }
      for (const f of out.state.fragments.values()) if (f.errors.length > 0) errors.push(...f.errors);
      results.push(out.result);
      familyStates.set(family, out.state);
      declared.set(family, out.declared);
    }

    errors.sort(compareErrors);
    if (errors.length > 0 && !options.partialResults) throw firstError(errors);
    const compilation: IptablesCompilation = {
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

/**
 * The chains a full sync must delete unless it declares them: those the caller listed, those of
 * the last applied payload, and those the payloads that failed since may have left in the kernel.
 */
function staleCandidates(
  applied: FamilyState | undefined,
  failed: ReadonlySet<string> | undefined,
  existingChains: readonly string[] | undefined,
): Set<string> {
  const out = new Set<string>(existingChains ?? []);
  if (applied) for (const f of applied.fragments.values()) for (const name of f.chainNames) out.add(name);
  if (failed) for (const name of failed) out.add(name);
  return out;
}

/**
 * Checks that every option has its JS type (a string where a boolean belongs is not `true`).
 * Returns `existingChains`, read once.
 */
function checkOptions(options: CompileIptablesOptions): readonly string[] | undefined {
  const fail = (field: string, reason: string, value: unknown): never => {
    throw new InvalidInputError({ kind: "CompileIptablesOptions" }, field, reason, value);
  };
  if (typeof options !== "object" || options === null) fail("", "must be an object", options);
  const present = (v: unknown) => v !== undefined && v !== null;
  const { partialResults, families, existingChains, masqueradeMark } = options;
  const threshold = options.largeClusterEndpointsThreshold;
  // partial syncs moved to the proxier: an old caller's `previous` must not silently compile in full
  for (const removed of ["previous", "fullSync"] as const) {
    const v = (options as Record<string, unknown>)[removed];
    if (present(v))
      fail(removed, "is no longer an option of compileIptables: partial and full syncs are made by createProxier", v);
  }
  if (present(partialResults) && typeof partialResults !== "boolean") {
    fail("partialResults", "must be a boolean", partialResults);
  }
  if (present(families) && !Array.isArray(families)) fail("families", "must be a list", families);
  if (present(masqueradeMark) && typeof masqueradeMark !== "string") {
    fail("masqueradeMark", "must be a string", masqueradeMark);
  }
  if (present(threshold) && (typeof threshold !== "number" || !(threshold >= 0))) {
    fail("largeClusterEndpointsThreshold", "must be a number, 0 or more", threshold);
  }
  if (!present(existingChains)) return undefined;
  if (typeof existingChains === "string" || typeof existingChains[Symbol.iterator] !== "function") {
    fail("existingChains", "must be a list of chain names", existingChains);
  }
  const names = [...existingChains];
  names.forEach((name, i) => {
    if (typeof name !== "string") fail(`existingChains[${i}]`, "must be a chain name", name);
  });
  return names;
}

/** Whether two fragments declare the same chains with the same rules. */
function sameChains(a: Fragment, b: Fragment): boolean {
  return a.chainDecl === b.chainDecl && a.chainText === b.chainText;
}

const materialized = new WeakMap<Fragment, SizedChain[]>();

/** The structured form of a fragment's chains (built on first use). */
function fragmentChains(f: Fragment): SizedChain[] {
  let chains = materialized.get(f);
  if (!chains) {
    chains = [];
    const names = f.chainNames;
    const sizes = f.chainSizes;
    const text = f.chainText;
    let at = 0;
    for (let i = 0; i < names.length; i++) {
      // chainSizes has one count per name.
      const size = sizes[i] ?? 0;
      let end = at;
      for (let k = 0; k < size; k++) end = text.indexOf("\n", end) + 1;
      chains.push(chainFromText(names[i] ?? "", text.slice(at, end), size));
      at = end;
    }
    materialized.set(f, chains);
  }
  return chains;
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Differences between the old and new fragment of a Service, accumulated over a compilation. */
class Changes {
  readonly rewritten: Fragment[] = [];
  readonly deleted: string[] = [];
  readonly slotChanged = new Array<boolean>(SLOTS).fill(false);

  record(before: Fragment | undefined, after: Fragment | undefined, partial: boolean): void {
    if (!partial) {
      // a full sync rewrites everything (slotChanged is all set) and deletes nothing here
      if (after) this.rewritten.push(after);
      return;
    }
    if (after && (!before || !sameChains(before, after))) this.rewritten.push(after);
    if (before && before.chainNames.length > 0) {
      const now = new Set(after ? after.chainNames : []);
      for (const name of before.chainNames) if (!now.has(name)) this.deleted.push(name);
    }
    for (let s = 0; s < SLOTS; s++) {
      if ((before?.slotText(s) ?? "") !== (after?.slotText(s) ?? "")) this.slotChanged[s] = true;
    }
  }
}

function buildBlocks(
  order: readonly string[],
  fragments: ReadonlyMap<string, Fragment>,
  prev: FamilyState | undefined,
  changed: readonly boolean[],
): { blocks: string[]; blockSizes: number[] } {
  const blocks: string[] = [];
  const blockSizes: number[] = [];
  let list: Fragment[] | undefined;
  for (let s = 0; s < SLOTS; s++) {
    const prevBlock = prev && !changed[s] ? prev.blocks[s] : undefined;
    const prevSize = prev?.blockSizes[s];
    if (prevBlock !== undefined && prevSize !== undefined) {
      blocks.push(prevBlock);
      blockSizes.push(prevSize);
      continue;
    }
    if (!list) {
      // Every key of `order` has its fragment.
      list = [];
      for (const key of order) {
        const f = fragments.get(key);
        if (f) list.push(f);
      }
    }
    const texts: string[] = [];
    pushSpans(list, s, texts);
    let size = 0;
    for (const f of list) size += f.slotSize(s);
    blocks.push(texts.join(""));
    blockSizes.push(size);
  }
  return { blocks, blockSizes };
}

/**
 * Appends the text of one stream of the fragments, in order, to `out`: one slice of a batch for
 * each run of fragments that were written one after the other.
 */
function pushSpans(list: readonly Fragment[], stream: number, out: string[]): void {
  let batch: TextBatch | undefined;
  let start = 0;
  let end = 0;
  for (const f of list) {
    const a = f.span.start(stream);
    const b = f.span.end(stream);
    if (a === b) continue;
    if (f.span.batch === batch && a === end) {
      end = b;
      continue;
    }
    if (batch) out.push(streamText(batch, stream).slice(start, end));
    batch = f.span.batch;
    start = a;
    end = b;
  }
  if (batch) out.push(streamText(batch, stream).slice(start, end));
}

/** The text a batch holds for `stream` (a batch has one per stream). */
function streamText(batch: TextBatch, stream: number): string {
  return batch.texts[stream] ?? "";
}

/**
 * A whole family, visiting every Service: a full sync (no `prev`), or a partial sync against
 * `prev` that still looks at every Service (after an index rebuild).
 */
function buildFamily(
  ctx: FamilyContext,
  order: readonly string[],
  index: InputIndex,
  prev: FamilyState | undefined,
  stale: ReadonlySet<string> | undefined,
  threshold: number,
): FamilyOutput {
  const partial = prev !== undefined;
  const family = ctx.config.family;
  const fragments = new Map<string, Fragment>();
  const todo: { key: string; entry: NormalizedService; group: SliceGroup }[] = [];
  let reusedEndpoints = 0;
  let bound = 0;
  for (const key of order) {
    const entry = index.serviceByKey.get(key);
    if (!entry) continue; // `order` is the index's keys
    const group = index.groups.get(key) ?? EMPTY_GROUP;
    const old = prev?.fragments.get(key);
    if (old && old.svc === entry && sameItems(old.slices, group)) {
      fragments.set(key, old);
      reusedEndpoints += old.endpointCount;
      continue;
    }
    todo.push({ key, entry, group });
    bound += endpointBound(entry, group, family);
  }
  // Large-cluster mode depends on the endpoint count of all Services, known only once they are
  // planned. Each Service is planned and written in one go (so that its intermediate objects die
  // young), in the mode an upper bound of the count gives; in the rare case where de-duplication
  // brings the count under the threshold, everything is written again.
  const write = (largeClusterMode: boolean): Fragment[] => {
    const w = new FragmentWriter();
    const out: Fragment[] = [];
    for (const { key, entry, group } of todo) {
      const plan = planService(ctx, key, entry, group);
      out.push(writeFragment(ctx, plan, largeClusterMode, w));
    }
    w.flush();
    return out;
  };
  const guess = reusedEndpoints + bound > threshold;
  let built = write(guess);
  let endpoints = reusedEndpoints;
  for (const f of built) endpoints += f.endpointCount;
  const largeClusterMode = endpoints > threshold;
  if (largeClusterMode !== guess) built = write(largeClusterMode);
  let servicePorts = 0;
  for (const f of fragments.values()) servicePorts += f.servicePorts;
  const changes = new Changes();
  if (!partial) changes.slotChanged.fill(true);
  for (const frag of built) {
    servicePorts += frag.servicePorts;
    changes.record(prev?.fragments.get(frag.key), frag, partial);
    fragments.set(frag.key, frag);
  }
  if (partial) {
    for (const [key, old] of prev.fragments) if (!fragments.has(key)) changes.record(old, undefined, true);
    // order changes move top-level rules
    if (order.length !== prev.order.length || order.some((k, i) => prev.order[i] !== k)) changes.slotChanged.fill(true);
  } else {
    // full sync: stale chains come from the lineage and from the caller
    if (stale && stale.size > 0) {
      const active = new Set<string>();
      for (const f of fragments.values()) for (const name of f.chainNames) active.add(name);
      for (const name of stale) {
        if (!active.has(name) && SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p))) changes.deleted.push(name);
      }
    }
  }
  changes.rewritten.sort((a, b) => compareStrings(a.key, b.key));
  const { blocks, blockSizes } = buildBlocks(order, fragments, prev, changes.slotChanged);
  const state: FamilyState = { contextKey: ctx.key, order, fragments, blocks, blockSizes, endpoints, servicePorts };
  // (assemble sorts changes.deleted in place)
  return { result: assemble(ctx, state, changes, partial, largeClusterMode), state, declared: declaredChains(changes) };
}

/** A partial sync touching only the Services in `dirty`; updates `prev` in place (recorded in `log`). */
function updateFamily(
  ctx: FamilyContext,
  index: InputIndex,
  prev: FamilyState,
  dirty: ReadonlySet<string>,
  threshold: number,
  log: UndoLog,
): FamilyOutput {
  const fragments = prev.fragments;
  let endpoints = prev.endpoints;
  let servicePorts = prev.servicePorts;
  const keys = [...dirty].sort(compareStrings);
  const plans: ServicePlan[] = [];
  const removed: Fragment[] = [];
  const added: string[] = [];
  for (const key of keys) {
    const entry = index.serviceByKey.get(key);
    const old = fragments.get(key);
    if (!entry) {
      if (old) removed.push(old);
      continue;
    }
    const group = index.groups.get(key) ?? EMPTY_GROUP;
    if (old && old.svc === entry && sameItems(old.slices, group)) continue;
    const plan = planService(ctx, key, entry, group);
    endpoints += plan.endpointCount - (old?.endpointCount ?? 0);
    servicePorts += plan.ports.length - (old?.servicePorts ?? 0);
    plans.push(plan);
    if (!old) added.push(key);
  }
  let removedEndpoints = 0;
  for (const old of removed) removedEndpoints += old.endpointCount;
  const largeClusterMode = endpoints - removedEndpoints > threshold;
  const changes = new Changes();
  const w = new FragmentWriter();
  const built = plans.map((plan) => writeFragment(ctx, plan, largeClusterMode, w));
  w.flush();
  for (const frag of built) {
    changes.record(fragments.get(frag.key), frag, true);
    log.mapSet(fragments, frag.key, frag);
  }
  for (const old of removed) {
    endpoints -= old.endpointCount;
    servicePorts -= old.servicePorts;
    changes.record(old, undefined, true);
    log.mapDelete(fragments, old.key);
  }
  let order = prev.order;
  if (added.length > 0 || removed.length > 0) {
    const gone = new Set(removed.map((f) => f.key));
    const next = order.filter((k) => !gone.has(k));
    for (const key of added) next.splice(lowerBound(next, key), 0, key);
    order = next;
  }
  const { blocks, blockSizes } = buildBlocks(order, fragments, prev, changes.slotChanged);
  const state: FamilyState = { contextKey: ctx.key, order, fragments, blocks, blockSizes, endpoints, servicePorts };
  return { result: assemble(ctx, state, changes, true, largeClusterMode), state, declared: declaredChains(changes) };
}

/** The Service chains a payload declares (those of the Services it rewrites). */
function declaredChains(changes: Changes): string[] {
  const out: string[] = [];
  for (const f of changes.rewritten) for (const name of f.chainNames) out.push(name);
  return out;
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

/** Writes a planned Service with `w`; its text can be read once `w` is flushed. */
function writeFragment(ctx: FamilyContext, plan: ServicePlan, largeClusterMode: boolean, w: FragmentWriter): Fragment {
  w.begin();
  for (const port of plan.ports) writeServicePort(ctx, port, largeClusterMode, w);
  const span = w.end();
  return new Fragment(plan.key, plan.svc, plan.group, plan.ports.length, plan.endpointCount, plan.errors, span);
}

/** The global rules, the final text and the structured form. */
function assemble(
  ctx: FamilyContext,
  state: FamilyState,
  changes: Changes,
  partial: boolean,
  largeClusterMode: boolean,
): IptablesResult {
  const cfg = ctx.config;
  const mark = cfg.masqueradeMark;
  const isIPv6 = cfg.family === "IPv6";
  const blocks = state.blocks;
  const emitted = changes.rewritten;
  const deleted = changes.deleted.sort(compareStrings);

  // global rules
  const masks = `${mark}/${mark}`;
  const postrouting = chainFromRules("KUBE-POSTROUTING", [
    `-m mark ! --mark ${masks} -j RETURN`,
    `-j MARK --xor-mark ${mark}`,
    `-m comment --comment ${q("kubernetes service traffic requiring SNAT")} -j MASQUERADE${cfg.randomFully ? " --random-fully" : ""}`,
  ]);
  const markMasq = chainFromRules(KUBE_MARK_MASQ, [`-j MARK --or-mark ${mark}`]);
  const kubeletFirewall =
    !isIPv6 && cfg.localhostNodePorts
      ? chainFromRules("KUBE-FIREWALL", [
          `-m comment --comment ${q("block incoming localnet connections")} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
        ])
      : undefined;
  const tail: string[] = [];
  const nodePorts = q("kubernetes service nodeports; NOTE: this must be the last rule in this chain");
  if (ctx.nodePortMatchAll) {
    // localhost NodePorts never work on IPv6, and only with route_localnet on IPv4
    const notLocalhost = isIPv6 ? " ! -d ::1/128" : cfg.localhostNodePorts ? "" : " ! -d 127.0.0.0/8";
    tail.push(`-m comment --comment ${nodePorts} -m addrtype --dst-type LOCAL${notLocalhost} -j KUBE-NODEPORTS`);
  } else {
    for (const ip of ctx.nodePortIPs) {
      // nodePortIPs are parsed IPs.
      const parsed = parseIP(ip);
      if (parsed && isLoopback(parsed) && (isIPv6 || !cfg.localhostNodePorts)) continue;
      tail.push(`-m comment --comment ${nodePorts} -d ${ip} -j KUBE-NODEPORTS`);
    }
  }
  const forwardRules: string[] = [];
  if (!cfg.tcpBeLiberal) {
    const counter = cfg.nfacct ? ` -m nfacct --nfacct-name ${CT_INVALID_COUNTER}` : "";
    forwardRules.push(`-m conntrack --ctstate INVALID${counter} -j DROP`);
  }
  forwardRules.push(
    `-m comment --comment ${q("kubernetes forwarding rules")} -m mark --mark ${masks} -j ACCEPT`,
    `-m comment --comment ${q("kubernetes forwarding conntrack rule")} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  const forward = chainFromRules("KUBE-FORWARD", forwardRules);

  // filter table
  const sizes = state.blockSizes;
  // A family state has a block and its rule count for each of the SLOTS.
  const slotChain = (name: string, slot: number, extra = "", extraRules = 0): SizedChain =>
    chainFromText(name, (blocks[slot] ?? "") + extra, (sizes[slot] ?? 0) + extraRules);
  const filterChains: SizedChain[] = [
    slotChain("KUBE-SERVICES", F_SERVICES),
    slotChain("KUBE-EXTERNAL-SERVICES", F_EXTERNAL),
    forward,
    slotChain("KUBE-NODEPORTS", F_NODEPORTS),
    slotChain("KUBE-PROXY-FIREWALL", F_FIREWALL),
  ];
  if (kubeletFirewall) filterChains.push(kubeletFirewall);
  let head = "*filter\n";
  for (const c of filterChains) head += chainLine(c.name);
  let text = head;
  for (const c of filterChains) text += c.text;
  text += "COMMIT\n*nat\n";

  // nat table: fixed chains, then the rewritten Services' chains, then deletions
  const natServices = slotChain("KUBE-SERVICES", N_SERVICES, linesOf("KUBE-SERVICES", tail), tail.length);
  const natNodePorts = slotChain("KUBE-NODEPORTS", N_NODEPORTS);
  const fixed: SizedChain[] = [natServices, natNodePorts, postrouting, markMasq];
  // The text is a rope (V8 concatenations), flattened once when it is read: the Services' text,
  // held in large batch strings, is appended as it is, not joined into one more copy first.
  const fixedDecl: string[] = [];
  for (const c of fixed) fixedDecl.push(chainLine(c.name));
  text += fixedDecl.join("");
  const spans: string[] = [];
  pushSpans(emitted, DECL, spans);
  for (const t of spans) text += t;
  const deletedDecl: string[] = [];
  for (const name of deleted) deletedDecl.push(chainLine(name));
  text += deletedDecl.join("");
  let natRules = 0;
  for (const c of fixed) natRules += c.size;
  for (const f of emitted) natRules += f.span.chainRules();
  text += natServices.text + natNodePorts.text + postrouting.text + markMasq.text;
  spans.length = 0;
  pushSpans(emitted, LINES, spans);
  for (const t of spans) text += t;
  const deletions: string[] = [];
  for (const name of deleted) deletions.push(`-X ${name}\n`);
  deletions.push("COMMIT\n");
  text += deletions.join("");

  let filterRules = 0;
  for (const c of filterChains) filterRules += c.size;
  let tables: IptablesTables | undefined;
  return {
    family: cfg.family,
    text,
    get tables(): IptablesTables {
      if (!tables) {
        const natChains: IptablesChain[] = [...fixed];
        for (const f of emitted) for (const c of fragmentChains(f)) natChains.push(c);
        tables = {
          filter: { name: "filter", chains: filterChains, deletedChains: [] },
          nat: { name: "nat", chains: natChains, deletedChains: deleted },
        };
      }
      return tables;
    },
    partial,
    jumps: IPTABLES_JUMPS,
    jumpsText: renderJumps(IPTABLES_JUMPS, kubeletFirewall ? [] : ["KUBE-FIREWALL"]),
    stats: {
      servicePorts: state.servicePorts,
      endpoints: state.endpoints,
      largeClusterMode,
      rewrittenServices: emitted.length,
      deletedChains: deleted.length,
      filterRules,
      natRules,
    },
  };
}
