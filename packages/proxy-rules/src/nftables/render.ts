// Rendering one planned Service port as kube-proxy's nftables mode writes it (pkg/proxy/nftables/
// proxier.go, syncProxyRules and writeServiceToEndpointRules): its chains and their rules, its
// affinity sets, and the elements it puts in the table's sets and verdict maps. Decisions come
// from the plan (src/plan/service-port-plan.ts); only names and spelling are made here.

import { InvalidInputError } from "../errors.js";
import { sepChainNames } from "../iptables/chain-hash.js";
import type { FamilyContext, LocalDetector } from "../model/context.js";
import type { NormalizedService } from "../model/normalize.js";
import { type EndpointRows, suffixOf } from "../model/service-port.js";
import type { ServicePortPlan } from "../plan/service-port-plan.js";
import { isNftName, servicePortChainNameBase, servicePortEndpointChainNameBase } from "./names.js";

/** The sets and verdict maps Services put elements in, by index. */
export const CONTAINERS = [
  "cluster-ips",
  "service-ips",
  "service-nodeports",
  "no-endpoint-services",
  "no-endpoint-nodeports",
  "firewall-ips",
] as const;
export const C_CLUSTER_IPS = 0;
export const C_SERVICE_IPS = 1;
export const C_SERVICE_NODEPORTS = 2;
export const C_NO_ENDPOINT_SERVICES = 3;
export const C_NO_ENDPOINT_NODEPORTS = 4;
export const C_FIREWALL_IPS = 5;
/** Which containers are sets (the others are verdict maps). */
export const IS_SET = [true, false, false, false, false, false] as const;

/** An element a Service port wants in a container: its key, value (maps) and comment. */
export interface Claim {
  readonly container: number;
  /** The key as nft writes it: `172.30.0.41 . tcp . 80`. */
  readonly key: string;
  /** The verdict of a map element, `""` for a set element. */
  readonly value: string;
  /** The element's comment (the Service port's name), or `""`. */
  readonly comment: string;
  /** The Service (`namespace/name`) that wants it. */
  readonly owner: string;
}

/** What rendering a Service (all its ports, one family) gives. */
export interface RenderedService {
  /** The chains it declares, in the order they are added. */
  readonly chains: string[];
  /** The affinity sets it declares. */
  readonly sets: string[];
  /**
   * `add chain`/`flush chain`, `add set` and `add rule` lines of its chains and sets (a slice of
   * its batch's text, set once the batch is joined: see {@link TextBatch.finish}).
   */
  text: string;
  /** Lines in `text` (transaction operations). */
  readonly operations: number;
  readonly claims: Claim[];
}

/** Table-level spelling of a family: `ip` / `ip6`, address type. */
export interface FamilySpelling {
  /** `ip` or `ip6`: the table's family and the address-match keyword. */
  readonly ipX: string;
  /** `ipv4_addr` or `ipv6_addr`. */
  readonly addrType: string;
  /** `add chain ip kube-proxy ` and friends, for speed. */
  readonly prefix: string;
}

export function familySpelling(ctx: FamilyContext): FamilySpelling {
  const ipX = ctx.config.family === "IPv6" ? "ip6" : "ip";
  return { ipX, addrType: ipX === "ip6" ? "ipv6_addr" : "ipv4_addr", prefix: ` ${ipX} kube-proxy ` };
}

/** An interface name as nft reads it: bare when it is a plain identifier, quoted otherwise. */
function ifaceWord(s: string): string {
  return /^[A-Za-z0-9_.-]+\*?$/.test(s) ? s : `"${s}"`;
}

/** kube-proxy's LocalTrafficDetector IfLocalNFT / IfNotLocalNFT. */
export function detectorMatch(d: LocalDetector, ipX: string, local: boolean): string {
  const op = local ? "" : "!= ";
  switch (d.kind) {
    case "cidr":
      return `${ipX} saddr ${op}${d.cidr}`;
    case "interface":
      return `iif ${op}${ifaceWord(d.name)}`;
    case "interfacePrefix":
      return `iif ${op}${ifaceWord(`${d.prefix}*`)}`;
  }
}

/** Throws when a name would not be read back as one nft name (defence in depth: inputs are validated). */
function checkName(name: string, svc: NormalizedService): string {
  if (!isNftName(name)) {
    throw new InvalidInputError(
      { kind: "Service", namespace: svc.namespace, name: svc.name },
      "metadata.name",
      `gives the nftables name ${JSON.stringify(name)}, which nft would not read as one name`,
      svc.name,
    );
  }
  return name;
}

function hasUnsafeChar(c: string): boolean {
  for (let i = 0; i < c.length; i++) {
    const ch = c.charCodeAt(i);
    if (ch < 0x20 || ch === 0x7f || ch === 0x22 || ch === 0x5c) return true;
  }
  return false;
}

/** Checks a comment kube-proxy writes with Go's %q: no quote, backslash or control character. */
function checkComment(c: string, svc: NormalizedService): string {
  if (hasUnsafeChar(c)) {
    throw new InvalidInputError(
      { kind: "Service", namespace: svc.namespace, name: svc.name },
      "metadata.name",
      "gives a comment nft would not read back",
      c,
    );
  }
  return c;
}

/**
 * The text of Services rendered one after the other, as pieces joined once (no intermediate
 * string per line or per Service: at 100,000 endpoint chains that garbage dominated).
 */
export class TextBatch {
  readonly parts: string[] = [];
  /** Characters pushed so far. */
  length = 0;
  readonly #rendered: { r: RenderedService; start: number; end: number }[] = [];

  push(s: string): void {
    this.parts.push(s);
    this.length += s.length;
  }

  /** Joins the pieces and gives each Service rendered into the batch its slice of the text. */
  finish(): string {
    const text = this.parts.join("");
    for (const x of this.#rendered) x.r.text = text.slice(x.start, x.end);
    this.parts.length = 0;
    this.#rendered.length = 0;
    return text;
  }

  /** @internal */
  add(r: RenderedService, start: number, end: number): void {
    this.#rendered.push({ r, start, end });
  }
}

/**
 * Renders a Service's ports (planned for one family) into `batch`; the result's `text` is set
 * when the batch is finished.
 */
export function renderService(
  ctx: FamilyContext,
  spell: FamilySpelling,
  svc: NormalizedService,
  key: string,
  ports: readonly ServicePortPlan[],
  batch: TextBatch,
): RenderedService {
  const out = new Writer(spell, batch);
  const claims: Claim[] = [];
  const start = batch.length;
  for (const plan of ports) renderPort(ctx, spell, svc, key, plan, out, claims);
  const r: RenderedService = { chains: out.chains, sets: out.sets, text: "", operations: out.operations, claims };
  batch.add(r, start, batch.length);
  return r;
}

class Writer {
  operations = 0;
  readonly chains: string[] = [];
  readonly sets: string[] = [];
  readonly #addChain: string;
  readonly #flushChain: string;
  readonly #addRule: string;
  constructor(
    spell: FamilySpelling,
    readonly batch: TextBatch,
  ) {
    this.#addChain = `add chain${spell.prefix}`;
    this.#flushChain = `flush chain${spell.prefix}`;
    this.#addRule = `add rule${spell.prefix}`;
  }
  /** kube-proxy's ensureChain: add and flush. */
  chain(name: string): void {
    this.chains.push(name);
    const b = this.batch;
    b.push(this.#addChain);
    b.push(name);
    b.push("\n");
    b.push(this.#flushChain);
    b.push(name);
    b.push("\n");
    this.operations += 2;
  }
  /** `add rule <chain> <a><b><c>` (pieces, so that no string is built for the rule). */
  rule(chain: string, a: string, b = "", c = ""): void {
    const t = this.batch;
    t.push(this.#addRule);
    t.push(chain);
    t.push(" ");
    t.push(a);
    if (b !== "") t.push(b);
    if (c !== "") t.push(c);
    t.push("\n");
    this.operations++;
  }
  line(text: string): void {
    this.batch.push(text);
    this.operations++;
  }
  /** `numgen random mod N vmap { 0 : goto A , 1 : goto B }`. */
  dispatch(chain: string, eps: readonly { readonly chain: string }[]): void {
    const t = this.batch;
    t.push(this.#addRule);
    t.push(chain);
    t.push(` numgen random mod ${eps.length} vmap { `);
    eps.forEach((ep, i) => {
      t.push(i > 0 ? ` , ${i} : goto ` : "0 : goto ");
      t.push(ep.chain);
    });
    t.push(" }\n");
    this.operations++;
  }
}

interface EndpointNames {
  /** The name base (`HASH-ns/name/proto/port__ip/port`). */
  readonly base: string;
  readonly chain: string;
  readonly ip: string;
  /** `ip:port` or `[ip]:port`. */
  readonly hostPort: string;
}

const HASHES: string[] = [];
const DECLS: string[] = [];
const CHAIN_NAME_BASE_MAX = 240;

function endpointNames(svc: NormalizedService, proto: string, portName: string, rows: EndpointRows): EndpointNames[] {
  const n = rows.ips.length;
  const out = new Array<EndpointNames>(n);
  if (n === 0) return out;
  const prefix = `${svc.namespace}/${svc.name}/${proto}/${portName}__`;
  if (!rows.v6 && rows.suffixes === undefined) {
    // the common case, every endpoint on one port: hash the names four at a time
    const suffix = rows.suffix;
    const tail = `/${suffix.slice(1)}`;
    HASHES.length = 0;
    DECLS.length = 0;
    sepChainNames(prefix, rows.ips, tail, HASHES, DECLS);
    for (let i = 0; i < n; i++) {
      // sepChainNames made one name per row
      const ip = rows.ips[i] ?? "";
      let base = `${(HASHES[i] ?? "").slice(9, 17)}-${prefix}${ip}${tail}`;
      if (base.length > CHAIN_NAME_BASE_MAX) base = `${base.slice(0, CHAIN_NAME_BASE_MAX - 3)}...`;
      out[i] = { base, chain: `endpoint-${base}`, ip, hostPort: ip + suffix };
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const ip = rows.ips[i] ?? ""; // i < n
    const suffix = suffixOf(rows, i);
    const port = Number(suffix.slice(suffix.lastIndexOf(":") + 1));
    const base = servicePortEndpointChainNameBase(svc.namespace, svc.name, proto, portName, ip, port);
    out[i] = { base, chain: `endpoint-${base}`, ip, hostPort: rows.v6 ? `[${ip}${suffix}` : ip + suffix };
  }
  return out;
}

function renderPort(
  ctx: FamilyContext,
  spell: FamilySpelling,
  svc: NormalizedService,
  owner: string,
  plan: ServicePortPlan,
  w: Writer,
  claims: Claim[],
): void {
  const sp = plan.port;
  const proto = sp.protocol;
  const ipX = spell.ipX;
  const base = servicePortChainNameBase(svc.namespace, svc.name, proto, sp.portName);
  const clusterChain = checkName(`service-${base}`, svc);
  const localChain = `local-${base}`;
  const externalChain = `external-${base}`;
  const firewallChain = `firewall-${base}`;
  const comment = checkComment(sp.nameString, svc);

  // endpoint names: every reachable endpoint, and the policy sets among them (same rows' order)
  const reachable = endpointNames(svc, proto, sp.portName, plan.allReachableEndpoints);
  const byHostPort = new Map<string, EndpointNames>();
  for (const ep of reachable) byHostPort.set(ep.hostPort, ep);
  const pick = (rows: EndpointRows): EndpointNames[] =>
    rows === plan.allReachableEndpoints
      ? reachable
      : endpointNames(svc, proto, sp.portName, rows).map((e) => byHostPort.get(e.hostPort) ?? e);

  // chains, as kube-proxy ensures them: endpoints, cluster, local, external, firewall
  for (const ep of reachable) w.chain(ep.chain);
  if (plan.usesClusterEndpoints) w.chain(clusterChain);
  if (plan.usesLocalEndpoints) w.chain(localChain);
  if (plan.usesExternalTraffic) w.chain(externalChain);
  // (the plan decides source ranges whether or not the port has endpoints, as nftables needs)
  const firewall = plan.firewall;
  if (firewall) w.chain(firewallChain);

  const hasEndpoints = plan.hasAnyEndpoints;
  const internalChain = plan.internal.policy === "Local" ? localChain : clusterChain;
  const externalPolicyChain = plan.external.policy === "Local" ? localChain : clusterChain;
  const internalVerdict = verdictOf(plan.internal.verdict);
  const externalVerdict = verdictOf(plan.external.verdict);
  const port = String(sp.port);
  const claim = (container: number, key: string, value: string, withComment: boolean) =>
    claims.push({ container, key, value, comment: withComment ? comment : "", owner });

  // elements
  claim(0, sp.clusterIP, "", false);
  const vipKey = (ip: string) => `${ip} . ${proto} . ${port}`;
  if (plan.internal.hasEndpoints) claim(C_SERVICE_IPS, vipKey(sp.clusterIP), `goto ${internalChain}`, false);
  else claim(C_NO_ENDPOINT_SERVICES, vipKey(sp.clusterIP), internalVerdict, true);
  for (const ip of sp.externalIPs) {
    if (hasEndpoints) claim(C_SERVICE_IPS, vipKey(ip), `goto ${externalChain}`, false);
    if (!plan.external.hasEndpoints) claim(C_NO_ENDPOINT_SERVICES, vipKey(ip), externalVerdict, true);
  }
  for (const ip of sp.loadBalancerVIPs) {
    if (hasEndpoints) claim(C_SERVICE_IPS, vipKey(ip), `goto ${externalChain}`, false);
    if (firewall) claim(C_FIREWALL_IPS, vipKey(ip), `goto ${firewallChain}`, false);
  }
  if (!plan.external.hasEndpoints) {
    for (const ip of sp.loadBalancerVIPs) claim(C_NO_ENDPOINT_SERVICES, vipKey(ip), externalVerdict, true);
  }
  if (sp.nodePort !== 0) {
    const npKey = `${proto} . ${sp.nodePort}`;
    if (hasEndpoints) claim(C_SERVICE_NODEPORTS, npKey, `goto ${externalChain}`, false);
    if (!plan.external.hasEndpoints) claim(C_NO_ENDPOINT_NODEPORTS, npKey, externalVerdict, true);
  }

  // internal traffic: masquerade what the plan says
  if (plan.internal.hasEndpoints) {
    if (plan.internalMasquerade === "all") {
      w.rule(internalChain, `${ipX} daddr ${sp.clusterIP} jump mark-for-masquerade`);
    } else if (plan.internalMasquerade === "notLocal" && ctx.detector) {
      w.rule(
        internalChain,
        `${ipX} daddr ${sp.clusterIP} ${detectorMatch(ctx.detector, ipX, false)} jump mark-for-masquerade`,
      );
    }
  }

  // external destinations
  if (plan.usesExternalTraffic) {
    if (plan.externalMasqueradeAll) {
      w.rule(externalChain, "jump mark-for-masquerade");
    } else {
      if (plan.podTrafficToCluster && ctx.detector) {
        w.rule(
          externalChain,
          `${detectorMatch(ctx.detector, ipX, true)} goto ${clusterChain} comment "short-circuit pod traffic"`,
        );
      }
      if (plan.nodeTrafficToCluster) {
        w.rule(externalChain, `fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`);
        w.rule(externalChain, `fib saddr type local goto ${clusterChain} comment "short-circuit local traffic"`);
      }
    }
    if (plan.external.hasEndpoints) w.rule(externalChain, `goto ${externalPolicyChain}`);
  }

  // source ranges (and the LB VIPs themselves when the node is in a range)
  if (firewall) {
    const sources = firewall.sourceRanges.map((c) => c.text);
    if (firewall.allowFromNode) for (const ip of sp.loadBalancerVIPs) sources.push(ip);
    w.rule(firewallChain, `${ipX} saddr != { ${sources.join(" , ")} } drop`);
  }

  const affinity = plan.affinitySeconds > 0;
  if (affinity) {
    for (const ep of reachable) {
      const set = `affinity-${ep.base}`;
      w.sets.push(set);
      w.line(
        `add set${spell.prefix}${set} { type ${spell.addrType} ; flags dynamic,timeout ; timeout ${plan.affinitySeconds}s ; }\n`,
      );
    }
  }

  if (plan.usesClusterEndpoints) writeDispatch(w, ipX, clusterChain, pick(plan.clusterEndpoints), affinity);
  if (plan.usesLocalEndpoints) writeDispatch(w, ipX, localChain, pick(plan.localEndpoints), affinity);

  const saddr = `${ipX} saddr `;
  const dnat = `meta l4proto ${proto} dnat to `;
  for (const ep of reachable) {
    w.rule(ep.chain, saddr, ep.ip, " jump mark-for-masquerade");
    if (affinity) w.rule(ep.chain, `update @affinity-${ep.base} { ${ipX} saddr }`);
    w.rule(ep.chain, dnat, ep.hostPort);
  }
}

function verdictOf(v: "REJECT" | "DROP" | undefined): string {
  return v === "DROP" ? "drop" : "goto reject-chain";
}

/** writeServiceToEndpointRules: affinity lookups, then `numgen random mod N vmap { … }`. */
function writeDispatch(w: Writer, ipX: string, chain: string, eps: readonly EndpointNames[], affinity: boolean): void {
  if (affinity) for (const ep of eps) w.rule(chain, `${ipX} saddr @affinity-${ep.base} goto ${ep.chain}`);
  w.dispatch(chain, eps);
}
