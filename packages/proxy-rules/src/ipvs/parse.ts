// Parsers of what a node shows of its IPVS state: `ipvsadm -S -n` (the rules, as ipvsadm-restore
// takes them), `ipvsadm -L -n` (with the connection counts graceful deletion waits on), `ipset save`
// and `ip addr show kube-ipvs0`. Bad lines are an InvalidInputError naming the line.

import { InvalidInputError } from "../errors.js";
import { type IPFamily, parseIP } from "../model/ip.js";
import type { IpsetType } from "./ipsets.js";
import { FLAG_PERSISTENT, type IpvsProtocol, virtualServerKey } from "./services.js";

/** A real server as the kernel has it. */
export interface IpvsKernelRealServer {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Known from `ipvsadm -L -n`; `undefined` from `ipvsadm -S -n`. */
  readonly activeConnections: number | undefined;
  readonly inactiveConnections: number | undefined;
}

/** A virtual server as the kernel has it. */
export interface IpvsKernelVirtualServer {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: IpvsProtocol;
  readonly scheduler: string;
  readonly flags: number;
  readonly timeout: number;
  /** By `ip:port`. */
  readonly realServers: ReadonlyMap<string, IpvsKernelRealServer>;
}

/** An ipset as `ipset save` shows it. */
export interface IpsetKernelSet {
  readonly name: string;
  readonly type: string;
  /** `inet`, `inet6`, or `undefined` (bitmap:port). */
  readonly family: string | undefined;
  readonly entries: ReadonlySet<string>;
}

/** The IPVS-related state of a node, as parsed from its tools' output. */
export interface IpvsKernelState {
  /** By key (`10.96.0.10:80/TCP`). */
  readonly virtualServers: ReadonlyMap<string, IpvsKernelVirtualServer>;
  /** By name. */
  readonly ipsets: ReadonlyMap<string, IpsetKernelSet>;
  /** The addresses on kube-ipvs0, or `undefined` when the interface does not exist. */
  readonly addresses: ReadonlySet<string> | undefined;
}

function lineError(source: string, n: number, reason: string, line: string): InvalidInputError {
  return new InvalidInputError({ kind: source }, `line ${n}`, reason, line);
}

/** `ip:port` or `[ip]:port` → canonical address and port. */
function splitHostPort(s: string): { address: string; port: number; family: IPFamily } | undefined {
  let host: string;
  let port: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]:");
    if (end < 0) return undefined;
    host = s.slice(1, end);
    port = s.slice(end + 2);
  } else {
    const at = s.lastIndexOf(":");
    if (at < 0) return undefined;
    host = s.slice(0, at);
    port = s.slice(at + 1);
  }
  const ip = parseIP(host);
  if (!ip || !/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  return { address: ip.text, port: Number(port), family: ip.family };
}

const PROTO_OPTIONS: Record<string, IpvsProtocol> = {
  "-t": "TCP",
  "--tcp-service": "TCP",
  "-u": "UDP",
  "--udp-service": "UDP",
  "--sctp-service": "SCTP",
};

/** Scheduler flag names (`-b`) → bits. */
function schedulerFlags(names: string): number | undefined {
  let flags = 0;
  for (const n of names.split(",")) {
    if (n === "flag-1" || n.endsWith("-fallback")) flags |= 0x08;
    else if (n === "flag-2" || n.endsWith("-port")) flags |= 0x10;
    else if (n === "flag-3") flags |= 0x20;
    else return undefined;
  }
  return flags;
}

interface MutableVS {
  key: string;
  address: string;
  port: number;
  protocol: IpvsProtocol;
  scheduler: string;
  flags: number;
  timeout: number;
  realServers: Map<string, IpvsKernelRealServer>;
}

/**
 * Parses `ipvsadm -S -n` (also ipvsadm-restore input): `-A` service lines with their scheduler,
 * persistence (`-p`) and scheduler flags (`-b`), `-a` destination lines with their weight.
 *
 * @throws {@link InvalidInputError} (kind `IpvsadmSave`) naming the first line it cannot read.
 */
export function parseIpvsadmSave(text: string): Map<string, IpvsKernelVirtualServer> {
  const out = new Map<string, MutableVS>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const t = line.split(/\s+/);
    const bad = (why: string) => lineError("IpvsadmSave", i + 1, why, raw);
    const cmd = t[0];
    if (cmd !== "-A" && cmd !== "-a") throw bad("must start with -A or -a");
    const protocol = PROTO_OPTIONS[t[1] ?? ""];
    const hp = splitHostPort(t[2] ?? "");
    if (!protocol || !hp) throw bad("must name a service as -t|-u|--sctp-service ADDRESS:PORT");
    const key = virtualServerKey(hp.address, hp.port, protocol);
    if (cmd === "-A") {
      const vs: MutableVS = { key, ...hp, protocol, scheduler: "wlc", flags: 0, timeout: 0, realServers: new Map() };
      for (let k = 3; k < t.length; k++) {
        const opt = t[k] ?? "";
        const val = t[k + 1];
        if (opt === "-s" || opt === "--scheduler") {
          if (!val) throw bad("-s needs a scheduler");
          vs.scheduler = val;
          k++;
        } else if (opt === "-p" || opt === "--persistent") {
          vs.flags |= FLAG_PERSISTENT;
          if (val !== undefined && /^\d+$/.test(val)) {
            vs.timeout = Number(val);
            k++;
          } else vs.timeout = 300;
        } else if (opt === "-b" || opt === "--sched-flags") {
          const f = val === undefined ? undefined : schedulerFlags(val);
          if (f === undefined) throw bad("-b needs scheduler flags");
          vs.flags |= f;
          k++;
        } else if (opt === "-M" || opt === "--netmask" || opt === "--pe") {
          k++;
        } else if (opt === "-o" || opt === "--ops") {
          // one-packet scheduling: not something kube-proxy sets
        } else throw bad(`unknown service option ${opt}`);
      }
      out.set(key, vs);
      return;
    }
    const vs = out.get(key);
    if (!vs) throw bad("a real server of a service not declared before it");
    let rs: { address: string; port: number } | undefined;
    let weight = 1;
    for (let k = 3; k < t.length; k++) {
      const opt = t[k] ?? "";
      const val = t[k + 1];
      if (opt === "-r" || opt === "--real-server") {
        rs = splitHostPort(val ?? "");
        if (!rs) throw bad("-r needs ADDRESS:PORT");
        k++;
      } else if (opt === "-w" || opt === "--weight") {
        if (!val || !/^\d+$/.test(val)) throw bad("-w needs a weight");
        weight = Number(val);
        k++;
      } else if (opt === "-x" || opt === "-y" || opt === "--u-threshold" || opt === "--l-threshold") {
        k++;
      } else if (
        opt === "-m" ||
        opt === "-g" ||
        opt === "-i" ||
        opt === "--masquerading" ||
        opt === "--gatewaying" ||
        opt === "--ipip"
      ) {
        // forwarding method: kube-proxy always uses masquerading
      } else throw bad(`unknown real server option ${opt}`);
    }
    if (!rs) throw bad("-a needs -r ADDRESS:PORT");
    const k = rs.address.indexOf(":") >= 0 ? `[${rs.address}]:${rs.port}` : `${rs.address}:${rs.port}`;
    vs.realServers.set(k, { ...rs, weight, activeConnections: undefined, inactiveConnections: undefined });
  });
  return out;
}

/**
 * Parses `ipvsadm -L -n` (the listing with `ActiveConn` and `InActConn` per real server, which
 * graceful deletion waits on).
 *
 * @throws {@link InvalidInputError} (kind `IpvsadmList`) naming the first line it cannot read.
 */
export function parseIpvsadmList(text: string): Map<string, IpvsKernelVirtualServer> {
  const out = new Map<string, MutableVS>();
  let current: MutableVS | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (
      line === "" ||
      line.startsWith("IP Virtual Server") ||
      line.startsWith("Prot ") ||
      line.startsWith("-> RemoteAddress")
    ) {
      return;
    }
    const bad = (why: string) => lineError("IpvsadmList", i + 1, why, raw);
    const t = line.split(/\s+/);
    if (t[0] === "->") {
      if (!current) throw bad("a real server before any service");
      const rs = splitHostPort(t[1] ?? "");
      const counts = t.slice(3, 6);
      if (!rs || counts.length < 3 || !counts.every((c) => /^\d+$/.test(c))) {
        throw bad("must be -> ADDRESS:PORT FORWARD WEIGHT ACTIVECONN INACTCONN");
      }
      const k = rs.address.indexOf(":") >= 0 ? `[${rs.address}]:${rs.port}` : `${rs.address}:${rs.port}`;
      current.realServers.set(k, {
        address: rs.address,
        port: rs.port,
        weight: Number(t[3]),
        activeConnections: Number(t[4]),
        inactiveConnections: Number(t[5]),
      });
      return;
    }
    const protocol = ({ TCP: "TCP", UDP: "UDP", SCTP: "SCTP" } as const)[t[0] as "TCP"];
    const hp = splitHostPort(t[1] ?? "");
    if (!protocol || !hp || !t[2]) throw bad("must be PROTO ADDRESS:PORT SCHEDULER [flags]");
    const key = virtualServerKey(hp.address, hp.port, protocol);
    const vs: MutableVS = { key, ...hp, protocol, scheduler: t[2], flags: 0, timeout: 0, realServers: new Map() };
    for (let k = 3; k < t.length; k++) {
      const w = t[k] ?? "";
      if (w.startsWith("(") && w.endsWith(")")) {
        const f = schedulerFlags(w.slice(1, -1));
        if (f === undefined) throw bad(`unknown scheduler flags ${w}`);
        vs.flags |= f;
      } else if (w === "persistent") {
        vs.flags |= FLAG_PERSISTENT;
        vs.timeout = Number(t[++k]);
      } else if (w === "mask" || w === "pe") k++;
      else if (w !== "ops") throw bad(`unknown service flag ${w}`);
    }
    out.set(key, vs);
    current = vs;
  });
  return out;
}

/**
 * Parses `ipset save` (and `ipset restore` input): `create NAME TYPE options` and `add NAME ENTRY`
 * lines. Entries are kept as written (ipset prints them canonically).
 *
 * @throws {@link InvalidInputError} (kind `IpsetSave`) naming the first line it cannot read.
 */
export function parseIpsetSave(text: string): Map<string, IpsetKernelSet> {
  const out = new Map<string, { name: string; type: string; family: string | undefined; entries: Set<string> }>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const bad = (why: string) => lineError("IpsetSave", i + 1, why, raw);
    const t = line.split(/\s+/);
    if (t[0] === "create") {
      if (!t[1] || !t[2]) throw bad("create needs a name and a type");
      const fam = t.indexOf("family");
      out.set(t[1], { name: t[1], type: t[2], family: fam > 0 ? t[fam + 1] : undefined, entries: new Set() });
    } else if (t[0] === "add") {
      const set = out.get(t[1] ?? "");
      if (!set || !t[2]) throw bad("add needs a set created before and an entry");
      set.entries.add(canonicalEntry(set.type, t[2]));
    } else throw bad("must start with create or add");
  });
  return out;
}

/**
 * An entry as kube-proxy spells it. ipset prints addresses with the C library's `inet_ntop`, which
 * writes an IPv6 address whose first 96 bits are zero in the old IPv4-compatible form (`::1:0` as
 * `::0.1.0.0`): each address part is read back to its canonical text. ipset also prints a
 * `hash:ip,port,net` entry's /32 (or /128) net without its prefix; kube-proxy writes it with one.
 */
function canonicalEntry(type: string, entry: string): string {
  const address = (part: string): string => {
    const slash = part.indexOf("/");
    const ip = parseIP(slash < 0 ? part : part.slice(0, slash));
    return ip === undefined ? part : ip.text + (slash < 0 ? "" : part.slice(slash));
  };
  const parts = entry.split(",");
  // the first part is an address (a port, for bitmap:port), the third an address or a net
  const [first = "", , third] = parts;
  parts[0] = address(first);
  if (third !== undefined) {
    const net = address(third);
    parts[2] =
      (type as IpsetType) === "hash:ip,port,net" && !net.includes("/") ? `${net}/${net.includes(":") ? 128 : 32}` : net;
  }
  return parts.join(",");
}

/**
 * Parses `ip addr show kube-ipvs0` (or `ip -o addr show dev kube-ipvs0`): the `inet` and `inet6`
 * addresses on the interface. An empty text or "does not exist" means no interface (`undefined`).
 */
export function parseIpAddrShow(text: string): Set<string> | undefined {
  if (text.trim() === "" || /does not exist/.test(text)) return undefined;
  const out = new Set<string>();
  for (const m of text.matchAll(/\binet6?\s+([0-9a-fA-F.:]+)\/\d+/g)) {
    const ip = parseIP(m[1] ?? ""); // the group always takes part
    if (ip) out.add(ip.text);
  }
  return out;
}

/** What {@link ipvsKernelState} reads. */
export interface IpvsKernelOutputs {
  /** `ipvsadm -S -n`. */
  readonly ipvsadmSave?: string | undefined;
  /** `ipvsadm -L -n`: gives connection counts (it may be given instead of, or with, `ipvsadmSave`). */
  readonly ipvsadmList?: string | undefined;
  /** `ipset save`. */
  readonly ipsetSave?: string | undefined;
  /** `ip addr show kube-ipvs0`. */
  readonly ipAddrShow?: string | undefined;
}

/**
 * The node's IPVS state from its tools' output. With both ipvsadm outputs, the services and
 * weights come from `-S` and the connection counts from `-L`.
 */
export function ipvsKernelState(outputs: IpvsKernelOutputs): IpvsKernelState {
  let virtualServers = new Map<string, IpvsKernelVirtualServer>();
  if (outputs.ipvsadmSave !== undefined) virtualServers = parseIpvsadmSave(outputs.ipvsadmSave);
  if (outputs.ipvsadmList !== undefined) {
    const listed = parseIpvsadmList(outputs.ipvsadmList);
    if (outputs.ipvsadmSave === undefined) virtualServers = listed;
    else {
      for (const [key, vs] of virtualServers) {
        const l = listed.get(key);
        if (!l) continue;
        const rs = vs.realServers as Map<string, IpvsKernelRealServer>;
        for (const [k, r] of rs) {
          const c = l.realServers.get(k);
          if (c)
            rs.set(k, { ...r, activeConnections: c.activeConnections, inactiveConnections: c.inactiveConnections });
        }
      }
    }
  }
  return {
    virtualServers,
    ipsets: outputs.ipsetSave === undefined ? new Map() : parseIpsetSave(outputs.ipsetSave),
    addresses: outputs.ipAddrShow === undefined ? undefined : parseIpAddrShow(outputs.ipAddrShow),
  };
}
