// diffRulesets: what changes between two rulesets of one mode (iptables or nftables), per Service
// port, read from the rules themselves (kube-proxy's chain layout and comments; for nftables its
// verdict maps and chain names, ./nftables-service-ports.ts): the addresses a Service port answers
// on, its endpoints and their shares, its policies, and the chains whose rules differ. Works
// between two compilations, and between a compilation and a node's `iptables-save` or `nft list
// ruleset` (rules are compared in a canonical spelling, ./canonical-rule.ts and
// ./canonical-nft-rule.ts).

import { InvalidInputError } from "../errors.js";
import { formatAddr, parsePrefix } from "../trace/addr.js";
import type {
  IptablesRuleset,
  IptablesRulesetChain,
  IptablesRulesetRule,
  RulesetSource,
} from "../trace/iptables-ruleset.js";
import type { NftablesRuleset } from "../trace/nftables-ruleset.js";
import { type RulesetInput as AnyRulesetInput, isParsedRuleset, readRuleset } from "../trace/read-ruleset.js";
import { canonicalNftRule } from "./canonical-nft-rule.js";
import { canonicalRule } from "./canonical-rule.js";
import { nftablesServicePortRules, nftChainText } from "./nftables-service-ports.js";

/** An endpoint of a Service port and its share of new connections. */
export interface EndpointWeight {
  /** `ip:port` (`[ip]:port` for IPv6) as in the DNAT rule. */
  readonly endpoint: string;
  /** `cluster` (KUBE-SVC chain) or `local` (KUBE-SVL, traffic policy Local). */
  readonly scope: "cluster" | "local";
  /** Its share: the product of the statistic probabilities before and at its rule. */
  readonly probability: number;
}

/** What a ruleset does for one Service port, as read from its rules. */
export interface ServicePortRules {
  /** kube-proxy's service port name, `namespace/name:port` (`namespace/name` for an unnamed port). */
  readonly servicePort: string;
  /** The IP family of the rules it was read from. */
  readonly family: 4 | 6;
  /** Addresses it answers on: `10.96.0.10:80/tcp` (cluster, external and load-balancer IPs), `nodePort 30080/tcp`. */
  readonly vips: readonly string[];
  readonly endpoints: readonly EndpointWeight[];
  /** Policy facts by name (`internalTrafficPolicy`, `externalTrafficPolicy`, `masquerade`, `externalMasquerade`, `affinitySeconds`, `sourceRanges`, `noEndpoints`, `noLocalEndpoints`, `healthCheckNodePort` and `firewallDrop` in iptables). */
  readonly policies: Readonly<Record<string, string>>;
  /** Its chains (`nat/KUBE-SVC-…`; nftables: `ip kube-proxy/service-…`) with their rules in canonical spelling. */
  readonly chains: ReadonlyMap<string, string>;
}

/** A change of one Service port. */
export interface ServicePortDiff {
  readonly servicePort: string;
  /** The IP family (nftables rulesets can hold both: each family's port is compared on its own). */
  readonly family: 4 | 6;
  readonly change: "added" | "removed" | "changed";
  readonly vips: { readonly added: readonly string[]; readonly removed: readonly string[] };
  readonly endpoints: {
    readonly added: readonly EndpointWeight[];
    readonly removed: readonly EndpointWeight[];
    /** Same endpoint, another probability. */
    readonly changed: readonly {
      readonly endpoint: string;
      readonly scope: "cluster" | "local";
      readonly before: number;
      readonly after: number;
    }[];
  };
  readonly policies: readonly {
    readonly policy: string;
    readonly before: string | undefined;
    readonly after: string | undefined;
  }[];
  /** Its chains only in `a` (removed), only in `b` (added), or with other rules (rewritten). */
  readonly chains: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly rewritten: readonly string[];
  };
}

/** What {@link diffRulesets} found. */
export interface RulesetDiff {
  /** Service ports that differ, by name. */
  readonly services: readonly ServicePortDiff[];
  /**
   * Every chain (`table/NAME`) that differs, including the top-level ones (`nat/KUBE-SERVICES`;
   * nftables: `ip kube-proxy/services`).
   */
  readonly chains: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly rewritten: readonly string[];
  };
  /**
   * nftables: every set or map (`ip kube-proxy/service-ips`) whose declaration or elements differ
   * (the elements of dynamic sets, which packets fill, are not compared); absent for iptables.
   */
  readonly sets?: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly rewritten: readonly string[];
  };
  /** No difference at all (in canonical spelling). */
  readonly identical: boolean;
}

/** A ruleset as {@link diffRulesets} takes it: parsed, or the text(s) of either mode. */
export type RulesetInput = AnyRulesetInput;

const SERVICE_CHAIN = /^KUBE-(SVC|SVL|EXT|FW|SEP)-/;

function opt(rule: IptablesRulesetRule, ...names: string[]): string | undefined {
  const a = rule.args;
  for (let i = 0; i < a.length - 1; i++) if (names.includes(a[i] ?? "") && a[i - 1] !== "!") return a[i + 1];
  return undefined;
}

function negOpt(rule: IptablesRulesetRule, name: string): string | undefined {
  const a = rule.args;
  for (let i = 1; i < a.length - 1; i++) if (a[i] === name && a[i - 1] === "!") return a[i + 1];
  return undefined;
}

function addrText(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const p = parsePrefix(v);
  if (!p) return v;
  const a = p.family === 4 ? formatAddr({ family: 4, v: p.net }) : formatAddr({ family: 6, v: p.net });
  const full = p.bits === (p.family === 4 ? 32 : 128);
  return full ? (p.family === 6 ? `[${a}]` : a) : `${a}/${p.bits}`;
}

function spnOf(comment: string | undefined, suffixes: readonly string[]): { spn: string; kind: string } | undefined {
  if (!comment) return undefined;
  for (const s of suffixes) if (comment.endsWith(` ${s}`)) return { spn: comment.slice(0, -s.length - 1), kind: s };
  return undefined;
}

/**
 * Reads what a ruleset does per Service port (for {@link diffRulesets}; also useful alone).
 * iptables: Service ports are found by kube-proxy's comments in `nat KUBE-SERVICES`,
 * `KUBE-NODEPORTS` and the filter chains; endpoints by following their chains to the DNAT rules.
 * nftables: by the elements of the `kube-proxy` table's verdict maps (`service-ips`,
 * `service-nodeports`, `firewall-ips`, `no-endpoint-services`, `no-endpoint-nodeports`), the
 * per-port chains they lead to and their `numgen` shares; one family's table at a time
 * (`options.family`, default the ruleset's first). The map is keyed by `servicePort`.
 */
export function servicePortRules(
  ruleset: RulesetInput,
  options: { readonly family?: 4 | 6 | undefined } = {},
): ReadonlyMap<string, ServicePortRules> {
  const parsed = readRuleset(ruleset, "ruleset");
  if (parsed.kind === "nftables") return nftablesServicePortRules(parsed, options.family ?? parsed.family);
  const rs = parsed;
  if (options.family !== undefined && options.family !== rs.family) return new Map();
  const nat = rs.tables.get("nat") ?? new Map<string, IptablesRulesetChain>();
  const filter = rs.tables.get("filter") ?? new Map<string, IptablesRulesetChain>();
  const views = new Map<
    string,
    {
      vips: Set<string>;
      endpoints: EndpointWeight[];
      policies: Record<string, string>;
      chains: Map<string, string>;
      roots: Set<string>;
    }
  >();
  const view = (spn: string) => {
    let v = views.get(spn);
    if (!v) {
      v = { vips: new Set(), endpoints: [], policies: {}, chains: new Map(), roots: new Set() };
      views.set(spn, v);
    }
    return v;
  };
  const vipOf = (rule: IptablesRulesetRule, kind: string) => {
    const d = addrText(opt(rule, "-d", "--destination", "--dst"));
    const port = opt(rule, "--dport", "--destination-port");
    const proto = opt(rule, "-p", "--protocol") ?? "";
    if (kind === "nodePort") return `nodePort ${d ? `${d}:` : ""}${port}/${proto}`;
    return `${d}:${port}/${proto}`;
  };

  for (const rule of nat.get("KUBE-SERVICES")?.rules ?? []) {
    const s = spnOf(rule.comment, ["cluster IP", "external IP", "loadbalancer IP"]);
    if (!s || !rule.targetName || !SERVICE_CHAIN.test(rule.targetName)) continue;
    const v = view(s.spn);
    v.vips.add(vipOf(rule, s.kind));
    v.roots.add(rule.targetName);
    if (s.kind === "cluster IP")
      v.policies.internalTrafficPolicy = rule.targetName.startsWith("KUBE-SVL-") ? "Local" : "Cluster";
  }
  for (const rule of nat.get("KUBE-NODEPORTS")?.rules ?? []) {
    if (!rule.comment || !rule.targetName || !SERVICE_CHAIN.test(rule.targetName)) continue;
    const v = view(rule.comment);
    v.vips.add(vipOf(rule, "nodePort"));
    v.roots.add(rule.targetName);
  }
  const healthChecks: [string, string][] = [];
  for (const chainName of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"]) {
    for (const rule of filter.get(chainName)?.rules ?? []) {
      const none = spnOf(rule.comment, ["has no endpoints"]);
      const noLocal = spnOf(rule.comment, ["has no local endpoints"]);
      const hc = spnOf(rule.comment, ["health check node port"]);
      const fw = rule.comment?.match(/^(\S+) traffic not accepted by (KUBE-FW-\S+)$/);
      const nodePort = rule.args.includes("--dst-type") && !rule.args.includes("-d");
      const hit = none ?? noLocal;
      if (hit) {
        const v = view(hit.spn);
        const vip = nodePort ? vipOf(rule, "nodePort") : vipOf(rule, "ip");
        if (none) {
          v.policies.noEndpoints = "REJECT";
          v.vips.add(vip);
        } else {
          v.policies.noLocalEndpoints = "DROP";
          v.policies.externalTrafficPolicy = "Local";
        }
      } else if (hc) healthChecks.push([hc.spn, opt(rule, "--dport") ?? ""]);
      else if (fw?.[1]) view(fw[1]).policies.firewallDrop = "DROP";
    }
  }
  for (const [svc, port] of healthChecks) {
    for (const [spn, v] of views) if (spn === svc || spn.startsWith(`${svc}:`)) v.policies.healthCheckNodePort = port;
  }

  for (const v of views.values()) {
    // the Service port's own chains, reached from its roots
    const todo = [...v.roots];
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      if (v.chains.has(`nat/${name}`)) continue;
      const chain = nat.get(name);
      if (!chain) continue;
      v.chains.set(`nat/${name}`, chain.rules.map((r) => canonicalRule(r.args, rs.family)).join("\n"));
      for (const r of chain.rules) if (r.targetName && SERVICE_CHAIN.test(r.targetName)) todo.push(r.targetName);
    }
    for (const scope of ["SVC", "SVL"] as const) {
      const chain = [...v.chains.keys()]
        .map((k) => nat.get(k.slice(4)))
        .find((c) => c?.name.startsWith(`KUBE-${scope}-`));
      if (!chain) continue;
      let remaining = 1;
      for (const r of chain.rules) {
        if (r.targetName === "KUBE-MARK-MASQ") {
          const notFrom = negOpt(r, "-s");
          v.policies.masquerade = notFrom
            ? `sources outside ${addrText(notFrom)}`
            : r.args.includes("-i") || r.args.includes("-s")
              ? canonicalRule(r.args, rs.family)
              : "all";
          continue;
        }
        if (!r.targetName?.startsWith("KUBE-SEP-")) continue;
        if (r.recentSeconds !== undefined) {
          v.policies.affinitySeconds = String(r.recentSeconds);
          continue;
        }
        const sep = nat.get(r.targetName);
        const dnat = sep?.rules.find((x) => x.target.kind === "dnat");
        const endpoint = dnat?.target.kind === "dnat" ? dnat.target.text : r.targetName;
        const choice = r.matchers.find((m) => m.kind === "choice");
        const p = choice?.kind === "choice" ? choice.probability : 1;
        v.endpoints.push({ endpoint, scope: scope === "SVC" ? "cluster" : "local", probability: remaining * p });
        remaining *= 1 - p;
        if (remaining <= 0) break;
      }
    }
    if (
      !v.policies.masquerade &&
      [...v.chains.keys()].some((k) => k.includes("/KUBE-SVC-") || k.includes("/KUBE-SVL-"))
    )
      v.policies.masquerade = "none";
    const ext = [...v.chains.keys()].find((k) => k.startsWith("nat/KUBE-EXT-"));
    if (ext) {
      const rules = nat.get(ext.slice(4))?.rules ?? [];
      const last = rules.at(-1);
      const local = last?.targetName?.startsWith("KUBE-SVL-") || rules.some((r) => r.args.includes("--src-type"));
      v.policies.externalTrafficPolicy = local || v.policies.noLocalEndpoints ? "Local" : "Cluster";
      const masq = rules.find((r) => r.targetName === "KUBE-MARK-MASQ");
      v.policies.externalMasquerade = !masq ? "none" : masq.args.includes("--src-type") ? "node-local sources" : "all";
    }
    const fw = [...v.chains.keys()].find((k) => k.startsWith("nat/KUBE-FW-"));
    if (fw) {
      v.policies.sourceRanges = (nat.get(fw.slice(4))?.rules ?? [])
        .map((r) => addrText(opt(r, "-s", "--source", "--src")))
        .filter((s): s is string => s !== undefined)
        .sort()
        .join(",");
    }
  }
  const out = new Map<string, ServicePortRules>();
  for (const [spn, v] of [...views].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.set(spn, {
      servicePort: spn,
      family: rs.family,
      vips: [...v.vips].sort(),
      endpoints: v.endpoints,
      policies: v.policies,
      chains: v.chains,
    });
  }
  return out;
}

function chainTexts(rs: IptablesRuleset | NftablesRuleset): Map<string, string> {
  const out = new Map<string, string>();
  if (rs.kind === "nftables") {
    for (const t of rs.tables)
      for (const [name, c] of t.chains) out.set(`${t.family} ${t.name}/${name}`, nftChainText(c));
    return out;
  }
  for (const [table, chains] of rs.tables)
    for (const [name, c] of chains) {
      // an empty built-in chain with policy ACCEPT is what a table has when nobody touched it
      if (c.builtin && c.rules.length === 0 && (c.policy ?? "ACCEPT") === "ACCEPT") continue;
      out.set(
        `${table}/${name}`,
        [c.policy ?? "-", ...c.rules.map((r) => canonicalRule(r.args, rs.family))].join("\n"),
      );
    }
  return out;
}

/**
 * nftables sets and maps as text: declaration (key and value types, flags, timeout, comment) and
 * elements, sorted; a dynamic set's elements (added by packets) and the `size` and counters the
 * kernel lists are left out.
 */
function setTexts(rs: IptablesRuleset | NftablesRuleset): Map<string, string> {
  const out = new Map<string, string>();
  if (rs.kind !== "nftables") return out;
  for (const t of rs.tables)
    for (const [name, s] of t.sets) {
      const flags = s.flags.filter((f) => f !== "counter").sort();
      const head = [
        `${s.kind} type ${s.keyType.join(" . ")}${s.valueType === undefined ? "" : ` : ${s.valueType}`}`,
        flags.length ? `flags ${flags.join(",")}` : "",
        s.timeout === undefined ? "" : `timeout ${s.timeout}s`,
        s.comment === undefined ? "" : `comment ${JSON.stringify(s.comment)}`,
      ].filter((x) => x !== "");
      const elements = flags.includes("dynamic")
        ? []
        : s.elements
            .map(
              (e) =>
                `${e.key.join(" . ")}${e.comment === undefined ? "" : ` comment ${JSON.stringify(e.comment)}`}${
                  e.value === undefined ? "" : ` : ${canonicalNftRule(e.value)}`
                }`,
            )
            .sort();
      out.set(`${t.family} ${t.name}/${name}`, [...head, ...elements].join("\n"));
    }
  return out;
}

function compareMaps(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) {
  const added = [...b.keys()].filter((k) => !a.has(k)).sort();
  const removed = [...a.keys()].filter((k) => !b.has(k)).sort();
  const rewritten = [...a.keys()].filter((k) => b.has(k) && a.get(k) !== b.get(k)).sort();
  return { added, removed, rewritten };
}

const sourceName = (r: RulesetInput, fallback: string): string => {
  if (isParsedRuleset(r)) return fallback;
  const first = (Array.isArray(r) ? r : [r])[0] as string | RulesetSource | undefined;
  return (typeof first === "object" ? first.name : undefined) ?? fallback;
};

/** The two families' service ports side by side (`family servicePort` → each side's view). */
function servicePortPairs(ra: IptablesRuleset | NftablesRuleset, rb: IptablesRuleset | NftablesRuleset) {
  const families = (rs: IptablesRuleset | NftablesRuleset): readonly (4 | 6)[] =>
    rs.kind === "nftables" ? rs.families : [rs.family];
  const pairs: { family: 4 | 6; name: string; x: ServicePortRules | undefined; y: ServicePortRules | undefined }[] = [];
  for (const family of [4, 6] as const) {
    if (!families(ra).includes(family) && !families(rb).includes(family)) continue;
    const va = servicePortRules(ra, { family });
    const vb = servicePortRules(rb, { family });
    for (const name of [...new Set([...va.keys(), ...vb.keys()])].sort())
      pairs.push({ family, name, x: va.get(name), y: vb.get(name) });
  }
  return pairs.sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : p.family - q.family));
}

/**
 * Compares two rulesets of one mode per Service port: addresses (VIPs, node ports) added or
 * removed, endpoints added, removed or with another probability, policy changes (internal and
 * external traffic policy, masquerading, affinity, source ranges, no-endpoint REJECT/DROP, health
 * check node port), and the chains whose rules were rewritten. Each side is a parsed ruleset or
 * text: iptables (compileIptables' `text`, or `iptables-save` output) or nftables
 * (compileNftables' `text`, or `nft list ruleset` / `nft list table ip kube-proxy` output; each
 * family's table compared on its own, `family` in the result). Spellings are compared
 * canonically, so a compilation and the node's dump of it are identical. Throws
 * {@link InvalidInputError} (kind `Ruleset`, field `b`) when one side is iptables and the other
 * nftables.
 *
 * @example
 * ```ts
 * const before = compileIptables(input).ipv4!.text;
 * const after = compileIptables(nextInput).ipv4!.text;
 * for (const s of diffRulesets(before, after).services) console.log(s.servicePort, s.change, s.endpoints);
 * ```
 */
export function diffRulesets(a: RulesetInput, b: RulesetInput): RulesetDiff {
  const ra = readRuleset(a, "a");
  const rb = readRuleset(b, "b");
  if (ra.kind !== rb.kind)
    throw new InvalidInputError(
      { kind: "Ruleset", name: sourceName(b, "b") },
      "b",
      `${rb.kind} rules, but a holds ${ra.kind} rules: diffRulesets compares two rulesets of one mode`,
      rb.kind,
    );
  const services: ServicePortDiff[] = [];
  for (const { family, name, x, y } of servicePortPairs(ra, rb)) {
    const vipsA = new Set(x?.vips ?? []);
    const vipsB = new Set(y?.vips ?? []);
    const key = (e: EndpointWeight) => `${e.scope} ${e.endpoint}`;
    const epA = new Map((x?.endpoints ?? []).map((e) => [key(e), e]));
    const epB = new Map((y?.endpoints ?? []).map((e) => [key(e), e]));
    const changed: ServicePortDiff["endpoints"]["changed"][number][] = [];
    for (const [k, e] of epA) {
      const after = epB.get(k);
      if (after && Math.abs(after.probability - e.probability) > 1e-6)
        changed.push({ endpoint: e.endpoint, scope: e.scope, before: e.probability, after: after.probability });
    }
    const pols = new Set([...Object.keys(x?.policies ?? {}), ...Object.keys(y?.policies ?? {})]);
    const policies = [...pols]
      .sort()
      .filter((p) => x?.policies[p] !== y?.policies[p])
      .map((p) => ({ policy: p, before: x?.policies[p], after: y?.policies[p] }));
    const chains = compareMaps(x?.chains ?? new Map(), y?.chains ?? new Map());
    const d: ServicePortDiff = {
      servicePort: name,
      family,
      change: !x ? "added" : !y ? "removed" : "changed",
      vips: { added: [...vipsB].filter((v) => !vipsA.has(v)), removed: [...vipsA].filter((v) => !vipsB.has(v)) },
      endpoints: {
        added: [...epB].filter(([k]) => !epA.has(k)).map(([, e]) => e),
        removed: [...epA].filter(([k]) => !epB.has(k)).map(([, e]) => e),
        changed,
      },
      policies,
      chains,
    };
    const empty =
      d.vips.added.length +
        d.vips.removed.length +
        d.endpoints.added.length +
        d.endpoints.removed.length +
        changed.length +
        policies.length ===
        0 && chains.added.length + chains.removed.length + chains.rewritten.length === 0;
    if (!empty || d.change !== "changed") services.push(d);
  }
  const chains = compareMaps(chainTexts(ra), chainTexts(rb));
  const sets = compareMaps(setTexts(ra), setTexts(rb));
  const count = (c: typeof chains) => c.added.length + c.removed.length + c.rewritten.length;
  return {
    services,
    chains,
    ...(ra.kind === "nftables" ? { sets } : {}),
    identical: services.length === 0 && count(chains) + count(sets) === 0,
  };
}
