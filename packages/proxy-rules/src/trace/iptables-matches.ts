// One iptables rule's argv compiled into tests on a packet's state and a target. Every match
// module and target kube-proxy writes is understood (and a few more); anything else becomes a
// test that answers "cannot evaluate: -m foo", so that the evaluator stops and says so instead of
// guessing.

import { type Addr, addrKey, isLoopbackAddr, type Prefix, parseAddr, parsePrefix, prefixContains } from "./addr.js";

/** Connection-tracking state of the packet being evaluated. */
export type CtState = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";

/** What the rules see of a packet at one point of its way, and what earlier rules did to it. */
export interface EvalState {
  family: 4 | 6;
  src: Addr;
  dst: Addr;
  /** `tcp`, `udp` or `sctp`. */
  proto: string;
  sport: number;
  dport: number;
  mark: number;
  /** Input interface; `""` when the hook has none (OUTPUT), undefined when not known. */
  iif: string | undefined;
  /** Output interface; `""` when the hook has none (PREROUTING, INPUT), undefined when not known. */
  oif: string | undefined;
  /** The bridge port the packet entered by (br_netfilter), undefined when not known. */
  bridgePort: string | undefined;
  ctState: CtState;
  /** The connection was destination-NATed (conntrack's DNAT state). */
  ctDnat: boolean;
  /** The connection was source-NATed (conntrack's SNAT state). */
  ctSnat: boolean;
  /** Whether an address is one of the node's own (addrtype LOCAL). */
  isLocal: (a: Addr) => boolean;
  /** `-m recent` lists: name → masked address key → hits. */
  recent: Map<string, Map<string, number>>;
}

/** A test of a packet: true/false, or why it cannot be evaluated. */
export type MatchTest = (s: EvalState) => boolean | string;

/** One match of a rule, in evaluation order. */
export type Matcher =
  | { readonly kind: "test"; readonly test: MatchTest }
  /** A random choice (`-m statistic`): matches with this probability. */
  | { readonly kind: "choice"; readonly probability: number; readonly what: string };

/** What a rule does when it matches. */
export type RuleTarget =
  | { readonly kind: "none" }
  | { readonly kind: "accept" }
  | { readonly kind: "drop" }
  | { readonly kind: "reject"; readonly with: string | undefined }
  | { readonly kind: "return" }
  | { readonly kind: "jump"; readonly chain: string; readonly goto: boolean }
  | { readonly kind: "dnat"; readonly address: Addr; readonly port: number | undefined; readonly text: string }
  | { readonly kind: "snat"; readonly text: string }
  | { readonly kind: "masquerade"; readonly text: string }
  | { readonly kind: "redirect"; readonly port: number | undefined }
  | { readonly kind: "mark"; readonly value: number; readonly mask: number }
  | { readonly kind: "noop"; readonly name: string }
  | { readonly kind: "unknown"; readonly reason: string };

/** A rule's argv, compiled. */
export interface CompiledRule {
  /** The argv after `-A CHAIN` (values unquoted). */
  readonly args: readonly string[];
  readonly matchers: readonly Matcher[];
  readonly target: RuleTarget;
  /** The `-m comment --comment` value. */
  readonly comment: string | undefined;
  /** The `-j`/`-g` name as written (`KUBE-SVC-…`, `DNAT`), undefined without one. */
  readonly targetName: string | undefined;
  /** A positive single-address `-d` (for indexing long chains). */
  readonly exactDst: Addr | undefined;
  /** A positive single `--dport` of the tcp/udp/sctp match (for indexing long chains). */
  readonly exactDport: number | undefined;
  /** The address family the rule's addresses are of, if any. */
  readonly family: 4 | 6 | undefined;
  /** `-m recent` timeouts (`--seconds`) this rule checks, for the affinity summary. */
  readonly recentSeconds: number | undefined;
  /** `-m recent --set` list this rule records into. */
  readonly recentSet: string | undefined;
}

interface RuleInfo {
  comment?: string;
  recentSeconds?: number | undefined;
  recentSet?: string;
  exactDport?: number;
}

interface Opt {
  name: string;
  neg: boolean;
  values: string[];
}

const PROTOCOLS: Record<string, string> = {
  "6": "tcp",
  "17": "udp",
  "132": "sctp",
  "1": "icmp",
  "58": "ipv6-icmp",
  icmpv6: "ipv6-icmp",
  "136": "udplite",
  "0": "all",
};

const NOOP_TARGETS = new Set([
  "LOG",
  "NFLOG",
  "TRACE",
  "ULOG",
  "AUDIT",
  "CHECKSUM",
  "TCPMSS",
  "DSCP",
  "TOS",
  "TTL",
  "HL",
  "CLASSIFY",
]);

const CORE_WITH_VALUE: Record<string, string> = {
  "-p": "p",
  "--protocol": "p",
  "-s": "s",
  "--source": "s",
  "--src": "s",
  "-d": "d",
  "--destination": "d",
  "--dst": "d",
  "-i": "i",
  "--in-interface": "i",
  "-o": "o",
  "--out-interface": "o",
};

/** Whether the token starts an option (and is not a value such as a negative number). */
function isOption(t: string): boolean {
  if (t.length < 1) return false;
  if (t === "!") return true;
  if (t.charCodeAt(0) !== 0x2d || t.length < 2) return false;
  const c = t.charCodeAt(1);
  return c < 0x30 || c > 0x39;
}

const cannot =
  (what: string): MatchTest =>
  () =>
    `cannot evaluate: ${what}`;

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === "") return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function interfaceTest(name: string, neg: boolean, which: "iif" | "oif", flag: string): MatchTest {
  const prefix = name.endsWith("+") ? name.slice(0, -1) : undefined;
  return (s) => {
    const v = s[which];
    if (v === undefined)
      return `cannot evaluate: ${neg ? "! " : ""}${flag} ${name} (the packet's ${which === "iif" ? "input" : "output"} interface is not known; give it)`;
    const m = prefix !== undefined ? v !== "" && v.startsWith(prefix) : v === name;
    return m !== neg;
  };
}

function addressTest(list: Prefix[], neg: boolean, which: "src" | "dst"): MatchTest {
  const [only] = list;
  if (only !== undefined && list.length === 1) {
    const p = only;
    if (p.family === 4) {
      const { net, mask } = p;
      return (s) => {
        const a = s[which];
        return (a.family === 4 && (a.v & mask) >>> 0 === net) !== neg;
      };
    }
    return (s) => prefixContains(p, s[which]) !== neg;
  }
  return (s) => list.some((p) => prefixContains(p, s[which])) !== neg;
}

/** `80`, `80:90`, `:90`, `80:` → [lo, hi]. */
function portRange(spec: string): [number, number] | undefined {
  const m = /^(\d*)(?:[:-](\d*))?$/.exec(spec);
  if (!m) return undefined;
  if (m[2] === undefined) {
    const p = Number(m[1]);
    return m[1] === "" || p > 65535 ? undefined : [p, p];
  }
  const lo = m[1] === "" ? 0 : Number(m[1]);
  const hi = m[2] === "" ? 65535 : Number(m[2]);
  return lo > 65535 || hi > 65535 ? undefined : [lo, hi];
}

function portsTest(specs: string[], neg: boolean, which: "sport" | "dport" | "both"): MatchTest | string {
  const ranges: [number, number][] = [];
  for (const spec of specs) {
    const r = portRange(spec);
    if (!r) return `bad port ${JSON.stringify(spec)}`;
    ranges.push(r);
  }
  const inRange = (p: number) => ranges.some(([lo, hi]) => p >= lo && p <= hi);
  if (which === "both") return (s) => (inRange(s.sport) || inRange(s.dport)) !== neg;
  const [only] = ranges;
  if (only !== undefined && ranges.length === 1) {
    const [lo, hi] = only;
    return (s) => (s[which] >= lo && s[which] <= hi) !== neg;
  }
  return (s) => inRange(s[which]) !== neg;
}

const protoIs =
  (proto: string): MatchTest =>
  (s) =>
    s.proto === proto;

function moduleMatchers(name: string, opts: Opt[], out: Matcher[], info: RuleInfo): string | undefined {
  const push = (test: MatchTest) => out.push({ kind: "test", test });
  const firstValue = (o: Opt) => o.values[0] ?? "";
  switch (name) {
    case "comment":
      for (const o of opts) if (o.name === "--comment") info.comment = o.values.join(" ");
      return undefined;
    case "nfacct":
      // counts the packet, matches always
      return undefined;
    case "tcp":
    case "udp":
    case "sctp":
    case "udplite": {
      push(protoIs(name));
      for (const o of opts) {
        if (
          o.name === "--dport" ||
          o.name === "--destination-port" ||
          o.name === "--sport" ||
          o.name === "--source-port"
        ) {
          const which = o.name === "--dport" || o.name === "--destination-port" ? "dport" : "sport";
          if (which === "dport" && !o.neg && /^\d+$/.test(firstValue(o))) info.exactDport = Number(firstValue(o));
          const t = portsTest([firstValue(o)], o.neg, which);
          if (typeof t === "string") return t;
          push(t);
        } else if (name === "tcp" && o.name === "--syn") {
          // the first packet of a connection is a SYN
          push((s) => (s.ctState === "NEW") !== o.neg);
        } else if (name === "tcp" && o.name === "--tcp-flags") {
          const [mask = "", comp = ""] = o.values;
          const has = (list: string, f: string) => list.split(",").includes(f) || list === "ALL";
          // a new connection's first packet carries SYN only
          push((s) => {
            if (s.ctState !== "NEW")
              return `cannot evaluate: --tcp-flags ${mask} ${comp} (flags of a non-first packet)`;
            let ok = true;
            for (const f of ["SYN", "ACK", "FIN", "RST", "URG", "PSH"]) {
              if (!has(mask, f)) continue;
              if ((f === "SYN") !== (has(comp, f) && comp !== "NONE")) ok = false;
            }
            return ok !== o.neg;
          });
        } else push(cannot(`-m ${name} ${o.name}`));
      }
      return undefined;
    }
    case "multiport": {
      for (const o of opts) {
        const which =
          o.name === "--dports" || o.name === "--destination-ports"
            ? "dport"
            : o.name === "--sports" || o.name === "--source-ports"
              ? "sport"
              : o.name === "--ports"
                ? "both"
                : undefined;
        if (!which) {
          push(cannot(`-m multiport ${o.name}`));
          continue;
        }
        const t = portsTest(firstValue(o).split(","), o.neg, which);
        if (typeof t === "string") return t;
        push((s) => (s.proto === "tcp" || s.proto === "udp" || s.proto === "sctp" || s.proto === "udplite") && t(s));
      }
      return undefined;
    }
    case "addrtype": {
      for (const o of opts) {
        if (o.name !== "--src-type" && o.name !== "--dst-type") {
          push(cannot(`-m addrtype ${o.name}`));
          continue;
        }
        const types = firstValue(o).split(",");
        const which = o.name === "--src-type" ? "src" : "dst";
        push((s) => {
          const a = s[which];
          let unknown: string | undefined;
          for (const t of types) {
            let m: boolean | undefined;
            if (t === "LOCAL") m = s.isLocal(a);
            else if (t === "MULTICAST") m = a.family === 4 ? a.v >>> 28 === 14 : a.v >> 120n === 0xffn;
            else unknown = t;
            if (m) return !o.neg;
          }
          if (unknown) return `cannot evaluate: -m addrtype ${o.name} ${unknown}`;
          return o.neg;
        });
      }
      return undefined;
    }
    case "mark": {
      for (const o of opts) {
        if (o.name !== "--mark") {
          push(cannot(`-m mark ${o.name}`));
          continue;
        }
        const [v, m] = firstValue(o).split("/");
        const value = num(v);
        const mask = m === undefined ? 0xffffffff : num(m);
        if (value === undefined || mask === undefined) return `bad mark ${JSON.stringify(firstValue(o))}`;
        push((s) => ((s.mark & mask) >>> 0 === value >>> 0) !== o.neg);
      }
      return undefined;
    }
    case "conntrack":
    case "state": {
      for (const o of opts) {
        if (o.name !== "--ctstate" && o.name !== "--state") {
          push(cannot(`-m ${name} ${o.name}`));
          continue;
        }
        const states = firstValue(o).split(",");
        push(
          (s) =>
            states.some((st) => st === s.ctState || (st === "DNAT" && s.ctDnat) || (st === "SNAT" && s.ctSnat)) !==
            o.neg,
        );
      }
      return undefined;
    }
    case "recent":
      return recentMatcher(opts, out, info);
    case "statistic": {
      const mode = opts.find((o) => o.name === "--mode")?.values[0];
      const neg = opts.some((o) => o.name !== "--mode" && o.neg);
      if (mode === "random") {
        const p = num(opts.find((o) => o.name === "--probability")?.values[0]);
        if (p === undefined || p < 0 || p > 1) return "bad --probability";
        out.push({ kind: "choice", probability: neg ? 1 - p : p, what: `statistic random ${p}` });
        return undefined;
      }
      if (mode === "nth") {
        const every = num(opts.find((o) => o.name === "--every")?.values[0]);
        if (!every || every < 1) return "bad --every";
        // a counter shared by the packets that reach the rule: over many connections, 1 in `every`
        out.push({
          kind: "choice",
          probability: neg ? 1 - 1 / every : 1 / every,
          what: `statistic nth every ${every}`,
        });
        return undefined;
      }
      push(cannot(`-m statistic --mode ${mode ?? "(none)"}`));
      return undefined;
    }
    case "physdev": {
      for (const o of opts) {
        if (o.name === "--physdev-in") {
          const want = firstValue(o);
          const prefix = want.endsWith("+") ? want.slice(0, -1) : undefined;
          push((s) => {
            if (s.bridgePort === undefined)
              return "cannot evaluate: -m physdev --physdev-in (the packet's bridge port is not known; give bridgePort)";
            const m =
              prefix !== undefined ? s.bridgePort.startsWith(prefix) && s.bridgePort !== "" : s.bridgePort === want;
            return m !== o.neg;
          });
        } else if (o.name === "--physdev-is-in") {
          push((s) =>
            s.bridgePort === undefined
              ? "cannot evaluate: -m physdev --physdev-is-in (the packet's bridge port is not known; give bridgePort)"
              : (s.bridgePort !== "") !== o.neg,
          );
        } else push(cannot(`-m physdev ${o.name}`));
      }
      return undefined;
    }
    case "icmp":
    case "icmp6":
      push((s) => (s.proto === "icmp" || s.proto === "ipv6-icmp" ? `cannot evaluate: -m ${name}` : false));
      return undefined;
    case "set":
      push(cannot("-m set (ipset contents are not part of the rules)"));
      return undefined;
    default:
      push(cannot(`-m ${name}`));
      return undefined;
  }
}

function recentMatcher(opts: Opt[], out: Matcher[], info: RuleInfo): string | undefined {
  let listName = "DEFAULT";
  let mode: "set" | "rcheck" | "update" | "remove" | undefined;
  let neg = false;
  let rdest = false;
  let mask: string | undefined;
  let hitcount: number | undefined;
  for (const o of opts) {
    switch (o.name) {
      case "--name":
        listName = o.values[0] ?? "DEFAULT";
        break;
      case "--set":
      case "--rcheck":
      case "--update":
      case "--remove":
        mode = o.name.slice(2) as typeof mode;
        neg = o.neg;
        break;
      case "--rsource":
        rdest = false;
        break;
      case "--rdest":
        rdest = true;
        break;
      case "--mask":
        mask = o.values[0];
        break;
      case "--seconds":
        info.recentSeconds = num(o.values[0]);
        break;
      case "--reap":
        break;
      case "--hitcount":
        hitcount = num(o.values[0]);
        break;
      default:
        out.push({ kind: "test", test: cannot(`-m recent ${o.name}`) });
    }
  }
  if (!mode) return "-m recent without --set, --rcheck, --update or --remove";
  if (mode === "set") info.recentSet = listName;
  let maskV4 = 0xffffffff;
  let maskV6 = (1n << 128n) - 1n;
  if (mask !== undefined) {
    const m = parseAddr(mask);
    if (!m) return `bad --mask ${JSON.stringify(mask)}`;
    if (m.family === 4) maskV4 = m.v;
    else maskV6 = m.v;
  }
  const keyOf = (s: EvalState) => {
    const a = rdest ? s.dst : s.src;
    return a.family === 4 ? addrKey({ family: 4, v: (a.v & maskV4) >>> 0 }) : addrKey({ family: 6, v: a.v & maskV6 });
  };
  const m = mode;
  const test: MatchTest = (s) => {
    let list = s.recent.get(listName);
    const key = keyOf(s);
    if (m === "set") {
      if (!list) {
        list = new Map();
        s.recent.set(listName, list);
      }
      list.set(key, (list.get(key) ?? 0) + 1);
      return !neg;
    }
    const hits = list?.get(key);
    let found = hits !== undefined && (hitcount === undefined || hits >= hitcount);
    // found: the list has the key
    if (found && list && hits !== undefined && m === "update") list.set(key, hits + 1);
    if (found && list && m === "remove") list.delete(key);
    if (m === "remove") found = hits !== undefined;
    return found !== neg;
  };
  out.push({ kind: "test", test });
  return undefined;
}

function parseHostPort(v: string): { address: Addr; port: number | undefined } | undefined {
  let host = v;
  let port: string | undefined;
  if (v.startsWith("[")) {
    const close = v.indexOf("]");
    host = v.slice(1, close);
    const rest = v.slice(close + 1);
    if (rest.startsWith(":")) port = rest.slice(1);
    else if (rest !== "") return undefined;
  } else if (!v.includes("::") && v.split(":").length === 2) {
    [host, port] = v.split(":") as [string, string];
  }
  const address = parseAddr(host);
  if (!address) return undefined;
  if (port === undefined) return { address, port: undefined };
  if (!/^\d+$/.test(port) || Number(port) > 65535) return undefined;
  return { address, port: Number(port) };
}

function compileTarget(name: string, goto: boolean, opts: Opt[]): RuleTarget | string {
  const val = (n: string) => opts.find((o) => o.name === n)?.values[0];
  switch (name) {
    case "ACCEPT":
      return { kind: "accept" };
    case "DROP":
      return { kind: "drop" };
    case "RETURN":
      return { kind: "return" };
    case "REJECT":
      return { kind: "reject", with: val("--reject-with") };
    case "DNAT": {
      const to = opts.filter((o) => o.name === "--to-destination");
      if (to.length !== 1)
        return { kind: "unknown", reason: "cannot evaluate: DNAT without exactly one --to-destination" };
      const text = to[0]?.values[0] ?? "";
      const hp = parseHostPort(text);
      if (!hp)
        return { kind: "unknown", reason: `cannot evaluate: DNAT --to-destination ${text} (ranges are not evaluated)` };
      return { kind: "dnat", address: hp.address, port: hp.port, text };
    }
    case "SNAT":
      return { kind: "snat", text: val("--to-source") ?? "" };
    case "MASQUERADE":
      return { kind: "masquerade", text: opts.map((o) => o.name).join(" ") };
    case "REDIRECT": {
      const p = val("--to-ports");
      return { kind: "redirect", port: p !== undefined && /^\d+$/.test(p) ? Number(p) : undefined };
    }
    case "MARK": {
      const o = opts[0];
      if (!o || opts.length !== 1)
        return "MARK needs one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark";
      const [v, m] = (o.values[0] ?? "").split("/");
      const value = num(v);
      const mask = m === undefined ? undefined : num(m);
      if (value === undefined || (m !== undefined && mask === undefined))
        return `bad mark ${JSON.stringify(o.values[0])}`;
      // the kernel's form: mark = (mark & ~mask) ^ value
      switch (o.name) {
        case "--set-xmark":
          return { kind: "mark", value, mask: mask ?? 0xffffffff };
        case "--set-mark":
          return { kind: "mark", value, mask: ((mask ?? 0xffffffff) | value) >>> 0 };
        case "--and-mark":
          return { kind: "mark", value: 0, mask: ~value >>> 0 };
        case "--or-mark":
          return { kind: "mark", value, mask: value };
        case "--xor-mark":
          return { kind: "mark", value, mask: 0 };
        default:
          return `unknown MARK option ${o.name}`;
      }
    }
    case "CONNMARK":
      return opts.some((o) => o.name === "--restore-mark")
        ? {
            kind: "unknown",
            reason: "cannot evaluate: -j CONNMARK --restore-mark (the connection's mark is not known)",
          }
        : { kind: "noop", name };
    default:
      if (NOOP_TARGETS.has(name)) return { kind: "noop", name };
      return { kind: "jump", chain: name, goto };
  }
}

/** Compiles a rule's argv; returns why it cannot be read when it is malformed. */
export function compileRule(args: readonly string[]): CompiledRule | string {
  const core: Record<string, Opt> = {};
  const modules: { name: string; opts: Opt[] }[] = [];
  let targetName: string | undefined;
  let goto = false;
  const targetOpts: Opt[] = [];
  let current: Opt[] | undefined;
  let neg = false;
  let fragment: boolean | undefined;
  for (let i = 0; i < args.length; ) {
    const t = args[i] ?? ""; // i < length
    if (t === "!") {
      neg = true;
      i++;
      continue;
    }
    const coreKey = CORE_WITH_VALUE[t];
    if (coreKey) {
      const v = args[i + 1];
      if (v === undefined) return `${t} needs a value`;
      core[coreKey] = { name: t, neg, values: [v] };
      neg = false;
      i += 2;
      continue;
    }
    if (t === "-f" || t === "--fragment") {
      fragment = !neg;
      neg = false;
      i++;
      continue;
    }
    if (t === "-4" || t === "--ipv4" || t === "-6" || t === "--ipv6") {
      i++;
      continue;
    }
    if (t === "-m" || t === "--match") {
      const name = args[i + 1];
      if (!name) return "-m needs a module name";
      const mod = { name, opts: [] as Opt[] };
      modules.push(mod);
      current = mod.opts;
      i += 2;
      continue;
    }
    if (t === "-j" || t === "--jump" || t === "-g" || t === "--goto") {
      const name = args[i + 1];
      if (!name) return `${t} needs a target`;
      if (targetName !== undefined) return "more than one target";
      targetName = name;
      goto = t === "-g" || t === "--goto";
      current = targetOpts;
      i += 2;
      continue;
    }
    if (!isOption(t)) return `unexpected ${JSON.stringify(t)}`;
    const values: string[] = [];
    let j = i + 1;
    for (let a = args[j]; a !== undefined && !isOption(a); a = args[++j]) values.push(a);
    if (!current) {
      // an option of the protocol's implicit match (`-p tcp --dport 80`)
      const p = core.p?.values[0];
      const proto = p ? (PROTOCOLS[p] ?? p) : undefined;
      if (proto === "tcp" || proto === "udp" || proto === "sctp" || proto === "udplite") {
        const mod = { name: proto, opts: [] as Opt[] };
        modules.push(mod);
        current = mod.opts;
      } else return `unknown option ${t}`;
    }
    current.push({ name: t, neg, values });
    neg = false;
    i = j;
  }

  const matchers: Matcher[] = [];
  let family: 4 | 6 | undefined;
  let exactDst: Addr | undefined;
  const pOpt = core.p;
  if (pOpt) {
    const value = pOpt.values[0];
    if (value === undefined) return `${pOpt.name} needs a protocol`;
    const raw = value.toLowerCase();
    const proto = PROTOCOLS[raw] ?? raw;
    if (proto !== "all") matchers.push({ kind: "test", test: (s) => (s.proto === proto) !== pOpt.neg });
    else if (pOpt.neg) matchers.push({ kind: "test", test: () => false });
  }
  for (const [key, which] of [
    ["s", "src"],
    ["d", "dst"],
  ] as const) {
    const o = core[key];
    if (!o) continue;
    const list: Prefix[] = [];
    const value = o.values[0];
    if (value === undefined) return `${o.name} needs an address`;
    for (const part of value.split(",")) {
      const p = parsePrefix(part);
      if (!p) return `bad address ${JSON.stringify(part)} for ${o.name}`;
      list.push(p);
      family = p.family;
    }
    matchers.push({ kind: "test", test: addressTest(list, o.neg, which) });
    const [p] = list;
    if (which === "dst" && !o.neg && p !== undefined && list.length === 1 && p.bits === (p.family === 4 ? 32 : 128)) {
      exactDst = p.family === 4 ? { family: 4, v: p.net } : { family: 6, v: p.net };
    }
  }
  for (const [o, field, flag] of [
    [core.i, "iif", "-i"],
    [core.o, "oif", "-o"],
  ] as const) {
    if (!o) continue;
    const value = o.values[0];
    if (value === undefined) return `${flag} needs an interface`;
    matchers.push({ kind: "test", test: interfaceTest(value, o.neg, field, flag) });
  }
  // the packets explained are whole, never fragments
  if (fragment !== undefined) matchers.push({ kind: "test", test: () => !fragment });

  const info: RuleInfo = {};
  for (const m of modules) {
    const err = moduleMatchers(m.name, m.opts, matchers, info);
    if (err) return err;
  }
  let target: RuleTarget = { kind: "none" };
  if (targetName !== undefined) {
    const t = compileTarget(targetName, goto, targetOpts);
    if (typeof t === "string") return t;
    target = t;
    if (t.kind === "dnat") family = t.address.family;
  }
  return {
    args,
    matchers,
    target,
    comment: info.comment,
    targetName,
    exactDst,
    exactDport: info.exactDport,
    family,
    recentSeconds: info.recentSeconds,
    recentSet: info.recentSet,
  };
}

/** Loopback counts as local for addrtype (the kernel's local routing table holds 127.0.0.0/8 and ::1). */
export function localTest(addresses: readonly Addr[]): (a: Addr) => boolean {
  const keys = new Set(addresses.map(addrKey));
  return (a) => isLoopbackAddr(a) || keys.has(addrKey(a));
}
