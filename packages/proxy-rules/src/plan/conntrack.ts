// Stale UDP conntrack entries, as kube-proxy reconciles them after a sync
// (pkg/proxy/conntrack/cleanup.go, CleanStaleEntries, v1.32+ with the fixes for Services that
// scale to zero endpoints and for deleted Services): a UDP flow keeps the DNAT conntrack chose
// when it started, so once its endpoint is gone (or no longer serving) its packets go to the old
// address until the entry is deleted. The plan is pure: entries in (as `conntrack -L` lists
// them), the `conntrack -D` filters out.

import { type IPFamily, parseIP } from "../model/ip.js";
import { endpointsFor } from "../model/service-port.js";
import type { ProxyInput } from "./input.js";
import { visitServicePorts } from "./service-plan.js";

/** One conntrack entry: its protocol and the original and reply tuples. */
export interface ConntrackEntry {
  /** `udp`, `tcp`, `sctp`… as `conntrack -L` names it. */
  readonly protocol: string;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
}

/** Addresses and ports of one direction of a conntrack entry. */
export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

/**
 * A `conntrack -D` filter: UDP entries whose original destination port is `origPortDst` (and,
 * when given, whose original destination address is `origDst`) and whose reply comes from
 * `replySrc` — a flow DNATed to an address that is not a serving endpoint.
 */
export interface ConntrackFilter {
  readonly family: IPFamily;
  readonly protocol: "udp";
  /** A Service IP (cluster IP, load-balancer VIP, external IP); absent for a NodePort filter. */
  readonly origDst?: string;
  readonly origPortDst: number;
  readonly replySrc: string;
}

/** Options of {@link planConntrackCleanup}. */
export interface PlanConntrackCleanupOptions {
  /**
   * The input of the previous sync: UDP Service ports it had and the current input does not
   * (deleted Services, removed ports) are cleaned as ports without endpoints.
   */
  readonly previous?: Pick<ProxyInput, "services" | "endpointSlices"> | undefined;
  /** Leave invalid objects out (as `compileIptables` does with `partialResults`) instead of throwing. */
  readonly partialResults?: boolean | undefined;
}

/**
 * The conntrack entries kube-proxy would delete after syncing `input`: for every UDP Service port
 * (cluster IP, load-balancer VIPs and external IPs with the port, and the NodePort), the entries
 * sent to it whose reply source is not one of its serving endpoints — whatever the traffic
 * policies, topology or terminating state, and also when it has no endpoint at all. Entries of
 * other protocols are never touched. Returns the filters, de-duplicated and sorted; `conntrackArgs`
 * turns one into `conntrack -D` arguments.
 *
 * @throws InvalidInputError as `compileIptables` does, unless `partialResults` is set.
 *
 * @example
 * ```ts
 * const entries = parseConntrack(execFileSync("conntrack", ["-L", "-p", "udp"], { encoding: "utf8" }));
 * for (const f of planConntrackCleanup(input, entries)) execFileSync("conntrack", conntrackArgs(f));
 * ```
 */
export function planConntrackCleanup(
  input: ProxyInput,
  entries: readonly ConntrackEntry[],
  options: PlanConntrackCleanupOptions = {},
): ConntrackFilter[] {
  // ports gone since the previous sync first, so that a frontend address taken over by a
  // current Service port is judged by the current one
  const fronts: Frontends = { byAddress: new Map(), byNodePort: new Map() };
  const current = udpPorts(input, options.partialResults ?? false);
  if (options.previous) {
    const before = udpPorts({ ...input, ...options.previous }, true);
    for (const [key, f] of before) if (!current.has(key)) addFrontend(fronts, f.frontend, new Set());
  }
  for (const f of current.values()) addFrontend(fronts, f.frontend, f.serving);
  const out = new Map<string, ConntrackFilter>();
  for (const e of entries) {
    if (e.protocol !== "udp") continue;
    const family: IPFamily = e.original.dst.includes(":") ? "IPv6" : "IPv4";
    const dst = canonical(e.original.dst);
    const replySrc = canonical(e.reply.src);
    const port = e.original.dport;
    const byIP = fronts.byAddress.get(`${family} ${dst} ${port}`);
    if (byIP && !byIP.has(replySrc)) {
      const f: ConntrackFilter = { family, protocol: "udp", origDst: dst, origPortDst: port, replySrc };
      out.set(filterKey(f), f);
    }
    const byNodePort = fronts.byNodePort.get(`${family} ${port}`);
    if (byNodePort && !byNodePort.has(replySrc)) {
      const f: ConntrackFilter = { family, protocol: "udp", origPortDst: port, replySrc };
      out.set(filterKey(f), f);
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
}

/** `conntrack -D` arguments that delete the entries a filter matches. */
export function conntrackArgs(f: ConntrackFilter): string[] {
  const args = ["-D", "-f", f.family === "IPv6" ? "ipv6" : "ipv4", "-p", "udp"];
  if (f.origDst !== undefined) args.push("--orig-dst", f.origDst);
  args.push("--orig-port-dst", String(f.origPortDst), "--reply-src", f.replySrc);
  return args;
}

/**
 * Parses `conntrack -L` output (any family, protocol and output flags): one entry per line that
 * has an original and a reply tuple. Lines it cannot read (summaries, events) are skipped.
 */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split("\n")) {
    const tokens = line.trim().split(/\s+/);
    const protoAt = tokens.findIndex((t) => /^(udp|tcp|sctp|icmp|icmpv6|udplite|dccp|gre|unknown)$/.test(t));
    if (protoAt < 0) continue;
    const tuples: Record<string, string>[] = [];
    let cur: Record<string, string> = {};
    for (const t of tokens.slice(protoAt + 1)) {
      const eq = t.indexOf("=");
      if (eq < 0) continue;
      const k = t.slice(0, eq);
      if (k === "src" && cur.src !== undefined) {
        tuples.push(cur);
        cur = {};
      }
      if (k === "src" || k === "dst" || k === "sport" || k === "dport") cur[k] = t.slice(eq + 1);
    }
    tuples.push(cur);
    const [o, r] = tuples;
    if (!o || !r || !isTuple(o) || !isTuple(r)) continue;
    out.push({ protocol: tokens[protoAt] ?? "", original: tupleOf(o), reply: tupleOf(r) });
  }
  return out;
}

function isTuple(t: Record<string, string>): boolean {
  return t.src !== undefined && t.dst !== undefined;
}

function tupleOf(t: Record<string, string>): ConntrackTuple {
  // isTuple checked src and dst.
  return { src: t.src ?? "", dst: t.dst ?? "", sport: Number(t.sport ?? 0), dport: Number(t.dport ?? 0) };
}

/** The serving endpoint addresses behind each UDP frontend, both families. */
interface Frontends {
  /** `"<family> <ip> <port>"` → serving endpoint addresses. */
  readonly byAddress: Map<string, Set<string>>;
  /** `"<family> <nodePort>"` → serving endpoint addresses. */
  readonly byNodePort: Map<string, Set<string>>;
}

/** Where a UDP Service port receives traffic in one family. */
interface Frontend {
  readonly family: IPFamily;
  readonly ips: readonly string[];
  readonly port: number;
  readonly nodePort: number;
}

/**
 * The UDP Service ports of the input, by `"<family> <ns/name:port>"`: their frontends and serving
 * endpoint addresses (kube-proxy's ServicePortMap and EndpointsMap, UDP only).
 */
function udpPorts(input: ProxyInput, partial: boolean): Map<string, { frontend: Frontend; serving: Set<string> }> {
  const out = new Map<string, { frontend: Frontend; serving: Set<string> }>();
  visitServicePorts(input, ["IPv4", "IPv6"], partial, (_svc, family, ports, slices) => {
    for (const sp of ports) {
      if (sp.protocol !== "udp") continue;
      const serving = new Set<string>();
      for (const ep of endpointsFor(sp, slices, "")) if (ep.serving) serving.add(ep.ip);
      const ips = [sp.clusterIP, ...sp.loadBalancerVIPs, ...sp.externalIPs];
      out.set(`${family} ${sp.nameString}`, {
        frontend: { family, ips, port: sp.port, nodePort: sp.nodePort },
        serving,
      });
    }
  });
  return out;
}

function addFrontend(fronts: Frontends, f: Frontend, serving: Set<string>): void {
  for (const ip of f.ips) fronts.byAddress.set(`${f.family} ${ip} ${f.port}`, serving);
  if (f.nodePort !== 0) fronts.byNodePort.set(`${f.family} ${f.nodePort}`, serving);
}

function canonical(ip: string): string {
  return parseIP(ip)?.text ?? ip;
}

function filterKey(f: ConntrackFilter): string {
  return `${f.family} ${f.origDst ?? "*"} ${String(f.origPortDst).padStart(5, "0")} ${f.replySrc}`;
}
