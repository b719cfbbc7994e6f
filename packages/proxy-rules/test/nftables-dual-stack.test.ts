// Dual-stack in the nftables mode: one table per family (`ip kube-proxy`, `ip6 kube-proxy`), each
// from its own family's addresses and slices, with kube-proxy's IPv6 spellings (kube-proxy runs
// one proxier per family: pkg/proxy/nftables/proxier.go NewDualStackProxier, setupNFTables).

import { describe, expect, it } from "vitest";
import { compileNftables } from "../src/index.js";
import { defined } from "./support/defined.js";
import { NftTableModel } from "./support/nftables-model.js";
import { service, slice } from "./support/objects.js";

const input = {
  services: [
    service({
      name: "web",
      type: "NodePort",
      clusterIP: ["10.96.0.10", "fd00:96::10"],
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    }),
  ],
  endpointSlices: [
    slice({ service: "web", name: "web-v4" }, [{ name: "http", port: 8080 }], ["10.244.0.11"]),
    slice({ service: "web", name: "web-v6", family: "IPv6" }, [{ name: "http", port: 8080 }], ["fd00:244::11"]),
  ],
  node: { name: "node-1", addresses: ["192.168.77.1", "fd00:77::1"] },
  config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
};

describe("nftables dual-stack", () => {
  const c = compileNftables(input, { serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"] });

  it("gives one transaction per family of the node, IPv4 first", () => {
    expect(c.results.map((r) => r.family)).toEqual(["IPv4", "IPv6"]);
    expect(defined(c.ipv4).text.startsWith('add table ip kube-proxy { comment "rules for kube-proxy" ; }\n')).toBe(
      true,
    );
    expect(defined(c.ipv6).text.startsWith('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }\n')).toBe(
      true,
    );
  });

  it("each table holds only its family's addresses", () => {
    const v4 = new NftTableModel("ip");
    v4.apply(defined(c.ipv4).text);
    const v6 = new NftTableModel("ip6");
    v6.apply(defined(c.ipv6).text);
    expect([...defined(v4.containers.get("cluster-ips")).elements.keys()]).toEqual(["10.96.0.10"]);
    expect([...defined(v6.containers.get("cluster-ips")).elements.keys()]).toEqual(["fd00:96::10"]);
    expect(v4.dump()).not.toContain("fd00:");
    expect(v6.dump()).not.toMatch(/ 10\.\d+\.\d+\.\d+/);
  });

  it("IPv6 is spelled ip6 and ipv6_addr, endpoint names have dots for colons, DNAT to [ip]:port", () => {
    const t = defined(c.ipv6).text;
    expect(t).toContain('add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment "Active ClusterIPs" ; }');
    expect(t).toContain("add map ip6 kube-proxy service-ips { type ipv6_addr . inet_proto . inet_service : verdict ;");
    expect(t).toContain("ip6 saddr != fd00:244::/64 jump mark-for-masquerade");
    expect(t).toMatch(
      /endpoint-[A-Z2-7]{8}-default\/web\/tcp\/http__fd00\.244\.\.11\/8080 meta l4proto tcp dnat to \[fd00:244::11\]:8080/,
    );
    // nodePortAddresses unset: NodePorts on every local address but ::1
    expect(t).toContain(
      "add rule ip6 kube-proxy nodeport-endpoints-check ip6 daddr != ::1 meta l4proto . th dport vmap @no-endpoint-nodeports",
    );
    expect(t).toContain(
      "add rule ip6 kube-proxy services fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @service-nodeports",
    );
    expect(t).toContain("add rule ip6 kube-proxy cluster-ips-check ip6 daddr { fd00:96::/112 } drop");
  });

  it("the IPv4 table matches NodePorts on local addresses but 127.0.0.0/8 (no localhost NodePorts)", () => {
    expect(defined(c.ipv4).text).toContain(
      "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
    );
    expect(defined(c.ipv4).text).toContain(
      'add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }\ndelete set ip kube-proxy nodeport-ips\n',
    );
  });
});
