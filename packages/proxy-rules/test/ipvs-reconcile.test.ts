// Reconcile plans of the IPVS mode: the parsers of ipvsadm / ipset / ip output, planIpvsReconcile
// on kube-proxy's cases (Test_syncService, TestCleanLegacyService*, Test_syncEndpoint_update-
// WeightsOnRestart, TestMultiPortServiceBindAddr of pkg/proxy/ipvs/proxier_test.go; graceful
// termination as graceful_termination.go does it), and syncIpvs's incremental changes.

import { describe, expect, it } from "vitest";
import {
  compileIpvs,
  type IpvsCompilation,
  type IpvsResult,
  type IpvsState,
  ipvsKernelState,
  type ProxyInput,
  parseIpAddrShow,
  parseIpsetSave,
  parseIpvsadmList,
  parseIpvsadmSave,
  planIpvsReconcile,
  syncIpvs,
} from "../src/index.js";
import type { IPFamily } from "../src/model/ip.js";
import type { SyncFrom } from "../src/plan/sync.js";
import { UndoLog } from "../src/plan/undo-log.js";
import { defined } from "./support/defined.js";
import { service, slice } from "./support/objects.js";

const NODE = "node-1";
const input = (
  services: ProxyInput["services"],
  slices: ProxyInput["endpointSlices"],
  extra: Partial<ProxyInput> = {},
): ProxyInput => ({
  services,
  endpointSlices: slices,
  node: { name: NODE, addresses: ["192.168.77.1"] },
  ...extra,
});
const web = (ips: string[], proto = "TCP") =>
  [
    [service({ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, protocol: proto }] })],
    [
      slice(
        { service: "web" },
        [{ name: "http", port: 8080, protocol: proto }],
        ips.map((ip) => ({ ip, node: "other" })),
      ),
    ],
  ] as const;
const v4 = (c: IpvsCompilation): IpvsResult => defined(c.ipv4);
const lines = (t: string) => t.split("\n").filter((l) => l !== "");

describe("parsers", () => {
  it("parseIpvsadmSave reads what renderIpvsadm writes (round trip), and ipvsadm's own spellings", () => {
    const [svcs, eps] = web(["10.244.0.11", "10.244.0.12"]);
    const r = v4(
      compileIpvs(
        input(
          [...svcs, service({ name: "s6", clusterIP: "fd00::10", ports: [{ port: 53, protocol: "UDP" }] })],
          [...eps],
          { node: { name: NODE, addresses: ["192.168.77.1", "fd00::1"] } },
        ),
      ),
    );
    const parsed = parseIpvsadmSave(r.ipvsadmText);
    expect([...parsed.keys()]).toEqual(r.virtualServers.map((v) => v.key));
    for (const vs of r.virtualServers) {
      const p = defined(parsed.get(vs.key));
      expect([p.scheduler, p.flags, p.timeout]).toEqual([vs.scheduler, vs.flags, vs.timeout]);
      expect([...p.realServers.values()].map((x) => [x.address, x.port, x.weight])).toEqual(
        vs.realServers.map((x) => [x.address, x.port, x.weight]),
      );
    }
    const own = parseIpvsadmSave(
      "-A -t [fd00::10]:80 -s mh -b mh-port -p 600\n-a -t [fd00::10]:80 -r [fd00:244::11]:8080 -m -w 0\n-A --sctp-service 10.96.0.30:80 -s rr\n",
    );
    expect(own.get("[fd00::10]:80/TCP")).toMatchObject({ scheduler: "mh", flags: 0x11, timeout: 600 });
    expect(defined(defined(own.get("[fd00::10]:80/TCP")).realServers.get("[fd00:244::11]:8080")).weight).toBe(0);
    expect(own.get("10.96.0.30:80/SCTP")).toBeDefined();
    expect(() => parseIpvsadmSave("-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.11:80 -r 10.0.0.1:80 -m -w 1\n")).toThrow(
      /IpvsadmSave: line 2: a real server of a service not declared before it/,
    );
  });

  it("parseIpvsadmList reads the connection counts of ipvsadm -L -n", () => {
    const listed = parseIpvsadmList(`IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.10:80 rr persistent 10800
  -> 10.244.0.11:8080             Masq    1      3          5
  -> 10.244.0.12:8080             Masq    0      0          0
TCP  1.2.3.4:80 mh (mh-port)
UDP  [fd00::10]:53 rr
  -> [fd00:244::11]:53            Masq    1      0          2
`);
    const vs = defined(listed.get("10.96.0.10:80/TCP"));
    expect([vs.flags, vs.timeout]).toEqual([1, 10800]);
    expect(vs.realServers.get("10.244.0.11:8080")).toMatchObject({
      weight: 1,
      activeConnections: 3,
      inactiveConnections: 5,
    });
    expect(defined(listed.get("1.2.3.4:80/TCP")).flags).toBe(0x10);
    expect(
      defined(defined(listed.get("[fd00::10]:53/UDP")).realServers.get("[fd00:244::11]:53")).inactiveConnections,
    ).toBe(2);
  });

  it("parseIpsetSave reads ipset save (extra create options, /32 nets printed bare)", () => {
    const sets =
      parseIpsetSave(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x2d280a78
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,1.2.3.4
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
`);
    expect(sets.get("KUBE-CLUSTER-IP")).toMatchObject({ type: "hash:ip,port", family: "inet" });
    expect([...defined(sets.get("KUBE-LOAD-BALANCER-SOURCE-CIDR")).entries]).toEqual([
      "1.2.3.4,tcp:80,1.2.3.4/32",
      "1.2.3.4,tcp:80,10.0.0.0/8",
    ]);
    expect(defined(sets.get("KUBE-NODE-PORT-TCP")).family).toBeUndefined();
    expect(() => parseIpsetSave("add NOPE 1\n")).toThrow(/IpsetSave: line 1/);
  });

  it("parseIpsetSave reads an IPv6 address ipset prints in the IPv4-compatible form as the address kube-proxy wrote", () => {
    // what `ipset save` printed on this VM's kernel after `add KUBE-6-CLUSTER-IP ::1:0,tcp:1` (inet_ntop)
    const sets =
      parseIpsetSave(`create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0xbc8fdad1
add KUBE-6-CLUSTER-IP ::0.1.0.0,tcp:1
create KUBE-6-LOAD-BALANCER-SOURCE-CID hash:ip,port,net family inet6 hashsize 1024 maxelem 65536
add KUBE-6-LOAD-BALANCER-SOURCE-CID ::0.1.0.0,tcp:1,::0.2.0.0
add KUBE-6-LOAD-BALANCER-SOURCE-CID ::0.1.0.0,tcp:1,fd00::/64
create KUBE-6-IPVS-IPS hash:ip family inet6 hashsize 1024 maxelem 65536
add KUBE-6-IPVS-IPS ::0.1.0.0
`);
    expect([...defined(sets.get("KUBE-6-CLUSTER-IP")).entries]).toEqual(["::1:0,tcp:1"]);
    expect([...defined(sets.get("KUBE-6-LOAD-BALANCER-SOURCE-CID")).entries]).toEqual([
      "::1:0,tcp:1,::2:0/128",
      "::1:0,tcp:1,fd00::/64",
    ]);
    expect([...defined(sets.get("KUBE-6-IPVS-IPS")).entries]).toEqual(["::1:0"]);
  });

  it("parseIpAddrShow reads the addresses of kube-ipvs0, undefined when it does not exist", () => {
    const text = `5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default
    link/ether 2a:5c:7e:1b:9a:01 brd ff:ff:ff:ff:ff:ff
    inet 10.96.0.10/32 scope global kube-ipvs0
       valid_lft forever preferred_lft forever
    inet6 fd00::10/128 scope global tentative
       valid_lft forever preferred_lft forever
`;
    expect([...defined(parseIpAddrShow(text))]).toEqual(["10.96.0.10", "fd00::10"]);
    expect(parseIpAddrShow('Device "kube-ipvs0" does not exist.\n')).toBeUndefined();
  });
});

describe("planIpvsReconcile", () => {
  it("from nothing: the interface, every set, the servers, the addresses, the entries", () => {
    const [svcs, eps] = web(["10.244.0.11"]);
    const r = v4(compileIpvs(input([...svcs], [...eps])));
    const plan = planIpvsReconcile(ipvsKernelState({}), r);
    expect(lines(plan.ipText)).toEqual(["link add kube-ipvs0 type dummy", "addr add 10.96.0.10/32 dev kube-ipvs0"]);
    expect(lines(plan.ipvsadmText)).toEqual([
      "-A -t 10.96.0.10:80 -s rr",
      "-a -t 10.96.0.10:80 -r 10.244.0.11:8080 -m -w 1",
    ]);
    expect(lines(plan.ipsetText).filter((l) => l.startsWith("create"))).toHaveLength(17);
    expect(lines(plan.ipsetText).filter((l) => l.startsWith("add"))).toEqual([
      "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
      "add KUBE-IPVS-IPS 10.96.0.10",
    ]);
  });

  it("nothing to do when the node has the desired state", () => {
    const [svcs, eps] = web(["10.244.0.11", "10.244.0.12"]);
    const r = v4(compileIpvs(input([...svcs], [...eps])));
    const current = ipvsKernelState({
      ipvsadmSave: r.ipvsadmText,
      ipsetSave: r.ipsetText,
      ipAddrShow: "inet 10.96.0.10/32 scope global",
    });
    expect(planIpvsReconcile(current, r).operations).toEqual([]);
  });

  // Test_syncService: an existing virtual server that differs is updated, a missing one created
  const syncServiceCases: [string, string | undefined, string, string[]][] = [
    ["case 0, old virtual server is same as new virtual server", "-A -t 1.2.3.4:80 -s rr", "rr", []],
    [
      "case 1, old virtual server is different from new virtual server (persistent)",
      "-A -t 1.2.3.4:80 -s rr",
      "rr-p",
      ["-E -t 1.2.3.4:80 -s rr -p 10800"],
    ],
    [
      "case 2, old virtual server is different from new virtual server (scheduler)",
      "-A -t 1.2.3.4:80 -s rr",
      "wlc",
      ["-E -t 1.2.3.4:80 -s wlc"],
    ],
    ["case 3, old virtual server is nil, and create new virtual server", undefined, "rr", ["-A -t 1.2.3.4:80 -s rr"]],
  ];
  for (const [name, current, desired, expected] of syncServiceCases) {
    it(`Test_syncService ${name}`, () => {
      const svc = service({
        name: "web",
        type: "LoadBalancer",
        clusterIP: "10.96.0.10",
        ports: [{ name: "http", port: 80, nodePort: 30080 }],
        lbIPs: ["1.2.3.4"],
        ...(desired === "rr-p" ? { affinity: 10800 } : {}),
      });
      const r = v4(
        compileIpvs({
          services: [svc],
          endpointSlices: [],
          node: { name: NODE, addresses: [] },
          config: { ipvs: { scheduler: desired === "rr-p" ? "rr" : desired } },
        }),
      );
      const state = ipvsKernelState({ ipvsadmSave: current ?? "" });
      const plan = planIpvsReconcile(state, r);
      const ops = plan.operations
        .filter((o) => o.tool === "ipvsadm" && o.args.includes("1.2.3.4:80"))
        .map((o) => o.args.join(" "));
      expect(ops).toEqual(expected);
    });
  }

  it("Test_syncEndpoint_updateWeightsOnRestart: a wanted real server at weight 0 gets weight 1 back", () => {
    const [svcs, eps] = web(["10.244.0.11"]);
    const r = v4(compileIpvs(input([...svcs], [...eps])));
    const current = ipvsKernelState({
      ipvsadmSave: "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.0.11:8080 -m -w 0\n",
    });
    const ops = planIpvsReconcile(current, r).operations.filter((o) => o.tool === "ipvsadm");
    expect(ops.map((o) => o.args.join(" "))).toEqual(["-e -t 10.96.0.10:80 -r 10.244.0.11:8080 -m -w 1"]);
  });

  it("TestCleanLegacyService: stale virtual servers deleted, those in excludeCIDRs and of the other family left", () => {
    const r = v4(
      compileIpvs({
        services: [
          service({ name: "a", clusterIP: "1.1.1.1", ports: [{ port: 53, protocol: "UDP" }] }),
          service({ name: "b", clusterIP: "2.2.2.2", ports: [{ port: 54, protocol: "UDP" }] }),
        ],
        endpointSlices: [],
        node: { name: NODE, addresses: [] },
        config: { ipvs: { excludeCIDRs: ["3.3.3.0/24", "4.4.4.0/24"] } },
      }),
    );
    const current = ipvsKernelState({
      ipvsadmSave: [
        "-A -u 1.1.1.1:53 -s rr", // created by kube-proxy
        "-A -u 2.2.2.2:54 -s rr", // created by kube-proxy
        "-A -u 3.3.3.3:55 -s rr", // created by an external party
        "-A -u 4.4.4.4:56 -s rr", // created by an external party
        "-A -u 5.5.5.5:57 -s rr", // created by an external party (not excluded: deleted)
        "-A -u 6.6.6.6:58 -s rr", // created by kube-proxy, but now stale
        "-A -u [1000::6]:58 -s rr", // the IPv6 proxier's
        "",
      ].join("\n"),
    });
    const deleted = planIpvsReconcile(current, r)
      .operations.filter((o) => o.op === "delete-service")
      .map((o) => o.args.join(" "));
    expect(deleted).toEqual(["-D -u 5.5.5.5:57", "-D -u 6.6.6.6:58"]);
  });

  it("TestCleanLegacyServiceWithRealServers: a deleted Service's virtual server goes with its real servers", () => {
    const r = v4(
      compileIpvs({
        services: [service({ name: "c", clusterIP: "3.3.3.3", ports: [{ port: 54, protocol: "UDP" }] })],
        endpointSlices: [],
        node: { name: NODE },
      }),
    );
    const current = ipvsKernelState({
      ipvsadmSave:
        "-A -u 1.1.1.1:53 -s rr\n-a -u 1.1.1.1:53 -r 10.180.0.1:53 -m -w 1\n-A -u 2.2.2.2:54 -s rr\n-A -u 3.3.3.3:54 -s rr\n",
    });
    const ipvsadm = planIpvsReconcile(current, r)
      .operations.filter((o) => o.tool === "ipvsadm")
      .map((o) => o.args.join(" "));
    expect(ipvsadm).toEqual(["-D -u 1.1.1.1:53", "-D -u 2.2.2.2:54"]);
  });

  it("TestCleanLegacyService6: the IPv6 proxier's clean-up, with IPv6 excludeCIDRs", () => {
    const r = defined(
      compileIpvs(
        {
          services: [
            service({ name: "a", clusterIP: "1000::1", ports: [{ port: 53, protocol: "UDP" }] }),
            service({ name: "b", clusterIP: "1000::2", ports: [{ port: 54, protocol: "UDP" }] }),
          ],
          endpointSlices: [],
          node: { name: NODE, addresses: ["::1"] },
          config: { ipvs: { excludeCIDRs: ["3000::/64", "4000::/64"] } },
        },
        { families: ["IPv6"] },
      ).ipv6,
    );
    const current = ipvsKernelState({
      ipvsadmSave: ["1000::1]:53", "1000::2]:54", "3000::1]:55", "4000::1]:56", "5000::1]:57", "1000::6]:58"]
        .map((a) => `-A -u [${a} -s rr\n`)
        .join(""),
    });
    const deleted = planIpvsReconcile(current, r)
      .operations.filter((o) => o.op === "delete-service")
      .map((o) => o.args.join(" "));
    expect(deleted).toEqual(["-D -u [5000::1]:57", "-D -u [1000::6]:58"]);
  });

  it("TestMultiPortServiceBindAddr: stale addresses unbound, shared ones kept", () => {
    const svc = service({ name: "svc1", clusterIP: "172.16.55.4", ports: [{ name: "port1", port: 1234 }] });
    const r = v4(compileIpvs(input([svc], [])));
    const plan = planIpvsReconcile(
      ipvsKernelState({ ipAddrShow: "inet 172.16.55.4/32 scope global\ninet 172.16.55.9/32 scope global\n" }),
      r,
    );
    expect(lines(plan.ipText)).toEqual(["addr del 172.16.55.9/32 dev kube-ipvs0"]);
  });

  describe("graceful termination (graceful_termination.go)", () => {
    const current = (weight: number, active: number, inactive: number, proto = "-t") =>
      ipvsKernelState({
        ipvsadmSave: `-A ${proto} 10.96.0.10:80 -s rr\n-a ${proto} 10.96.0.10:80 -r 10.244.0.11:8080 -m -w 1\n-a ${proto} 10.96.0.10:80 -r 10.244.0.12:8080 -m -w ${weight}\n`,
        ipvsadmList: `TCP  10.96.0.10:80 rr\n  -> 10.244.0.11:8080 Masq 1 0 0\n  -> 10.244.0.12:8080 Masq ${weight} ${active} ${inactive}\n`,
      });
    const desired = (proto = "TCP") => {
      const [svcs, eps] = web(["10.244.0.11"], proto);
      return v4(compileIpvs(input([...svcs], [...eps])));
    };
    const serverOps = (plan: ReturnType<typeof planIpvsReconcile>) =>
      plan.operations.filter((o) => o.tool === "ipvsadm").map((o) => o.args.join(" "));

    it("a TCP real server with connections is set to weight 0 and drains", () => {
      const plan = planIpvsReconcile(current(1, 2, 3), desired());
      expect(serverOps(plan)).toEqual(["-e -t 10.96.0.10:80 -r 10.244.0.12:8080 -m -w 0"]);
      expect(plan.draining).toEqual([
        {
          virtualServer: "10.96.0.10:80/TCP",
          realServer: "10.244.0.12:8080",
          activeConnections: 2,
          inactiveConnections: 3,
        },
      ]);
    });
    it("once drained (no active nor inactive connection) it is deleted", () => {
      const plan = planIpvsReconcile(current(0, 0, 0), desired());
      expect(serverOps(plan)).toEqual(["-d -t 10.96.0.10:80 -r 10.244.0.12:8080"]);
      expect(plan.draining).toEqual([]);
    });
    it("still draining at weight 0: nothing to do yet", () => {
      const plan = planIpvsReconcile(current(0, 0, 1), desired());
      expect(serverOps(plan)).toEqual([]);
      expect(plan.draining).toHaveLength(1);
    });
    it("without connection counts (ipvsadm -S only) a TCP real server is never deleted", () => {
      const state = ipvsKernelState({
        ipvsadmSave:
          "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.0.11:8080 -m -w 1\n-a -t 10.96.0.10:80 -r 10.244.0.12:8080 -m -w 0\n",
      });
      expect(serverOps(planIpvsReconcile(state, desired()))).toEqual([]);
    });
    it("UDP (and SCTP) real servers are deleted at once (IsRsGracefulTerminationNeeded)", () => {
      const plan = planIpvsReconcile(current(1, 2, 3, "-u"), desired("UDP"));
      expect(serverOps(plan)).toEqual(["-d -u 10.96.0.10:80 -r 10.244.0.12:8080"]);
    });
  });
});

/** A minimal proxier over syncIpvs (the lead wires the real one into createProxier). */
function ipvsProxier() {
  let applied: IpvsState | undefined;
  return {
    sync(i: ProxyInput): IpvsCompilation {
      const from: SyncFrom<IpvsState> = {
        state: applied,
        partialAllowed: applied !== undefined,
        failedObjects: new Map<IPFamily, Set<string>>(),
        fullSync: false,
      };
      const out = syncIpvs(i, {}, from, new UndoLog());
      applied = out.state;
      return out.compilation;
    },
  };
}

describe("syncIpvs: changes since the last applied state", () => {
  it("a removed endpoint: weight 0 and draining; back again: weight 1; other Services untouched", () => {
    const p = ipvsProxier();
    const other = service({ name: "db", clusterIP: "10.96.0.20", ports: [{ port: 5432 }] });
    const otherSlice = slice({ service: "db" }, [{ port: 5432 }], ["10.244.0.30"]);
    const svcs = [service({ name: "web", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] }), other];
    const s1 = slice({ service: "web" }, [{ name: "http", port: 8080 }], ["10.244.0.11", "10.244.0.12"]);
    const first = v4(p.sync(input(svcs, [s1, otherSlice])));
    expect(first.changes.operations.filter((o) => o.op === "add-service")).toHaveLength(2);
    const s2 = slice({ service: "web" }, [{ name: "http", port: 8080 }], ["10.244.0.11"]);
    const second = v4(p.sync(input(svcs, [s2, otherSlice])));
    expect(second.changes.operations.map((o) => o.args.join(" "))).toEqual([
      "-e -t 10.96.0.10:80 -r 10.244.0.12:8080 -m -w 0",
    ]);
    expect(second.changes.draining.map((d) => d.realServer)).toEqual(["10.244.0.12:8080"]);
    expect(second.stats.rewrittenServices).toBe(1);
    const third = v4(p.sync(input(svcs, [s1, otherSlice])));
    expect(third.changes.operations.map((o) => o.args.join(" "))).toEqual([
      "-e -t 10.96.0.10:80 -r 10.244.0.12:8080 -m -w 1",
    ]);
    // the state after the changes is the full compile's
    const full = v4(compileIpvs(input(svcs, [s1, otherSlice])));
    expect(third.ipvsadmText).toBe(full.ipvsadmText);
    expect(third.ipsetText).toBe(full.ipsetText);
    expect(second.ipvsadmText).not.toBe(full.ipvsadmText); // (a result keeps its own snapshot)
  });

  it("a deleted Service: its virtual server, entries and address go; a shared address stays", () => {
    const p = ipvsProxier();
    const a = service({ name: "a", clusterIP: "10.96.0.10", ports: [{ port: 80 }], externalIPs: ["192.168.99.10"] });
    const b = service({ name: "b", clusterIP: "10.96.0.11", ports: [{ port: 81 }], externalIPs: ["192.168.99.10"] });
    p.sync(input([a, b], []));
    const next = v4(p.sync(input([a], [])));
    const ops = next.changes.operations.map((o) => o.args.join(" "));
    expect(ops).toContain("-D -t 10.96.0.11:81");
    expect(ops).toContain("-D -t 192.168.99.10:81");
    expect(ops).toContain("addr del 10.96.0.11/32 dev kube-ipvs0");
    expect(ops).toContain("del KUBE-CLUSTER-IP 10.96.0.11,tcp:81");
    expect(ops).toContain("del KUBE-EXTERNAL-IP 192.168.99.10,tcp:81");
    expect(ops.some((o) => o.includes("192.168.99.10/32"))).toBe(false);
    expect(
      planIpvsReconcile(
        ipvsKernelState({
          ipvsadmSave: v4(compileIpvs(input([a, b], []))).ipvsadmText,
          ipsetSave: v4(compileIpvs(input([a, b], []))).ipsetText,
          ipAddrShow: "inet 10.96.0.10/32\ninet 10.96.0.11/32\ninet 192.168.99.10/32\n",
        }),
        next,
      )
        .operations.map((o) => o.args.join(" "))
        .sort(),
    ).toEqual([...ops].sort());
  });
});
