// Parity with kube-proxy's partial sync (TestSyncProxyRulesRepeated) and large-cluster mode
// (TestSyncProxyRulesLargeClusterMode): successive syncs of one proxier give kube-proxy's
// expected payloads, byte for byte once sorted.

import { describe, expect, it } from "vitest";
import { createProxier, type EndpointSlice, type Service, sortIptablesRules } from "../src/index.js";
import { defined } from "./support/defined.js";
import {
  checkRuleJumps,
  dedent,
  fakeOptions,
  fakeProxierInput,
  makeTestEndpointSlice,
  makeTestService,
} from "./support/kube-proxy-fixtures.js";
import { appliedSync } from "./support/objects.js";

const filterHead = `*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
`;
const filterTail = `-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`;
const natFixed = `-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
`;
const natHead = `*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
`;
const lastRule = `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n`;
const svcRule = (ns: string, port: string, ip: string, dport: string, chain: string) =>
  `-A KUBE-SERVICES -m comment --comment "${ns}:${port} cluster IP" -m tcp -p tcp -d ${ip} --dport ${dport} -j ${chain}\n`;
const svc1Rule = svcRule("ns1/svc1", "p80", "172.30.0.41", "80", "KUBE-SVC-XPGD46QRK7WJZT7O");
const svc2Rule = svcRule("ns2/svc2", "p8080", "172.30.0.42", "8080", "KUBE-SVC-2VJB64SDSIJUP5T6");
const svc3Rule = svcRule("ns3/svc3", "p80", "172.30.0.43", "80", "KUBE-SVC-X27LE4BHSL4DOUIK");
const svc4Rule = svcRule("ns4/svc4", "p80", "172.30.0.44", "80", "KUBE-SVC-4SW47YFZTEDKD3PK");

function clusterIPService(ns: string, name: string, ip: string, port: string, n: number): Service {
  return makeTestService(ns, name, (svc) => {
    svc.spec.type = "ClusterIP";
    svc.spec.clusterIP = ip;
    svc.spec.ports = [{ name: port, port: n, protocol: "TCP" }];
  });
}
function slice(ns: string, name: string, port: string, n: number, ips: string[]): EndpointSlice {
  return makeTestEndpointSlice(ns, name, 1, (eps) => {
    eps.endpoints = ips.map((ip) => ({ addresses: [ip] }));
    eps.ports = [{ name: port, port: n, protocol: "TCP" }];
  });
}

describe("kube-proxy parity: TestSyncProxyRulesRepeated (partial sync)", () => {
  it("rewrites only what changed and deletes stale chains", () => {
    const svc1 = clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80);
    const svc2 = clusterIPService("ns2", "svc2", "172.30.0.42", "p8080", 8080);
    const eps1 = slice("ns1", "svc1", "p80", 80, ["10.0.1.1"]);
    const eps2 = slice("ns2", "svc2", "p8080", 8080, ["10.0.2.1"]);
    const opts = { ...fakeOptions, families: ["IPv4" as const] };
    const check = (text: string, expected: string) => expect(sortIptablesRules(text)).toBe(expected);

    // initial full sync
    const proxier = createProxier({ mode: "iptables", ...opts });
    const c1 = appliedSync(proxier, fakeProxierInput([svc1, svc2], [eps1, eps2]));
    const e1 = `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
${svc1Rule}${svc2Rule}${lastRule}${natFixed}-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
COMMIT
`;
    check(defined(c1.ipv4).text, e1);
    expect(checkRuleJumps(e1)).toBeUndefined();
    expect(defined(c1.ipv4).partial).toBe(false);

    // add a Service and its endpoints: only its chains are written
    const svc3 = clusterIPService("ns3", "svc3", "172.30.0.43", "p80", 80);
    const eps3 = slice("ns3", "svc3", "p80", 80, ["10.0.3.1"]);
    const c2 = appliedSync(proxier, fakeProxierInput([svc1, svc2, svc3], [eps1, eps2, eps3]));
    expect(defined(c2.ipv4).partial).toBe(true);
    check(
      defined(c2.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
${svc1Rule}${svc2Rule}${svc3Rule}${lastRule}${natFixed}-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL
COMMIT
`,
    );

    // delete a Service: its chains are flushed and deleted
    const c3 = appliedSync(proxier, fakeProxierInput([svc1, svc3], [eps1, eps2, eps3]), { partialResults: true });
    check(
      defined(c3.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
${svc1Rule}${svc3Rule}${lastRule}${natFixed}-X KUBE-SEP-UHEGFW77JX3KXTOV
-X KUBE-SVC-2VJB64SDSIJUP5T6
COMMIT
`,
    );

    // a Service without endpoints: a REJECT rule, no chains
    const svc4 = clusterIPService("ns4", "svc4", "172.30.0.44", "p80", 80);
    const c4 = appliedSync(proxier, fakeProxierInput([svc1, svc3, svc4], [eps1, eps3]));
    check(
      defined(c4.ipv4).text,
      `${filterHead}-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT
${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
${svc1Rule}${svc3Rule}${lastRule}${natFixed}COMMIT
`,
    );

    // its endpoints arrive
    const eps4 = slice("ns4", "svc4", "p80", 80, ["10.0.4.1"]);
    const c5 = appliedSync(proxier, fakeProxierInput([svc1, svc3, svc4], [eps1, eps3, eps4]));
    check(
      defined(c5.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
${svc1Rule}${svc3Rule}${svc4Rule}${lastRule}${natFixed}-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -s 10.0.4.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.4.1:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.0.4.1:80" -j KUBE-SEP-AYCN5HPXMIRJNJXU
COMMIT
`,
    );

    // an endpoint of svc3 changes address
    const eps3b = slice("ns3", "svc3", "p80", 80, ["10.0.3.2"]);
    const c6 = appliedSync(proxier, fakeProxierInput([svc1, svc3, svc4], [eps1, eps3b, eps4]));
    check(
      defined(c6.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
${svc1Rule}${svc3Rule}${svc4Rule}${lastRule}${natFixed}-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC
-X KUBE-SEP-BSWRHOQ77KEXZLNL
COMMIT
`,
    );

    // an endpoint is added to svc3
    const eps3c = slice("ns3", "svc3", "p80", 80, ["10.0.3.2", "10.0.3.3"]);
    const c7 = appliedSync(proxier, fakeProxierInput([svc1, svc3, svc4], [eps1, eps3c, eps4]));
    check(
      defined(c7.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
${svc1Rule}${svc3Rule}${svc4Rule}${lastRule}${natFixed}-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS
COMMIT
`,
    );

    // nothing changed: no per-service chains
    const c8 = appliedSync(proxier, fakeProxierInput([svc1, svc3, svc4], [eps1, eps3c, eps4]));
    check(
      defined(c8.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
${svc1Rule}${svc3Rule}${svc4Rule}${lastRule}${natFixed}COMMIT
`,
    );

    // svc4 deleted, then a full resync (as after a failed partial restore)
    const c9 = appliedSync(proxier, fakeProxierInput([svc1, svc3], [eps1, eps3c]), { fullSync: true });
    expect(defined(c9.ipv4).partial).toBe(false);
    check(
      defined(c9.ipv4).text,
      `${filterHead}${filterTail}${natHead}:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
${svc1Rule}${svc3Rule}${lastRule}${natFixed}-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
-X KUBE-SEP-AYCN5HPXMIRJNJXU
-X KUBE-SVC-4SW47YFZTEDKD3PK
COMMIT
`,
    );
  });
});

function countEndpointsAndComments(text: string, match: string): [string, number, number] {
  let matched = "";
  let n = 0;
  let comments = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("-A KUBE-SEP-") && line.includes("-j DNAT")) {
      n++;
      if (line.includes("--comment")) comments++;
      if (line.includes(match)) matched = line;
    }
  }
  return [matched, n, comments];
}

describe("kube-proxy parity: TestSyncProxyRulesLargeClusterMode", () => {
  it("drops per-endpoint comments above 1000 endpoints, only in the chains it rewrites", () => {
    const mk = (ns: string, name: string, ip: string, port: string, n: number) =>
      clusterIPService(ns, name, ip, port, n);
    const svcs = [
      mk("ns1", "svc1", "172.30.0.41", "p80", 80),
      mk("ns2", "svc2", "172.30.0.42", "p8080", 8080),
      mk("ns3", "svc3", "172.30.0.43", "p8081", 8081),
    ];
    const many = (prefix: string) =>
      Array.from({ length: 499 }, (_, i) => `${prefix}.${i % 256}.${Math.floor(i / 256)}`);
    const eps1 = slice("ns1", "svc1", "p80", 80, many("10.0"));
    const eps2 = slice("ns2", "svc2", "p8080", 8080, many("10.1"));
    const input = (services: Service[], slices: EndpointSlice[]) => {
      const base = fakeProxierInput(services, slices);
      return { ...base, config: { ...base.config, iptables: { ...base.config?.iptables, masqueradeAll: true } } };
    };
    const opts = { ...fakeOptions, families: ["IPv4" as const] };

    const proxier = createProxier({ mode: "iptables", ...opts });
    const c1 = appliedSync(proxier, input(svcs, [eps1, eps2]));
    let [first, n, comments] = countEndpointsAndComments(defined(c1.ipv4).text, "10.0.0.0");
    expect(first).toBe(
      "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80",
    );
    expect([n, comments]).toEqual([998, 998]);

    const eps3 = slice("ns3", "svc3", "p8081", 8081, ["203.0.113.4", "203.0.113.8", "203.0.113.12"]);
    const c2 = appliedSync(proxier, input(svcs, [eps1, eps2, eps3]));
    [first, n, comments] = countEndpointsAndComments(defined(c2.ipv4).text, "203.0.113.4");
    expect(first).toBe("-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081");
    expect([n, comments]).toEqual([3, 0]);
    expect(defined(c2.ipv4).stats.largeClusterMode).toBe(true);

    const c3 = appliedSync(proxier, input(svcs, [eps1, eps2, eps3]), { fullSync: true });
    [first, n, comments] = countEndpointsAndComments(defined(c3.ipv4).text, "10.0.0.0");
    expect(first).toBe("-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80");
    expect([n, comments]).toEqual([1001, 0]);

    const svc4 = mk("ns4", "svc4", "172.30.0.44", "p8082", 8082);
    const eps4 = slice("ns4", "svc4", "p8082", 8082, ["10.4.0.1"]);
    const c4 = appliedSync(proxier, input([...svcs, svc4], [eps1, eps2, eps3, eps4]));
    [first, n] = countEndpointsAndComments(defined(c4.ipv4).text, "10.4.0.1");
    expect(first).toBe("-A KUBE-SEP-SU5STNODRYEWJAUF -m tcp -p tcp -j DNAT --to-destination 10.4.0.1:8082");
    expect(n).toBe(1);

    // kube-proxy postpones this cleanup by up to a sync period in large clusters; we delete at once
    const c5 = appliedSync(proxier, input(svcs, [eps1, eps2, eps3]), { partialResults: true });
    expect(countEndpointsAndComments(defined(c5.ipv4).text, "10.4.0.1")[1]).toBe(0);
    expect(defined(c5.ipv4).text).toContain("-X KUBE-SVC-EBDQOQU5SJFXRIL3\n");
    expect(defined(c5.ipv4).text).toContain("-X KUBE-SEP-SU5STNODRYEWJAUF\n");
  });
});

describe("sortIptablesRules (kube-proxy's TestSortIPTablesRules cases)", () => {
  it("orders tables, chains and Service rules as kube-proxy's test helper does", () => {
    const input = dedent(`
      *filter
      COMMIT
      *nat
      :KUBE-SERVICES - [0:0]
      :KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
      :KUBE-AAAAA - [0:0]
      :KUBE-ZZZZZ - [0:0]
      :WHY-IS-THIS-CHAIN-HERE - [0:0]
      -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1
      -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
      -A KUBE-ZZZZZ -m comment --comment "mystery chain number 1"
      -A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2
      -A WHY-IS-THIS-CHAIN-HERE -j ACCEPT
      -A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3
      -A KUBE-AAAAA -m comment --comment "mystery chain number 2"
      COMMIT
      `);
    expect(sortIptablesRules(input)).toBe(
      dedent(`
      *filter
      COMMIT
      *nat
      :KUBE-SERVICES - [0:0]
      :KUBE-AAAAA - [0:0]
      :KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
      :KUBE-ZZZZZ - [0:0]
      :WHY-IS-THIS-CHAIN-HERE - [0:0]
      -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1
      -A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2
      -A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3
      -A KUBE-AAAAA -m comment --comment "mystery chain number 2"
      -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
      -A KUBE-ZZZZZ -m comment --comment "mystery chain number 1"
      -A WHY-IS-THIS-CHAIN-HERE -j ACCEPT
      COMMIT
      `),
    );
    const byService = dedent(`
      *filter
      COMMIT
      *nat
      :KUBE-SERVICES - [0:0]
      -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1
      -A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2
      -A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3
      -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" svc1 line 1
      -A KUBE-SERVICES -m comment --comment ns1/svc1 svc1 line 2
      -A KUBE-SERVICES -m comment --comment "ns1/svc1 blah" svc1 line 3
      -A KUBE-SERVICES -m comment --comment ns4/svc4 svc4 line 1
      -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" svc4 line 2
      -A KUBE-SERVICES -m comment --comment "ns4/svc4 blah" svc4 line 3
      -A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" svc3 line 1
      -A KUBE-SERVICES -m comment --comment "ns3/svc3 blah" svc3 line 2
      -A KUBE-SERVICES -m comment --comment ns3/svc3 svc3 line 3
      COMMIT
      `);
    expect(sortIptablesRules(byService).split("\n").slice(4, 16)).toEqual([
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" svc1 line 1`,
      "-A KUBE-SERVICES -m comment --comment ns1/svc1 svc1 line 2",
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1 blah" svc1 line 3`,
      `-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" svc2 line 1`,
      "-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2",
      `-A KUBE-SERVICES -m comment --comment "ns2/svc2 blah" svc2 line 3`,
      `-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" svc3 line 1`,
      `-A KUBE-SERVICES -m comment --comment "ns3/svc3 blah" svc3 line 2`,
      "-A KUBE-SERVICES -m comment --comment ns3/svc3 svc3 line 3",
      "-A KUBE-SERVICES -m comment --comment ns4/svc4 svc4 line 1",
      `-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" svc4 line 2`,
      `-A KUBE-SERVICES -m comment --comment "ns4/svc4 blah" svc4 line 3`,
    ]);
  });
});
