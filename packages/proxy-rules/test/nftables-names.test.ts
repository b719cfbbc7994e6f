// kube-proxy's nftables Test_servicePortChainNameBase, Test_servicePortEndpointChainNameBase and
// TestLoadBalancerIngressRouteTypeProxy (pkg/proxy/nftables/proxier_test.go).

import { describe, expect, it } from "vitest";
import { compileNftables } from "../src/index.js";
import { servicePortChainNameBase, servicePortEndpointChainNameBase } from "../src/nftables/names.js";
import { defined } from "./support/defined.js";
import { makeTestEndpointSlice, makeTestService } from "./support/kube-proxy-fixtures.js";
import { fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";
import { NftTableModel } from "./support/nftables-model.js";

const longNs = "very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx";
const longSvc = "very-long-service-name-why-would-you-even-do-this-i-mean-really";
const longPort = "port-443-providing-the-hypertext-transmission-protocol-with-tls";

describe("Test_servicePortChainNameBase", () => {
  it.each([
    ["simple", "testing", "service", "http", "tcp", "P4ZYZVCF-testing/service/tcp/http"],
    ["different port, different hash", "testing", "service", "https", "tcp", "LZBRENCP-testing/service/tcp/https"],
    ["max length", longNs, longSvc, longPort, "sctp", `KR6NACJP-${longNs}/${longSvc}/sctp/${longPort}`],
  ])("%s", (_name, ns, svc, port, proto, expected) => {
    expect(servicePortChainNameBase(ns, svc, proto, port)).toBe(expected);
  });
});

describe("Test_servicePortEndpointChainNameBase", () => {
  const long = `${longNs}/${longSvc}/sctp/${longPort}`;
  it.each([
    [
      "simple",
      "testing",
      "service",
      "http",
      "tcp",
      "10.180.0.1",
      80,
      "JO2XBXZR-testing/service/tcp/http__10.180.0.1/80",
    ],
    [
      "different endpoint, different hash",
      "testing",
      "service",
      "http",
      "tcp",
      "10.180.0.2",
      80,
      "5S6H3H22-testing/service/tcp/http__10.180.0.2/80",
    ],
    [
      "ipv6",
      "testing",
      "service",
      "http",
      "tcp",
      "fd80:abcd:12::a1b2:c3d4:e5f6:9999",
      80,
      "U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80",
    ],
    [
      "max length without truncation",
      longNs,
      longSvc,
      longPort,
      "sctp",
      "1234:5678:9abc:def0::abc:1234",
      443,
      `5YS7AFEA-${long}__1234.5678.9abc.def0..abc.1234/443`,
    ],
    [
      "truncated, 1",
      longNs,
      longSvc,
      longPort,
      "sctp",
      "1234:5678:9abc:def0::abcd:1234:5678",
      443,
      `CI6C53Q3-${long}__1234.5678.9abc.def0..abcd.1234...`,
    ],
    [
      "truncated, 2 (different IP, which is not visible in the result)",
      longNs,
      longSvc,
      longPort,
      "sctp",
      "1234:5678:9abc:def0::abcd:1234:8765",
      443,
      `2FLXFK6X-${long}__1234.5678.9abc.def0..abcd.1234...`,
    ],
  ])("%s", (_name, ns, svc, port, proto, ip, epPort, expected) => {
    expect(servicePortEndpointChainNameBase(ns, svc, proto, port, ip, epPort)).toBe(expected);
  });
});

describe("TestLoadBalancerIngressRouteTypeProxy", () => {
  it.each([
    ["ipMode Proxy", "10.20.30.41", "1.2.3.4", "Proxy", false],
    ["ipMode VIP", "10.20.30.42", "1.2.3.5", "VIP", true],
    ["ipMode nil", "10.20.30.43", "1.2.3.6", undefined, true],
  ] as const)("%s", (_name, svcIP, lbIP, ipMode, expectedRule) => {
    const svc = makeTestService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.clusterIP = svcIP;
      s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [ipMode ? { ip: lbIP, ipMode } : { ip: lbIP }] } };
    });
    const eps = makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
      e.endpoints = [{ addresses: ["10.180.0.1"] }];
      e.ports = [{ name: "p80", port: 80, protocol: "TCP" }];
    });
    const { ipv4 } = compileNftables(fakeNftInput([svc], [eps]), fakeNftOptions());
    const table = new NftTableModel("ip");
    table.apply(defined(ipv4).text);
    expect(defined(table.containers.get("service-ips")).elements.has(`${lbIP} . tcp . 80`)).toBe(expectedRule);
  });
});
