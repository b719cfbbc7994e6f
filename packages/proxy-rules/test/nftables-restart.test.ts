// A proxier's first sync over the table an earlier kube-proxy left (`existingRuleset`, what
// `nft list ruleset` prints): as kube-proxy does since its restart optimisation (pinned by
// TestSyncProxyRulesStartup in nftables-proxier.test.ts), only what differs is written, and the
// table ends as a full sync of the same input would leave it (stale chains flushed, then deleted
// after the grace).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileNftables,
  InvalidInputError,
  type NftablesResult,
  type ProxyInput,
  type Service,
} from "../src/index.js";
import { NftDriver } from "./support/nftables-driver.js";
import { listFormat, NftTableModel, sortNFTablesTransaction } from "./support/nftables-model.js";
import { service, slice } from "./support/objects.js";
import { opArb, World } from "./support/world.js";

const node = { name: "node-1", addresses: ["192.168.0.1", "fd00::1"] };
const config = { clusterCIDR: "10.244.0.0/16,fd00:244::/64" };
const web = (affinity?: number): Service =>
  service({
    name: "web",
    type: "NodePort",
    clusterIP: ["10.96.0.10", "fd00:96::10"],
    ports: [{ name: "http", port: 80, nodePort: 30080 }],
    ...(affinity === undefined ? {} : { affinity }),
  });
const db = service({ name: "db", clusterIP: "10.96.0.20", ports: [{ name: "pg", port: 5432 }] });
const dns = service({ name: "dns", clusterIP: "10.96.0.30", ports: [{ name: "dns", port: 53, protocol: "UDP" }] });
const webSlices = (ips: string[], ip6s: string[] = ["fd00:244::11"]) => [
  slice({ service: "web", name: "web-v4" }, [{ name: "http", port: 8080 }], ips),
  slice({ service: "web", name: "web-v6", family: "IPv6" }, [{ name: "http", port: 8080 }], ip6s),
];
const dbSlice = slice({ service: "db" }, [{ name: "pg", port: 5432 }], ["10.244.0.21"]);

const input = (services: Service[], endpointSlices: ProxyInput["endpointSlices"]): ProxyInput => ({
  services,
  endpointSlices,
  node,
  config,
});

function result(r: NftablesResult | undefined): NftablesResult {
  if (r === undefined) throw new Error("no result for the family");
  return r;
}

/** The tables (one model per family) a fresh full sync of `i` leaves. */
function tablesOf(i: ProxyInput): { v4: NftTableModel; v6: NftTableModel } {
  const c = compileNftables(i);
  const v4 = new NftTableModel("ip");
  v4.apply(result(c.ipv4).text);
  const v6 = new NftTableModel("ip6");
  v6.apply(result(c.ipv6).text);
  return { v4, v6 };
}

const ruleset = (t: { v4: NftTableModel; v6: NftTableModel }) =>
  `table inet other {\n\tchain x {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n${listFormat(t.v4)}${listFormat(t.v6)}`;

describe("a first sync over an existing table (existingRuleset)", () => {
  const before = input([web(), db, dns], [...webSlices(["10.244.0.11", "10.244.0.12"]), dbSlice]);
  // web loses an endpoint, db is gone, dns has no endpoints (no change), a new Service appears
  const api = service({ name: "api", clusterIP: "10.96.0.40", ports: [{ name: "http", port: 80 }] });
  const after = input(
    [web(), dns, api],
    [...webSlices(["10.244.0.11"]), slice({ service: "api" }, [{ name: "http", port: 8080 }], ["10.244.0.41"])],
  );

  it("writes only what differs and ends with the table a full sync leaves, stale chains deleted after the grace", () => {
    const kernel = tablesOf(before);
    const driver = new NftDriver({ existingRuleset: ruleset(kernel) });
    const first = driver.sync(after);
    const v4 = result(first.ipv4);
    kernel.v4.apply(v4.text);
    kernel.v6.apply(result(first.ipv6).text);
    driver.applied();

    const lines = v4.text.split("\n");
    // elements diffed: db's gone, the new Service's added, unchanged ones not written again
    expect(lines).toContain("delete element ip kube-proxy cluster-ips { 10.96.0.20 }");
    expect(lines).toContain("delete element ip kube-proxy service-ips { 10.96.0.20 . tcp . 5432 }");
    expect(lines).toContain("add element ip kube-proxy cluster-ips { 10.96.0.40 }");
    expect(lines.some((l) => l.startsWith("flush map") || l.startsWith("flush set ip kube-proxy cluster-ips"))).toBe(
      false,
    );
    expect(lines.filter((l) => l.includes("10.96.0.10 ") && l.includes(" element "))).toEqual([]);
    // web's remaining endpoint chain is left alone; its service chain is written again
    expect(lines.filter((l) => l.includes("__10.244.0.11/8080"))).toEqual([
      expect.stringMatching(/^add rule ip kube-proxy service-.* numgen random mod 1 vmap/),
    ]);
    // the chains of the gone endpoint and of db are flushed (they exist: no `add chain` first)
    const stale = lines.filter((l) => l.startsWith("flush chain") && (l.includes("10.244.0.12") || l.includes("/db/")));
    expect(stale).toHaveLength(3);
    expect(lines.filter((l) => l.startsWith("add chain") && l.includes("10.244.0.12"))).toEqual([]);
    expect(v4.stats.staleChains).toBe(3);
    // the IPv6 table had nothing to change but its setup
    expect(result(first.ipv6).text).not.toContain(" element ");

    // after the grace the stale chains go, and the kernel's tables are those of a full sync
    driver.ageStaleChains();
    const second = driver.sync(after);
    kernel.v4.apply(result(second.ipv4).cleanupText);
    kernel.v4.apply(result(second.ipv4).text);
    driver.applied();
    const fresh = tablesOf(after);
    expect(sorted(kernel.v4)).toEqual(sorted(fresh.v4));
    expect(sorted(kernel.v6)).toEqual(sorted(fresh.v6));
  });

  it("compileNftables gives the proxier's first transaction; without the ruleset everything is written again", () => {
    const kernel = tablesOf(before);
    const withRuleset = result(compileNftables(after, { existingRuleset: ruleset(kernel) }).ipv4);
    expect(withRuleset.text).toBe(result(new NftDriver({ existingRuleset: ruleset(kernel) }).sync(after).ipv4).text);
    const without = result(compileNftables(after).ipv4);
    expect(withRuleset.stats.operations).toBeLessThan(without.stats.operations);
    expect(without.text).toMatch(/^flush map ip kube-proxy service-ips$/m);
    // (and the chains of an earlier payload are unknown to it: left as they are)
    expect(without.text).not.toContain("/db/");
  });

  it("an element whose verdict changed is deleted and added again", () => {
    const kernel = tablesOf(before);
    const noEndpoints = input([web(), db, dns], [...webSlices(["10.244.0.11", "10.244.0.12"])]);
    const t = result(compileNftables(noEndpoints, { existingRuleset: ruleset(kernel) }).ipv4).text.split("\n");
    expect(t).toContain("delete element ip kube-proxy service-ips { 10.96.0.20 . tcp . 5432 }");
    expect(t).toContain(
      'add element ip kube-proxy no-endpoint-services { 10.96.0.20 . tcp . 5432 comment "default/db:pg" : goto reject-chain }',
    );
  });

  it("endpoint chains are written again when affinity changed, and unused affinity sets are deleted", () => {
    const withAffinity = input([web(600)], webSlices(["10.244.0.11"]));
    const plain = input([web()], webSlices(["10.244.0.11"]));
    // affinity switched off: the endpoint chain loses its update rule, the set goes
    let kernel = tablesOf(withAffinity);
    let t = result(compileNftables(plain, { existingRuleset: ruleset(kernel) }).ipv4).text;
    kernel.v4.apply(t);
    expect(t).toMatch(/^delete set ip kube-proxy affinity-[A-Z2-7]{8}-default\/web\/tcp\/http__10\.244\.0\.11\/8080$/m);
    expect(t).toMatch(/^add rule ip kube-proxy endpoint-\S+__10\.244\.0\.11\/8080 meta l4proto tcp dnat/m);
    expect(sorted(kernel.v4)).toEqual(sorted(tablesOf(plain).v4));
    // and on again
    kernel = tablesOf(plain);
    t = result(compileNftables(withAffinity, { existingRuleset: ruleset(kernel) }).ipv4).text;
    kernel.v4.apply(t);
    expect(t).toMatch(/^add rule ip kube-proxy endpoint-\S+ update @affinity-/m);
    expect(sorted(kernel.v4)).toEqual(sorted(tablesOf(withAffinity).v4));
  });

  it("an endpoint chain an earlier kube-proxy left flushed (stale) is written again", () => {
    const kernel = tablesOf(before);
    const name = [...kernel.v4.chains.keys()].find((n) => n.startsWith("endpoint-") && n.includes("10.244.0.21"));
    if (name === undefined) throw new Error("no endpoint chain for db");
    kernel.v4.apply(`flush chain ip kube-proxy ${name}\n`);
    const t = result(compileNftables(before, { existingRuleset: ruleset(kernel) }).ipv4).text;
    expect(t).toContain(`add rule ip kube-proxy ${name} meta l4proto tcp dnat to 10.244.0.21:5432`);
    kernel.v4.apply(t);
    expect(sorted(kernel.v4)).toEqual(sorted(tablesOf(before).v4));
  });

  it("an empty ruleset is an empty kernel: nothing is flushed, every element is added", () => {
    const c = result(compileNftables(before, { existingRuleset: "" }).ipv4);
    expect(c.text).not.toMatch(/^flush (set|map) ip kube-proxy (cluster-ips|service-ips)/m);
    const t = new NftTableModel("ip");
    t.apply(c.text);
    expect(sorted(t)).toEqual(sorted(tablesOf(before).v4));
  });

  it("is read for the first sync only: after applied() the proxier's own state counts; after failed() the kernel is unchanged", () => {
    const kernel = tablesOf(before);
    const driver = new NftDriver({ existingRuleset: ruleset(kernel) });
    const first = result(driver.sync(after).ipv4);
    driver.failed(); // nft -f failed: the kernel still has `before`
    const again = result(driver.sync(after).ipv4);
    expect(again.text).toBe(first.text);
    driver.applied();
    // a partial sync from the applied state: nothing changed but the stale chains' flush
    const third = result(driver.sync(after).ipv4);
    expect(third.partial).toBe(true);
    expect(third.text.split("\n").filter((l) => l !== "" && !l.startsWith("flush chain "))).toEqual([]);
    expect(third.stats.staleChains).toBe(3);
  });

  it("nft -a list ruleset output (handles) is read as the listing without them: the same transaction", () => {
    const kernel = tablesOf(before);
    const plain = ruleset(kernel);
    let handle = 0;
    const withHandles = plain
      .split("\n")
      .map((l) => (/^\t\t[a-z]/.test(l) && !/^\t\t(type|elements|comment) /.test(l) ? `${l} # handle ${++handle}` : l))
      .join("\n");
    expect(withHandles).toContain("dnat to 10.244.0.11:8080 # handle");
    const a = result(compileNftables(after, { existingRuleset: withHandles }).ipv4);
    const b = result(compileNftables(after, { existingRuleset: plain }).ipv4);
    expect(a.text).toBe(b.text);
    // (web's remaining endpoint chain is left alone, as without handles)
    expect(a.text.split("\n").filter((l) => l.includes("__10.244.0.11/8080"))).toHaveLength(1);
  });

  it("text that is not nft's listing is an InvalidInputError naming the line", () => {
    const bad = (text: unknown) => {
      try {
        compileNftables(before, { existingRuleset: text as string });
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidInputError);
        return err as InvalidInputError;
      }
      throw new Error("expected an InvalidInputError");
    };
    // (read as explainPacket reads nft text: its reasons, with the line)
    let e = bad("table ip kube-proxy {\n\tfrobnicate x\n}\n");
    expect([e.object.kind, e.field, e.reason]).toEqual([
      "CompileNftablesOptions",
      "existingRuleset",
      'line 2: unknown "frobnicate" in table ip kube-proxy',
    ]);
    e = bad("table ip kube-proxy {\n\tchain services {\n");
    expect(e.reason).toBe("line 2: chain services not closed (no })");
    e = bad("table ip kube-proxy {\n\tchain bad;name {\n\t}\n}\n");
    expect(e.reason).toBe('line 2: unknown "name" in table ip kube-proxy');
    e = bad('table ip kube-proxy {\n\tchain "bad name" {\n\t}\n}\n');
    expect(e.reason).toBe("line 2: not an nftables name");
    // what goes back into rule text is checked: no second command through an element key
    e = bad(
      "table ip kube-proxy {\n\tset cluster-ips {\n\t\ttype ipv4_addr\n\t\telements = { 10.96.0.1 } ; flush ruleset ; { 1 }\n\t}\n}\n",
    );
    expect(e.reason).toBe('line 4: unknown "flush" in set cluster-ips');
    e = bad("table ip kube-proxy {\n\tset s {\n\t\ttype inet_service\n\t\telements = { 80$x }\n\t}\n}\n");
    expect(e.reason).toBe("line 2: not an element key nft lists");
    e = bad(42);
    expect(e.field).toBe("existingRuleset");
  });
});

/** A table's dump as kube-proxy's tests compare them. */
function sorted(m: NftTableModel): string {
  return sortNFTablesTransaction(m.dump());
}

describe("a first sync over an existing table (property)", () => {
  const options = { partialResults: true, serviceCIDRs: ["10.96.0.0/16"], families: ["IPv4" as const] };
  it("over the table of any earlier input, the table ends as a full sync of the new input leaves it", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 15 }),
        fc.array(opArb, { maxLength: 10 }),
        (earlier, meanwhile) => {
          const world = new World();
          for (const op of earlier) world.apply(op);
          const kernel = new NftTableModel("ip");
          kernel.apply(result(compileNftables(world.input(), options).ipv4).text);
          for (const op of meanwhile) world.apply(op);
          const driver = new NftDriver({ ...options, existingRuleset: listFormat(kernel) });
          const first = result(driver.sync(world.input()).ipv4);
          kernel.apply(first.text); // (replays: no missing object flushed, no element added twice)
          driver.applied();
          driver.ageStaleChains();
          const second = result(driver.sync(world.input()).ipv4);
          kernel.apply(second.cleanupText);
          kernel.apply(second.text);
          const fresh = new NftTableModel("ip");
          fresh.apply(result(compileNftables(world.input(), options).ipv4).text);
          expect(sorted(kernel)).toBe(sorted(fresh));
        },
      ),
      { numRuns: 150 },
    );
  });
});
