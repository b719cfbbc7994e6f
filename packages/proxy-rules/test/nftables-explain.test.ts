// parseNftablesRuleset and explainPacket on nftables rules: the reader on both syntaxes (`nft -f`
// input as compileNftables writes it, `nft -a list ruleset` output as the kernel prints it), its
// errors (source and line), names and strings that stay data, and each match and statement of
// kube-proxy's nftables mode evaluated on small hand-written tables.

import { describe, expect, it } from "vitest";
import {
  compileNftables,
  type ExplainPacketOptions,
  explainPacket,
  InvalidInputError,
  type NftablesRuleset,
  type NftablesSet,
  type PacketSpec,
  parseNftablesRuleset,
} from "../src/index.js";
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
  it("the plain-line shortcut reads what the tokenizer reads (the same text with every line ended by ;)", () => {
    const slow = parseNftablesRuleset(
      text
        .split("\n")
        .map((l) => (l === "" ? l : `${l} ;`))
        .join("\n"),
    );
    const view = (r: typeof rs) =>
      r.tables.map((t) =>
        [...t.chains.values()].map((c) => [c.name, c.hook, c.rules.map((x) => [x.text, x.line, x.comment])]),
      );
    expect(view(slow)).toEqual(view(rs));
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

describe("parseNftablesRuleset: other tables of a node", () => {
  it("stateful objects and flowtables are kept by name; rules around them are read", () => {
    const rs = parseNftablesRuleset(`table inet filter {
	counter cnt-http {
		packets 0 bytes 0
	}
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto inet
	}
	flowtable ft {
		hook ingress priority filter
		devices = { lo }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
add counter inet filter cnt-dns
delete counter inet filter cnt-http
`);
    const t = rs.tables[0];
    expect(t?.objects.map((o) => `${o.kind} ${o.name}`)).toEqual([
      "ct helper ftp-standard",
      "flowtable ft",
      "counter cnt-dns",
    ]);
    expect(t?.chains.get("input")?.rules.map((r) => r.text)).toEqual(["ct state established,related accept"]);
    expect(rs.families).toEqual([4, 6]);
  });

  // An excerpt of `nft -a list ruleset` on Linux 6.18 / nft 1.0.6 (a node's own table: quoted
  // ifname keys, a concatenated interval set with a range, a named counter, unicode comments).
  const ODD_LISTING = `table inet odd { # handle 14
	comment "tëst ünïcode # not a comment { ; }"
	counter cnt { # handle 3
		comment "named counter"
		packets 0 bytes 0
	}

	set allow { # handle 7
		type ipv4_addr . inet_proto . inet_service . ipv4_addr
		flags interval
		auto-merge
		elements = { 5.6.7.8 . tcp . 80 . 203.0.113.0/25 comment "ünï, code",
			     5.6.7.8 . tcp . 81 . 10.0.0.1-10.0.0.5 }
	}

	map vm { # handle 10
		type ifname : verdict
		elements = { "lo" : drop,
			     "eth0" : accept }
	}

	chain weird { # handle 1
		counter name "cnt" # handle 12
	}

	chain pre { # handle 2
		type filter hook prerouting priority mangle + 5; policy accept;
		ip daddr . meta l4proto . th dport . ip saddr @allow counter packets 0 bytes 0 accept comment "allow \\o/" # handle 13
		jump weird # handle 16
		iifname vmap @vm # handle 15
	}
}
`;

  it("a node's listing with quoted element keys, ranges in concatenations and named counters is read and evaluated", () => {
    const rs = parseNftablesRuleset(ODD_LISTING);
    const t = rs.tables[0];
    expect(t?.comment).toBe("tëst ünïcode # not a comment { ; }");
    expect(t?.sets.get("vm")?.elements.map((e) => [e.key, e.value])).toEqual([
      [["lo"], "drop"],
      [["eth0"], "accept"],
    ]);
    expect(t?.sets.get("allow")?.elements[0]?.comment).toBe("ünï, code");
    const at = (source: string, port: number, inInterface: string) =>
      explainPacket(rs, { from: "outside", source, destination: "5.6.7.8", port, inInterface });
    expect(at("203.0.113.5", 80, "eth1").verdict).toBe("accept");
    expect(at("10.0.0.3", 81, "eth1").verdict).toBe("accept");
    expect(at("10.0.0.6", 81, "eth1").verdict).toBe("no-match");
    // not allowed: through the named counter's chain to the interface's verdict
    const lo = at("10.0.0.9", 80, "lo");
    expect(lo.verdict).toBe("drop");
    expect(lo.matchedRules.map((r) => r.chain)).toEqual(["pre", "weird", "pre"]);
    expect(at("10.0.0.9", 80, "eth0").verdict).toBe("accept");
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
    [
      "a variable (nft -f's define)",
      "#!/usr/sbin/nft -f\ndefine vip = 10.96.0.1\nadd table ip t",
      "line 2",
      /^define: nft variables and includes are not read/,
    ],
    // the kernel refuses these base chains (nft -f: "Operation not supported"; Linux 6.18, nft 1.0.6)
    [
      "a nat chain on the forward hook",
      "add table ip t\nadd chain ip t c { type nat hook forward priority 0 ; }",
      "line 2",
      /no nat chain on the forward hook/,
    ],
    [
      "a nat chain before conntrack",
      "table inet t {\n\tchain c {\n\t\ttype nat hook prerouting priority -200; policy accept;\n\t}\n}",
      "line 3",
      /priority above conntrack's -200/,
    ],
    [
      "a route chain off the output hook",
      "add table ip6 t\nadd chain ip6 t c { type route hook prerouting priority 0 ; }",
      "line 2",
      /only for the output hook/,
    ],
    [
      "an unknown chain type",
      "add table ip t\nadd chain ip t c { type filtre hook input priority 0 ; }",
      "line 2",
      /unknown chain type "filtre"/,
    ],
  ])("%s", (_what, text, line, reason) => {
    const e = lineError(() => parseNftablesRuleset({ text, name: "f.nft" }));
    expect(e.line).toBe(line);
    expect(e.reason).toMatch(reason);
    expect(e.source).toBe("f.nft");
  });
});

describe("parseNftablesRuleset and explainPacket: what is not text is a typed error, not a TypeError", () => {
  it.each([
    ["null", null],
    ["a list holding null", ["add table ip t", null]],
    ["a number", 42],
  ])("parseNftablesRuleset(%s)", (_what, input) => {
    expect(() => parseNftablesRuleset(input as never)).toThrow(InvalidInputError);
  });

  it("explainPacket with no ruleset or no packet", () => {
    const p: PacketSpec = { from: "outside", source: "203.0.113.2", destination: "10.0.0.9", port: 80 };
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        if (e instanceof InvalidInputError) return [e.object.kind, e.field];
        throw e;
      }
      throw new Error("no error thrown");
    };
    expect(err(() => explainPacket(null as never, p))).toEqual(["Ruleset", "ruleset"]);
    expect(err(() => explainPacket(["table ip t {\n}\n", null] as never, p))).toEqual(["Ruleset", "ruleset[1]"]);
    expect(err(() => explainPacket("table ip t {\n}\n", null as never))).toEqual(["Packet", "packet"]);
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
  // Linux 6.18 / nft 1.0.6: `delete chain` of a chain a rule or a verdict-map element still jumps
  // to, and `delete set` of a set a rule looks up, fail with "Device or resource busy"; once the
  // reference is gone earlier in the same transaction they pass.
  it("a chain or set still in use cannot be deleted; after its users go it can", () => {
    const base = [
      "add table ip t",
      "add set ip t s { type ipv4_addr ; }",
      "add map ip t m { type ipv4_addr : verdict ; }",
      "add chain ip t a",
      "add chain ip t b",
      "add chain ip t c",
      "add rule ip t c jump a",
      "add rule ip t c ip daddr @s drop",
      "add element ip t m { 10.0.0.1 : goto b }",
    ].join("\n");
    const tail = (cmd: string) => lineError(() => parseNftablesRuleset([base, { text: `\n${cmd}`, name: "tx" }]));
    expect(tail("delete chain ip t a")).toEqual({
      line: "line 2",
      reason: "chain a is in use (by the rule of line 7 in chain c)",
      source: "tx",
    });
    expect(tail("delete set ip t s").reason).toBe("set s is in use (by the rule of line 8 in chain c)");
    expect(tail("delete chain ip t b").reason).toBe("chain b is in use (by an element of map m)");
    const ok = parseNftablesRuleset([
      base,
      "flush chain ip t c\ndelete chain ip t a\ndelete set ip t s\ndelete element ip t m { 10.0.0.1 }\ndelete chain ip t b",
    ]);
    expect([...(ok.tables[0]?.chains.keys() ?? [])]).toEqual(["c"]);
    // checked at the delete, as the kernel does: a table deleted after it does not help
    expect(tail("delete chain ip t a\ndelete table ip t").line).toBe("line 2");
    expect(parseNftablesRuleset([base, "delete table ip t"]).tables).toEqual([]);
    // a comment naming the chain is not a use
    expect(() =>
      parseNftablesRuleset([
        "add table ip t\nadd chain ip t a\nadd chain ip t c",
        'add rule ip t c accept comment "jump a"\ndelete chain ip t a',
      ]),
    ).not.toThrow();
  });

  it("a failing text leaves nothing of itself half-applied (as nft -f)", () => {
    expect(() => parseNftablesRuleset(["add table ip t", "flush ruleset\nadd chain ip u c"])).toThrow(
      InvalidInputError,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// the evaluator

/** A table `ip t` with a filter base chain at `hook` holding `rules`, plus extra declarations. */
function table(hook: string, rules: readonly string[], extra = "", family = "ip"): string {
  return [
    `table ${family} t {`,
    extra,
    `\tchain c { type filter hook ${hook} priority 0; policy accept;`,
    ...rules.map((r) => `\t\t${r}`),
    "\t}",
    "}",
  ].join("\n");
}

const out = (text: string | NftablesRuleset, p: Partial<PacketSpec> = {}, o: ExplainPacketOptions = {}) =>
  explainPacket(
    text,
    { from: "outside", source: "203.0.113.2", destination: "10.0.0.9", port: 80, ...p },
    { localAddresses: ["192.168.0.2"], ...o },
  );

/** The chain/position of every rule step of the first outcome. */
const steps = (e: ReturnType<typeof out>) =>
  (e.outcomes[0]?.path ?? []).flatMap((s) => (s.kind === "rule" ? [`${s.chain}#${s.position}`] : []));

describe("explainPacket on nftables: matches", () => {
  it.each([
    ["ip daddr literal", "ip daddr 10.0.0.9 drop", {}, "drop"],
    ["ip daddr other", "ip daddr 10.0.0.8 drop", {}, "no-match"],
    ["ip daddr != literal", "ip daddr != 10.0.0.8 drop", {}, "drop"],
    ["ip saddr prefix", "ip saddr 203.0.113.0/25 drop", {}, "drop"],
    ["ip saddr outside the prefix", "ip saddr 203.0.113.128/25 drop", {}, "no-match"],
    ["ip saddr != anonymous set", "ip saddr != { 203.0.113.0/25, 198.51.100.0/24 } drop", {}, "no-match"],
    ["ip daddr anonymous set", "ip daddr { 10.0.0.1, 10.0.0.9 } drop", {}, "drop"],
    ["ip daddr range", "ip daddr 10.0.0.5-10.0.0.10 drop", {}, "drop"],
    ["th dport", "th dport 80 drop", {}, "drop"],
    ["tcp dport on udp", "tcp dport 80 drop", { protocol: "udp" }, "no-match"],
    ["udp dport on udp", "udp dport 80 drop", { protocol: "udp" }, "drop"],
    ["th dport range", "th dport 70-90 drop", {}, "drop"],
    ["meta l4proto", "meta l4proto sctp drop", { protocol: "sctp" }, "drop"],
    ["meta l4proto set", "meta l4proto { tcp, udp } drop", { protocol: "sctp" }, "no-match"],
    ["ip protocol number", "ip protocol 6 drop", {}, "drop"],
    ["ct state new", "ct state new drop", {}, "drop"],
    ["ct state of an established packet", "ct state new drop", { state: "ESTABLISHED" }, "no-match"],
    ["ct state list (kernel spelling)", "ct state established,related accept", { state: "RELATED" }, "accept"],
    ["fib daddr type local (a node address)", "fib daddr type local drop", { destination: "192.168.0.2" }, "drop"],
    ["fib daddr type local (not local)", "fib daddr type local drop", {}, "no-match"],
    ["fib saddr type local", "fib saddr type local drop", { source: "192.168.0.2" }, "drop"],
    ["meta mark (input spelling)", "mark and 0x4000 == 0 drop", {}, "drop"],
    ["meta mark (kernel spelling)", "meta mark & 0x00004000 == 0x00004000 drop", { mark: 0x4000 }, "drop"],
    ["meta mark !=", "meta mark & 0x00004000 != 0x00000000 drop", {}, "no-match"],
    [
      "comment and counter are not matches",
      'counter packets 3 bytes 180 ip daddr 10.0.0.9 drop comment "x"',
      {},
      "drop",
    ],
    ["accept", "ip daddr 10.0.0.9 accept", {}, "accept"],
    ["reject with", "reject with icmp type port-unreachable", {}, "reject"],
  ] as const)("%s", (_what, rule, p, verdict) => {
    const e = out(table("prerouting", [rule]), p);
    expect(e.verdict).toBe(verdict);
    expect(e.unknown).toBeUndefined();
  });

  it("what a reject answers: nft's default, and the same for a rule as written and as nft lists it", () => {
    const rejectWith = (rule: string, p: Partial<PacketSpec> = {}, family = "ip") =>
      out(table("forward", [rule], "", family), p).outcomes[0]?.rejectWith;
    expect(rejectWith("reject")).toBe("icmp port-unreachable");
    expect(rejectWith("reject", { source: "2001:db8::2", destination: "2001:db8::9" }, "ip6")).toBe(
      "icmpv6 port-unreachable",
    );
    expect(rejectWith("reject", { source: "2001:db8::2", destination: "2001:db8::9" }, "inet")).toBe(
      "icmpv6 port-unreachable",
    );
    // Linux 6.18 / nft 1.0.6 lists `reject with icmp type host-unreachable` this way
    expect(rejectWith("reject with icmp type host-unreachable")).toBe("icmp host-unreachable");
    expect(rejectWith("reject with icmp host-unreachable")).toBe("icmp host-unreachable");
    expect(rejectWith("reject with tcp reset")).toBe("tcp reset");
  });

  it("named sets, concatenations and interval sets are hash and interval lookups", () => {
    const extra = [
      "\tset ips { type ipv4_addr; elements = { 10.0.0.9, 10.0.0.10 } }",
      "\tset dests { type ipv4_addr . inet_proto . inet_service; elements = { 10.0.0.9 . tcp . 80 } }",
      "\tset allow { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags interval; elements = { 10.0.0.9 . tcp . 80 . 203.0.113.0/25 } }",
    ].join("\n");
    expect(out(table("prerouting", ["ip daddr @ips drop"], extra)).verdict).toBe("drop");
    expect(out(table("prerouting", ["ip daddr != @ips drop"], extra)).verdict).toBe("no-match");
    expect(out(table("prerouting", ["ip daddr . meta l4proto . th dport @dests drop"], extra)).verdict).toBe("drop");
    expect(
      out(table("prerouting", ["ip daddr . meta l4proto . th dport @dests drop"], extra), { port: 81 }).verdict,
    ).toBe("no-match");
    const allow = table("prerouting", ["ip daddr . meta l4proto . th dport . ip saddr @allow return", "drop"], extra);
    expect(out(allow).verdict).toBe("no-match");
    expect(out(allow, { source: "203.0.113.130" }).verdict).toBe("drop");
  });

  // Seen on Linux 6.18 / nft 1.0.6 with counters: an IPv6 packet does not count on
  // `ip saddr != 10.0.0.0/8` in an inet table, nor a UDP packet on `tcp dport != @ports`.
  it("a match on a header the packet lacks fails, negated too (ip … on IPv6 in inet, tcp … on udp)", () => {
    const v6 = { source: "2001:db8::2", destination: "2001:db8::9" };
    const inet = (rule: string) =>
      table("prerouting", [rule], "\tset ips { type ipv4_addr; elements = { 10.0.0.9 } }", "inet");
    expect(out(inet("ip saddr != 10.0.0.0/8 drop"), v6).verdict).toBe("no-match");
    expect(out(inet("ip daddr != @ips drop"), v6).verdict).toBe("no-match");
    expect(out(inet("ip protocol != udp drop"), v6).verdict).toBe("no-match");
    expect(out(inet("ip6 saddr != 2001:db8::/64 drop")).verdict).toBe("no-match");
    // the same rules do match a packet of their family
    expect(out(inet("ip saddr != 10.0.0.0/8 drop")).verdict).toBe("drop");
    expect(out(inet("ip6 saddr != fd00::/8 drop"), v6).verdict).toBe("drop");
    const ports = table(
      "prerouting",
      ["tcp dport != @ports drop"],
      "\tset ports { type inet_service; elements = { 80 } }",
    );
    expect(out(ports, { protocol: "udp", port: 53 }).verdict).toBe("no-match");
    expect(out(ports, { port: 53 }).verdict).toBe("drop");
  });

  it("a ruleset built from another's objects is evaluated on its own sets (what is cached depends on nothing else)", () => {
    const text = table("prerouting", ["ip daddr @ips drop"], "\tset ips { type ipv4_addr; elements = { 10.0.0.9 } }");
    const withSet = (rs: NftablesRuleset, address: string): NftablesRuleset => ({
      ...rs,
      tables: rs.tables.map((t) => {
        const sets = new Map<string, NftablesSet>();
        for (const [name, s] of t.sets) sets.set(name, { ...s, elements: [{ key: [address] }] });
        return { ...t, sets };
      }),
    });
    // a set of the type alone (no index of the reader's) is read too
    expect(out(withSet(parseNftablesRuleset(text), "10.0.0.9")).verdict).toBe("drop");
    const parsed = parseNftablesRuleset(text);
    expect(out(parsed).verdict).toBe("drop");
    // the same rule objects, another set: its elements count, not those the first answer used
    const other = withSet(parsed, "10.0.0.8");
    expect(out(other).verdict).toBe("no-match");
    expect(out(other, { destination: "10.0.0.8" }).verdict).toBe("drop");
  });

  it("verdict maps: named and literal; a missing key is no match", () => {
    const extra = [
      "\tmap m { type ipv4_addr . inet_proto . inet_service : verdict; elements = { 10.0.0.9 . tcp . 80 : goto x } }",
      "\tchain x { drop }",
    ].join("\n");
    const named = table("prerouting", ["ip daddr . meta l4proto . th dport vmap @m", "accept"], extra);
    expect(out(named).verdict).toBe("drop");
    expect(out(named, { port: 81 }).verdict).toBe("accept");
    const literal = table("prerouting", ["meta l4proto . th dport vmap { tcp . 80 : drop, udp . 53 : accept }"]);
    expect(out(literal).verdict).toBe("drop");
    expect(out(literal, { protocol: "udp", port: 53 }).verdict).toBe("accept");
  });

  it("an interface match needs the packet's interface, and then is evaluated", () => {
    const t = table("prerouting", ['iifname "eth0" drop']);
    const e = out(t);
    expect(e.verdict).toBe("unknown");
    expect(e.unknown?.rule).toBe('iifname "eth0" drop');
    expect(out(t, { inInterface: "eth0" }).verdict).toBe("drop");
    expect(out(table("prerouting", ['iifname "veth*" drop']), { inInterface: "veth12" }).verdict).toBe("drop");
  });

  // Seen on Linux 6.18 / nft 1.0.6: `oifname != "zz" counter` in a prerouting chain counts every
  // packet (there is no output device yet: its name is empty).
  it("before routing and on local delivery there is no output interface: oifname is empty, not unknown", () => {
    for (const hook of ["prerouting", "input"]) {
      const to = { destination: "192.168.0.2", inInterface: "eth0" };
      expect(out(table(hook, ['oifname "eth1" drop']), to).verdict).toBe("no-match");
      expect(out(table(hook, ['oifname != "eth1" drop']), to).verdict).toBe("drop");
    }
    // through lo to the node itself
    const self = { from: "node" as const, source: "192.168.0.2", destination: "192.168.0.2" };
    expect(out(table("input", ['iifname "lo" oifname != "lo" drop']), self).verdict).toBe("drop");
    // forwarded, the output interface is the packet's
    const fwd = table("forward", ['oifname "eth1" drop']);
    expect(out(fwd, { inInterface: "eth0" }).verdict).toBe("unknown");
    expect(out(fwd, { inInterface: "eth0", outInterface: "eth1" }).verdict).toBe("drop");
  });

  it("something it cannot evaluate is said plainly, with the rule; rules whose known matches fail never need it", () => {
    const e = out(table("prerouting", ["ip daddr 10.0.0.1 limit rate 10/second drop", "limit rate 10/second drop"]));
    expect(e.verdict).toBe("unknown");
    expect(e.unknown).toEqual({ reason: "cannot evaluate: limit rate 10/second …", rule: "limit rate 10/second drop" });
    const last = e.outcomes[0]?.path.at(-1);
    expect(last).toMatchObject({ kind: "rule", chain: "c", position: 2, line: 5 });
  });
});

describe("explainPacket on nftables: chains, hooks and priorities", () => {
  it("jump returns, goto returns to the caller's caller, return ends a chain", () => {
    const extra = ["\tchain a { return; drop }", "\tchain b { goto a }", "\tchain d { jump b; drop }"].join("\n");
    const e = out(table("prerouting", ["jump a", "jump d", "accept"], extra));
    // d: jump b → goto a → return (back to d, after the jump to b) → drop
    expect(e.verdict).toBe("drop");
    expect(steps(e)).toEqual(["c#1", "a#1", "c#2", "d#1", "b#1", "a#1", "d#2"]);
  });

  it("the base chains of a hook run by priority, whatever their order in the text; accept ends only its own chain", () => {
    const text = [
      "table ip t {",
      "\tchain late { type filter hook prerouting priority 10; policy accept; accept }",
      "\tchain early { type filter hook prerouting priority raw; policy accept; accept }",
      "\tchain mid { type filter hook prerouting priority dstnat - 10; policy accept; drop }",
      "}",
    ].join("\n");
    const e = out(text);
    expect(e.verdict).toBe("drop");
    expect(
      e.outcomes[0]?.path.filter((s) => s.kind === "hook").map((s) => (s.kind === "hook" ? [s.chain, s.priority] : [])),
    ).toEqual([
      ["early", -300],
      ["mid", -110],
    ]);
  });

  const hookOrder = (e: ReturnType<typeof out>) =>
    e.outcomes[0]?.path.flatMap((s) => (s.kind === "hook" ? [s.chain] : []));

  // The next three were seen on Linux 6.18 / nft 1.0.6 with counters (a nat chain declared at -180
  // and `ct status dnat counter` chains at -160 and -50; two chains of priority 0 setting and
  // testing marks; `ct state new|invalid counter` at priority raw).
  it("nat chains run at nf_nat's priority (-100 in prerouting) whatever they declare", () => {
    const text = (filterPriority: string) =>
      [
        "table ip t {",
        "\tchain n { type nat hook prerouting priority dstnat - 80; policy accept; ip daddr 10.0.0.9 dnat to 10.180.0.9 }",
        `\tchain f { type filter hook prerouting priority ${filterPriority}; policy accept; ct status dnat drop }`,
        "}",
      ].join("\n");
    const before = out(text("mangle - 10"));
    expect(before.verdict).toBe("dnat");
    expect(hookOrder(before)).toEqual(["f", "n"]);
    const after = out(text("-50"));
    expect(after.verdict).toBe("drop");
    expect(hookOrder(after)).toEqual(["n", "f"]);
  });

  it("base chains of equal priority: the one registered (declared) later runs first", () => {
    const one = [
      "table ip t {",
      "\tchain first { type filter hook prerouting priority 0; policy accept; meta mark set 1 }",
      "\tchain second { type filter hook prerouting priority 0; policy accept; meta mark 1 drop }",
      "}",
    ].join("\n");
    expect(out(one).verdict).toBe("no-match");
    expect(hookOrder(out(one))).toEqual(["second", "first"]);
    const two = [
      "table ip a { chain c { type filter hook prerouting priority filter; policy accept; meta mark 1 drop } }",
      "table ip b { chain c { type filter hook prerouting priority 0; policy accept; meta mark set 1 } }",
    ].join("\n");
    // b's chain, created later, sets the mark a's then tests
    expect(out(two).verdict).toBe("drop");
  });

  it("chains before conntrack (priority below -200) see ct state invalid; through lo the entry is attached", () => {
    const pre = table("prerouting", ["ct state new drop", "ct state invalid accept"]).replace(
      "priority 0",
      "priority raw",
    );
    expect(out(pre).verdict).toBe("accept");
    const node = { from: "node" as const, source: "192.168.0.2" };
    const output = table("output", ["ct state invalid drop"]).replace("priority 0", "priority raw");
    expect(out(output, node).verdict).toBe("drop");
    expect(out(table("output", ["ct state invalid drop"]), node).verdict).toBe("no-match");
    const lo = table("prerouting", ['iifname "lo" ct state new drop']).replace("priority 0", "priority raw");
    expect(out(lo, { ...node, destination: "192.168.0.2" }).verdict).toBe("drop");
  });

  it("a policy drop discards what no rule accepted", () => {
    const text =
      "table ip t {\n\tchain c { type filter hook forward priority 0; policy drop; ip saddr 10.0.0.0/8 accept }\n}";
    expect(out(text)).toMatchObject({ verdict: "drop" });
    expect(out(text).outcomes[0]?.path.at(-1)).toEqual({ kind: "policy", table: "ip t", chain: "c", policy: "drop" });
    expect(out(text, { source: "10.0.0.5" }).verdict).toBe("accept");
  });

  it("the entry decides the hooks: outside/pod → prerouting then input or forward; node → output", () => {
    const text = [
      "table ip t {",
      ...["prerouting", "input", "forward", "output", "postrouting"].map(
        (h) => `\tchain ${h} { type filter hook ${h} priority 0; policy accept; counter }`,
      ),
      "}",
    ].join("\n");
    const hooks = (e: ReturnType<typeof out>) =>
      e.outcomes[0]?.path.filter((s) => s.kind === "hook").map((s) => (s.kind === "hook" ? s.hook : ""));
    expect(hooks(out(text))).toEqual(["prerouting", "forward", "postrouting"]);
    expect(hooks(out(text, { destination: "192.168.0.2" }))).toEqual(["prerouting", "input"]);
    expect(hooks(out(text, { from: "node", source: "192.168.0.2" }))).toEqual(["output", "postrouting"]);
    expect(hooks(out(text, { from: "node", source: "192.168.0.2", destination: "192.168.0.2" }))).toEqual([
      "output",
      "postrouting",
      "prerouting",
      "input",
    ]);
    expect(out(text, { from: "pod", source: "10.0.0.5" }).outcomes[0]?.delivered).toBe("forward");
  });

  it("only the tables of the packet's family run (inet for both)", () => {
    const text = [
      "table ip6 six { chain c { type filter hook prerouting priority 0; policy accept; drop } }",
      "table inet both { chain c { type filter hook prerouting priority 0; policy accept; meta nfproto ipv4 accept } }",
    ].join("\n");
    const e = out(text);
    expect(e.verdict).toBe("accept");
    expect(out(text, { source: "2001:db8::2", destination: "2001:db8::9" }).verdict).toBe("drop");
  });
});

describe("explainPacket on nftables: NAT, marks, load balancing, affinity", () => {
  const nat = (rules: readonly string[], post: readonly string[] = [], extra = "") =>
    [
      "table ip t {",
      extra,
      `\tchain pre { type nat hook prerouting priority dstnat; policy accept;\n${rules.map((r) => `\t\t${r}`).join("\n")}\n\t}`,
      "\tchain fwd { type filter hook forward priority 0; policy accept; ct status dnat ip daddr 10.180.0.9 tcp dport 8080 accept }",
      `\tchain post { type nat hook postrouting priority srcnat; policy accept;\n${post.map((r) => `\t\t${r}`).join("\n")}\n\t}`,
      "}",
    ].join("\n");

  it("dnat rewrites the destination seen by later hooks (ct status dnat, the endpoint's address)", () => {
    const e = out(nat(["ip daddr 10.0.0.9 meta l4proto tcp dnat to 10.180.0.9:8080"]));
    expect(e.verdict).toBe("dnat");
    expect(e.endpoints).toEqual([{ address: "10.180.0.9", port: 8080, probability: 1, masquerade: false }]);
    expect(steps(e)).toEqual(["pre#1", "fwd#1"]);
  });

  it("IPv6 dnat to [addr]:port", () => {
    const text = [
      "table ip6 t { chain pre { type nat hook prerouting priority dstnat; policy accept;",
      "\t\tip6 daddr fd00::9 meta l4proto tcp dnat to [fd00:10::9]:8080 } }",
    ].join("\n");
    const e = out(text, { source: "2001:db8::2", destination: "fd00::9" });
    expect(e.endpoints).toEqual([{ address: "fd00:10::9", port: 8080, probability: 1, masquerade: false }]);
  });

  it("a mark set in prerouting is what postrouting's masquerade rule tests (both spellings)", () => {
    for (const [set, test, clear] of [
      ["mark set mark or 0x4000", "mark and 0x4000 == 0 return", "mark set mark xor 0x4000"],
      [
        "meta mark set meta mark | 0x00004000",
        "meta mark & 0x00004000 == 0x00000000 return",
        "meta mark set meta mark ^ 0x00004000",
      ],
    ] as const) {
      const post = [test, clear, "masquerade fully-random"];
      const marked = out(nat([`ip saddr 203.0.113.0/24 ${set}`, "ip daddr 10.0.0.9 dnat to 10.180.0.9:8080"], post));
      expect(marked).toMatchObject({ verdict: "dnat", masquerade: true });
      const unmarked = out(nat([`ip saddr 198.51.100.0/24 ${set}`, "ip daddr 10.0.0.9 dnat to 10.180.0.9:8080"], post));
      expect(unmarked).toMatchObject({ verdict: "dnat", masquerade: false });
    }
  });

  it("numgen random mod N: every branch with probability 1/N, endpoints in map order", () => {
    const extra = [1, 2, 3].map((i) => `\tchain ep${i} { meta l4proto tcp dnat to 10.180.0.${i}:80 }`).join("\n");
    const e = out(nat(["numgen random mod 3 vmap { 0 : goto ep1, 1 : goto ep2, 2 : goto ep3 }"], [], extra));
    expect(e.outcomes).toHaveLength(3);
    expect(e.endpoints.map((x) => [x.address, x.probability])).toEqual([
      ["10.180.0.1", 1 / 3],
      ["10.180.0.2", 1 / 3],
      ["10.180.0.3", 1 / 3],
    ]);
    const capped = out(
      nat(["numgen random mod 3 vmap { 0 : goto ep1, 1 : goto ep2, 2 : goto ep3 }"], [], extra),
      {},
      { maxOutcomes: 2 },
    );
    expect(capped.truncated).toBe(true);
  });

  it("affinity: update @set { ip saddr } remembers the source; its second connection sticks to that endpoint", () => {
    const extra = [
      "\tset aff1 { type ipv4_addr; flags dynamic,timeout; timeout 3h; }",
      "\tset aff2 { type ipv4_addr; flags dynamic,timeout; timeout 3h; }",
      "\tchain ep1 { update @aff1 { ip saddr }; meta l4proto tcp dnat to 10.180.0.1:80 }",
      "\tchain ep2 { update @aff2 { ip saddr }; meta l4proto tcp dnat to 10.180.0.2:80 }",
    ].join("\n");
    const rules = [
      "ip saddr @aff1 goto ep1",
      "ip saddr @aff2 goto ep2",
      "numgen random mod 2 vmap { 0 : goto ep1, 1 : goto ep2 }",
    ];
    const e = out(nat(rules, [], extra));
    expect(e.endpoints.map((x) => x.address)).toEqual(["10.180.0.1", "10.180.0.2"]);
    expect(e.affinity?.seconds).toBe(10800);
    expect(e.affinity?.next.map((n) => [n.after.address, n.endpoints.map((x) => [x.address, x.probability])])).toEqual([
      ["10.180.0.1", [["10.180.0.1", 1]]],
      ["10.180.0.2", [["10.180.0.2", 1]]],
    ]);
    // a node's listing whose affinity set already holds the source: the first packet sticks too
    const listed = nat(
      rules,
      [],
      extra.replace("timeout 3h; }", "timeout 3h; elements = { 203.0.113.2 timeout 3h expires 1h } }"),
    );
    expect(out(listed).endpoints.map((x) => [x.address, x.probability])).toEqual([["10.180.0.1", 1]]);
  });

  // dnat to :PORT and redirect were seen on Linux 6.18 / nft 1.0.6 (counters in input on the new
  // destination: 10.9.0.2:82 after `dnat to :82`, 127.0.0.1:83 after an output `redirect to :83`).
  it("dnat to :PORT keeps the address; redirect from the node goes to loopback, in prerouting it is said to be unknown", () => {
    const pre = (rule: string) =>
      `table ip t { chain pre { type nat hook prerouting priority dstnat; policy accept;\n\t\t${rule}\n\t} }`;
    expect(out(pre("tcp dport 80 dnat to :8080")).endpoints).toEqual([
      { address: "10.0.0.9", port: 8080, probability: 1, masquerade: false },
    ]);
    const redirected = out(pre("tcp dport 80 redirect to :8080"));
    expect(redirected.verdict).toBe("unknown");
    expect(redirected.unknown?.reason).toMatch(/^cannot evaluate: redirect to :8080 in prerouting/);
    const output =
      "table ip t { chain out { type nat hook output priority -100; policy accept;\n\t\ttcp dport 80 redirect to :8080\n\t} }";
    const fromNode = out(output, { from: "node", source: "192.168.0.2" });
    expect(fromNode.endpoints).toEqual([{ address: "127.0.0.1", port: 8080, probability: 1, masquerade: false }]);
    expect(fromNode.outcomes[0]?.delivered).toBe("local");
  });

  // nft_nat / nft_masq validate the hooks: the kernel refuses these rules, so they are not guessed at
  it("NAT on a hook the kernel does not take it on is said to be unknown", () => {
    const natChain = (hook: string, rule: string) =>
      `table ip t { chain n { type nat hook ${hook} priority 100; policy accept;\n\t\t${rule}\n\t} }`;
    const to = { destination: "192.168.0.2" };
    for (const [hook, rule, p] of [
      ["postrouting", "dnat to 10.180.0.9:80", {}],
      ["input", "dnat to 10.180.0.9:80", to],
      ["prerouting", "snat to 192.168.0.2", {}],
      ["input", "masquerade", to],
    ] as const) {
      const e = out(natChain(hook, rule), p);
      expect(e.verdict, `${hook}: ${rule}`).toBe("unknown");
      expect(e.unknown?.reason).toMatch(new RegExp(`^cannot evaluate: \\w+ in ${hook} \\(the kernel takes it in`));
    }
    expect(out(natChain("input", "snat to 192.168.0.3"), to).masquerade).toBe(true);
  });

  it("snat, ct status snat after it, numgen offset, continue, add @set, constant marks, th sport, ip6 nexthdr", () => {
    const post = [
      "table ip t {",
      "\tchain before { type filter hook postrouting priority 50; policy accept; ct status snat drop }",
      "\tchain nat { type nat hook postrouting priority srcnat; policy accept; ip saddr 203.0.113.0/24 snat to 192.168.0.2 }",
      "\tchain after { type filter hook postrouting priority 200; policy accept; ct status snat ip saddr 192.168.0.2 accept }",
      "}",
    ].join("\n");
    const snat = out(post);
    expect(snat).toMatchObject({ verdict: "accept", masquerade: true });
    expect(steps(snat)).toEqual(["nat#1", "after#1"]);
    expect(out(post, { source: "198.51.100.2" })).toMatchObject({ verdict: "no-match", masquerade: false });

    const eps = [1, 2].map((i) => `\tchain ep${i} { meta l4proto tcp dnat to 10.180.0.${i}:80 }`).join("\n");
    const offset = out(
      [
        "table ip t {",
        eps,
        "\tchain pre { type nat hook prerouting priority dstnat; policy accept;",
        "\t\tnumgen random mod 2 offset 1 vmap { 1 : goto ep1, 2 : goto ep2 } } }",
      ].join("\n"),
    );
    expect(offset.endpoints.map((e) => [e.address, e.probability])).toEqual([
      ["10.180.0.1", 0.5],
      ["10.180.0.2", 0.5],
    ]);

    expect(out(table("prerouting", ["ip daddr 10.0.0.9 continue", "drop"])).verdict).toBe("drop");
    expect(out(table("prerouting", ["meta mark set 0x10", "meta mark 0x10 drop"])).verdict).toBe("drop");
    expect(out(table("prerouting", ["mark set 0x10", "mark 0x11 drop"])).verdict).toBe("no-match");
    expect(out(table("prerouting", ["th sport 12345 drop"]), { sourcePort: 12345 }).verdict).toBe("drop");
    expect(out(table("prerouting", ["th sport 12345 drop"]), { sourcePort: 12346 }).verdict).toBe("no-match");
    const v6 = { source: "2001:db8::2", destination: "2001:db8::9" };
    expect(out(table("prerouting", ["ip6 nexthdr tcp drop"], "", "inet"), v6).verdict).toBe("drop");
    expect(out(table("prerouting", ["ip6 nexthdr tcp drop"], "", "inet")).verdict).toBe("no-match");

    // `add @set { ip saddr }` remembers the source as update does
    const aff = [
      "table ip t {",
      "\tset seen { type ipv4_addr; flags dynamic,timeout; timeout 10s; }",
      "\tchain ep1 { add @seen { ip saddr }; meta l4proto tcp dnat to 10.180.0.1:80 }",
      "\tchain ep2 { meta l4proto tcp dnat to 10.180.0.2:80 }",
      "\tchain pre { type nat hook prerouting priority dstnat; policy accept;",
      "\t\tip saddr @seen goto ep2",
      "\t\tgoto ep1 } }",
    ].join("\n");
    const first = out(aff);
    expect(first.endpoints.map((e) => e.address)).toEqual(["10.180.0.1"]);
    expect(first.affinity?.seconds).toBe(10);
    expect(first.affinity?.next.map((n) => n.endpoints.map((e) => e.address))).toEqual([["10.180.0.2"]]);
  });

  it("nft text is recognised by its first text with a command (an empty cleanup text first)", () => {
    const text = affinityService().ipv4?.text ?? "";
    const e = explainPacket(["", { text, name: "tx.nft" }], {
      from: "pod",
      source: "10.0.0.5",
      destination: "172.30.0.45",
      port: 80,
    });
    expect(e.verdict).toBe("dnat");
    expect(e.matchedRules[0]).toMatchObject({ table: "ip kube-proxy", source: "tx.nft" });
  });

  it("kube-proxy's compiled rules: a LoadBalancer with source ranges, ETP Local and affinity", () => {
    const text = affinityService().ipv4?.text ?? "";
    const allowed = explainPacket(
      text,
      { from: "outside", source: "203.0.113.2", destination: "5.6.7.8", port: 80 },
      { localAddresses: ["192.168.0.2"] },
    );
    expect(allowed.verdict).toBe("dnat");
    expect(allowed.endpoints.map((x) => [x.address, x.probability, x.masquerade])).toEqual([
      ["10.180.0.3", 0.5, true],
      ["10.180.0.4", 0.5, true],
    ]);
    expect(allowed.matchedRules.map((r) => r.chain)).toContain("firewall-check");
    const blocked = explainPacket(text, { from: "outside", source: "203.0.113.130", destination: "5.6.7.8", port: 80 });
    expect(blocked.verdict).toBe("drop");
    expect(blocked.outcomes[0]?.reason).toBe("ip saddr != { 203.0.113.0/25 } drop");
  });
});
