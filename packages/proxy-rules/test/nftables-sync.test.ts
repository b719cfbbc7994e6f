// kube-proxy's nftables TestSyncProxyRulesRepeated (pkg/proxy/nftables/proxier_test.go): a run of
// syncs with changes in between. After each, the table (our transactions replayed in order, the
// stale-chain clean-up first) equals kube-proxy's expected dump, and the sync transaction has
// the number of operations kube-proxy's test counts (elements diffed, only changed Services'
// chains rewritten, stale chains flushed and deleted after the grace in a transaction of their own).

import { describe, expect, it } from "vitest";
import type { EndpointSlice, NftablesCompilation, Service } from "../src/index.js";
import { defined } from "./support/defined.js";
import { makeTestEndpointSlice, makeTestService } from "./support/kube-proxy-fixtures.js";
import { NftDriver } from "./support/nftables-driver.js";
import { baseRules, fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";
import { dedent, NftTableModel, sortNFTablesTransaction } from "./support/nftables-model.js";

const P = "add rule ip kube-proxy";

const svc1Rules = dedent(`
	add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
	${P} service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
	add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
	${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
	${P} endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80
`);
const svc2Rules = dedent(`
	add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
	${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
	add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
	${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
	${P} endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080
`);
const svc3Rules1 = dedent(`
	add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
	add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
	${P} endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
	${P} endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80
`);
const svc3Rules2 = dedent(`
	add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 }
	add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
	add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
	${P} endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
	${P} endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
`);
const svc3Rules3 = dedent(`
	add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 , 1 : goto endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 }
	add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
	${P} endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
	${P} endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
	add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
	${P} endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 ip saddr 10.0.3.3 jump mark-for-masquerade
	${P} endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 meta l4proto tcp dnat to 10.0.3.3:80
`);
const svc3Empty = dedent(`
	add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
	add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
	add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
`);
const svc4Rules = dedent(`
	add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
	${P} service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
	${P} service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
	add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
	${P} endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
	${P} endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`);
const E = "add element ip kube-proxy";
const el = (lines: string[]) => `${lines.map((l) => `${E} ${l}`).join("\n")}\n`;

function clusterIP(ns: string, name: string, ip: string, port: string, portNum: number): Service {
  return makeTestService(ns, name, (svc) => {
    svc.spec.type = "ClusterIP";
    svc.spec.clusterIP = ip;
    svc.spec.ports = [{ name: port, port: portNum, protocol: "TCP" }];
  });
}
function slice(ns: string, name: string, ips: string[], port: string, portNum: number): EndpointSlice {
  return makeTestEndpointSlice(ns, name, 1, (eps) => {
    eps.endpoints = ips.map((ip) => ({ addresses: [ip] }));
    eps.ports = [{ name: port, port: portNum, protocol: "TCP" }];
  });
}

describe("TestSyncProxyRulesRepeated", () => {
  it("each sync leaves kube-proxy's expected table with kube-proxy's operation count", () => {
    const driver = new NftDriver({ ...fakeNftOptions(), partialResults: true });
    const table = new NftTableModel("ip");
    let services: Service[] = [];
    let slices: EndpointSlice[] = [];
    const sync = (): NftablesCompilation => {
      const c = driver.sync(fakeNftInput(services, slices));
      const r = defined(c.ipv4);
      if (r.cleanupText !== "") table.apply(r.cleanupText);
      table.apply(r.text);
      expect(table.lastOperations).toBe(r.text === "" ? table.lastOperations : r.stats.operations);
      driver.applied();
      return c;
    };
    const check = (expected: string) =>
      expect(sortNFTablesTransaction(table.dump())).toBe(sortNFTablesTransaction(baseRules + expected));
    const ops = (c: NftablesCompilation) => defined(c.ipv4).stats.operations;

    // initial state
    const svc2 = clusterIP("ns2", "svc2", "172.30.0.42", "p8080", 8080);
    services = [clusterIP("ns1", "svc1", "172.30.0.41", "p80", 80), svc2];
    slices = [slice("ns1", "svc1", ["10.0.1.1"], "p80", 80), slice("ns2", "svc2", ["10.0.2.1"], "p8080", 8080)];
    sync();
    check(
      el([
        "cluster-ips { 172.30.0.41 }",
        "cluster-ips { 172.30.0.42 }",
        "service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
        "service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }",
      ]) +
        svc1Rules +
        svc2Rules,
    );

    // add a new service and its endpoints: 2 elements, add+flush 2 chains and 2 rules each
    services = [...services, clusterIP("ns3", "svc3", "172.30.0.43", "p80", 80)];
    const eps3 = slice("ns3", "svc3", ["10.0.3.1"], "p80", 80);
    slices = [...slices, eps3];
    let c = sync();
    check(
      el([
        "cluster-ips { 172.30.0.41 }",
        "cluster-ips { 172.30.0.42 }",
        "cluster-ips { 172.30.0.43 }",
        "service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
        "service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }",
        "service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }",
      ]) +
        svc1Rules +
        svc2Rules +
        svc3Rules1,
    );
    expect(ops(c)).toBe(10);

    // delete a service: its chains are flushed, not deleted yet
    services = services.filter((s) => s !== svc2);
    c = sync();
    const afterDelete =
      el([
        "cluster-ips { 172.30.0.41 }",
        "cluster-ips { 172.30.0.43 }",
        "service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
        "service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }",
      ]) +
      svc1Rules +
      svc3Rules1;
    check(
      `${afterDelete}add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080\nadd chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080\n`,
    );
    expect(ops(c)).toBe(4);

    // time passes: the stale chains are deleted in a transaction of their own, the sync has nothing to do
    driver.ageStaleChains();
    c = sync();
    check(afterDelete);
    expect(ops(c)).toBe(0);
    expect(defined(c.ipv4).cleanupText.split("\n").filter(Boolean)).toHaveLength(2);

    // add a service without endpoints, then its endpoints
    services = [...services, clusterIP("ns4", "svc4", "172.30.0.44", "p80", 80)];
    c = sync();
    check(
      `${afterDelete}${el(["cluster-ips { 172.30.0.44 }", 'no-endpoint-services { 172.30.0.44 . tcp . 80 comment "ns4/svc4:p80" : goto reject-chain }'])}`,
    );
    expect(ops(c)).toBe(2);
    slices = [...slices, slice("ns4", "svc4", ["10.0.4.1"], "p80", 80)];
    c = sync();
    const elements3 = (svc3: string) =>
      el([
        "cluster-ips { 172.30.0.41 }",
        "cluster-ips { 172.30.0.43 }",
        "cluster-ips { 172.30.0.44 }",
        "service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
        svc3,
        "service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }",
      ]);
    const svc3Up = "service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }";
    const svc3Down = 'no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }';
    check(elements3(svc3Up) + svc1Rules + svc3Rules1 + svc4Rules);
    expect(ops(c)).toBe(10);

    // change an endpoint of an existing service: the old endpoint chain stays, flushed
    const eps3update = slice("ns3", "svc3", ["10.0.3.2"], "p80", 80);
    slices = slices.map((s) => (s === eps3 ? eps3update : s));
    c = sync();
    check(elements3(svc3Up) + svc1Rules + svc3Rules2 + svc4Rules);
    expect(ops(c)).toBe(9);

    // (the old chain goes in the next sync) add an endpoint to a service
    driver.ageStaleChains();
    const eps3update2 = slice("ns3", "svc3", ["10.0.3.2", "10.0.3.3"], "p80", 80);
    slices = slices.map((s) => (s === eps3update ? eps3update2 : s));
    c = sync();
    const restored = elements3(svc3Up) + svc1Rules + svc3Rules3 + svc4Rules;
    check(restored);
    expect(ops(c)).toBe(12);

    // empty a service's endpoints: its chains are flushed, not deleted
    const eps3update3 = slice("ns3", "svc3", [], "p80", 80);
    slices = slices.map((s) => (s === eps3update2 ? eps3update3 : s));
    c = sync();
    check(elements3(svc3Down) + svc1Rules + svc3Empty + svc4Rules);
    expect(ops(c)).toBe(5);
    expect(defined(c.ipv4).stats.staleChains).toBe(3);

    // restore the endpoints at once: the chains are used again and no longer stale
    slices = slices.map((s) => (s === eps3update3 ? eps3update2 : s));
    c = sync();
    check(restored);
    expect(ops(c)).toBe(14);
    expect(defined(c.ipv4).stats.staleChains).toBe(0);

    // empty them and restore them after the grace: deleted first, then created again
    slices = slices.map((s) => (s === eps3update2 ? eps3update3 : s));
    sync();
    driver.ageStaleChains();
    slices = slices.map((s) => (s === eps3update3 ? eps3update2 : s));
    c = sync();
    expect(defined(c.ipv4).cleanupText.split("\n").filter(Boolean)).toHaveLength(3);
    check(restored);

    // no change: nothing to do
    c = sync();
    check(restored);
    expect(ops(c)).toBe(0);
    expect(defined(c.ipv4).text).toBe("");
  });
});
