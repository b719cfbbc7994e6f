// The text forms of the IPVS state: ipvsadm-restore input (as `ipvsadm -S -n` prints it), ipset
// restore input (as `ipset save` prints it), the companion iptables-restore payload and the
// kube-ipvs0 commands, as kube-proxy's IPVS proxier writes them (pkg/proxy/ipvs/proxier.go:
// writeIptablesRules, acceptIPVSTraffic, createAndLinkKubeChain, iptablesJumpChain).

import type { LocalDetector } from "../model/context.js";
import type { IPFamily } from "../model/ip.js";
import { createOptions, IPVS_IPSETS, type IpsetType, ipsetNames } from "./ipsets.js";
import {
  FLAG_PERSISTENT,
  type IpvsProtocol,
  type IpvsRealServer,
  type IpvsVirtualServer,
  type OutFilterEntry,
} from "./services.js";

/** The dummy interface kube-proxy binds service addresses to. */
export const IPVS_DUMMY_DEVICE = "kube-ipvs0";

/** One chain of the companion iptables payload. */
export interface IpvsIptablesChain {
  readonly name: string;
  /** Rules in restore syntax, without the `-A NAME ` prefix. */
  readonly rules: readonly string[];
}

/** The companion iptables payload, structured: nat then filter, chains in kube-proxy's declaration order. */
export interface IpvsIptablesTables {
  readonly nat: readonly IpvsIptablesChain[];
  readonly filter: readonly IpvsIptablesChain[];
}

/** A jump from a built-in chain kube-proxy's IPVS mode ensures with `iptables -I` (`iptablesJumpChain`). */
export interface IpvsIptablesJump {
  readonly table: "nat" | "filter";
  readonly from: string;
  readonly to: string;
  readonly comment: string;
}

/** kube-proxy's `iptablesJumpChain` (IPVS mode), in its order. */
export const IPVS_IPTABLES_JUMPS: readonly IpvsIptablesJump[] = [
  { table: "nat", from: "OUTPUT", to: "KUBE-SERVICES", comment: "kubernetes service portals" },
  { table: "nat", from: "PREROUTING", to: "KUBE-SERVICES", comment: "kubernetes service portals" },
  { table: "nat", from: "POSTROUTING", to: "KUBE-POSTROUTING", comment: "kubernetes postrouting rules" },
  { table: "filter", from: "FORWARD", to: "KUBE-FORWARD", comment: "kubernetes forwarding rules" },
  { table: "filter", from: "INPUT", to: "KUBE-NODE-PORT", comment: "kubernetes health check rules" },
  { table: "filter", from: "INPUT", to: "KUBE-PROXY-FIREWALL", comment: "kube-proxy firewall rules" },
  { table: "filter", from: "FORWARD", to: "KUBE-PROXY-FIREWALL", comment: "kube-proxy firewall rules" },
  { table: "filter", from: "INPUT", to: "KUBE-IPVS-FILTER", comment: "kubernetes ipvs access filter" },
  { table: "filter", from: "OUTPUT", to: "KUBE-IPVS-OUT-FILTER", comment: "kubernetes ipvs access filter" },
];

const NAT_CHAINS = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"];
const FILTER_CHAINS = [
  "KUBE-FORWARD",
  "KUBE-NODE-PORT",
  "KUBE-PROXY-FIREWALL",
  "KUBE-SOURCE-RANGES-FIREWALL",
  "KUBE-IPVS-FILTER",
  "KUBE-IPVS-OUT-FILTER",
];

// kube-proxy's ipsetWithIptablesChain: set index, table, from, to, match type, protocol match
const SET_RULES: readonly [number, "nat" | "filter", string, string, string, string][] = [
  [0, "nat", "KUBE-POSTROUTING", "MASQUERADE", "dst,dst,src", ""],
  [4, "nat", "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "dst,dst", ""],
  [6, "nat", "KUBE-LOAD-BALANCER", "RETURN", "dst,dst", ""],
  [10, "nat", "KUBE-NODE-PORT", "RETURN", "dst", "tcp"],
  [9, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "tcp"],
  [12, "nat", "KUBE-NODE-PORT", "RETURN", "dst", "udp"],
  [11, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "udp"],
  [14, "nat", "KUBE-NODE-PORT", "RETURN", "dst,dst", "sctp"],
  [13, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst,dst", "sctp"],
  [5, "filter", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "dst,dst", ""],
  [8, "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", ""],
  [7, "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", ""],
];

/** What the companion rules depend on. */
export interface IpvsIptablesInput {
  readonly family: IPFamily;
  /** Whether each set (by `ipsetInfo` index) has entries. */
  readonly nonEmpty: readonly boolean[];
  readonly masqueradeAll: boolean;
  readonly detector: LocalDetector | undefined;
  readonly masqueradeMark: string;
  readonly randomFully: boolean;
  readonly outFilter: readonly OutFilterEntry[];
}

/** The local-traffic detector's "not from a local pod" match (`IfNotLocal`). */
function ifNotLocal(d: LocalDetector): string {
  switch (d.kind) {
    case "cidr":
      return `! -s ${d.cidr}`;
    case "interface":
      return `! -i ${d.name}`;
    case "interfacePrefix":
      return `! -i ${d.prefix}+`;
  }
}

/** The rule list of `chain` in `table` (every chain of NAT_CHAINS and FILTER_CHAINS has one). */
function rulesOf(table: Map<string, string[]>, chain: string): string[] {
  let rules = table.get(chain);
  if (!rules) {
    rules = [];
    table.set(chain, rules);
  }
  return rules;
}

/** The companion iptables rules, as kube-proxy's `writeIptablesRules` orders them. */
export function ipvsIptablesTables(input: IpvsIptablesInput): IpvsIptablesTables {
  const names = ipsetNames(input.family);
  const nat = new Map<string, string[]>(NAT_CHAINS.map((c) => [c, []]));
  const filter = new Map<string, string[]>(FILTER_CHAINS.map((c) => [c, []]));
  const comment = (i: number) => `-m comment --comment "${IPVS_IPSETS[i]?.comment ?? ""}"`;
  const set = (i: number, match: string) => `-m set --match-set ${names[i]} ${match}`;

  rulesOf(nat, "KUBE-SERVICES").push(`-s ${input.family === "IPv6" ? "::1/128" : "127.0.0.0/8"} -j RETURN`);
  for (const [i, table, from, to, match, proto] of SET_RULES) {
    if (!input.nonEmpty[i]) continue;
    const p = proto === "" ? "" : `-p ${proto} `;
    rulesOf(table === "nat" ? nat : filter, from).push(`${p}${comment(i)} ${set(i, match)} -j ${to}`);
  }
  const services = rulesOf(nat, "KUBE-SERVICES");
  if (input.nonEmpty[1]) {
    const head = `${comment(1)} -m set --match-set ${names[1]}`;
    if (input.masqueradeAll) services.push(`${head} dst,dst -j KUBE-MARK-MASQ`);
    else if (input.detector) services.push(`${head} dst,dst ${ifNotLocal(input.detector)} -j KUBE-MARK-MASQ`);
    else services.push(`${head} src,dst -j KUBE-MARK-MASQ`);
  }
  const externalIPRules = (head: string) => {
    services.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    services.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (input.nonEmpty[2]) {
    const head = `${comment(2)} ${set(2, "dst,dst")}`;
    services.push(`${head} -j KUBE-MARK-MASQ`);
    externalIPRules(head);
  }
  if (input.nonEmpty[3]) externalIPRules(`${comment(3)} ${set(3, "dst,dst")}`);
  services.push("-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT");
  rulesOf(nat, "KUBE-LOAD-BALANCER").push("-j KUBE-MARK-MASQ");
  rulesOf(filter, "KUBE-SOURCE-RANGES-FIREWALL").push("-j DROP");
  for (const e of input.outFilter) {
    rulesOf(filter, "KUBE-IPVS-OUT-FILTER").push(
      `-s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.protocol} --vport ${e.port} -j DROP`,
    );
  }
  // accept everything sent to a virtual server, in case other rules would block it
  if (input.nonEmpty[1]) services.push(`${set(1, "dst,dst")} -j ACCEPT`);
  if (input.nonEmpty[4]) services.push(`${set(4, "dst,dst")} -j ACCEPT`);
  const mark = input.masqueradeMark;
  rulesOf(filter, "KUBE-FORWARD").push(
    `-m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  );
  rulesOf(filter, "KUBE-NODE-PORT").push(`${comment(15)} ${set(15, "dst")} -j ACCEPT`);
  rulesOf(filter, "KUBE-IPVS-FILTER").push(
    `${set(4, "dst,dst")} -j RETURN`,
    `${set(1, "dst,dst")} -j RETURN`,
    `${set(2, "dst,dst")} -j RETURN`,
    `${set(3, "dst,dst")} -j RETURN`,
    `${set(15, "dst")} -j RETURN`,
    `-m conntrack --ctstate NEW ${set(16, "dst")} -j REJECT`,
  );
  rulesOf(nat, "KUBE-POSTROUTING").push(
    `-m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-j MARK --xor-mark ${mark}`,
    `-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${input.randomFully ? " --random-fully" : ""}`,
  );
  rulesOf(nat, "KUBE-MARK-MASQ").push(`-j MARK --or-mark ${mark}`);
  const chains = (m: Map<string, string[]>) => [...m].map(([name, rules]) => ({ name, rules }));
  return { nat: chains(nat), filter: chains(filter) };
}

/** The iptables-restore payload: `*nat`, chains, rules, `COMMIT`, then `*filter` (kube-proxy's order). */
export function renderIpvsIptables(tables: IpvsIptablesTables): string {
  const part = (name: string, chains: readonly IpvsIptablesChain[]) => {
    let s = `*${name}\n`;
    for (const c of chains) s += `:${c.name} - [0:0]\n`;
    for (const c of chains) for (const r of c.rules) s += `-A ${c.name} ${r}\n`;
    return `${s}COMMIT\n`;
  };
  return part("nat", tables.nat) + part("filter", tables.filter);
}

/**
 * The jumps as a restore payload for `--noflush`, inserted (`-I`) at the top of the built-in
 * chains. Load it after the payload: it declares no chain (a declaration would flush the
 * payload's chain), every target is one of the payload's.
 */
export function renderIpvsJumps(jumps: readonly IpvsIptablesJump[] = IPVS_IPTABLES_JUMPS): string {
  let out = "";
  for (const table of ["nat", "filter"] as const) {
    const mine = jumps.filter((j) => j.table === table);
    if (mine.length === 0) continue;
    out += `*${table}\n`;
    for (const j of mine) out += `-I ${j.from} -m comment --comment "${j.comment}" -j ${j.to}\n`;
    out += "COMMIT\n";
  }
  return out;
}

const PROTO_OPTION: Record<IpvsProtocol, string> = { TCP: "-t", UDP: "-u", SCTP: "--sctp-service" };

/** `ip:port` or `[ip]:port`. */
function hostPort(address: string, port: number): string {
  return address.indexOf(":") >= 0 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The scheduler flags as ipvsadm names them (`-b`): per scheduler for sh and mh, `flag-N` otherwise. */
export function schedulerFlagNames(scheduler: string, flags: number): string[] {
  const names: string[] = [];
  const named = scheduler === "sh" || scheduler === "mh";
  if (flags & 0x08) names.push(named ? `${scheduler}-fallback` : "flag-1");
  if (flags & 0x10) names.push(named ? `${scheduler}-port` : "flag-2");
  if (flags & 0x20) names.push("flag-3");
  return names;
}

/** The arguments that name a virtual server (`-t 10.96.0.10:80`). */
export function serviceArgs(vs: Pick<IpvsVirtualServer, "address" | "port" | "protocol">): string[] {
  return [PROTO_OPTION[vs.protocol], hostPort(vs.address, vs.port)];
}

/** The arguments of a virtual server after its address: scheduler, persistence, scheduler flags. */
export function serviceOptions(vs: Pick<IpvsVirtualServer, "scheduler" | "flags" | "timeout">): string[] {
  const args = ["-s", vs.scheduler];
  if (vs.flags & FLAG_PERSISTENT) args.push("-p", String(vs.timeout));
  const flags = schedulerFlagNames(vs.scheduler, vs.flags);
  if (flags.length > 0) args.push("-b", flags.join(","));
  return args;
}

/** The arguments of a real server after `-r`: address, masquerading, weight. */
export function realServerArgs(rs: IpvsRealServer): string[] {
  return ["-r", hostPort(rs.address, rs.port), "-m", "-w", String(rs.weight)];
}

/** ipvsadm-restore input: each virtual server (`-A`) then its real servers (`-a`), as `ipvsadm -S -n` prints them. */
export function renderIpvsadm(virtualServers: readonly IpvsVirtualServer[]): string {
  // one rope, flattened once when read (as the iptables backend builds its payload)
  let out = "";
  for (const vs of virtualServers) {
    const svc = `${PROTO_OPTION[vs.protocol]} ${hostPort(vs.address, vs.port)}`;
    out += `-A ${svc} ${serviceOptions(vs).join(" ")}\n`;
    const head = `-a ${svc} -r `;
    for (const rs of vs.realServers) {
      out += `${head}${rs.address.indexOf(":") >= 0 ? `[${rs.address}]` : rs.address}:${rs.port} -m -w ${rs.weight}\n`;
    }
  }
  return out;
}

/** One ipset with its entries. */
export interface IpvsIpset {
  readonly name: string;
  readonly type: IpsetType;
  /** `inet` or `inet6` (`ipset create … family`; bitmap:port sets have none). */
  readonly family: "inet" | "inet6";
  /** kube-proxy's comment for the set (used in the iptables rules that match it). */
  readonly comment: string;
  /** The `ipset create` options after the type. */
  readonly createOptions: string;
  /** Entries in kube-proxy's spelling (`10.96.0.10,tcp:80`), sorted. */
  readonly entries: readonly string[];
}

/** `ipset restore` input: every set (`create`) and its entries (`add`), as `ipset save` prints them. */
export function renderIpsets(sets: readonly IpvsIpset[]): string {
  const out: string[] = [];
  for (const s of sets) {
    out.push(`create ${s.name} ${s.type} ${s.createOptions}\n`);
    for (const e of s.entries) out.push(`add ${s.name} ${e}\n`);
  }
  return out.join("");
}

/** The sets of a family with their entries. */
export function ipvsIpsets(family: IPFamily, entries: readonly (readonly string[])[]): IpvsIpset[] {
  const names = ipsetNames(family);
  return IPVS_IPSETS.map((info, i) => ({
    name: names[i] ?? "", // one name per set
    type: info.type,
    family: family === "IPv4" ? "inet" : "inet6",
    comment: info.comment,
    createOptions: createOptions(info.type, family),
    entries: entries[i] ?? [],
  }));
}

/** The `ip` commands (argv without `ip`) that create kube-ipvs0 and bind the addresses. */
export function ipAddrCommands(addresses: readonly string[]): string[][] {
  const cmds: string[][] = [["link", "add", IPVS_DUMMY_DEVICE, "type", "dummy"]];
  for (const a of addresses) cmds.push(addrCommand("add", a));
  return cmds;
}

/** `addr add|del ADDR/32 dev kube-ipvs0` (/128 for IPv6), as kube-proxy's netlink bind does. */
export function addrCommand(op: "add" | "del", address: string): string[] {
  return ["addr", op, `${address}/${address.indexOf(":") >= 0 ? 128 : 32}`, "dev", IPVS_DUMMY_DEVICE];
}

/** `ip -batch` input of commands. */
export function renderIpBatch(commands: readonly (readonly string[])[]): string {
  return commands.map((c) => `${c.join(" ")}\n`).join("");
}
