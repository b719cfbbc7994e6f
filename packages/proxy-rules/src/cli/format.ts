// Text and Mermaid renderings of explanations, diffs and a Service's chains for nodekit-proxy.
// Colour (ANSI) only when asked (the command turns it on for a TTY).

import type { RulesetDiff } from "../diff/diff-rulesets.js";
import { kubeProxyTable, nftStatements, servicePortOfChain } from "../diff/nftables-service-ports.js";
import type { ExplainStep, PacketExplanation, PacketOutcome } from "../trace/explain.js";
import type { IptablesRuleset, IptablesRulesetRule } from "../trace/iptables-ruleset.js";
import type { NftablesRuleset } from "../trace/nftables-ruleset.js";

/** ANSI styles, or none. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const esc = (code: string) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;
/** Styles for a terminal, or plain text. */
export function makeStyle(color: boolean): Style {
  if (!color) {
    const id = (s: string) => s;
    return { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
  }
  return { bold: esc("1"), dim: esc("2"), red: esc("31"), green: esc("32"), yellow: esc("33"), cyan: esc("36") };
}

const pct = (p: number) => `${(p * 100).toFixed(p === 1 || p === 0 ? 0 : 1)}%`;
const hostPort = (a: string, p: number) => (a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`);

function stepLine(s: ExplainStep, st: Style): string {
  switch (s.kind) {
    case "hook":
      return st.bold(`${s.table} ${s.chain}`);
    case "rule": {
      const where = st.dim(`${s.source}:${s.line}`);
      const effect = s.effect ? `  ${st.cyan(`→ ${s.effect}`)}` : "";
      return `  ${where}  ${s.text}${effect}`;
    }
    case "policy":
      return `  ${st.dim(`(end of chain: policy ${s.policy})`)}`;
    case "route":
      return st.yellow(
        `routing: ${s.destination} is ${s.to === "local" ? "local: delivered to the node" : s.to === "forward" ? "not local: forwarded" : "not local: sent out"}`,
      );
  }
}

function outcomeVerdict(o: PacketOutcome, st: Style): string {
  switch (o.verdict) {
    case "dnat":
      return st.green(
        `DNAT${o.endpoint ? ` to ${hostPort(o.endpoint.address, o.endpoint.port)}` : ""}${o.masquerade ? ", masqueraded" : ""}`,
      );
    case "accept":
      return st.green(`ACCEPT (${o.reason})`);
    case "drop":
      return st.red(`DROP (${o.reason})`);
    case "reject":
      return st.red(`REJECT${o.rejectWith ? ` with ${o.rejectWith}` : ""} (${o.reason})`);
    case "no-match":
      return `no rule changed it: ${o.delivered === "local" ? "delivered to the node" : o.delivered === "forward" ? "forwarded as addressed" : "sent as addressed"}${o.masquerade ? ", masqueraded" : ""}`;
    case "unknown":
      return st.yellow(o.reason ?? "cannot evaluate");
  }
}

/** A readable explanation: verdict, endpoint shares, affinity, then the path of each branch. */
export function formatExplanation(e: PacketExplanation, st: Style): string {
  const p = e.packet;
  const lines: string[] = [];
  const from = p.from === "pod" ? "from a pod" : p.from === "node" ? "from the node" : "from outside";
  lines.push(
    `${st.bold("packet")}  ${(p.protocol ?? "tcp").toLowerCase()} ${p.source} → ${hostPort(p.destination, p.port)}, ${from}${p.inInterface ? ` (in ${p.inInterface})` : ""}`,
  );
  if (e.verdict === "dnat") {
    lines.push(
      `${st.bold("verdict")} ${st.green(`DNAT to ${e.endpoints.length} endpoint${e.endpoints.length === 1 ? "" : "s"}`)}`,
    );
    for (const x of e.endpoints)
      lines.push(
        `  ${hostPort(x.address, x.port).padEnd(24)} ${pct(x.probability).padStart(6)}${x.masquerade ? "  masqueraded" : ""}`,
      );
  } else if (e.verdict === "mixed") {
    lines.push(`${st.bold("verdict")} depends on the random branch:`);
    for (const o of e.outcomes) lines.push(`  ${pct(o.probability).padStart(6)}  ${outcomeVerdict(o, st)}`);
  } else if (e.outcomes[0]) lines.push(`${st.bold("verdict")} ${outcomeVerdict(e.outcomes[0], st)}`);
  if (e.affinity) {
    const sticky = e.affinity.next.every(
      (n) =>
        n.endpoints.length === 1 &&
        n.endpoints[0]?.address === n.after.address &&
        n.endpoints[0]?.port === n.after.port,
    );
    lines.push(
      `${st.bold("affinity")} ClientIP${e.affinity.seconds !== undefined ? `, ${e.affinity.seconds} s` : ""}: ${sticky ? "a second connection from the same source goes to the endpoint the first reached" : "a second connection:"}`,
    );
    if (!sticky)
      for (const n of e.affinity.next)
        lines.push(
          `  after ${hostPort(n.after.address, n.after.port)}: ${n.endpoints.map((x) => `${hostPort(x.address, x.port)} ${pct(x.probability)}`).join(", ") || n.verdict}`,
        );
  }
  for (const n of e.notes) lines.push(st.dim(`note: ${n}`));
  if (e.truncated) lines.push(st.yellow("note: too many random branches; only the first are shown"));
  lines.push("");
  const first = e.outcomes[0];
  if (!first) return `${lines.join("\n")}\n`;
  lines.push(
    st.bold(e.outcomes.length > 1 ? `path (branch 1 of ${e.outcomes.length}, ${pct(first.probability)})` : "path"),
  );
  for (const s of first.path) lines.push(stepLine(s, st));
  for (const [i, o] of e.outcomes.entries()) {
    if (i === 0) continue;
    let k = 0;
    while (k < o.path.length && k < first.path.length && JSON.stringify(o.path[k]) === JSON.stringify(first.path[k]))
      k++;
    lines.push("");
    lines.push(
      st.bold(`branch ${i + 1} (${pct(o.probability)}): ${outcomeVerdict(o, st)}; same path up to step ${k}, then`),
    );
    for (const s of o.path.slice(k)) lines.push(stepLine(s, st));
  }
  return `${lines.join("\n")}\n`;
}

/** A readable diff: per Service port what changed, then the chains (and nftables' sets). */
export function formatDiff(d: RulesetDiff, st: Style): string {
  if (d.identical) return "no difference\n";
  const lines: string[] = [];
  // nftables rulesets hold both families: say which one each Service port's change is in
  const nft = d.sets !== undefined;
  for (const s of d.services) {
    const mark = s.change === "added" ? st.green("+") : s.change === "removed" ? st.red("-") : st.yellow("~");
    lines.push(`${mark} ${st.bold(s.servicePort)}${nft ? ` (IPv${s.family})` : ""} ${s.change}`);
    for (const v of s.vips.added) lines.push(`    ${st.green("+")} address ${v}`);
    for (const v of s.vips.removed) lines.push(`    ${st.red("-")} address ${v}`);
    for (const e of s.endpoints.added)
      lines.push(`    ${st.green("+")} endpoint ${e.endpoint} (${e.scope}) ${pct(e.probability)}`);
    for (const e of s.endpoints.removed)
      lines.push(`    ${st.red("-")} endpoint ${e.endpoint} (${e.scope}) ${pct(e.probability)}`);
    for (const e of s.endpoints.changed)
      lines.push(`    ${st.yellow("~")} endpoint ${e.endpoint} (${e.scope}) ${pct(e.before)} → ${pct(e.after)}`);
    for (const p of s.policies)
      lines.push(`    ${st.yellow("~")} ${p.policy}: ${p.before ?? "(none)"} → ${p.after ?? "(none)"}`);
    for (const c of s.chains.added) lines.push(`    ${st.green("+")} chain ${c}`);
    for (const c of s.chains.removed) lines.push(`    ${st.red("-")} chain ${c}`);
    for (const c of s.chains.rewritten) lines.push(`    ${st.yellow("~")} chain ${c} rewritten`);
  }
  const own = new Set(d.services.flatMap((s) => [...s.chains.added, ...s.chains.removed, ...s.chains.rewritten]));
  const other = [
    ...d.chains.added.filter((c) => !own.has(c)).map((c) => `${st.green("+")} chain ${c}`),
    ...d.chains.removed.filter((c) => !own.has(c)).map((c) => `${st.red("-")} chain ${c}`),
    ...d.chains.rewritten.filter((c) => !own.has(c)).map((c) => `${st.yellow("~")} chain ${c} rewritten`),
    ...(d.sets?.added ?? []).map((c) => `${st.green("+")} set ${c}`),
    ...(d.sets?.removed ?? []).map((c) => `${st.red("-")} set ${c}`),
    ...(d.sets?.rewritten ?? []).map((c) => `${st.yellow("~")} set ${c} rewritten`),
  ];
  if (other.length) {
    if (lines.length) lines.push("");
    lines.push(st.bold(nft ? "other chains and sets" : "other chains"), ...other.map((l) => `    ${l}`));
  }
  return `${lines.join("\n")}\n`;
}

const label = (s: string) => s.replace(/"/g, "#quot;").replace(/[<>]/g, (c) => (c === "<" ? "#lt;" : "#gt;"));

/** A Mermaid flowchart of a packet's path: the steps of every branch, merged where they agree. */
export function explanationMermaid(e: PacketExplanation): string {
  const lines = ["flowchart TD"];
  const ids = new Map<string, string>();
  const edges = new Set<string>();
  const node = (key: string, text: string, shape: "box" | "round" | "end" = "box") => {
    let id = ids.get(key);
    if (!id) {
      id = `n${ids.size}`;
      ids.set(key, id);
      const t = label(text);
      lines.push(shape === "round" ? `  ${id}(["${t}"])` : shape === "end" ? `  ${id}[["${t}"]]` : `  ${id}["${t}"]`);
    }
    return id;
  };
  const start = node(
    "start",
    `${(e.packet.protocol ?? "tcp").toLowerCase()} ${e.packet.source} → ${hostPort(e.packet.destination, e.packet.port)} (${e.packet.from})`,
    "round",
  );
  for (const o of e.outcomes) {
    let prev = start;
    let key = "start";
    for (const s of o.path) {
      if (s.kind === "policy") continue;
      key += `|${JSON.stringify(s)}`;
      const text =
        s.kind === "hook"
          ? `${s.table} ${s.chain}`
          : s.kind === "route"
            ? `routing: ${s.to} (${s.destination})`
            : `${s.chain} #${s.position}: ${s.effect ?? `-j ${s.target ?? "(none)"}`}`;
      const id = node(key, text);
      const edge = `  ${prev} --> ${id}`;
      if (!edges.has(edge)) {
        edges.add(edge);
        lines.push(edge);
      }
      prev = id;
    }
    const verdict = node(
      `end|${key}`,
      `${o.verdict.toUpperCase()}${o.endpoint ? ` ${hostPort(o.endpoint.address, o.endpoint.port)}` : ""}${o.masquerade ? " (masqueraded)" : ""}`,
      "end",
    );
    lines.push(`  ${prev} -->|${pct(o.probability)}| ${verdict}`);
  }
  return `${lines.join("\n")}\n`;
}

function edgeLabel(r: IptablesRulesetRule): string {
  const parts: string[] = [];
  const a = r.args;
  const choice = r.matchers.find((m) => m.kind === "choice");
  if (choice?.kind === "choice") parts.push(`p=${choice.probability.toFixed(4)}`);
  if (r.recentSeconds !== undefined) parts.push(`seen within ${r.recentSeconds}s`);
  for (const f of ["-s", "-d", "--dport", "--src-type", "--dst-type", "-i"]) {
    const i = a.indexOf(f);
    if (i >= 0) parts.push(`${a[i - 1] === "!" ? "! " : ""}${f} ${a[i + 1]}`);
  }
  return label(parts.join(" "));
}

/**
 * A Mermaid flowchart of a Service port's chains: from `KUBE-SERVICES` / `KUBE-NODEPORTS` through
 * its KUBE-SVC/SVL/EXT/FW/SEP chains to the DNAT rules, edges labelled with what the rule checks.
 * `servicePort` is `namespace/name` (every port) or `namespace/name:port`.
 */
export function serviceMermaid(rs: IptablesRuleset, servicePort: string): string | undefined {
  const nat = rs.tables.get("nat");
  if (!nat) return undefined;
  const lines = ["flowchart LR"];
  const seen = new Set<string>();
  const id = (name: string) => name.replace(/[^A-Za-z0-9_]/g, "_");
  const walk = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const chain = nat.get(name);
    if (!chain) return;
    lines.push(`  ${id(name)}["${name}"]`);
    for (const r of chain.rules) {
      if (r.target.kind === "dnat") {
        const ep = `ep_${id(r.target.text)}`;
        lines.push(`  ${ep}[["DNAT ${label(r.target.text)}"]]`, `  ${id(name)} --> ${ep}`);
      } else if (r.targetName === "KUBE-MARK-MASQ") {
        lines.push(`  ${id(name)} -.->|${edgeLabel(r) || "all"}| KUBE_MARK_MASQ(["masquerade mark"])`);
      } else if (r.targetName && /^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(r.targetName)) {
        const l = edgeLabel(r);
        lines.push(`  ${id(name)} -->${l ? `|${l}|` : ""} ${id(r.targetName)}`);
        walk(r.targetName);
      } else if (r.target.kind === "none" && r.comment) {
        lines.push(`  ${id(name)} -.-> ${id(name)}_fall(["${label(r.comment)}"])`);
      }
    }
  };
  const matches = (c: string | undefined) =>
    c !== undefined && (c === servicePort || c.startsWith(`${servicePort} `) || c.startsWith(`${servicePort}:`));
  let found = false;
  for (const top of ["KUBE-SERVICES", "KUBE-NODEPORTS"]) {
    for (const r of nat.get(top)?.rules ?? []) {
      if (!matches(r.comment) || !r.targetName) continue;
      found = true;
      const from = id(top);
      if (!seen.has(top)) {
        seen.add(top);
        lines.push(`  ${from}(["${top}"])`);
      }
      const l = edgeLabel(r);
      lines.push(`  ${from} -->${l ? `|${l}|` : ""} ${id(r.targetName)}`);
      walk(r.targetName);
    }
  }
  return found ? `${lines.join("\n")}\n` : undefined;
}

/** What a rule checks before its statement, for an edge label (`ip saddr != 10.244.0.0/16`). */
function nftMatches(text: string): string {
  const cut = text.search(/\b(?:jump|goto|drop|reject|accept|return|dnat|snat|masquerade|update|numgen|comment)\b/);
  return (cut < 0 ? text : text.slice(0, cut)).trim();
}

/**
 * A Mermaid flowchart of a Service port's rules in kube-proxy's nftables table of one family: from
 * the verdict maps (`@service-ips`, `@service-nodeports`, `@firewall-ips`, `@no-endpoint-…`)
 * through its service/local/external/firewall/endpoint chains to the DNAT rules, edges labelled
 * with the element's key or what the rule checks (numgen shares as `p=`). `servicePort` is
 * `namespace/name` (every port) or `namespace/name:port`.
 */
export function nftServiceMermaid(rs: NftablesRuleset, family: 4 | 6, servicePort: string): string | undefined {
  const table = kubeProxyTable(rs, family);
  if (!table) return undefined;
  const matches = (spn: string | undefined) =>
    spn !== undefined && (spn === servicePort || spn.startsWith(`${servicePort}:`));
  const lines = ["flowchart LR"];
  const seen = new Set<string>();
  const id = (name: string) => `c_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
  const edge = (from: string, to: string, text: string, dotted = false) =>
    lines.push(`  ${from} ${dotted ? "-.->" : "-->"}${text ? `|${label(text)}|` : ""} ${to}`);
  const walk = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const chain = table.chains.get(name);
    if (!chain) return;
    lines.push(`  ${id(name)}["${label(name)}"]`);
    for (const [i, r] of chain.rules.entries()) {
      const text = nftStatements(r);
      const numgen = /numgen random mod (\d+) vmap \{(.*)\}/.exec(text);
      if (numgen) {
        const shares = new Map<string, number>();
        for (const m of (numgen[2] ?? "").matchAll(/:\s*goto\s+([^\s,}]+)/g))
          if (m[1]) shares.set(m[1], (shares.get(m[1]) ?? 0) + 1 / Number(numgen[1]));
        for (const [t, p] of shares) {
          edge(id(name), id(t), `p=${p.toFixed(4)}`);
          walk(t);
        }
        continue;
      }
      const dnat = /\bdnat (?:ip6? )?to (\S+)/.exec(text)?.[1];
      if (dnat) {
        const ep = `ep_${id(name)}_${i}`;
        lines.push(`  ${ep}[["DNAT ${label(dnat)}"]]`);
        edge(id(name), ep, "");
        continue;
      }
      const target = /\b(?:goto|jump)\s+(\S+)/.exec(text)?.[1];
      const checks = nftMatches(text);
      if (target === "mark-for-masquerade") edge(id(name), `mark_masq(["masquerade mark"])`, checks || "all", true);
      else if (target && servicePortOfChain(target) !== undefined) {
        const set = /@(affinity-\S+)/.exec(text)?.[1];
        const timeout = set === undefined ? undefined : table.sets.get(set)?.timeout;
        edge(id(name), id(target), set !== undefined ? `seen within ${timeout ?? "?"}s` : checks);
        walk(target);
      } else if (/\bdrop\b/.test(text)) edge(id(name), `${id(name)}_drop[["DROP"]]`, checks);
    }
  };
  let found = false;
  for (const map of [
    "service-ips",
    "service-nodeports",
    "firewall-ips",
    "no-endpoint-services",
    "no-endpoint-nodeports",
  ]) {
    for (const e of table.sets.get(map)?.elements ?? []) {
      const target = /^(?:goto|jump)\s+(\S+)$/.exec((e.value ?? "").trim())?.[1];
      const own = map.startsWith("no-endpoint-") ? matches(e.comment) : matches(servicePortOfChain(target ?? ""));
      if (!own) continue;
      const from = `m_${map.replace(/-/g, "_")}`;
      if (!lines.some((l) => l.startsWith(`  ${from}(`))) lines.push(`  ${from}(["@${map}"])`);
      found = true;
      const key = e.key.join(" . ");
      if (map.startsWith("no-endpoint-")) {
        const verdict = target === "reject-chain" ? "REJECT" : (e.value ?? "").trim().toUpperCase();
        edge(from, `${from}_${verdict}[["${verdict}"]]`, key);
      } else if (target) {
        edge(from, id(target), key);
        walk(target);
      }
    }
  }
  return found ? `${lines.join("\n")}\n` : undefined;
}
