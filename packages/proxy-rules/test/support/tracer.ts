// A packet tracer over a compiled ruleset, with the semantics of kube-proxy's test tracer
// (tracePacket in pkg/proxy/iptables/proxier_test.go): nat KUBE-SERVICES first (where PREROUTING
// and OUTPUT jump), probabilistic rules followed into every branch, then the filter chains
// KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL. Rules that check
// history (affinity, marks, conntrack state) never match; other unknown matches always do.

import type { IptablesResult } from "../../src/index.js";
import { cidrContains, parseCIDR, parseIP } from "../../src/model/ip.js";

interface ParsedRule {
  raw: string;
  values: Map<string, { value: string; negated: boolean }>;
  flags: Set<string>;
}

const WITH_VALUE = new Set([
  "--comment",
  "-p",
  "-s",
  "--src-type",
  "-d",
  "--dst-type",
  "--dport",
  "-j",
  "--probability",
  "--to-destination",
  "--mark",
  "--ctstate",
  "--name",
  "--seconds",
  "--mode",
  "--nfacct-name",
  "-i",
]);

function parseRule(args: readonly string[], raw: string): ParsedRule {
  const values = new Map<string, { value: string; negated: boolean }>();
  const flags = new Set<string>();
  let negated = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-m") {
      i++;
      continue;
    }
    if (a === "!") {
      negated = true;
      continue;
    }
    if (WITH_VALUE.has(a)) {
      values.set(a, { value: args[i + 1]!, negated });
      i++;
    } else {
      flags.add(a);
    }
    negated = false;
  }
  return { raw, values, flags };
}

function addressMatches(spec: { value: string; negated: boolean }, ip: string): boolean {
  const parsed = parseIP(ip);
  let matches = false;
  if (parsed) {
    if (spec.value.includes("/")) {
      const cidr = parseCIDR(spec.value);
      matches = cidr ? cidrContains(cidr, parsed) : false;
    } else {
      matches = parseIP(spec.value)?.text === parsed.text;
    }
  }
  return spec.negated ? !matches : matches;
}

export interface Trace {
  /** Terminal targets reached: `ip:port` of DNATs, or ACCEPT / DROP / REJECT, comma-separated. */
  output: string;
  masq: boolean;
  matches: string[];
}

export function tracePacket(
  result: IptablesResult,
  localIPs: readonly string[],
  sourceIP: string,
  protocol: string,
  destIP: string,
  destPort: number,
): Trace {
  const tables = { nat: new Map<string, ParsedRule[]>(), filter: new Map<string, ParsedRule[]>() };
  for (const t of [result.tables.nat, result.tables.filter]) {
    for (const c of t.chains) {
      tables[t.name].set(
        c.name,
        c.rules.map((r) => parseRule(r.args, `-A ${c.name} ${r.text}`)),
      );
    }
  }
  const local = new Set(["127.0.0.1", "::1", ...localIPs]);
  const outputs: string[] = [];
  const matches: string[] = [];
  let masq = false;
  let dst = destIP;
  const port = String(destPort);

  const ruleMatches = (r: ParsedRule): boolean => {
    const s = r.values.get("-s");
    if (s && !addressMatches(s, sourceIP)) return false;
    const st = r.values.get("--src-type");
    if (st && (st.value === (local.has(sourceIP) ? "LOCAL" : "not-matched")) === st.negated) return false;
    const p = r.values.get("-p");
    if (p && (p.value === protocol) === p.negated) return false;
    const d = r.values.get("-d");
    if (d && !addressMatches(d, dst)) return false;
    const dt = r.values.get("--dst-type");
    if (dt && (dt.value === (local.has(dst) ? "LOCAL" : "not-matched")) === dt.negated) return false;
    const dp = r.values.get("--dport");
    if (dp && (dp.value === port) === dp.negated) return false;
    if (r.flags.has("--rcheck") || r.values.has("--mark") || r.values.has("--ctstate")) return false;
    return true;
  };

  const runChain = (table: "nat" | "filter", chain: string): boolean => {
    for (const r of tables[table].get(chain) ?? []) {
      const jump = r.values.get("-j")?.value;
      if (!jump || !ruleMatches(r)) continue;
      matches.push(r.raw);
      if (jump === "KUBE-MARK-MASQ") {
        masq = true;
        continue;
      }
      if (jump === "ACCEPT" || jump === "REJECT" || jump === "DROP") {
        outputs.push(jump);
        return true;
      }
      if (jump === "DNAT") {
        outputs.push(r.values.get("--to-destination")!.value);
        return true;
      }
      const terminated = runChain(table, jump);
      if (terminated && !r.values.has("--probability")) return true;
    }
    return false;
  };

  runChain("nat", "KUBE-SERVICES");
  if (outputs.length > 0) dst = outputs[0]!.split(":")[0]!;
  for (const chain of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"]) {
    runChain("filter", chain);
  }
  return { output: outputs.join(", "), masq, matches };
}
