// nodekit-proxy: kube-proxy's rules from the command line — compile manifests into the
// iptables-restore payload or the nft -f transaction, explain a packet's way through rules
// (compiled, or a node's iptables-save or nft list ruleset), diff two rulesets per Service port.

import { parseArgs } from "node:util";
import { diffRulesets } from "../diff/diff-rulesets.js";
import {
  compileIptables,
  compileNftables,
  createProxier,
  InvalidInputError,
  type IptablesCompilation,
  type KubeProxyConfiguration,
  type NftablesCompilation,
  type NodeInfo,
  type ProxyInput,
} from "../index.js";
import { explainPacket, type PacketExplanation, type PacketSpec } from "../trace/explain.js";
import type { CtState } from "../trace/iptables-matches.js";
import { type IptablesRuleset, parseIptablesRuleset } from "../trace/iptables-ruleset.js";
import { isNftablesText, type NftablesRuleset, parseNftablesRuleset } from "../trace/nftables-ruleset.js";
import { hasStatements } from "../trace/read-ruleset.js";
import {
  explanationMermaid,
  formatDiff,
  formatExplanation,
  makeStyle,
  nftServiceMermaid,
  serviceMermaid,
} from "./format.js";
import {
  InputFileError,
  objectKey,
  parseDocuments,
  type ReadObjects,
  readObjectFiles,
  readText,
  toConfig,
  toNodeInfo,
} from "./read-objects.js";

const usage = `Usage: nodekit-proxy <command> [options]

Commands:
  compile [options] FILES…     Services and EndpointSlices (YAML or JSON: single objects, Lists,
                               multi-document YAML, kubectl get -o json; directories are read for
                               *.yaml, *.yml, *.json) → kube-proxy's iptables-restore payload
                               (or its nft -f transaction)
      --mode iptables|nftables the proxy mode (default iptables; nftables prints kube-proxy's
                               nft -f transaction, without --partial-from and --jumps)
      --node FILE              the node: a v1 Node (kubectl get node NAME -o yaml) or
                               { name, addresses, labels, podCIDRs } (a Node among FILES also counts)
      --node-name NAME         the node's name (default: from --node, else "node")
      --node-ip IP             a node address (repeatable; the first per family is the node IP)
      --config FILE            kube-proxy's configuration file (kind KubeProxyConfiguration)
      --cluster-cidr CIDRS     shorthand for the configuration's clusterCIDR
      --partial-from DIR       the objects as they were before: print the partial sync
                               (iptables-restore --noflush) that goes from them to FILES
      --family ipv4|ipv6       only this family (default: the node's families)
      --jumps                  also print the jumps into the built-in chains
      --partial-results        compile the valid objects and report the invalid ones
      --service NS/NAME[:PORT] with --mermaid: the Service port to draw (default: all)
  explain --rules FILE --from pod|node|outside --src IP --dst IP --port N [options]
                               where a new connection's first packet goes through the rules
                               (iptables-restore input, or iptables-save [-c] output of a node;
                               nftables: nft -f input, or nft list ruleset output of a node)
      --rules FILE             repeatable: later files load as with --noflush, or as further
                               nft -f runs ("-": stdin); all of one mode
      --proto tcp|udp|sctp     default tcp
      --local-ip IP            the node's own addresses (repeatable; addrtype LOCAL, fib type local)
      --in-interface IF        the interface it enters by (-i, iif), e.g. the pods' bridge
      --out-interface IF       the interface it leaves by (-o, oif)
      --bridge-port IF         the bridge port it enters by (-m physdev)
      --mark N                 the packet's mark; --state NEW|ESTABLISHED|RELATED (default NEW)
  diff A B                     what changes per Service port from ruleset A to ruleset B (both
                               iptables or both nftables; each detected from its text)

Output: text for people (coloured on a terminal; NO_COLOR turns it off, FORCE_COLOR on),
  --json for tools, --mermaid for a Mermaid flowchart (a packet's path; a Service's chains).

Exit status:
  0  done (compile: payload printed; explain: explained; diff: no difference)
  1  compile: invalid objects (each named with its file, object and field);
     explain: a rule could not be evaluated; diff: the rulesets differ
  2  bad usage (unknown command or option, missing value, an option --mode nftables lacks,
     rulesets of both modes given to explain or diff)
  3  an input file cannot be read or parsed`;

class UsageError extends Error {}

function out(s: string): void {
  process.stdout.write(s);
}
function err(s: string): void {
  process.stderr.write(s);
}

function colour(): boolean {
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  if (process.env.NO_COLOR) return false;
  return process.stdout.isTTY === true;
}

function describeError(e: InvalidInputError, objects: ReadObjects | undefined): string {
  const o = e.object;
  const origin =
    objects?.origins.get(objectKey(o.kind, o.namespace ?? "default", o.name)) ??
    objects?.origins.get(objectKey(o.kind, o.namespace, o.name));
  return origin ? `${origin}: ${e.message}` : e.message;
}

function jsonError(e: InvalidInputError, objects: ReadObjects | undefined) {
  const o = e.object;
  return {
    file: objects?.origins.get(objectKey(o.kind, o.namespace ?? "default", o.name)),
    object: o,
    field: e.field,
    reason: e.reason,
    message: e.message,
  };
}

function readSingle(path: string, what: string): Record<string, unknown> {
  const docs = parseDocuments(path, readText(path));
  if (docs.length !== 1 || !docs[0] || typeof docs[0] !== "object" || Array.isArray(docs[0]))
    throw new InputFileError(path, `${what}: one object expected`);
  return docs[0] as Record<string, unknown>;
}

function compileCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      mode: { type: "string" },
      node: { type: "string" },
      "node-name": { type: "string" },
      "node-ip": { type: "string", multiple: true },
      config: { type: "string" },
      "cluster-cidr": { type: "string" },
      "partial-from": { type: "string" },
      family: { type: "string" },
      jumps: { type: "boolean" },
      "partial-results": { type: "boolean" },
      service: { type: "string" },
      json: { type: "boolean" },
      mermaid: { type: "boolean" },
    },
  });
  const mode = values.mode ?? "iptables";
  if (mode !== "iptables" && mode !== "nftables")
    throw new UsageError(`--mode must be iptables or nftables, not ${JSON.stringify(mode)}`);
  if (mode === "nftables" && (values["partial-from"] || values.jumps))
    throw new UsageError("--partial-from and --jumps are not supported with --mode nftables yet");
  if (positionals.length === 0)
    throw new UsageError("compile needs at least one file or directory of Services and EndpointSlices");
  if (values.family !== undefined && values.family !== "ipv4" && values.family !== "ipv6")
    throw new UsageError(`--family must be ipv4 or ipv6, not ${JSON.stringify(values.family)}`);

  const objects = readObjectFiles(positionals);
  let found: NodeInfo | undefined;
  if (values.node) found = toNodeInfo(readSingle(values.node, "node"), values.node);
  else if (objects.nodes.length === 1) found = objects.nodes[0]?.node;
  else if (objects.nodes.length > 1)
    throw new UsageError(
      `several Nodes among the files (${objects.nodes.map((n) => n.origin).join(", ")}): choose one with --node`,
    );
  const nodeIPs = values["node-ip"] ?? [];
  const node: NodeInfo = {
    ...(found ?? { name: "node" }),
    ...(values["node-name"] ? { name: values["node-name"] } : {}),
    ...(nodeIPs.length ? { addresses: nodeIPs } : {}),
  };
  let config: KubeProxyConfiguration | undefined;
  if (values.config) config = toConfig(readSingle(values.config, "configuration"));
  else if (objects.configs.length === 1) config = objects.configs[0]?.config;
  if (values["cluster-cidr"]) config = { ...(config ?? {}), clusterCIDR: values["cluster-cidr"] };
  const families = values.family ? [values.family === "ipv4" ? ("IPv4" as const) : ("IPv6" as const)] : undefined;
  const partialResults = values["partial-results"] === true;
  const inputOf = (o: ReadObjects): ProxyInput => ({
    services: o.services,
    endpointSlices: o.endpointSlices,
    node,
    config,
  });

  let before: ReadObjects | undefined;
  let result: IptablesCompilation;
  if (mode === "nftables") {
    // kube-proxy's nftables mode: one `nft -f` transaction per family
    let nft: NftablesCompilation;
    try {
      nft = compileNftables(inputOf(objects), { families, partialResults });
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      if (values.json) out(`${JSON.stringify({ errors: [jsonError(e, objects)] }, null, 2)}\n`);
      else err(`nodekit-proxy compile: ${describeError(e, objects)}\n`);
      return 1;
    }
    if (objects.skipped.length && !values.json)
      err(
        `nodekit-proxy compile: skipped ${objects.skipped.length} object(s) that are not a Service or EndpointSlice: ${objects.skipped.join("; ")}\n`,
      );
    if (values.mermaid && !values.json) {
      for (const r of nft.results) {
        const rs = parseNftablesRuleset({ name: `${r.family} transaction`, text: r.text });
        const family = r.family === "IPv4" ? 4 : 6;
        const charts = serviceNames(objects, values.service)
          .map((n) => nftServiceMermaid(rs, family, n))
          .filter((c): c is string => c !== undefined);
        if (charts.length === 0) {
          err(`nodekit-proxy compile: no rules of ${values.service ?? "any Service"} in the ${r.family} transaction\n`);
          return 1;
        }
        out(charts.join("\n"));
      }
    } else if (values.json)
      out(
        `${JSON.stringify(
          {
            mode,
            results: nft.results.map((r) => ({
              family: r.family,
              partial: r.partial,
              text: r.text,
              cleanupText: r.cleanupText,
              stats: r.stats,
            })),
            errors: nft.errors.map((x) => jsonError(x, objects)),
            skipped: objects.skipped,
          },
          null,
          2,
        )}\n`,
      );
    else for (const r of nft.results) out(r.text);
    for (const x of nft.errors) err(`nodekit-proxy compile: ${describeError(x, objects)}\n`);
    return nft.errors.length > 0 ? 1 : 0;
  }
  try {
    if (values["partial-from"]) {
      // what kube-proxy writes after the objects changed from DIR's to FILES': a proxier synced
      // with the old objects (taken as applied), then with the new ones
      before = readObjectFiles([values["partial-from"]]);
      const proxier = createProxier({ mode: "iptables", families, partialResults });
      proxier.sync(inputOf(before));
      proxier.applied();
      result = proxier.sync(inputOf(objects));
    } else result = compileIptables(inputOf(objects), { families, partialResults });
  } catch (e) {
    if (e instanceof InvalidInputError) {
      const o =
        before && !objects.origins.has(objectKey(e.object.kind, e.object.namespace ?? "default", e.object.name))
          ? before
          : objects;
      if (values.json) out(`${JSON.stringify({ errors: [jsonError(e, o)] }, null, 2)}\n`);
      else err(`nodekit-proxy compile: ${describeError(e, o)}\n`);
      return 1;
    }
    throw e;
  }
  const errors = (result as { errors?: readonly InvalidInputError[] }).errors ?? [];
  if (objects.skipped.length && !values.json)
    err(
      `nodekit-proxy compile: skipped ${objects.skipped.length} object${objects.skipped.length === 1 ? "" : "s"} that ${objects.skipped.length === 1 ? "is" : "are"} not a Service or EndpointSlice: ${objects.skipped.join("; ")}\n`,
    );
  if (values.json) {
    out(
      `${JSON.stringify(
        {
          mode,
          results: result.results.map((r) => ({
            family: r.family,
            partial: r.partial,
            text: r.text,
            jumpsText: r.jumpsText,
            stats: r.stats,
          })),
          errors: errors.map((e) => jsonError(e, objects)),
          skipped: objects.skipped,
        },
        null,
        2,
      )}\n`,
    );
  } else if (values.mermaid) {
    for (const r of result.results) {
      const rs = parseIptablesRuleset(r.text);
      const charts = serviceNames(objects, values.service)
        .map((n) => serviceMermaid(rs, n))
        .filter((c): c is string => c !== undefined);
      if (charts.length === 0) {
        err(`nodekit-proxy compile: no rules of ${values.service ?? "any Service"} in the ${r.family} payload\n`);
        return 1;
      }
      out(charts.join("\n"));
    }
  } else {
    const many = result.results.length > 1;
    for (const r of result.results) {
      if (many) out(`# ${r.family}${r.partial ? " (partial: iptables-restore --noflush)" : ""}\n`);
      out(r.text);
      if (values.jumps) out(r.jumpsText);
    }
  }
  for (const e of errors) err(`nodekit-proxy compile: ${describeError(e, objects)}\n`);
  return errors.length > 0 ? 1 : 0;
}

/** The Services to draw: the one asked for, else every Service among the files. */
function serviceNames(objects: ReadObjects, only: string | undefined): string[] {
  if (only) return [only];
  return [...new Set(objects.services.map((s) => `${s.metadata?.namespace ?? "default"}/${s.metadata?.name}`))].sort();
}

function parseNumber(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${what} must be a whole number, not ${JSON.stringify(v)}`);
  return n;
}

function explainJson(e: PacketExplanation) {
  return {
    ...e,
    matchedRules: e.matchedRules.map((r) => ({
      table: r.table,
      chain: r.chain,
      source: r.source,
      line: r.line,
      text: r.text,
    })),
  };
}

/** A ruleset error (kind Ruleset: the file and line) as an input file error (exit status 3). */
function rulesetError(e: unknown): unknown {
  return e instanceof InvalidInputError && e.object.kind === "Ruleset"
    ? new InputFileError(e.object.name ?? "rules", `${e.field}: ${e.reason}`)
    : e;
}

/**
 * Reads ruleset files: nftables when the first file with a statement reads as nftables (`nft -f`
 * input, `nft list ruleset` output), else iptables; every file must be of that mode (an empty file,
 * such as a sync's empty cleanup transaction, is of either).
 */
function loadRules(files: readonly string[], validate = false): IptablesRuleset | NftablesRuleset {
  const sources = files.map((f) => ({ name: f === "-" ? "stdin" : f, text: readText(f) }));
  const modal = sources.filter((x) => hasStatements(x.text));
  const nft = modal.map((x) => isNftablesText(x.text));
  const other = nft.findIndex((n) => n !== nft[0]);
  if (other > 0)
    throw new UsageError(
      `${modal[other]?.name}: ${nft[other] ? "an nftables ruleset" : "iptables rules"}, but ${modal[0]?.name} holds ${nft[0] ? "nftables" : "iptables"} rules: give rules of one mode`,
    );
  try {
    if (nft[0]) return parseNftablesRuleset(sources);
    return parseIptablesRuleset(
      sources.map((x, i) => ({ ...x, noflush: i > 0 })),
      { validate },
    );
  } catch (e) {
    throw rulesetError(e);
  }
}

function explainCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rules: { type: "string", multiple: true },
      from: { type: "string" },
      src: { type: "string" },
      dst: { type: "string" },
      port: { type: "string" },
      proto: { type: "string" },
      "local-ip": { type: "string", multiple: true },
      "in-interface": { type: "string" },
      "out-interface": { type: "string" },
      "bridge-port": { type: "string" },
      mark: { type: "string" },
      state: { type: "string" },
      json: { type: "boolean" },
      mermaid: { type: "boolean" },
    },
  });
  if (positionals.length)
    throw new UsageError(`explain takes no arguments besides its options (got ${positionals.join(" ")})`);
  const rules = values.rules ?? [];
  if (rules.length === 0) throw new UsageError("explain needs --rules FILE");
  const need = (k: "from" | "src" | "dst" | "port"): string => {
    const v = values[k];
    if (v === undefined) throw new UsageError(`explain needs --${k}`);
    return v;
  };
  const from = need("from");
  const src = need("src");
  const dst = need("dst");
  const port = need("port");
  if (from !== "pod" && from !== "node" && from !== "outside")
    throw new UsageError(`--from must be pod, node or outside, not ${JSON.stringify(from)}`);
  const rs = loadRules(rules);
  const packet: PacketSpec = {
    from,
    source: src,
    destination: dst,
    port: parseNumber(port, "--port") ?? 0,
    protocol: values.proto,
    inInterface: values["in-interface"],
    outInterface: values["out-interface"],
    bridgePort: values["bridge-port"],
    mark: values.mark === undefined ? undefined : Number(values.mark),
    state: values.state as CtState | undefined,
  };
  let e: PacketExplanation;
  try {
    e = explainPacket(rs, packet, { localAddresses: values["local-ip"] });
  } catch (x) {
    if (x instanceof InvalidInputError && x.object.kind === "Packet")
      throw new UsageError(`the packet: ${x.field}: ${x.reason}`);
    throw rulesetError(x);
  }
  if (values.json) out(`${JSON.stringify(explainJson(e), null, 2)}\n`);
  else if (values.mermaid) out(explanationMermaid(e));
  else out(formatExplanation(e, makeStyle(colour())));
  return e.unknown ? 1 : 0;
}

function diffCommand(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean" } } });
  if (positionals.length !== 2) throw new UsageError("diff needs two ruleset files: diff A B");
  const [fileA = "", fileB = ""] = positionals;
  const a = loadRules([fileA], true);
  const b = loadRules([fileB], true);
  if (a.kind !== b.kind)
    throw new UsageError(
      `${fileA} holds ${a.kind} rules and ${fileB} ${b.kind} rules: diff compares two rulesets of one mode`,
    );
  const d = diffRulesets(a, b);
  if (values.json) out(`${JSON.stringify(d, null, 2)}\n`);
  else out(formatDiff(d, makeStyle(colour())));
  return d.identical ? 0 : 1;
}

/** Runs the command line; returns the exit status. */
export function main(argv: readonly string[]): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "compile":
        return compileCommand(rest);
      case "explain":
        return explainCommand(rest);
      case "diff":
        return diffCommand(rest);
      case "help":
      case "-h":
      case "--help":
        out(`${usage}\n`);
        return 0;
      default:
        throw new UsageError(command === undefined ? "no command" : `unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`nodekit-proxy: ${(e as Error).message}\n\n${usage}\n`);
      return 2;
    }
    if (e instanceof InputFileError) {
      err(`nodekit-proxy: ${e.message}\n`);
      return 3;
    }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
