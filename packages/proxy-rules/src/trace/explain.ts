// explainPacket: the way of one new connection's first packet through a node's iptables rules,
// hook by hook as the kernel walks them (raw, mangle, nat, filter; PREROUTING → routing → INPUT or
// FORWARD → POSTROUTING, or OUTPUT → POSTROUTING), with every random branch followed: each branch
// is one outcome with its probability. The rules are read once (parseIptablesRuleset); a packet
// costs a walk over the chains it visits (long chains are indexed by destination address).

import { InvalidInputError } from "../errors.js";
import { type Addr, addrKey, formatAddr, parseAddr } from "./addr.js";
import { type CtState, type EvalState, localTest } from "./iptables-matches.js";
import {
  candidateRules,
  type IptablesRuleset,
  type IptablesRulesetChain,
  type IptablesRulesetRule,
  parseIptablesRuleset,
  type RulesetSource,
} from "./iptables-ruleset.js";
import { cloneDynamic, enumerateNft, nftOutcome, runNftOnce } from "./nftables-eval.js";
import type { NftablesRule, NftablesRuleset } from "./nftables-ruleset.js";
import { readRuleset } from "./read-ruleset.js";

/** Where a packet enters the node's rules. */
export type PacketEntry = "pod" | "node" | "outside";

/** The packet to explain: the first packet of a new connection, unless `state` says otherwise. */
export interface PacketSpec {
  /**
   * `pod`: sent by a pod on this node (enters PREROUTING from the pod's interface); `outside`:
   * arrives from the network (PREROUTING); `node`: sent by a process of the node itself (OUTPUT).
   */
  readonly from: PacketEntry;
  /** Source address. */
  readonly source: string;
  /** Destination address (a Service's cluster IP, a node IP, a load-balancer IP…). */
  readonly destination: string;
  /** Destination port. */
  readonly port: number;
  /** `tcp` (default), `udp` or `sctp`, in either case. */
  readonly protocol?: string | undefined;
  /** Source port (default 40000). */
  readonly sourcePort?: number | undefined;
  /**
   * The interface the packet enters by, as iptables' `-i` sees it: for a pod behind a bridge the
   * bridge (`cbr0`), for a routed pod its host-side veth, for `outside` the NIC. For `node` it is
   * `lo` on the way back in. Rules with `-i` cannot be evaluated without it.
   */
  readonly inInterface?: string | undefined;
  /** The interface the packet leaves by when it is forwarded or sent out (for `-o`). */
  readonly outInterface?: string | undefined;
  /** The bridge port a bridged pod's packet comes in by (for `-m physdev`), e.g. its veth. */
  readonly bridgePort?: string | undefined;
  /** The packet's mark when it enters (default 0). */
  readonly mark?: number | undefined;
  /** Connection-tracking state (default `NEW`: the first packet; the nat table sees only those). */
  readonly state?: CtState | undefined;
}

/** Options of {@link explainPacket}. */
export interface ExplainPacketOptions {
  /**
   * The node's own addresses (what `-m addrtype --dst-type LOCAL` matches besides loopback):
   * every address on the node's interfaces, e.g. the node IP and the bridge's address.
   */
  readonly localAddresses?: readonly string[] | undefined;
  /** Stop after this many random branches (default 4096); `truncated` says so. */
  readonly maxOutcomes?: number | undefined;
}

/** One step of a packet's way. */
export type ExplainStep =
  | {
      readonly kind: "hook";
      /** The table and its built-in chain entered (nftables: `ip kube-proxy` and the base chain). */
      readonly table: string;
      readonly chain: string;
      /** nftables: the hook (`prerouting`, …) and the base chain's priority. */
      readonly hook?: string | undefined;
      readonly priority?: number | undefined;
    }
  | {
      readonly kind: "rule";
      readonly table: string;
      readonly chain: string;
      /** 1-based position of the rule in its chain. */
      readonly position: number;
      /** The source (file) and line it was read from. */
      readonly source: string;
      readonly line: number;
      /** The rule as `-A CHAIN …` (nftables: its statements, as written). */
      readonly text: string;
      /** Its `-j`/`-g` target, if any (nftables: the chain of its jump/goto, or `dnat`, `drop`, `masquerade`, …). */
      readonly target: string | undefined;
      /** What it did to the packet, in words (`DNAT to 10.244.0.11:8080`, `mark 0x4000`). */
      readonly effect: string | undefined;
    }
  | { readonly kind: "policy"; readonly table: string; readonly chain: string; readonly policy: string }
  | {
      readonly kind: "route";
      /** `local`: delivered to the node; `forward`: routed on; `out`: sent by the node. */
      readonly to: "local" | "forward" | "out";
      /** The destination at the routing decision. */
      readonly destination: string;
    };

/** What happened to the packet in the end. */
export type PacketVerdict = "dnat" | "accept" | "drop" | "reject" | "no-match" | "unknown";

/** One way the packet can go (one combination of random choices), with its probability. */
export interface PacketOutcome {
  readonly probability: number;
  /**
   * `dnat`: its destination was rewritten (a Service endpoint); `accept`: a rule accepted it
   * unchanged; `drop` / `reject`: a rule discarded it (REJECT answers); `no-match`: no rule
   * changed or stopped it (it goes on as addressed); `unknown`: a rule it met cannot be evaluated.
   */
  readonly verdict: PacketVerdict;
  /** The destination after DNAT. */
  readonly endpoint?: { readonly address: string; readonly port: number } | undefined;
  /** Source NAT (MASQUERADE or SNAT) was applied in POSTROUTING. */
  readonly masquerade: boolean;
  /** Where it went when not discarded. */
  readonly delivered?: "local" | "forward" | "out" | undefined;
  /** For `drop`, `reject` and `unknown`: why (the rule's comment, or what cannot be evaluated). */
  readonly reason?: string | undefined;
  /** The REJECT's `--reject-with`. */
  readonly rejectWith?: string | undefined;
  /** Every table, chain and rule met, in order. */
  readonly path: readonly ExplainStep[];
}

/** An endpoint and the share of new connections it gets. */
export interface EndpointShare {
  readonly address: string;
  readonly port: number;
  /** The product of the `statistic` probabilities along the way (kube-proxy's even split). */
  readonly probability: number;
  /** Whether connections to it are masqueraded. */
  readonly masquerade: boolean;
}

/** A rule of either kind of ruleset. */
export type ExplainedRule = IptablesRulesetRule | NftablesRule;

/** What {@link explainPacket} found. */
export interface PacketExplanation {
  readonly packet: PacketSpec;
  /** The verdict of every outcome, or `mixed` when they differ. */
  readonly verdict: PacketVerdict | "mixed";
  /** For DNAT: the endpoints and their shares (summing to 1 over the DNAT outcomes). */
  readonly endpoints: readonly EndpointShare[];
  /** Whether the packet is masqueraded (in at least one outcome; see `endpoints[].masquerade`). */
  readonly masquerade: boolean;
  /** Each random branch, in rule order. */
  readonly outcomes: readonly PacketOutcome[];
  /** The rules matched in any outcome, in first-seen order (their kernel counters grow). */
  readonly matchedRules: readonly ExplainedRule[];
  /**
   * ClientIP affinity (`-m recent`; nftables: `update @affinity-… { ip saddr }`): for each
   * endpoint the first packet can reach, where a second new connection from the same source goes
   * while the entry is fresh (`seconds`).
   */
  readonly affinity?:
    | {
        readonly seconds: number | undefined;
        readonly next: readonly {
          readonly after: { readonly address: string; readonly port: number };
          readonly verdict: PacketVerdict | "mixed";
          readonly endpoints: readonly EndpointShare[];
          /** The second packet's branches, with their paths. */
          readonly outcomes: readonly PacketOutcome[];
        }[];
      }
    | undefined;
  /** The first thing that could not be evaluated, if any. */
  readonly unknown?: { readonly reason: string; readonly rule: string | undefined } | undefined;
  /** Assumptions made (kube-proxy's jumps, the source taken as local…). */
  readonly notes: readonly string[];
  /** Whether the branches were cut at `maxOutcomes`. */
  readonly truncated: boolean;
}

class CannotEvaluate {
  constructor(
    readonly reason: string,
    readonly rule: IptablesRulesetRule | undefined,
  ) {}
}

const PROTOS = new Set(["tcp", "udp", "sctp"]);
const MAX_DEPTH = 64;

interface Run {
  verdict: PacketVerdict;
  endpoint: { address: string; port: number } | undefined;
  masquerade: boolean;
  delivered: "local" | "forward" | "out" | undefined;
  reason: string | undefined;
  rejectWith: string | undefined;
  path: ExplainStep[];
  rules: IptablesRulesetRule[];
  choices: boolean[];
  probability: number;
  recent: Map<string, Map<string, number>>;
  setLists: boolean;
  seconds: number | undefined;
  unknownRule: IptablesRulesetRule | undefined;
}

type TableVerdict =
  | { kind: "accept"; rule: IptablesRulesetRule | undefined }
  | { kind: "drop"; rule: IptablesRulesetRule | undefined }
  | { kind: "reject"; rule: IptablesRulesetRule; with: string | undefined };

function cloneRecent(r: Map<string, Map<string, number>>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const [k, v] of r) out.set(k, new Map(v));
  return out;
}

function effectOf(rule: IptablesRulesetRule): string | undefined {
  const t = rule.target;
  switch (t.kind) {
    case "dnat":
      return `DNAT to ${t.text}`;
    case "masquerade":
      return "masquerade (source NAT to the outgoing interface's address)";
    case "snat":
      return `SNAT to ${t.text}`;
    case "mark":
      return `mark = (mark & ~0x${t.mask.toString(16)}) ^ 0x${t.value.toString(16)}`;
    case "drop":
      return "drop";
    case "reject":
      return `reject${t.with ? ` (${t.with})` : ""}`;
    case "accept":
      return "accept";
    default:
      return rule.recentSet ? `remember the source in recent list ${rule.recentSet}` : undefined;
  }
}

/**
 * Explains where a packet goes through a node's iptables rules: the path (each table, chain and
 * rule, with its text and line), the verdict (DNAT to which endpoints with which probabilities,
 * ACCEPT, DROP, REJECT, no match), whether it is masqueraded, the endpoint distribution of random
 * load balancing (the product of the `statistic` probabilities along each branch) and, for
 * ClientIP affinity (`-m recent`), where a second connection from the same source goes.
 *
 * `ruleset` is what {@link parseIptablesRuleset} or {@link parseNftablesRuleset} returns (parse
 * once, explain many packets), or the text(s) to parse: compileIptables' `text` (kube-proxy's
 * jumps are then assumed), `iptables-save` output, compileNftables' `text`, or `nft list ruleset`
 * output (nftables is recognised by its first line). For nftables the base chains of every table
 * of the packet's family run hook by hook in the kernel's order (by priority, a hook's nat chains
 * together at nf_nat's -100 / 100, of equal priorities the later declared first); set and verdict-map lookups,
 * `numgen` branches, `fib … type local`, marks, `ct state`/`ct status`, NAT and `update @set`
 * affinity are evaluated, and a rule step's `table` is `family name` (`ip kube-proxy`). A rule
 * that uses something this function cannot evaluate (`-m set`, `-i` / `iifname` without the
 * packet's interface, `limit`, …) stops the outcome with verdict `unknown` and says what, instead
 * of guessing. Throws {@link InvalidInputError} (kind `Packet`) for a bad packet, (kind `Ruleset`)
 * for text that cannot be read.
 *
 * @example
 * ```ts
 * const why = explainPacket(compileIptables(input).ipv4!.text, {
 *   from: "pod", source: "10.244.0.5", destination: "10.96.0.10", port: 80,
 * });
 * why.verdict;   // "dnat"
 * why.endpoints; // [{ address: "10.244.0.11", port: 8080, probability: 0.5, … }, …]
 * ```
 */
export function explainPacket(
  ruleset: IptablesRuleset | NftablesRuleset | string | RulesetSource | readonly (string | RulesetSource)[],
  packet: PacketSpec,
  options: ExplainPacketOptions = {},
): PacketExplanation {
  const rs = readRuleset(ruleset, "ruleset");
  const notes = rs.kind === "iptables" ? [...rs.assumptions] : [];
  const p = checkPacket(packet);
  const local: Addr[] = [];
  for (const [i, s] of (options.localAddresses ?? []).entries()) {
    const a = parseAddr(s);
    if (!a) throw new InvalidInputError({ kind: "Packet" }, `localAddresses[${i}]`, "not an IP address", s);
    local.push(a);
  }
  if (packet.from === "node" && !local.some((a) => addrKey(a) === addrKey(p.src))) {
    local.push(p.src);
    if (!(p.src.family === 4 ? p.src.v >>> 24 === 127 : p.src.v === 1n))
      notes.push(`the source ${packet.source} of a packet from the node is taken as a local address`);
  }
  const isLocal = localTest(local);
  const max = options.maxOutcomes ?? 4096;
  if (rs.kind === "nftables") return explainNftables(rs, packet, p, isLocal, max, notes);

  const enumerate = (recent: Map<string, Map<string, number>>) => {
    const runs: Run[] = [];
    const stack: boolean[][] = [[]];
    let truncated = false;
    for (let prefix = stack.pop(); prefix; prefix = stack.pop()) {
      if (runs.length >= max) {
        truncated = true;
        break;
      }
      const r = runOnce(rs, packet, p, isLocal, prefix, cloneRecent(recent));
      runs.push(r);
      for (let i = prefix.length; i < r.choices.length; i++) {
        if (r.choices[i]) stack.push([...r.choices.slice(0, i), false]);
      }
    }
    return { runs, truncated };
  };

  return explanation(packet, notes, enumerate(new Map()), toOutcome, undefined, (r) => {
    const again = enumerate(r.recent);
    let seconds: number | undefined;
    for (const a of again.runs) if (a.seconds !== undefined) seconds = a.seconds;
    return { outcomes: again.runs.map(toOutcome), seconds };
  });
}

/** What both walkers' runs give the explanation. */
interface WalkedRun {
  readonly verdict: PacketVerdict;
  readonly endpoint: { address: string; port: number } | undefined;
  readonly rules: readonly ExplainedRule[];
  readonly setLists: boolean;
  readonly reason: string | undefined;
  readonly unknownRule: { readonly text: string } | undefined;
}

/**
 * The explanation of a packet from the runs of its first walk (one per combination of random
 * choices): the outcomes, the rules matched (each once, in order), the unknown rule, and, when a
 * run fills an affinity list, what a second packet gets after each endpoint (`second`, with the
 * timeout it saw; `seconds` reads it from a first run where the walker records it there).
 */
function explanation<R extends WalkedRun>(
  packet: PacketSpec,
  notes: string[],
  first: { readonly runs: readonly R[]; readonly truncated: boolean },
  toOut: (r: R) => PacketOutcome,
  seconds: ((r: R) => number | undefined) | undefined,
  second: (r: R) => { outcomes: PacketOutcome[]; seconds: number | undefined },
): PacketExplanation {
  const outcomes = first.runs.map(toOut);
  const matched: ExplainedRule[] = [];
  const seen = new Set<ExplainedRule>();
  for (const r of first.runs)
    for (const rule of r.rules) {
      if (!seen.has(rule)) {
        seen.add(rule);
        matched.push(rule);
      }
    }
  const unknownRun = first.runs.find((r) => r.verdict === "unknown");
  let affinity: PacketExplanation["affinity"];
  if (first.runs.some((r) => r.setLists)) {
    const next: {
      after: { address: string; port: number };
      verdict: PacketVerdict | "mixed";
      endpoints: EndpointShare[];
      outcomes: PacketOutcome[];
    }[] = [];
    let timeout: number | undefined;
    for (const r of first.runs) {
      const own = seconds?.(r);
      if (own !== undefined) timeout = own;
      if (!r.setLists || !r.endpoint) continue;
      const again = second(r);
      if (again.seconds !== undefined) timeout = again.seconds;
      const outs = again.outcomes;
      next.push({ after: r.endpoint, verdict: summaryVerdict(outs), endpoints: shares(outs), outcomes: outs });
    }
    affinity = { seconds: timeout, next };
  }
  return {
    packet,
    verdict: summaryVerdict(outcomes),
    endpoints: shares(outcomes),
    masquerade: outcomes.some((o) => o.masquerade),
    outcomes,
    matchedRules: matched,
    affinity,
    unknown: unknownRun ? { reason: unknownRun.reason ?? "", rule: unknownRun.unknownRule?.text } : undefined,
    notes,
    truncated: first.truncated,
  };
}

function explainNftables(
  rs: NftablesRuleset,
  packet: PacketSpec,
  p: CheckedPacket,
  isLocal: (a: Addr) => boolean,
  max: number,
  notes: string[],
): PacketExplanation {
  if (!rs.families.includes(p.src.family))
    notes.push(`the ruleset has no table of the packet's family (IPv${p.src.family}): nothing matches it`);
  const enumerate = (dynamic: ReadonlyMap<string, ReadonlySet<string>>) =>
    enumerateNft((prefix) => runNftOnce(rs, packet, p, isLocal, prefix, cloneDynamic(dynamic)), max);
  return explanation(
    packet,
    notes,
    enumerate(new Map()),
    nftOutcome,
    (r) => r.seconds,
    (r) => ({ outcomes: enumerate(r.dynamic).runs.map(nftOutcome), seconds: undefined }),
  );
}

function toOutcome(r: Run): PacketOutcome {
  return {
    probability: r.probability,
    verdict: r.verdict,
    endpoint: r.endpoint,
    masquerade: r.masquerade,
    delivered: r.delivered,
    reason: r.reason,
    rejectWith: r.rejectWith,
    path: r.path,
  };
}

function summaryVerdict(outcomes: readonly PacketOutcome[]): PacketVerdict | "mixed" {
  const kinds = new Set(outcomes.map((o) => o.verdict));
  const [only] = kinds;
  return kinds.size === 1 && only !== undefined ? only : "mixed";
}

function shares(outcomes: readonly PacketOutcome[]): EndpointShare[] {
  const byKey = new Map<string, { address: string; port: number; probability: number; masquerade: boolean }>();
  for (const o of outcomes) {
    if (o.verdict !== "dnat" || !o.endpoint) continue;
    const key = `${o.endpoint.address}|${o.endpoint.port}`;
    const e = byKey.get(key);
    if (e) {
      e.probability += o.probability;
      e.masquerade ||= o.masquerade;
    } else byKey.set(key, { ...o.endpoint, probability: o.probability, masquerade: o.masquerade });
  }
  return [...byKey.values()];
}

interface CheckedPacket {
  src: Addr;
  dst: Addr;
  proto: string;
}

function checkPacket(packet: PacketSpec): CheckedPacket {
  const bad = (field: string, reason: string, value: unknown) =>
    new InvalidInputError({ kind: "Packet" }, field, reason, value);
  if (typeof packet !== "object" || packet === null) throw bad("packet", "must be an object", packet);
  if (packet.from !== "pod" && packet.from !== "node" && packet.from !== "outside")
    throw bad("from", 'must be "pod", "node" or "outside"', packet.from);
  const src = parseAddr(String(packet.source));
  if (!src) throw bad("source", "not an IP address", packet.source);
  const dst = parseAddr(String(packet.destination));
  if (!dst) throw bad("destination", "not an IP address", packet.destination);
  if (src.family !== dst.family) throw bad("destination", "not of the source's IP family", packet.destination);
  if (!Number.isInteger(packet.port) || packet.port < 0 || packet.port > 65535)
    throw bad("port", "must be an integer 0–65535", packet.port);
  if (
    packet.sourcePort !== undefined &&
    (!Number.isInteger(packet.sourcePort) || packet.sourcePort < 0 || packet.sourcePort > 65535)
  )
    throw bad("sourcePort", "must be an integer 0–65535", packet.sourcePort);
  const proto = (packet.protocol ?? "tcp").toLowerCase();
  if (!PROTOS.has(proto)) throw bad("protocol", "must be tcp, udp or sctp", packet.protocol);
  if (packet.state !== undefined && !["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"].includes(packet.state))
    throw bad("state", "must be NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED", packet.state);
  return { src, dst, proto };
}

function runOnce(
  rs: IptablesRuleset,
  packet: PacketSpec,
  p: CheckedPacket,
  isLocal: (a: Addr) => boolean,
  prefix: readonly boolean[],
  recent: Map<string, Map<string, number>>,
): Run {
  const fromNode = packet.from === "node";
  const st: EvalState = {
    family: p.src.family,
    src: p.src,
    dst: p.dst,
    proto: p.proto,
    sport: packet.sourcePort ?? 40000,
    dport: packet.port,
    mark: (packet.mark ?? 0) >>> 0,
    iif: fromNode ? "" : packet.inInterface,
    oif: "",
    bridgePort: fromNode ? "" : packet.bridgePort,
    ctState: packet.state ?? "NEW",
    ctDnat: false,
    ctSnat: false,
    isLocal,
    recent,
  };
  const run: Run = {
    verdict: "no-match",
    endpoint: undefined,
    masquerade: false,
    delivered: undefined,
    reason: undefined,
    rejectWith: undefined,
    path: [],
    rules: [],
    choices: [],
    probability: 1,
    recent,
    setLists: false,
    seconds: undefined,
    unknownRule: undefined,
  };
  let accepted: IptablesRulesetRule | undefined;
  const isNew = st.ctState === "NEW";

  const matchRule = (rule: IptablesRulesetRule): boolean => {
    for (const m of rule.matchers) {
      if (m.kind === "test") {
        const r = m.test(st);
        if (r === true) continue;
        if (r === false) return false;
        throw new CannotEvaluate(r, rule);
      }
      const q = m.probability;
      if (q >= 1) continue;
      if (q <= 0) return false;
      const i = run.choices.length;
      const took = prefix[i] ?? true;
      run.choices.push(took);
      run.probability *= took ? q : 1 - q;
      if (!took) return false;
    }
    return true;
  };

  const runChain = (
    table: string,
    chains: ReadonlyMap<string, IptablesRulesetChain>,
    chain: IptablesRulesetChain,
    depth: number,
  ): TableVerdict | undefined => {
    if (depth > MAX_DEPTH)
      throw new CannotEvaluate(`cannot evaluate: chains nest deeper than ${MAX_DEPTH} (a loop?)`, undefined);
    const rules = chain.rules;
    const cands = candidateRules(chain, addrKey(st.dst), st.dport);
    const n = cands ? cands.length : rules.length;
    for (let k = 0; k < n; k++) {
      const idx = cands ? (cands[k] ?? -1) : k;
      const rule = rules[idx];
      if (!rule) continue;
      if (!matchRule(rule)) continue;
      run.rules.push(rule);
      if (rule.recentSet) run.setLists = true;
      if (rule.recentSeconds !== undefined) run.seconds = rule.recentSeconds;
      run.path.push({
        kind: "rule",
        table,
        chain: chain.name,
        position: idx + 1,
        source: rule.source,
        line: rule.line,
        text: rule.text,
        target: rule.targetName,
        effect: effectOf(rule),
      });
      const t = rule.target;
      switch (t.kind) {
        case "none":
        case "noop":
          continue;
        case "mark":
          st.mark = ((st.mark & ~t.mask) ^ t.value) >>> 0;
          continue;
        case "accept":
          return { kind: "accept", rule };
        case "drop":
          return { kind: "drop", rule };
        case "reject":
          return { kind: "reject", rule, with: t.with };
        case "return":
          return undefined;
        case "jump": {
          const sub = chains.get(t.chain);
          if (!sub || sub.builtin)
            throw new CannotEvaluate(
              `cannot evaluate: -j ${t.chain} (neither a chain of table ${table} nor a target this tool evaluates)`,
              rule,
            );
          const r = runChain(table, chains, sub, depth + 1);
          if (r) return r;
          if (t.goto) return undefined;
          continue;
        }
        case "dnat":
          if (table !== "nat") throw new CannotEvaluate(`cannot evaluate: DNAT outside the nat table`, rule);
          st.dst = t.address;
          if (t.port !== undefined) st.dport = t.port;
          st.ctDnat = true;
          run.endpoint = { address: formatAddr(t.address), port: st.dport };
          return { kind: "accept", rule: undefined };
        case "redirect":
          if (table !== "nat") throw new CannotEvaluate(`cannot evaluate: REDIRECT outside the nat table`, rule);
          st.dst = st.family === 4 ? { family: 4, v: 0x7f000001 } : { family: 6, v: 1n };
          if (t.port !== undefined) st.dport = t.port;
          st.ctDnat = true;
          run.endpoint = { address: formatAddr(st.dst), port: st.dport };
          return { kind: "accept", rule: undefined };
        case "masquerade":
        case "snat":
          if (table !== "nat")
            throw new CannotEvaluate(`cannot evaluate: ${rule.targetName} outside the nat table`, rule);
          run.masquerade = true;
          st.ctSnat = true;
          return { kind: "accept", rule: undefined };
        case "unknown":
          throw new CannotEvaluate(t.reason, rule);
      }
    }
    return undefined;
  };

  /** Walks a table's built-in chain; returns false when the packet was discarded. */
  const hook = (table: string, chainName: string): boolean => {
    const chains = rs.tables.get(table);
    const chain = chains?.get(chainName);
    if (!chains || !chain) return true;
    run.path.push({ kind: "hook", table, chain: chainName });
    let v = runChain(table, chains, chain, 0);
    if (!v) {
      const policy = chain.policy ?? "ACCEPT";
      if (chain.rules.length > 0 || policy !== "ACCEPT")
        run.path.push({ kind: "policy", table, chain: chainName, policy });
      v = policy === "DROP" ? { kind: "drop", rule: undefined } : { kind: "accept", rule: undefined };
    }
    if (v.kind === "accept") {
      if (v.rule && table !== "nat") accepted = v.rule;
      return true;
    }
    run.verdict = v.kind;
    run.reason = v.rule ? (v.rule.comment ?? v.rule.text) : `policy of ${table} ${chainName}`;
    if (v.kind === "reject") run.rejectWith = v.with;
    return false;
  };

  const route = (to: "local" | "forward" | "out") => {
    run.path.push({ kind: "route", to, destination: formatAddr(st.dst) });
  };

  try {
    let ok = true;
    if (fromNode) {
      st.oif = isLocal(st.dst) ? "lo" : packet.outInterface;
      ok = hook("raw", "OUTPUT") && hook("mangle", "OUTPUT") && (!isNew || hook("nat", "OUTPUT"));
      if (ok) {
        st.oif = isLocal(st.dst) ? "lo" : packet.outInterface;
        ok = hook("filter", "OUTPUT") && hook("security", "OUTPUT");
      }
      const toLocal = isLocal(st.dst);
      if (ok) {
        route(toLocal ? "local" : "out");
        ok = hook("mangle", "POSTROUTING") && (!isNew || hook("nat", "POSTROUTING"));
      }
      if (ok && toLocal) {
        // looped back through lo: the connection's NAT is already set up, nat is not consulted again
        st.iif = "lo";
        st.oif = "";
        st.bridgePort = "";
        ok = hook("raw", "PREROUTING") && hook("mangle", "PREROUTING");
        ok = ok && hook("mangle", "INPUT") && hook("filter", "INPUT") && hook("security", "INPUT");
      }
      if (ok) run.delivered = toLocal ? "local" : "out";
    } else {
      ok = hook("raw", "PREROUTING") && hook("mangle", "PREROUTING") && (!isNew || hook("nat", "PREROUTING"));
      if (ok) {
        const toLocal = isLocal(st.dst);
        route(toLocal ? "local" : "forward");
        if (toLocal) {
          ok = hook("mangle", "INPUT") && hook("filter", "INPUT") && hook("security", "INPUT");
          ok = ok && (!isNew || hook("nat", "INPUT"));
          if (ok) run.delivered = "local";
        } else {
          st.oif = packet.outInterface;
          ok = hook("mangle", "FORWARD") && hook("filter", "FORWARD") && hook("security", "FORWARD");
          ok = ok && hook("mangle", "POSTROUTING") && (!isNew || hook("nat", "POSTROUTING"));
          if (ok) run.delivered = "forward";
        }
      }
    }
    if (ok) {
      if (st.ctDnat) run.verdict = "dnat";
      else if (accepted) {
        run.verdict = "accept";
        run.reason = accepted.comment ?? accepted.text;
      }
    }
  } catch (e) {
    if (!(e instanceof CannotEvaluate)) throw e;
    run.verdict = "unknown";
    run.reason = e.reason;
    run.unknownRule = e.rule;
    run.delivered = undefined;
    if (e.rule) {
      run.path.push({
        kind: "rule",
        table: e.rule.table,
        chain: e.rule.chain,
        position: (rs.tables.get(e.rule.table)?.get(e.rule.chain)?.rules.indexOf(e.rule) ?? -1) + 1,
        source: e.rule.source,
        line: e.rule.line,
        text: e.rule.text,
        target: e.rule.targetName,
        effect: e.reason,
      });
    }
  }
  return run;
}
