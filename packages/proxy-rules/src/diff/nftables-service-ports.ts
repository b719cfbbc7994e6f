// What an nftables ruleset does per Service port, read from kube-proxy's nftables layout (table
// `ip kube-proxy` / `ip6 kube-proxy`): the verdict maps `service-ips` and `service-nodeports` lead
// to the port's `service-…`, `local-…` and `external-…` chains, `firewall-ips` to its `firewall-…`
// chain, `no-endpoint-services` / `no-endpoint-nodeports` hold its REJECT or DROP (with the port's
// name as the element's comment); the `numgen random mod N vmap` of its service/local chain gives
// each `endpoint-…` chain's share, and that chain's `dnat to` the endpoint.

import type { NftablesChain, NftablesRule, NftablesRuleset, NftablesTable } from "../trace/nftables-ruleset.js";
import { canonicalNftRule } from "./canonical-nft-rule.js";
import type { EndpointWeight, ServicePortRules } from "./diff-rulesets.js";

/** The per-Service-port chain kinds: `service-<hash>-<ns>/<name>/<proto>/<port>` and the others. */
const PORT_CHAIN = /^(service|local|external|firewall|endpoint)-[A-Z2-7]{8}-(.+)$/;

/** The Service port (`ns/name:port`, `ns/name` for an unnamed port) of a per-port chain name (`service-HASH-ns/name/proto/port`, `endpoint-HASH-…__ip/port`), if it is one. */
export function servicePortOfChain(chain: string): string | undefined {
  const m = PORT_CHAIN.exec(chain);
  if (!m) return undefined;
  const rest = (m[1] === "endpoint" ? (m[2] ?? "").split("__")[0] : m[2]) ?? "";
  const parts = rest.split("/");
  if (parts.length !== 4) return undefined;
  const [ns, name, , port] = parts;
  return port ? `${ns}/${name}:${port}` : `${ns}/${name}`;
}

/** The chain a verdict (`goto X`, `jump X`) leads to. */
function verdictChain(v: string | undefined): string | undefined {
  const m = v === undefined ? null : /^(?:goto|jump)\s+(\S+)$/.exec(v.trim());
  return m?.[1];
}

/** The targets of a rule's `goto`/`jump`s, those of its anonymous verdict map included. */
function targets(rule: NftablesRule): string[] {
  const out: string[] = [];
  for (const m of rule.text.matchAll(/\b(?:goto|jump)\s+([^\s,}"]+)/g)) if (m[1]) out.push(m[1]);
  return out;
}

/** The statements of a rule in canonical spelling (no counter), without its comment. */
export function nftStatements(rule: NftablesRule): string {
  return canonicalNftRule(rule.text)
    .replace(/\s*comment\s+"(?:[^"\\]|\\.)*"\s*$/, "")
    .trim();
}

/** `ip:port/proto` (`[ip]:port/proto` for IPv6), as the iptables diff writes a VIP. */
function vip(ip: string, proto: string, port: string): string {
  return `${ip.includes(":") ? `[${ip}]` : ip}:${port}/${proto}`;
}

/** The kube-proxy table of a family, if the ruleset has it. */
export function kubeProxyTable(rs: NftablesRuleset, family: 4 | 6): NftablesTable | undefined {
  return rs.tables.find((t) => t.name === "kube-proxy" && t.family === (family === 4 ? "ip" : "ip6"));
}

/** A chain as text for comparison: its base-chain header, comment and canonical rules. */
export function nftChainText(c: NftablesChain): string {
  const header = c.hook
    ? `type ${c.type ?? "?"} hook ${c.hook} priority ${c.priority ?? c.priorityText ?? "?"} policy ${c.policy ?? "accept"}`
    : "-";
  return [
    header,
    c.comment === undefined ? "" : `comment ${c.comment}`,
    ...c.rules.map((r) => canonicalNftRule(r.text)),
  ]
    .filter((s) => s !== "")
    .join("\n");
}

/**
 * Service ports of one family's `kube-proxy` table, by name (`ns/name:port`), with their
 * addresses, endpoints, policies and chains (`ip kube-proxy/service-…`).
 */
export function nftablesServicePortRules(rs: NftablesRuleset, family: 4 | 6): Map<string, ServicePortRules> {
  const out = new Map<string, ServicePortRules>();
  const table = kubeProxyTable(rs, family);
  if (!table) return out;
  const prefix = `${table.family} ${table.name}/`;
  const chains = table.chains;
  const views = new Map<
    string,
    { vips: Set<string>; policies: Record<string, string>; roots: Set<string>; clusterIPs: Set<string> }
  >();
  const view = (spn: string) => {
    let v = views.get(spn);
    if (!v) {
      v = { vips: new Set(), policies: {}, roots: new Set(), clusterIPs: new Set() };
      views.set(spn, v);
    }
    return v;
  };
  const clusterIPs = new Set((table.sets.get("cluster-ips")?.elements ?? []).map((e) => e.key[0] ?? ""));

  // addresses that lead to a Service port's chains
  for (const [map, nodePort] of [
    ["service-ips", false],
    ["service-nodeports", true],
    ["firewall-ips", false],
  ] as const) {
    for (const e of table.sets.get(map)?.elements ?? []) {
      const chain = verdictChain(e.value);
      const spn = chain === undefined ? undefined : servicePortOfChain(chain);
      if (chain === undefined || spn === undefined) continue;
      const v = view(spn);
      v.roots.add(chain);
      const [a = "", b = "", c = ""] = e.key;
      v.vips.add(nodePort ? `nodePort ${b}/${a}` : vip(a, b, c));
      if (!nodePort && map === "service-ips" && /^(service|local)-/.test(chain)) {
        v.clusterIPs.add(a);
        v.policies.internalTrafficPolicy = chain.startsWith("local-") ? "Local" : "Cluster";
      }
    }
  }
  // addresses of ports without (local) endpoints: the element's comment names the port
  for (const [map, nodePort] of [
    ["no-endpoint-services", false],
    ["no-endpoint-nodeports", true],
  ] as const) {
    for (const e of table.sets.get(map)?.elements ?? []) {
      if (!e.comment) continue;
      const v = view(e.comment);
      const [a = "", b = "", c = ""] = e.key;
      v.vips.add(nodePort ? `nodePort ${b}/${a}` : vip(a, b, c));
      if ((e.value ?? "").trim() === "drop") {
        v.policies.noLocalEndpoints = "DROP";
        if (nodePort || !clusterIPs.has(a)) v.policies.externalTrafficPolicy = "Local";
        else v.policies.internalTrafficPolicy = "Local";
      } else v.policies.noEndpoints = "REJECT";
    }
  }

  for (const [spn, v] of [...views].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // the port's own chains, reached from its roots
    const own = new Map<string, NftablesChain>();
    const todo = [...v.roots];
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      const chain = chains.get(name);
      if (own.has(name) || !chain) continue;
      own.set(name, chain);
      for (const r of chain.rules) for (const t of targets(r)) if (PORT_CHAIN.test(t)) todo.push(t);
    }
    const ofKind = (kind: string) => [...own.values()].find((c) => c.name.startsWith(`${kind}-`));

    // endpoints: each service/local chain's numgen shares (affinity lookups aside)
    const endpoints: EndpointWeight[] = [];
    for (const [kind, scope] of [
      ["service", "cluster"],
      ["local", "local"],
    ] as const) {
      const chain = ofKind(kind);
      if (!chain) continue;
      let remaining = 1;
      for (const r of chain.rules) {
        const s = nftStatements(r);
        if (s.includes(" @affinity-") || s.startsWith("@affinity-") || s.endsWith("jump mark-for-masquerade")) continue;
        const numgen = /^numgen random mod (\d+)(?: offset (\d+))? vmap \{(.*)\}$/.exec(s);
        const shares = new Map<string, number>();
        if (numgen) {
          const mod = Number(numgen[1]);
          for (const item of (numgen[3] ?? "").split(",")) {
            const t = /:\s*(?:goto|jump)\s+(\S+)/.exec(item)?.[1];
            if (t) shares.set(t, (shares.get(t) ?? 0) + 1 / mod);
          }
        } else {
          const t = /^(?:goto|jump) (\S+)$/.exec(s)?.[1];
          if (t) shares.set(t, 1);
        }
        for (const [t, share] of shares) {
          const dnat = chains
            .get(t)
            ?.rules.map((x) => /\bdnat (?:ip6? )?to (\S+)/.exec(x.text)?.[1])
            .find((x) => x !== undefined);
          endpoints.push({ endpoint: dnat ?? t, scope, probability: remaining * share });
        }
        if (shares.size > 0) remaining = 0;
        if (remaining <= 0) break;
      }
    }

    // masquerading of cluster-IP traffic: the service/local chain's rule for the cluster IP
    const internal = [ofKind("service"), ofKind("local")].filter((c): c is NftablesChain => c !== undefined);
    if (internal.length > 0) {
      const masq = internal
        .flatMap((c) => c.rules)
        .find((r) => / daddr /.test(` ${r.text}`) && nftStatements(r).endsWith("jump mark-for-masquerade"));
      if (!masq) v.policies.masquerade = "none";
      else {
        const m = /^ip6? daddr (\S+) ip6? saddr != (\S+) jump mark-for-masquerade$/.exec(nftStatements(masq));
        v.policies.masquerade = m
          ? `sources outside ${m[2]}`
          : /^ip6? daddr \S+ jump mark-for-masquerade$/.test(nftStatements(masq))
            ? "all"
            : canonicalNftRule(masq.text);
      }
    }
    const external = ofKind("external");
    if (external) {
      const last = external.rules.at(-1);
      const target = last ? /^goto (\S+)$/.exec(nftStatements(last))?.[1] : undefined;
      if (target?.startsWith("local-")) v.policies.externalTrafficPolicy = "Local";
      else if (target?.startsWith("service-")) v.policies.externalTrafficPolicy = "Cluster";
      const masq = external.rules.find((r) => nftStatements(r).endsWith("jump mark-for-masquerade"));
      v.policies.externalMasquerade = !masq
        ? "none"
        : nftStatements(masq) === "jump mark-for-masquerade"
          ? "all"
          : nftStatements(masq).includes("fib saddr type local")
            ? "node-local sources"
            : canonicalNftRule(masq.text);
    }
    const firewall = ofKind("firewall");
    if (firewall) {
      const ranges: string[] = [];
      for (const r of firewall.rules) {
        const m = /^ip6? saddr != (\{ .* \}|\S+) drop$/.exec(nftStatements(r));
        const list = m?.[1] ?? "";
        ranges.push(...(list.startsWith("{") ? list.slice(2, -2).split(", ") : list ? [list] : []));
      }
      v.policies.sourceRanges = ranges.sort().join(",");
    }
    // ClientIP affinity: the timeout of the endpoints' affinity sets
    for (const c of own.values()) {
      const set = c.rules.map((r) => /\bupdate @(\S+)/.exec(r.text)?.[1]).find((x) => x !== undefined);
      const timeout = set === undefined ? undefined : table.sets.get(set)?.timeout;
      if (timeout !== undefined) v.policies.affinitySeconds = String(timeout);
    }

    out.set(spn, {
      servicePort: spn,
      family,
      vips: [...v.vips].sort(),
      endpoints,
      policies: v.policies,
      chains: new Map(
        [...own.values()]
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((c) => [`${prefix}${c.name}`, nftChainText(c)]),
      ),
    });
  }
  return out;
}
