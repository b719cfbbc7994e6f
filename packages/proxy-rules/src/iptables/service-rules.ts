// The rules of one Service port, as kube-proxy's syncProxyRules writes them
// (pkg/proxy/iptables/proxier.go), into the top-level slots and the port's own chains.
// Rules are written as restore-syntax argument text, the way kube-proxy writes its buffers;
// comment values go through q(), which quotes them exactly when kube-proxy's text has quotes.

import type { FamilyContext } from "../model/context.js";
import { cidrContains } from "../model/ip.js";
import {
  categorizeEndpoints,
  type EndpointInfo,
  externallyAccessible,
  type ServicePortInfo,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "../model/service-port.js";
import { probability } from "./probability.js";
import { quoteComment as q } from "./render.js";

// top-level chain slots a Service contributes rules to
export const F_SERVICES = 0;
export const F_EXTERNAL = 1;
export const F_NODEPORTS = 2;
export const F_FIREWALL = 3;
export const N_SERVICES = 4;
export const N_NODEPORTS = 5;
/** The chain of each slot. */
export const SLOT_CHAINS = [
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-FIREWALL",
  "KUBE-SERVICES",
  "KUBE-NODEPORTS",
] as const;

export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
const LOCALHOST_NPS_COUNTER = "localhost_nps_accepted_pkts";

/** Where the rule writer puts lines: a top-level slot, or one of the port's own chains. */
export interface RuleSink {
  /** Appends a rule (its argument text) to a top-level slot. */
  slot(slot: number, text: string): void;
  /** Declares one of the Service's own chains (declaration order is kept). */
  declare(chain: string): void;
  /** Appends a rule (its argument text) to one of the Service's own chains. */
  write(chain: string, text: string): void;
}

/** The rules of one service port, as kube-proxy's syncProxyRules writes them. */
export function writeServicePort(
  ctx: FamilyContext,
  sp: ServicePortInfo,
  allEndpoints: readonly EndpointInfo[],
  largeClusterMode: boolean,
  out: RuleSink,
): void {
  const cfg = ctx.config;
  const write = (chain: string, text: string) => out.write(chain, text);
  const declare = (chain: string) => out.declare(chain);
  const proto = sp.protocol;
  const spn = sp.nameString;
  const port = sp.port;
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(
    allEndpoints,
    sp,
    ctx.topology,
  );

  const clusterPolicyChain = `KUBE-SVC-${sp.hash}`;
  const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
  const localPolicyChain = `KUBE-SVL-${sp.hash}`;
  const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

  let internalPolicyChain = clusterPolicyChain;
  let hasInternalEndpoints = hasAnyEndpoints;
  if (sp.internalPolicyLocal) {
    internalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasInternalEndpoints = false;
  }
  let externalPolicyChain = clusterPolicyChain;
  let hasExternalEndpoints = hasAnyEndpoints;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasExternalEndpoints = false;
  }
  const extChain = `KUBE-EXT-${sp.hash}`;
  const usesExternalTrafficChain = hasAnyEndpoints && externallyAccessible(sp);
  const fwChain = `KUBE-FW-${sp.hash}`;
  const usesFWChain = hasAnyEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFWChain ? fwChain : extChain;

  let internalTarget = "";
  let internalComment = "";
  let externalTarget = "";
  let externalComment = "";
  if (!hasAnyEndpoints) {
    internalTarget = "REJECT";
    internalComment = q(`${spn} has no endpoints`);
    externalTarget = "REJECT";
    externalComment = internalComment;
  } else {
    if (!hasInternalEndpoints) {
      internalTarget = "DROP";
      internalComment = q(`${spn} has no local endpoints`);
    }
    if (!hasExternalEndpoints) {
      externalTarget = "DROP";
      externalComment = q(`${spn} has no local endpoints`);
    }
  }
  const natServices = (text: string) => out.slot(N_SERVICES, text);
  const natNodePorts = (text: string) => out.slot(N_NODEPORTS, text);
  const filterServices = (text: string) => out.slot(F_SERVICES, text);
  const filterExternal = (text: string) => out.slot(F_EXTERNAL, text);
  const match = `-m ${proto} -p ${proto}`;

  // cluster IP
  const clusterMatch = `${match} -d ${sp.clusterIP} --dport ${port}`;
  if (hasInternalEndpoints) {
    natServices(`-m comment --comment ${q(`${spn} cluster IP`)} ${clusterMatch} -j ${internalPolicyChain}`);
  } else {
    filterServices(`-m comment --comment ${internalComment} ${clusterMatch} -j ${internalTarget}`);
  }

  // external IPs
  for (const ip of sp.externalIPs) {
    if (hasAnyEndpoints) {
      natServices(`-m comment --comment ${q(`${spn} external IP`)} ${match} -d ${ip} --dport ${port} -j ${extChain}`);
    }
    if (!hasExternalEndpoints) {
      filterExternal(`-m comment --comment ${externalComment} ${match} -d ${ip} --dport ${port} -j ${externalTarget}`);
    }
  }

  // load-balancer ingress
  for (const ip of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) {
      natServices(
        `-m comment --comment ${q(`${spn} loadbalancer IP`)} ${match} -d ${ip} --dport ${port} -j ${lbChain}`,
      );
    }
    if (usesFWChain) {
      const comment = q(`${spn} traffic not accepted by ${fwChain}`);
      out.slot(F_FIREWALL, `-m comment --comment ${comment} ${match} -d ${ip} --dport ${port} -j DROP`);
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of sp.loadBalancerVIPs) {
      filterExternal(`-m comment --comment ${externalComment} ${match} -d ${ip} --dport ${port} -j ${externalTarget}`);
    }
  }

  // node ports (not subject to loadBalancerSourceRanges)
  if (sp.nodePort !== 0) {
    const np = sp.nodePort;
    if (hasAnyEndpoints) {
      if (cfg.localhostNodePorts && cfg.family === "IPv4" && cfg.nfacct) {
        natNodePorts(
          `-m comment --comment ${q(spn)} ${match} -d 127.0.0.0/8 --dport ${np} -m nfacct --nfacct-name ${LOCALHOST_NPS_COUNTER} -j ${extChain}`,
        );
      }
      natNodePorts(`-m comment --comment ${q(spn)} ${match} --dport ${np} -j ${extChain}`);
    }
    if (!hasExternalEndpoints) {
      filterExternal(
        `-m comment --comment ${externalComment} -m addrtype --dst-type LOCAL ${match} --dport ${np} -j ${externalTarget}`,
      );
    }
  }

  // health check node port, whether or not there are local endpoints
  if (sp.healthCheckNodePort !== 0) {
    out.slot(
      F_NODEPORTS,
      `-m comment --comment ${q(`${spn} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // internal traffic: masquerade off-cluster sources
  if (hasInternalEndpoints) {
    const head = `-m comment --comment ${q(`${spn} cluster IP`)} ${clusterMatch}`;
    if (cfg.masqueradeAll) write(internalPolicyChain, `${head} -j ${KUBE_MARK_MASQ}`);
    else if (ctx.detector)
      write(internalPolicyChain, `${head} ${ctx.detector.ifNotLocal.join(" ")} -j ${KUBE_MARK_MASQ}`);
  }

  // external traffic: every external destination goes through KUBE-EXT
  if (usesExternalTrafficChain) {
    declare(extChain);
    if (!sp.externalPolicyLocal) {
      write(
        extChain,
        `-m comment --comment ${q(`masquerade traffic for ${spn} external destinations`)} -j ${KUBE_MARK_MASQ}`,
      );
    } else {
      if (ctx.detector) {
        const comment = q(`pod traffic for ${spn} external destinations`);
        write(extChain, `-m comment --comment ${comment} ${ctx.detector.ifLocal.join(" ")} -j ${clusterPolicyChain}`);
      }
      const masq = q(`masquerade LOCAL traffic for ${spn} external destinations`);
      write(extChain, `-m comment --comment ${masq} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      const route = q(`route LOCAL traffic for ${spn} external destinations`);
      write(extChain, `-m comment --comment ${route} -m addrtype --src-type LOCAL -j ${clusterPolicyChain}`);
    }
    if (hasExternalEndpoints) write(extChain, `-j ${externalPolicyChain}`);
  }

  // load-balancer source ranges
  if (usesFWChain) {
    declare(fwChain);
    const comment = q(`${spn} loadbalancer IP`);
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      write(fwChain, `-m comment --comment ${comment} -s ${cidr.text} -j ${extChain}`);
      if (ctx.nodeIP && cidrContains(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) {
      for (const ip of sp.loadBalancerVIPs) write(fwChain, `-m comment --comment ${comment} -s ${ip} -j ${extChain}`);
    }
    write(fwChain, `-m comment --comment ${q(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`)}`);
  }

  if (usesClusterPolicyChain) {
    declare(clusterPolicyChain);
    writeServiceToEndpointRules(sp, clusterPolicyChain, clusterEndpoints, largeClusterMode, write);
  }
  if (usesLocalPolicyChain) {
    declare(localPolicyChain);
    writeServiceToEndpointRules(sp, localPolicyChain, localEndpoints, largeClusterMode, write);
  }

  // endpoint chains
  const comment = largeClusterMode ? "" : `-m comment --comment ${q(spn)} `;
  const dnat = `${match} -j DNAT --to-destination`;
  for (const ep of allReachableEndpoints) {
    const sep = ep.chainName;
    declare(sep);
    write(sep, `${comment}-s ${ep.ip} -j ${KUBE_MARK_MASQ}`);
    const affinity = sp.stickyMaxAgeSeconds > 0 ? `-m recent --name ${sep} --set ` : "";
    write(sep, `${comment}${affinity}${dnat} ${ep.endpoint}`);
  }
}

function writeServiceToEndpointRules(
  sp: ServicePortInfo,
  chain: string,
  endpoints: readonly EndpointInfo[],
  largeClusterMode: boolean,
  write: (chain: string, text: string) => void,
): void {
  const comment = (ep: EndpointInfo) =>
    largeClusterMode ? "" : `-m comment --comment ${q(`${sp.nameString} -> ${ep.endpoint}`)} `;
  if (sp.stickyMaxAgeSeconds > 0) {
    const seconds = sp.stickyMaxAgeSeconds;
    for (const ep of endpoints) {
      const sep = ep.chainName;
      write(chain, `${comment(ep)}-m recent --name ${sep} --rcheck --seconds ${seconds} --reap -j ${sep}`);
    }
  }
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i]!;
    const stat = i < n - 1 ? `-m statistic --mode random --probability ${probability(n - i)} ` : "";
    write(chain, `${comment(ep)}${stat}-j ${ep.chainName}`);
  }
}
