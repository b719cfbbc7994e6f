// A rule's argv in one spelling, so that the rules compileIptables writes and the same rules read
// back with `iptables-save` compare equal: iptables-save moves `-s/-d/-p` first, writes `/32`,
// `-m tcp` after `-p tcp`, `--set-xmark` for `--or-mark`, the kernel's probability
// (0.33333333349 for 0.3333333333), recent's default `--mask`/`--rsource`, REJECT's default
// `--reject-with`. The clauses are sorted, so the order of matches within a rule is not compared.

import { formatAddr, parsePrefix } from "../trace/addr.js";

const PROTOCOLS: Record<string, string> = { "6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "ipv6-icmp" };
const CORE: Record<string, string> = {
  "-p": "-p",
  "--protocol": "-p",
  "-s": "-s",
  "--source": "-s",
  "--src": "-s",
  "-d": "-d",
  "--destination": "-d",
  "--dst": "-d",
  "-i": "-i",
  "--in-interface": "-i",
  "-o": "-o",
  "--out-interface": "-o",
};
const OPTION_ALIASES: Record<string, string> = {
  "--destination-port": "--dport",
  "--source-port": "--sport",
  "--destination-ports": "--dports",
  "--source-ports": "--sports",
  "--state": "--ctstate",
};

const isOption = (t: string) => t === "!" || (t.length > 1 && t.startsWith("-") && !/^-\d/.test(t));

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function markValue(v: string): string {
  const [a, m] = v.split("/");
  const value = Number(a);
  if (!Number.isFinite(value)) return v;
  if (m === undefined) return hex(value);
  const mask = Number(m);
  return Number.isFinite(mask) ? `${hex(value)}/${hex(mask)}` : v;
}

function prefix(v: string): string {
  return v
    .split(",")
    .map((part) => {
      const p = parsePrefix(part);
      if (!p) return part;
      const a = p.family === 4 ? formatAddr({ family: 4, v: p.net }) : formatAddr({ family: 6, v: p.net });
      return `${a}/${p.bits}`;
    })
    .join(",");
}

/** The canonical form of a rule's argv (after `-A CHAIN`), for comparison. */
export function canonicalRule(args: readonly string[], family: 4 | 6): string {
  const clauses: string[] = [];
  let target = "";
  let module = "";
  let neg = false;
  let moduleOpts: string[] = [];
  let proto = "";
  const flushModule = () => {
    if (!module) return;
    if (module === "recent") {
      const has = (o: string) => moduleOpts.some((x) => x.startsWith(`${o}`) || x.startsWith(`! ${o}`));
      if (!has("--name")) moduleOpts.push("--name DEFAULT");
      if (!has("--mask"))
        moduleOpts.push(`--mask ${family === 4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}`);
      if (!has("--rdest") && !has("--rsource")) moduleOpts.push("--rsource");
    }
    const protoModule = module === "tcp" || module === "udp" || module === "sctp";
    if (!(protoModule && moduleOpts.length === 0) && module !== "nfacct")
      clauses.push(`-m ${module}${moduleOpts.length ? ` ${moduleOpts.sort().join(" ")}` : ""}`);
    module = "";
    moduleOpts = [];
  };
  const targetOpts: string[] = [];
  let inTarget = false;
  for (let i = 0; i < args.length; ) {
    const t = args[i] ?? "";
    if (t === "!") {
      neg = true;
      i++;
      continue;
    }
    const core = CORE[t];
    if (core) {
      let v = args[i + 1] ?? "";
      if (core === "-p") {
        v = PROTOCOLS[v.toLowerCase()] ?? v.toLowerCase();
        proto = v;
      } else if (core === "-s" || core === "-d") v = prefix(v);
      clauses.push(`${neg ? "! " : ""}${core} ${v}`);
      neg = false;
      i += 2;
      continue;
    }
    if (t === "-m" || t === "--match") {
      flushModule();
      module = args[i + 1] ?? "";
      i += 2;
      continue;
    }
    if (t === "-j" || t === "--jump" || t === "-g" || t === "--goto") {
      flushModule();
      target = `${t === "-g" || t === "--goto" ? "-g" : "-j"} ${args[i + 1] ?? ""}`;
      inTarget = true;
      i += 2;
      continue;
    }
    const values: string[] = [];
    let j = i + 1;
    for (let v = args[j]; v !== undefined && !isOption(v); v = args[++j]) values.push(v);
    const name = OPTION_ALIASES[t] ?? t;
    let value = values.join(" ");
    if (name === "--probability") value = String(Math.round(Number(value) * 2 ** 31));
    else if (name === "--mark" || name.endsWith("-mark") || name === "--set-xmark") value = markValue(value);
    else if (name === "--ctstate") value = value.split(",").sort().join(",");
    const clause = `${neg ? "! " : ""}${name}${value ? ` ${value}` : ""}`;
    neg = false;
    if (inTarget) targetOpts.push(clause);
    else {
      if (!module && (proto === "tcp" || proto === "udp" || proto === "sctp")) module = proto;
      moduleOpts.push(clause);
    }
    i = j;
  }
  flushModule();
  const targetName = target.slice(3);
  let tOpts = targetOpts;
  if (targetName === "MARK") {
    tOpts = tOpts.map((o) => {
      const [name, v = ""] = o.split(" ");
      const [a = "0", m] = v.split("/");
      const value = Number(a) >>> 0;
      const mask = m === undefined ? 0xffffffff : Number(m) >>> 0;
      switch (name) {
        case "--or-mark":
          return `--set-xmark ${hex(value)}/${hex(value)}`;
        case "--xor-mark":
          return `--set-xmark ${hex(value)}/0x0`;
        case "--and-mark":
          return `--set-xmark 0x0/${hex(~value)}`;
        case "--set-mark":
          return `--set-xmark ${hex(value)}/${hex(mask | value)}`;
        case "--set-xmark":
          return `--set-xmark ${hex(value)}/${hex(mask)}`;
        default:
          return o;
      }
    });
  }
  if (targetName === "REJECT" && !tOpts.some((o) => o.startsWith("--reject-with")))
    tOpts = [...tOpts, `--reject-with ${family === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable"}`];
  return [...clauses.sort(), target, ...tOpts.sort()].filter((s) => s !== "").join(" ");
}
