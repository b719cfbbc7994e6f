// The rules of one Service port, as kube-proxy's syncProxyRules writes them
// (pkg/proxy/iptables/proxier.go), into the top-level slots and the Service's own chains.
//
// Like kube-proxy's LineBuffer, the writer appends text pieces to arrays and joins them once per
// Service: building a 400,000-line ruleset then costs one copy of the text rather than a string
// per rule. Comment values go through q(), which quotes them exactly when kube-proxy's text has
// quotes. The Service's chains are written whole, one after the other, in kube-proxy's
// declaration order (EXT, FW, SVC, SVL, SEP…); the one rule kube-proxy writes ahead of its chain
// (the masquerade rule of the internal-traffic chain) is held until that chain starts.

import type { FamilyContext, LocalDetector } from "../model/context.js";
import { type EndpointRows, NO_ROWS, type ServicePortInfo, suffixOf } from "../model/service-port.js";
import type { MissingEndpointsVerdict, ServicePortPlan } from "../plan/service-port-plan.js";
import { hash16, sepChainName, sepChainNames } from "./chain-hash.js";
import { probability } from "./probability.js";
import { isPlainToken, isQuotable, quoteComment as q } from "./render.js";

// top-level chain slots a Service contributes rules to
export const F_SERVICES = 0;
export const F_EXTERNAL = 1;
export const F_NODEPORTS = 2;
export const F_FIREWALL = 3;
export const N_SERVICES = 4;
export const N_NODEPORTS = 5;
/** The chain of each slot. */
export const SLOT_CHAINS = [
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-FIREWALL",
  "KUBE-SERVICES",
  "KUBE-NODEPORTS",
] as const;
const SLOT_PREFIX = SLOT_CHAINS.map((c) => `-A ${c} `);

export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
const LOCALHOST_NPS_COUNTER = "localhost_nps_accepted_pkts";
const MASQ_TAIL = " -j KUBE-MARK-MASQ\n";
const quotedStatistics: string[] = [];
const statistics: string[] = [];

/** `" -m statistic --mode random --probability <1/n> -j ` (closing a quoted comment), cached. */
function quotedStatistic(n: number): string {
  let s = quotedStatistics[n];
  if (s === undefined) {
    s = `" -m statistic --mode random --probability ${probability(n)} -j `;
    if (n < 100_000) quotedStatistics[n] = s;
  }
  return s;
}

/** `-m statistic --mode random --probability <1/n> -j `, cached. */
function statistic(n: number): string {
  let s = statistics[n];
  if (s === undefined) {
    s = `-m statistic --mode random --probability ${probability(n)} -j `;
    if (n < 100_000) statistics[n] = s;
  }
  return s;
}
/** The comment of a verdict for missing endpoints. */
function verdictComment(spn: string, verdict: MissingEndpointsVerdict | undefined): string {
  if (verdict === undefined) return "";
  return q(verdict === "REJECT" ? `${spn} has no endpoints` : `${spn} has no local endpoints`);
}

/** The local-traffic detector's match: traffic from this node's pods (or, negated, not). */
export function detectorArgs(d: LocalDetector, local: boolean): string {
  const not = local ? "" : "! ";
  switch (d.kind) {
    case "cidr":
      return `${not}-s ${d.cidr}`;
    case "interface":
      return `${not}-i ${d.name}`;
    case "interfacePrefix":
      return `${not}-i ${d.prefix}+`;
  }
}

/** Longest comment value written as it is (see quoteComment). */
const MAX_COMMENT = 255;

/** Streams of a {@link TextBatch}: the six top-level slots, chain declarations, chain rules. */
export const DECL = 6;
export const LINES = 7;
const STREAMS = 8;
/** A batch is cut once its text reaches this many characters (beyond V8's young-generation object size). */
const BATCH_CHARS = 1 << 18;

/**
 * The text of several consecutive Services, one string per stream. Services hold offsets into
 * them. Large strings are allocated outside V8's young
 * generation, so the text of a 10,000-Service compile is written once and never copied by the
 * garbage collector, where one string per Service was. The Services' offsets and rule counts are
 * numbers in one typed array per batch, for the same reason.
 */
export class TextBatch {
  /** The text of each stream. */
  texts: readonly string[] = [];
  /** Each Service's record (see TextSpan), one after the other. */
  meta: Int32Array = EMPTY_META;
}

const EMPTY_META = new Int32Array(0);
// a span's record in its batch's meta: start and end of each stream, rules per top-level slot,
// the number of own chains, then the rules of each own chain
const M_SLOTS = 2 * 8;
const M_CHAINS = M_SLOTS + 6;
const M_HEAD = M_CHAINS + 1;

/** Where one Service's text is: its batch and its record there (valid once the batch is flushed). */
export class TextSpan {
  constructor(
    readonly batch: TextBatch,
    private readonly m: number,
  ) {}
  /** Where stream `s` starts in the batch's text. */
  start(s: number): number {
    return this.batch.meta[this.m + 2 * s] ?? 0;
  }
  /** Where stream `s` ends in the batch's text. */
  end(s: number): number {
    return this.batch.meta[this.m + 2 * s + 1] ?? 0;
  }
  /** Rules in top-level slot `s`. */
  slotSize(s: number): number {
    return this.batch.meta[this.m + M_SLOTS + s] ?? 0;
  }
  /** Rules per own chain, in declaration order. */
  chainSizes(): number[] {
    const meta = this.batch.meta;
    const n = meta[this.m + M_CHAINS] ?? 0;
    return Array.from(meta.subarray(this.m + M_HEAD, this.m + M_HEAD + n));
  }
  /** Rules in all own chains. */
  chainRules(): number {
    const meta = this.batch.meta;
    const from = this.m + M_HEAD;
    const to = from + (meta[this.m + M_CHAINS] ?? 0);
    let total = 0;
    for (let i = from; i < to; i++) total += meta[i] ?? 0;
    return total;
  }
}

/** The text of a span's stream (`""` when it has none). */
export function spanText(span: TextSpan, stream: number): string {
  const start = span.start(stream);
  const end = span.end(stream);
  if (start === end) return "";
  return (span.batch.texts[stream] ?? "").slice(start, end);
}

/**
 * Collects Services' lines, Service after Service: top-level slots and their own chains, in order.
 * `begin()` starts a Service, `end()` gives its span; `flush()` writes the pending batch out and
 * must be called before any span is read.
 */
export class FragmentWriter {
  /**
   * The pending pieces of each stream, written by index and reused from batch to batch (growing
   * fresh arrays for every batch was a third of the compiler's allocation); `count` are in use.
   */
  private readonly pieces: string[][] = [[], [], [], [], [], [], [], []];
  /** The pieces of `DECL`. */
  private readonly decl: string[];
  private readonly counts: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  /** The pieces of the chain-rule stream (the bulk), and their count. */
  private lines: string[];
  private nLines = 0;
  private readonly lengths: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  private batch = new TextBatch();
  /** The records of the pending batch's Services (see TextSpan), `used` of them. */
  private meta = new Int32Array(1 << 14);
  private used = 0;
  /** The current Service's record, and the count of its current chain. */
  private m = 0;
  private chainAt = 0;
  /** The current chain's `-A NAME ` prefix. */
  private head = "";

  constructor() {
    // Both streams are among the STREAMS pieces.
    this.lines = this.pieces[LINES] ?? [];
    this.decl = this.pieces[DECL] ?? [];
  }

  begin(): void {
    this.reserve(M_HEAD);
    const meta = this.meta;
    const m = this.used;
    for (let s = 0; s < STREAMS; s++) meta[m + 2 * s] = this.lengths[s] ?? 0;
    meta.fill(0, m + M_SLOTS, m + M_HEAD);
    this.m = m;
    this.used = m + M_HEAD;
  }

  end(): TextSpan {
    const meta = this.meta;
    for (let s = 0; s < STREAMS; s++) meta[this.m + 2 * s + 1] = this.lengths[s] ?? 0;
    const span = new TextSpan(this.batch, this.m);
    let total = 0;
    for (let s = 0; s < STREAMS; s++) total += this.lengths[s] ?? 0;
    if (total >= BATCH_CHARS) this.flush();
    return span;
  }

  /** Writes the pending text into its batch and starts a new one. */
  flush(): void {
    this.counts[LINES] = this.nLines;
    const texts: string[] = [];
    for (const [s, p] of this.pieces.entries()) {
      const n = this.counts[s] ?? 0;
      if (p.length !== n) p.length = n;
      texts.push(n === 0 ? "" : p.join(""));
      this.counts[s] = 0;
      this.lengths[s] = 0;
    }
    this.nLines = 0;
    this.batch.texts = texts;
    this.batch.meta = this.meta.slice(0, this.used);
    this.used = 0;
    this.batch = new TextBatch();
  }

  /** Makes room for `n` more numbers in the pending records. */
  private reserve(n: number): void {
    if (this.used + n <= this.meta.length) return;
    const grown = new Int32Array(Math.max(2 * this.meta.length, this.used + n));
    grown.set(this.meta.subarray(0, this.used));
    this.meta = grown;
  }

  /** Adds a rule (its argument text, in pieces) to a top-level slot. */
  slot(s: number, a: string, b = "", c = "", d = "", e = "", f = "", g = ""): void {
    const prefix = SLOT_PREFIX[s] ?? "";
    const out = this.pieces[s] ?? [];
    let n = this.counts[s] ?? 0;
    out[n++] = prefix;
    out[n++] = a;
    if (b !== "") out[n++] = b;
    if (c !== "") out[n++] = c;
    if (d !== "") out[n++] = d;
    if (e !== "") out[n++] = e;
    if (f !== "") out[n++] = f;
    if (g !== "") out[n++] = g;
    out[n++] = "\n";
    this.counts[s] = n;
    this.lengths[s] =
      (this.lengths[s] ?? 0) +
      prefix.length +
      a.length +
      b.length +
      c.length +
      d.length +
      e.length +
      f.length +
      g.length +
      1;
    this.meta[this.m + M_SLOTS + s] = (this.meta[this.m + M_SLOTS + s] ?? 0) + 1;
  }

  /** Starts one of the Service's own chains. */
  chain(name: string, decl?: string): void {
    this.reserve(1);
    this.meta[this.m + M_CHAINS] = (this.meta[this.m + M_CHAINS] ?? 0) + 1;
    this.chainAt = this.used;
    this.meta[this.used++] = 0;
    const out = this.decl;
    let n = this.counts[DECL] ?? 0;
    if (decl === undefined) {
      out[n++] = ":";
      out[n++] = name;
      out[n++] = " - [0:0]\n";
    } else out[n++] = decl; // the same line, made along with the name
    this.counts[DECL] = n;
    this.lengths[DECL] = (this.lengths[DECL] ?? 0) + name.length + 10;
    this.head = `-A ${name} `;
  }

  /** Adds a rule to the current chain: `-A NAME ` + the pieces + a line break. */
  rule(a: string, b = "", c = "", d = "", e = "", f = "", g = ""): void {
    const head = this.head;
    const out = this.lines;
    let n = this.nLines;
    out[n++] = head;
    if (a !== "") out[n++] = a;
    if (b !== "") out[n++] = b;
    if (c !== "") out[n++] = c;
    if (d !== "") out[n++] = d;
    if (e !== "") out[n++] = e;
    if (f !== "") out[n++] = f;
    if (g !== "") out[n++] = g;
    out[n++] = "\n";
    this.nLines = n;
    this.lengths[LINES] =
      (this.lengths[LINES] ?? 0) +
      head.length +
      a.length +
      b.length +
      c.length +
      d.length +
      e.length +
      f.length +
      g.length +
      1;
    this.meta[this.chainAt] = (this.meta[this.chainAt] ?? 0) + 1;
  }

  /**
   * Adds a rule to the current chain whose pieces already end in a line break (the hot path of
   * endpoint chains: fewer pieces to join).
   */
  line(a: string, b: string, c: string): void {
    const head = this.head;
    const out = this.lines;
    let n = this.nLines;
    out[n++] = head;
    out[n++] = a;
    out[n++] = b;
    out[n++] = c;
    this.nLines = n;
    this.lengths[LINES] = (this.lengths[LINES] ?? 0) + head.length + a.length + b.length + c.length;
    this.meta[this.chainAt] = (this.meta[this.chainAt] ?? 0) + 1;
  }
}

/** The rules of one planned service port, as kube-proxy's syncProxyRules writes them. */
export function writeServicePort(
  ctx: FamilyContext,
  plan: ServicePortPlan,
  largeClusterMode: boolean,
  w: FragmentWriter,
): void {
  const cfg = ctx.config;
  const sp = plan.port;
  const proto = sp.protocol;
  const spn = sp.nameString;
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = plan;
  const hash = hash16(spn, proto);
  const clusterPolicyChain = `KUBE-SVC-${hash}`;
  const usesClusterPolicyChain = plan.usesClusterEndpoints;
  const localPolicyChain = `KUBE-SVL-${hash}`;
  const usesLocalPolicyChain = plan.usesLocalEndpoints;
  const internalPolicyChain = plan.internal.policy === "Local" ? localPolicyChain : clusterPolicyChain;
  const hasInternalEndpoints = plan.internal.hasEndpoints;
  const externalPolicyChain = plan.external.policy === "Local" ? localPolicyChain : clusterPolicyChain;
  const hasExternalEndpoints = plan.external.hasEndpoints;
  const extChain = `KUBE-EXT-${hash}`;
  const usesExternalTrafficChain = plan.usesExternalTraffic;
  const fwChain = `KUBE-FW-${hash}`;
  // (kube-proxy's iptables mode filters source ranges only for a port with endpoints)
  const firewall = hasAnyEndpoints ? plan.firewall : undefined;
  const usesFWChain = firewall !== undefined;
  const lbChain = usesFWChain ? fwChain : extChain;

  const internalTarget = plan.internal.verdict ?? "";
  const externalTarget = plan.external.verdict ?? "";
  const internalComment = verdictComment(spn, plan.internal.verdict);
  const externalComment =
    plan.external.verdict === plan.internal.verdict ? internalComment : verdictComment(spn, plan.external.verdict);
  // q() of comments made of spn and constant words with a blank: spn is checked once (a valid
  // Service port name is a plain token, so they are quoted as they are)
  const plain = isPlainToken(spn) && spn.length <= MAX_COMMENT - 64;
  const qs = (before: string, after: string) => (plain ? `"${before}${spn}${after}"` : q(`${before}${spn}${after}`));
  const qSpn = plain ? spn : q(spn);
  const match = `-m ${proto} -p ${proto}`;
  const dport = ` --dport ${sp.port} -j `;

  // cluster IP
  const clusterMatch = `${match} -d ${sp.clusterIP}`;
  const clusterComment = `-m comment --comment ${qs("", " cluster IP")} `;
  if (hasInternalEndpoints) {
    w.slot(N_SERVICES, clusterComment, clusterMatch, dport, internalPolicyChain);
  } else {
    w.slot(F_SERVICES, "-m comment --comment ", internalComment, " ", clusterMatch, dport, internalTarget);
  }

  // external IPs
  for (const ip of sp.externalIPs) {
    if (hasAnyEndpoints) {
      w.slot(N_SERVICES, `-m comment --comment ${q(`${spn} external IP`)} ${match} -d `, ip, dport, extChain);
    }
    if (!hasExternalEndpoints) {
      w.slot(F_EXTERNAL, `-m comment --comment ${externalComment} ${match} -d `, ip, dport, externalTarget);
    }
  }

  // load-balancer ingress
  for (const ip of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) {
      w.slot(N_SERVICES, `-m comment --comment ${q(`${spn} loadbalancer IP`)} ${match} -d `, ip, dport, lbChain);
    }
    if (usesFWChain) {
      const comment = q(`${spn} traffic not accepted by ${fwChain}`);
      w.slot(F_FIREWALL, `-m comment --comment ${comment} ${match} -d `, ip, dport, "DROP");
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of sp.loadBalancerVIPs) {
      w.slot(F_EXTERNAL, `-m comment --comment ${externalComment} ${match} -d `, ip, dport, externalTarget);
    }
  }

  // node ports (not subject to loadBalancerSourceRanges)
  if (sp.nodePort !== 0) {
    const np = sp.nodePort;
    if (hasAnyEndpoints) {
      if (cfg.localhostNodePorts && cfg.family === "IPv4" && cfg.nfacct) {
        w.slot(
          N_NODEPORTS,
          `-m comment --comment ${qSpn} ${match} -d 127.0.0.0/8 --dport ${np} -m nfacct --nfacct-name ${LOCALHOST_NPS_COUNTER} -j `,
          extChain,
        );
      }
      w.slot(N_NODEPORTS, `-m comment --comment ${qSpn} ${match} --dport ${np} -j `, extChain);
    }
    if (!hasExternalEndpoints) {
      w.slot(
        F_EXTERNAL,
        `-m comment --comment ${externalComment} -m addrtype --dst-type LOCAL ${match} --dport ${np} -j `,
        externalTarget,
      );
    }
  }

  // health check node port, whether or not there are local endpoints
  if (sp.healthCheckNodePort !== 0) {
    w.slot(
      F_NODEPORTS,
      `-m comment --comment ${q(`${spn} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // internal traffic: masquerade off-cluster sources (written first in its chain, below)
  // The plan masquerades "notLocal" and sends pod traffic to the cluster only with a detector.
  const detector = ctx.detector;
  let masqRule = "";
  if (plan.internalMasquerade === "all") {
    masqRule = `${clusterComment}${clusterMatch} --dport ${sp.port} -j ${KUBE_MARK_MASQ}`;
  } else if (plan.internalMasquerade === "notLocal" && detector) {
    masqRule = `${clusterComment}${clusterMatch} --dport ${sp.port} ${detectorArgs(detector, false)} -j ${KUBE_MARK_MASQ}`;
  }

  // external traffic: every external destination goes through KUBE-EXT
  if (usesExternalTrafficChain) {
    w.chain(extChain);
    if (plan.externalMasqueradeAll) {
      w.rule(`-m comment --comment ${qs("masquerade traffic for ", " external destinations")} -j `, KUBE_MARK_MASQ);
    }
    if (plan.podTrafficToCluster && detector) {
      const comment = q(`pod traffic for ${spn} external destinations`);
      w.rule(`-m comment --comment ${comment} ${detectorArgs(detector, true)} -j `, clusterPolicyChain);
    }
    if (plan.nodeTrafficToCluster) {
      const masq = q(`masquerade LOCAL traffic for ${spn} external destinations`);
      w.rule(`-m comment --comment ${masq} -m addrtype --src-type LOCAL -j `, KUBE_MARK_MASQ);
      const route = q(`route LOCAL traffic for ${spn} external destinations`);
      w.rule(`-m comment --comment ${route} -m addrtype --src-type LOCAL -j `, clusterPolicyChain);
    }
    if (hasExternalEndpoints) w.rule("-j ", externalPolicyChain);
  }

  // load-balancer source ranges
  if (firewall) {
    w.chain(fwChain);
    const comment = `-m comment --comment ${q(`${spn} loadbalancer IP`)} -s `;
    for (const cidr of firewall.sourceRanges) w.rule(comment, cidr.text, " -j ", extChain);
    if (firewall.allowFromNode) for (const ip of sp.loadBalancerVIPs) w.rule(comment, ip, " -j ", extChain);
    w.rule(`-m comment --comment ${q(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`)}`);
  }

  const sep = endpointChainNames(spn + proto, allReachableEndpoints);
  if (usesClusterPolicyChain) {
    w.chain(clusterPolicyChain);
    if (masqRule && internalPolicyChain === clusterPolicyChain) w.rule(masqRule);
    writeServiceToEndpointRules(sp, clusterEndpoints, namesFor(clusterEndpoints, sep), largeClusterMode, w);
  }
  if (usesLocalPolicyChain) {
    w.chain(localPolicyChain);
    if (masqRule && internalPolicyChain === localPolicyChain) w.rule(masqRule);
    writeServiceToEndpointRules(sp, localEndpoints, namesFor(localEndpoints, sep), largeClusterMode, w);
  }

  // endpoint chains
  const comment = largeClusterMode ? "" : `-m comment --comment ${qSpn} `;
  const dnat = ` ${match} -j DNAT --to-destination `;
  const masqHead = `${comment}-s `;
  const dnatHead = `${comment}${dnat.slice(1)}`;
  const rows = allReachableEndpoints;
  const lead = rows.v6 ? "[" : "";
  // the DNAT rule's end, `:port\n`, shared when every endpoint has the same port
  const sharedEnd = rows.suffixes === undefined ? `${rows.suffix}\n` : "";
  for (let i = 0; i < rows.ips.length; i++) {
    // One chain name per row.
    const ip = rows.ips[i];
    const name = sep.names[i];
    if (ip === undefined || name === undefined) continue;
    w.chain(name, sep.decls?.[i]);
    w.line(masqHead, ip, MASQ_TAIL);
    if (plan.affinitySeconds > 0) {
      w.rule(comment, "-m recent --name ", name, " --set", dnat, lead, ip + suffixOf(rows, i));
    } else if (sharedEnd !== "" && lead === "") w.line(dnatHead, ip, sharedEnd);
    else w.rule(dnatHead, lead, ip, suffixOf(rows, i));
  }
}

/** The endpoint chains of a port's reachable endpoints, and (in the common case) their declarations. */
interface EndpointChains {
  readonly rows: EndpointRows;
  readonly names: readonly string[];
  /** `:NAME - [0:0]\n` of each chain, when made along with the names. */
  readonly decls: readonly string[] | undefined;
}

const NO_CHAINS: EndpointChains = { rows: NO_ROWS, names: [], decls: undefined };

/** `KUBE-SEP-` + the hash of the port name, protocol and endpoint, for each row. */
function endpointChainNames(prefix: string, rows: EndpointRows): EndpointChains {
  const n = rows.ips.length;
  if (n === 0) return NO_CHAINS;
  const names = new Array<string>(n);
  if (rows.suffixes === undefined) {
    // one shared port: hashed in bulk, declarations made along
    const decls = new Array<string>(n);
    sepChainNames(rows.v6 ? `${prefix}[` : prefix, rows.ips, rows.suffix, names, decls);
    return { rows, names, decls };
  }
  const suffixes = rows.suffixes;
  // One suffix per row. (Two loops: an IPv4 address goes to the hasher as it is, not as a new string.)
  const ips = rows.ips;
  if (rows.v6) for (let i = 0; i < n; i++) names[i] = sepChainName(prefix, `[${ips[i] ?? ""}`, suffixes[i] ?? "");
  else for (let i = 0; i < n; i++) names[i] = sepChainName(prefix, ips[i] ?? "", suffixes[i] ?? "");
  return { rows, names, decls: undefined };
}

/** The chain names of `rows`, a subset of the reachable endpoints `all` names. */
function namesFor(rows: EndpointRows, all: EndpointChains): readonly string[] {
  if (rows === all.rows) return all.names;
  const at = new Map<string, string>();
  all.rows.ips.forEach((ip, i) => {
    const name = all.names[i]; // one per row
    if (name !== undefined) at.set(ip + suffixOf(all.rows, i), name);
  });
  // `rows` are some of `all.rows`, so each has its name.
  return rows.ips.map((ip, i) => at.get(ip + suffixOf(rows, i)) ?? "");
}

function writeServiceToEndpointRules(
  sp: ServicePortInfo,
  rows: EndpointRows,
  names: readonly string[],
  largeClusterMode: boolean,
  w: FragmentWriter,
): void {
  const spn = sp.nameString;
  const lead = rows.v6 ? "[" : "";
  const endpoint = (ip: string, i: number) => `${lead}${ip}${suffixOf(rows, i)}`;
  // The comment `"<spn> -> <endpoint>"` is written in pieces when quoting it is all q() would do
  // (the endpoint, an address and a port, always can be): no string per endpoint.
  const pieces = !largeClusterMode && isQuotable(spn);
  const commentHead = `-m comment --comment "${spn} -> ${lead}`;
  const inPieces = (ip: string, i: number) =>
    pieces && spn.length + 4 + lead.length + ip.length + suffixOf(rows, i).length <= MAX_COMMENT;
  const comment = (ip: string, i: number) =>
    largeClusterMode ? "" : `-m comment --comment ${q(`${spn} -> ${endpoint(ip, i)}`)} `;
  const n = names.length;
  // `names` has one name per row of `rows`.
  if (sp.stickyMaxAgeSeconds > 0) {
    const rcheck = ` --rcheck --seconds ${sp.stickyMaxAgeSeconds} --reap -j `;
    for (let i = 0; i < n; i++) {
      const ip = rows.ips[i];
      const name = names[i];
      if (ip !== undefined && name !== undefined) w.rule(comment(ip, i), "-m recent --name ", name, rcheck, name);
    }
  }
  for (let i = 0; i < n; i++) {
    const ip = rows.ips[i];
    const name = names[i];
    if (ip === undefined || name === undefined) continue;
    if (i < n - 1) {
      if (largeClusterMode) w.rule(statistic(n - i), name);
      else if (inPieces(ip, i)) w.rule(commentHead, ip, suffixOf(rows, i), quotedStatistic(n - i), name);
      else w.rule(comment(ip, i), statistic(n - i), name);
    } else if (inPieces(ip, i)) {
      w.rule(commentHead, ip, suffixOf(rows, i), '" -j ', name);
    } else {
      w.rule(comment(ip, i), "-j ", name);
    }
  }
}
