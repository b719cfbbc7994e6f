// planIpvsReconcile: the operations that bring a node's IPVS state (parsed from ipvsadm, ipset and
// ip output) to the desired one, as kube-proxy's IPVS proxier reconciles on every sync
// (pkg/proxy/ipvs/proxier.go syncService, syncEndpoint, cleanLegacyService, syncIPSetEntries, the
// dummy-interface bind/unbind; graceful_termination.go for the real servers it removes).

import { cidrContains, type IPFamily, parseCIDR, parseIP } from "../model/ip.js";
import type { IpvsResult } from "./compile.js";
import { IPVS_IPSETS, ipsetNames } from "./ipsets.js";
import { gracefulTerminationNeeded, type IpvsReconcilePlan, OperationList } from "./operations.js";
import type { IpvsKernelState } from "./parse.js";

/** Options of {@link planIpvsReconcile}. */
export interface PlanIpvsReconcileOptions {
  /**
   * Virtual servers in these CIDRs are not kube-proxy's and are left alone (`ipvs.excludeCIDRs`).
   * Default: the desired result's `excludeCIDRs`.
   */
  readonly excludeCIDRs?: readonly string[] | undefined;
}

/**
 * The minimal operations from `current` (what the node has: `ipvsKernelState` of its
 * `ipvsadm -S -n` / `ipvsadm -L -n`, `ipset save` and `ip addr show kube-ipvs0` output) to
 * `desired` (one family's result), in the order kube-proxy makes them: create kube-ipvs0 and the
 * sets that are missing; add or edit virtual servers and their real servers; bind addresses;
 * delete stale set entries, add new ones; unbind stale addresses; delete virtual servers that are
 * no longer wanted (not those of the other family, nor those in `excludeCIDRs`).
 *
 * A real server that is no longer wanted goes as kube-proxy's graceful termination takes it: UDP
 * and SCTP ones, and TCP ones without connections (`ActiveConn + InActConn` is 0, known from
 * `ipvsadm -L -n`), are deleted; other TCP ones are set to weight 0 first and listed in
 * `draining` (without known counts they are never deleted): plan again once their connections
 * are gone. A wanted real server found at another weight (weight 0 while draining) gets its weight
 * back.
 */
export function planIpvsReconcile(
  current: IpvsKernelState,
  desired: IpvsResult,
  options: PlanIpvsReconcileOptions = {},
): IpvsReconcilePlan {
  const family = desired.family;
  const ops = new OperationList();
  const exclude = (options.excludeCIDRs ?? desired.excludeCIDRs)
    .map((c) => parseCIDR(c))
    .filter((c) => c !== undefined);
  const ours = (address: string) => {
    const ip = parseIP(address);
    if (!ip || ip.family !== family) return false;
    return !exclude.some((c) => cidrContains(c, ip));
  };

  // the dummy interface and the sets
  if (current.addresses === undefined) ops.linkAdd();
  const names = ipsetNames(family);
  IPVS_IPSETS.forEach((info, i) => {
    const name = names[i]; // one name per set
    if (name === undefined) return;
    const have = current.ipsets.get(name);
    if (!have) ops.createSet(name, info.type, family);
    else if (have.type !== info.type) {
      ops.destroySet(name);
      ops.createSet(name, info.type, family);
    }
  });

  // virtual and real servers
  const wanted = new Set<string>();
  for (const vs of desired.virtualServers) {
    wanted.add(vs.key);
    const have = current.virtualServers.get(vs.key);
    if (!have) {
      ops.addService(vs);
      for (const rs of vs.realServers) ops.addServer(vs, rs);
      continue;
    }
    if (have.scheduler !== vs.scheduler || have.flags !== vs.flags || have.timeout !== vs.timeout) {
      ops.editService(vs);
    }
    const keep = new Set<string>();
    for (const rs of vs.realServers) {
      const k = rs.address.indexOf(":") >= 0 ? `[${rs.address}]:${rs.port}` : `${rs.address}:${rs.port}`;
      keep.add(k);
      const h = have.realServers.get(k);
      if (!h) ops.addServer(vs, rs);
      else if (h.weight !== rs.weight) ops.editServer(vs, rs);
    }
    for (const [k, h] of have.realServers) {
      if (keep.has(k)) continue;
      const conns =
        h.activeConnections === undefined || h.inactiveConnections === undefined
          ? undefined
          : h.activeConnections + h.inactiveConnections;
      if (!gracefulTerminationNeeded(vs.protocol) || conns === 0) {
        ops.deleteServer(vs, h);
        continue;
      }
      if (h.weight !== 0) ops.editServer(vs, { address: h.address, port: h.port, weight: 0 });
      ops.draining.push({
        virtualServer: vs.key,
        realServer: k,
        activeConnections: h.activeConnections,
        inactiveConnections: h.inactiveConnections,
      });
    }
  }
  for (const [key, vs] of current.virtualServers) {
    if (!wanted.has(key) && ours(vs.address)) ops.deleteService(vs);
  }

  // addresses on kube-ipvs0
  const addrs = current.addresses ?? new Set<string>();
  const bound = new Set(desired.addresses);
  for (const a of desired.addresses) if (!addrs.has(a)) ops.bindAddress(a);
  for (const a of addrs) if (!bound.has(a) && familyOf(a) === family) ops.unbindAddress(a);

  // set entries
  desired.ipsets.forEach((set, i) => {
    const have = current.ipsets.get(names[i] ?? set.name);
    const fresh = !have || have.type !== IPVS_IPSETS[i]?.type;
    const haveEntries = fresh ? new Set<string>() : have.entries;
    const want = new Set(set.entries);
    for (const e of haveEntries) if (!want.has(e)) ops.delEntry(set.name, e);
    for (const e of set.entries) if (!haveEntries.has(e)) ops.addEntry(set.name, e);
  });
  return ops.plan();
}

function familyOf(address: string): IPFamily | undefined {
  return parseIP(address)?.family;
}
