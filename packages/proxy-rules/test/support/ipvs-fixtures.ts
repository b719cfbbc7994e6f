// The fixtures of kube-proxy's IPVS unit tests (pkg/proxy/ipvs/proxier_test.go), as facts: the
// fake proxier's node (NewFakeProxier: node "test-node", the given node IPs on eth0, no local
// traffic detector, scheduler rr) and views of a result shaped like the fakes those tests check
// (ipvstest.FakeIPVS, checkIPSet, checkIptables).

import type { EndpointSlice, IpvsResult, ProxyInput, Service } from "../../src/index.js";
import { defined } from "./defined.js";

export { makeTestEndpointSlice, makeTestService, testNodeName } from "./kube-proxy-fixtures.js";

/** NewFakeProxier's input: `nodeIPs` are the node's addresses, `nodePortAddresses` as given. */
export function fakeIpvsInput(
  services: readonly Service[],
  endpointSlices: readonly EndpointSlice[],
  opts: { nodeIPs?: readonly string[]; nodePortAddresses?: readonly string[]; scheduler?: string } = {},
): ProxyInput {
  return {
    services,
    endpointSlices,
    node: { name: "test-node", addresses: opts.nodeIPs ?? [] },
    config: {
      nodePortAddresses: opts.nodePortAddresses,
      ...(opts.scheduler ? { ipvs: { scheduler: opts.scheduler } } : {}),
    },
    host: { randomFully: true },
  };
}

/** ipvstest.ServiceKey spelled as a string: `IP:Port:Protocol`. */
export type ServiceKey = string;

/** The shape of ipvstest.FakeIPVS: virtual servers and destinations by service key. */
export interface FakeIPVS {
  Services: Record<
    ServiceKey,
    { Address: string; Protocol: string; Port: number; Scheduler: string; Flags?: number; Timeout?: number }
  >;
  Destinations: Record<ServiceKey, { Address: string; Port: number; Weight: number }[]>;
}

/** A result as ipvstest.FakeIPVS holds it (Flags/Timeout only when set, as the Go literals leave them zero). */
export function fakeIPVS(r: IpvsResult): FakeIPVS {
  const out: FakeIPVS = { Services: {}, Destinations: {} };
  for (const vs of r.virtualServers) {
    const key = `${vs.address}:${vs.port}:${vs.protocol}`;
    out.Services[key] = {
      Address: vs.address,
      Protocol: vs.protocol,
      Port: vs.port,
      Scheduler: vs.scheduler,
      ...(vs.flags ? { Flags: vs.flags } : {}),
      ...(vs.timeout ? { Timeout: vs.timeout } : {}),
    };
    out.Destinations[key] = vs.realServers.map((rs) => ({ Address: rs.address, Port: rs.port, Weight: rs.weight }));
  }
  return out;
}

/** Entries of the named set (checkIPSet reads `ListEntries`), sorted. */
export function setEntries(r: IpvsResult, name: string): string[] {
  const set = r.ipsets.find((s) => s.name === name);
  if (!set) throw new Error(`no set ${name}`);
  return [...set.entries].sort();
}

/** A rule as checkIptables reads it: its jump and the set it matches (SourceAddress: as upstream writes it, not compared). */
export interface ExpectedRule {
  JumpChain: string;
  MatchSet?: string;
  SourceAddress?: string;
}

/** The rules of a chain, nat then filter (getRules saves nat, then filter), as checkIptables compares them. */
export function chainRules(r: IpvsResult, chain: string): ExpectedRule[] {
  const out: ExpectedRule[] = [];
  for (const table of [r.iptables.nat, r.iptables.filter]) {
    for (const c of table) {
      if (c.name !== chain) continue;
      for (const rule of c.rules) {
        const t = rule.split(" ");
        const j = t.indexOf("-j");
        const m = t.indexOf("--match-set");
        out.push({ JumpChain: defined(t[j + 1]), ...(m >= 0 ? { MatchSet: defined(t[m + 1]) } : {}) });
      }
    }
  }
  return out;
}

/**
 * checkIptables' comparison: same number and order, jump and set equal (an empty MatchSet: the
 * rule matches no set). Like upstream's, it does not compare SourceAddress.
 */
export function expectedChain(rules: ExpectedRule[]): ExpectedRule[] {
  return rules.map((r) => ({ JumpChain: r.JumpChain, ...(r.MatchSet ? { MatchSet: r.MatchSet } : {}) }));
}
