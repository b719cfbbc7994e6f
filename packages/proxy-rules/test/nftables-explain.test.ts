// parseNftablesRuleset and explainPacket on nftables rules: the reader on both syntaxes (`nft -f`
// input as compileNftables writes it, `nft -a list ruleset` output as the kernel prints it), its
// errors (source and line), names and strings that stay data, and each match and statement of
// kube-proxy's nftables mode evaluated on small hand-written tables.

import { describe, expect, it } from "vitest";
import { compileNftables, InvalidInputError, parseNftablesRuleset } from "../src/index.js";
import { makeTestEndpointSlice, makeTestService } from "./support/kube-proxy-fixtures.js";
import { fakeNftInput, fakeNftOptions } from "./support/nftables-fixtures.js";

function lineError(f: () => unknown): { line: string; reason: string; source: string | undefined } {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidInputError) return { line: e.field, reason: e.reason, source: e.object.name };
    throw e;
  }
  throw new Error("no error thrown");
}

const p80 = [{ name: "p80", port: 80, protocol: "TCP" }];

function affinityService() {
  const services = [
    makeTestService("ns5", "svc5", (svc) => {
      svc.spec.type = "LoadBalancer";
      svc.spec.clusterIP = "172.30.0.45";
      svc.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3002 }];
      svc.status = { loadBalancer: { ingress: [{ ip: "5.6.7.8" }] } };
      svc.spec.loadBalancerSourceRanges = ["203.0.113.0/25"];
      svc.spec.sessionAffinity = "ClientIP";
      svc.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    }),
  ];
  const slices = [
    makeTestEndpointSlice("ns5", "svc5", 1, (eps) => {
      eps.endpoints = [{ addresses: ["10.180.0.3"] }, { addresses: ["10.180.0.4"] }];
      eps.ports = p80;
    }),
  ];
  return compileNftables(fakeNftInput(services, slices), fakeNftOptions());
}

// An excerpt of `nft -a list ruleset` on Linux 6.1 / nft 1.0.6 after loading affinityService()'s
// transaction (the kernel's spelling: named priorities, `meta mark`, 0x%08x masks, `3h`, element
// lists over several lines, handles).
const KERNEL_LISTING = `table ip kube-proxy { # handle 1
	comment "rules for kube-proxy"
	set cluster-ips { # handle 39
		type ipv4_addr
		comment "Active ClusterIPs"
		elements = { 172.30.0.45 }
	}

	map no-endpoint-services { # handle 43
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "vmap to drop or reject packets to services with no endpoints"
	}

	map service-ips { # handle 51
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
		elements = { 5.6.7.8 . tcp . 80 : goto external-HVFWP5L3-ns5/svc5/tcp/p80,
			     172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }
	}

	set affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { # handle 67
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 3h
	}

	chain filter-prerouting-pre-dnat { # handle 9
		type filter hook prerouting priority dstnat - 10; policy accept;
		ct state new jump firewall-check # handle 24
	}

	chain nat-postrouting { # handle 16
		type nat hook postrouting priority srcnat; policy accept;
		jump masquerading # handle 30
	}

	chain firewall-check { # handle 23
		counter packets 3 bytes 180 ip daddr . meta l4proto . th dport vmap @firewall-ips # handle 50
	}

	chain masquerading { # handle 29
		meta mark & 0x00004000 == 0x00000000 return # handle 36
		meta mark set meta mark ^ 0x00004000 # handle 37
		masquerade fully-random # handle 38
	}

	chain cluster-ips-check { # handle 31
		ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs" # handle 40
		ip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs" # handle 41
	}

	chain reject-chain { # handle 45
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject # handle 46
	}

	chain service-HVFWP5L3-ns5/svc5/tcp/p80 { # handle 57
		ip daddr 172.30.0.45 ip saddr != 10.0.0.0/8 jump mark-for-masquerade # handle 61
		numgen random mod 2 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80, 1 : goto endpoint-PCTS6QRA-ns5/svc5/tcp/p80__10.180.0.4/80 } # handle 72
	}
}
table ip6 kube-proxy { # handle 2
	comment "rules for kube-proxy"
	set cluster-ips { # handle 3
		type ipv6_addr
		elements = { fd00:10:96:0:0:0:0:1 }
	}
}
`;

describe("parseNftablesRuleset: nft -f input (compileNftables' transaction)", () => {
  const { ipv4 } = affinityService();
  const text = ipv4?.text ?? "";
  const rs = parseNftablesRuleset({ text, name: "tx.nft" });
  const table = rs.tables[0];
  it("one ip table with kube-proxy's base chains, hooks and priorities", () => {
    expect(rs.kind).toBe("nftables");
    expect(rs.family).toBe(4);
    expect(rs.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["ip kube-proxy"]);
    expect(table?.comment).toBe("rules for kube-proxy");
    const base = [...(table?.chains.values() ?? [])]
      .filter((c) => c.hook !== undefined)
      .map((c) => `${c.name} ${c.type} ${c.hook} ${c.priority}`);
    expect(base).toEqual([
      "filter-prerouting-pre-dnat filter prerouting -110",
      "filter-output-pre-dnat filter output -110",
      "filter-input filter input 0",
      "filter-forward filter forward 0",
      "filter-output filter output 0",
      "nat-prerouting nat prerouting -100",
      "nat-output nat output -100",
      "nat-postrouting nat postrouting 100",
    ]);
  });
  it("rules keep their text, source and line (the line of the add rule command)", () => {
    const chain = table?.chains.get("masquerading");
    expect(chain?.rules.map((r) => r.text)).toEqual([
      "mark and 0x4000 == 0 return",
      "mark set mark xor 0x4000",
      "masquerade fully-random",
    ]);
    const lines = text.split("\n");
    for (const r of chain?.rules ?? []) {
      expect(r.source).toBe("tx.nft");
      expect(lines[r.line - 1]).toBe(`add rule ip kube-proxy masquerading ${r.text}`);
    }
    const check = table?.chains.get("cluster-ips-check")?.rules[0];
    expect(check?.comment).toBe("Reject traffic to invalid ports of ClusterIPs");
  });
  it("sets and verdict maps with their types, flags, timeout and elements", () => {
    const ips = table?.sets.get("service-ips");
    expect(ips).toMatchObject({
      kind: "map",
      keyType: ["ipv4_addr", "inet_proto", "inet_service"],
      valueType: "verdict",
    });
    expect(ips?.elements.map((e) => [e.key.join(" . "), e.value])).toEqual([
      ["172.30.0.45 . tcp . 80", "goto service-HVFWP5L3-ns5/svc5/tcp/p80"],
      ["5.6.7.8 . tcp . 80", "goto external-HVFWP5L3-ns5/svc5/tcp/p80"],
    ]);
    const aff = table?.sets.get("affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80");
    expect(aff).toMatchObject({ kind: "set", keyType: ["ipv4_addr"], flags: ["dynamic", "timeout"], timeout: 10800 });
    expect(table?.sets.get("nodeport-ips")?.elements).toEqual([
      { key: ["192.168.0.2"], value: undefined, comment: undefined, timeout: undefined, expires: undefined },
    ]);
  });
  it("the base chains the transaction adds then deletes are there once, as in the kernel", () => {
    expect([...(table?.chains.keys() ?? [])].filter((n) => n === "nat-output")).toHaveLength(1);
    expect(table?.chains.get("nat-output")?.rules.map((r) => r.text)).toEqual(["jump services"]);
  });
  it("a later text applies over the first (a partial sync, deletes)", () => {
    const rs2 = parseNftablesRuleset([
      text,
      [
        "flush chain ip kube-proxy masquerading",
        "add rule ip kube-proxy masquerading masquerade",
        "delete element ip kube-proxy service-ips { 5.6.7.8 . tcp . 80 }",
      ].join("\n"),
    ]);
    const t = rs2.tables[0];
    expect(t?.chains.get("masquerading")?.rules.map((r) => [r.text, r.source, r.line])).toEqual([
      ["masquerade", "rules[1]", 2],
    ]);
    expect(t?.sets.get("service-ips")?.elements.map((e) => e.key.join(" . "))).toEqual(["172.30.0.45 . tcp . 80"]);
  });
});

describe("parseNftablesRuleset: nft -a list ruleset output", () => {
  const rs = parseNftablesRuleset(KERNEL_LISTING);
  const v4 = rs.tables.find((t) => t.family === "ip");
  it("both families' tables", () => {
    expect(rs.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["ip kube-proxy", "ip6 kube-proxy"]);
    expect(rs.families).toEqual([4, 6]);
    expect(rs.tables[1]?.sets.get("cluster-ips")?.elements[0]?.key).toEqual(["fd00:10:96::1"]);
  });
  it("named priorities, policies, handles, counters", () => {
    const pre = v4?.chains.get("filter-prerouting-pre-dnat");
    expect(pre).toMatchObject({
      type: "filter",
      hook: "prerouting",
      priority: -110,
      priorityText: "dstnat - 10",
      policy: "accept",
    });
    expect(v4?.chains.get("nat-postrouting")?.priority).toBe(100);
    const line = KERNEL_LISTING.split("\n").findIndex((l) => l.includes("jump firewall-check # handle 24")) + 1;
    expect(pre?.rules[0]).toMatchObject({ text: "ct state new jump firewall-check", handle: 24, line });
    expect(v4?.chains.get("firewall-check")?.rules[0]?.counter).toEqual({ packets: 3, bytes: 180 });
    expect(v4?.chains.get("reject-chain")).toMatchObject({
      comment: "helper for @no-endpoint-services / @no-endpoint-nodeports",
      rules: [{ text: "reject", handle: 46 }],
    });
  });
  it("element lists over several lines, the kernel's spelling of timeouts", () => {
    expect(v4?.sets.get("service-ips")?.elements.map((e) => e.key.join(" . "))).toEqual([
      "5.6.7.8 . tcp . 80",
      "172.30.0.45 . tcp . 80",
    ]);
    expect(v4?.sets.get("affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")).toMatchObject({
      timeout: 10800,
      size: 65535,
    });
    expect(v4?.chains.get("service-HVFWP5L3-ns5/svc5/tcp/p80")?.rules[1]?.text).toBe(
      "numgen random mod 2 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80, 1 : goto endpoint-PCTS6QRA-ns5/svc5/tcp/p80__10.180.0.4/80 }",
    );
  });
  it("dynamic elements with timeout and expires, element comments", () => {
    const t = parseNftablesRuleset(`table ip t {
	set a {
		type ipv4_addr
		flags dynamic,timeout
		timeout 3h
		elements = { 10.0.0.5 timeout 3h expires 2h59m58s500ms }
	}
	map m {
		type inet_proto . inet_service : verdict
		elements = { tcp . 3001 comment "ns2/svc2:p80" : drop }
	}
}`).tables[0];
    expect(t?.sets.get("a")?.elements[0]).toMatchObject({ key: ["10.0.0.5"], timeout: 10800, expires: 10798.5 });
    expect(t?.sets.get("m")?.elements[0]).toMatchObject({
      key: ["tcp", "3001"],
      value: "drop",
      comment: "ns2/svc2:p80",
    });
  });
});

describe("parseNftablesRuleset: errors name the source and line", () => {
  it.each([
    ["an unknown command", "add table ip t\nfrobnicate chain ip t c", "line 2", /unknown command "frobnicate"/],
    [
      "a rule for a missing chain",
      "add table ip t\n\nadd rule ip t nope drop",
      "line 3",
      /chain nope does not exist in table ip t/,
    ],
    ["a missing table", "add chain ip t c", "line 1", /table ip t does not exist/],
    ["an unterminated string", 'add table ip t\nadd chain ip t c { comment "x ; }', "line 2", /unterminated string/],
    [
      "an element of the wrong shape",
      "add table ip t\nadd set ip t s { type ipv4_addr . inet_service ; }\nadd element ip t s { 10.0.0.1 }",
      "line 3",
      /does not fit/,
    ],
    [
      "a map element without value",
      "add table ip t\nadd map ip t m { type ipv4_addr : verdict ; }\nadd element ip t m { 10.0.0.1 }",
      "line 3",
      /needs a value/,
    ],
    [
      "a deleted element that is not there",
      "add table ip t\nadd set ip t s { type ipv4_addr ; }\ndelete element ip t s { 10.0.0.1 }",
      "line 3",
      /is not in set s/,
    ],
    ["an unclosed block", "table ip t {\n\tchain c {\n\t\tdrop\n", "line 2", /not closed/],
    [
      "a bad priority",
      "add table ip t\nadd chain ip t c { type filter hook input priority nonsense ; }",
      "line 2",
      /bad priority/,
    ],
    ["an unknown keyword in a table block", "table ip t {\n\tbogus x\n}", "line 2", /unknown "bogus"/],
  ])("%s", (_what, text, line, reason) => {
    const e = lineError(() => parseNftablesRuleset({ text, name: "f.nft" }));
    expect(e.line).toBe(line);
    expect(e.reason).toMatch(reason);
    expect(e.source).toBe("f.nft");
  });
});

describe("parseNftablesRuleset: text inside strings and names is data", () => {
  it("a comment holding nft syntax is one comment, not commands", () => {
    const text = [
      "add table ip t",
      'add chain ip t c { comment "} ; add rule ip t c drop # handle 9 { " ; }',
      'add rule ip t c accept comment "x\' ; flush ruleset ; # not a comment"',
    ].join("\n");
    const t = parseNftablesRuleset(text).tables[0];
    const c = t?.chains.get("c");
    expect(c?.comment).toBe("} ; add rule ip t c drop # handle 9 { ");
    expect(c?.rules.map((r) => [r.comment, r.handle])).toEqual([["x' ; flush ruleset ; # not a comment", undefined]]);
  });
  it("a quoted chain name with blanks and semicolons stays one name", () => {
    const t = parseNftablesRuleset('add table ip t\nadd chain ip t "a b;c"\nadd rule ip t "a b;c" drop').tables[0];
    expect([...(t?.chains.keys() ?? [])]).toEqual(["a b;c"]);
  });
  it("a newline inside a string is refused with its line", () => {
    const e = lineError(() =>
      parseNftablesRuleset('add table ip t\nadd chain ip t c { comment "a\nadd rule ip t c drop" ; }'),
    );
    expect(e.line).toBe("line 2");
  });
  it("a failing text leaves nothing of itself half-applied (as nft -f)", () => {
    expect(() => parseNftablesRuleset(["add table ip t", "flush ruleset\nadd chain ip u c"])).toThrow(
      InvalidInputError,
    );
  });
});
