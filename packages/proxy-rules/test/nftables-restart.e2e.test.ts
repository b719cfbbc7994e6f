// On the kernel: a proxier's first sync over the tables an earlier kube-proxy left, read from what
// `nft list ruleset` really prints (existingRuleset). The transaction loads with `nft -f`, leaves
// alone the endpoint chains nft lists with the rules we would write (IPv4, IPv6, affinity), and
// once the stale chains' grace is over both tables are those a full sync loads into a fresh
// namespace. Required in CI (CI=true).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileNftables, type NftablesCompilation, type ProxyInput } from "../src/index.js";
import { E2E_NODE, kernelServices, kernelSlices, webSlice } from "./support/kernel-scenario.js";
import { NODE_IP, NODE_IP6, nftKernelTestBlocker, POD_IPS } from "./support/netns.js";
import { NftDriver } from "./support/nftables-driver.js";
import { normalizeListing } from "./support/nftables-model.js";
import { service, slice } from "./support/objects.js";

const blocker = nftKernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required) console.warn(`nftables restart kernel tests skipped: ${blocker}`);

const options = { serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"] };
const scenario = { dualStackWeb: true, draining: true } as const;

function input(services: ProxyInput["services"], endpointSlices: ProxyInput["endpointSlices"]): ProxyInput {
  return {
    services,
    endpointSlices,
    node: { name: E2E_NODE, addresses: [NODE_IP, NODE_IP6] },
    config: { clusterCIDR: "10.244.0.0/16,fd00:244::/64" },
  };
}

describe.skipIf(!!blocker && !required)("kernel: nftables first sync over an existing table", () => {
  const id = randomBytes(3).toString("hex");
  const nsOld = `kpnfr${id}`;
  const nsFresh = `kpnfn${id}`;
  const exec = (ns: string, args: string[], stdin?: string) =>
    execFileSync("ip", ["netns", "exec", ns, ...args], {
      input: stdin,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });
  const nft = (ns: string, text: string) => {
    if (text === "") return;
    try {
      exec(ns, ["nft", "-f", "-"], text);
    } catch (err) {
      throw new Error(`nft -f failed: ${(err as { stderr?: string }).stderr}\n${text}`);
    }
  };
  const load = (ns: string, c: NftablesCompilation) => {
    for (const r of c.results) {
      nft(ns, r.cleanupText);
      nft(ns, r.text);
    }
  };
  const list = (ns: string, family: "ip" | "ip6") =>
    normalizeListing(exec(ns, ["nft", "list", "table", family, "kube-proxy"]));

  beforeAll(() => {
    if (blocker) throw new Error(`required in CI but cannot run: ${blocker}`);
    for (const ns of [nsOld, nsFresh]) execFileSync("ip", ["netns", "add", ns]);
  });
  afterAll(() => {
    for (const ns of [nsOld, nsFresh]) {
      try {
        execFileSync("ip", ["netns", "del", ns]);
      } catch {
        // best effort
      }
    }
  });

  it("writes only what differs from nft's listing and ends with a full sync's tables", () => {
    const before = input(kernelServices(scenario), kernelSlices(scenario));
    load(nsOld, compileNftables(before, options));
    const listed = exec(nsOld, ["nft", "list", "ruleset"]);

    // while kube-proxy was down: web lost pod3, dns went away, a new Service came
    const [pod1, pod2] = POD_IPS;
    const after = input(
      [
        ...kernelServices(scenario).filter((s) => s.metadata?.name !== "dns"),
        service({ name: "new", clusterIP: "10.96.0.80", ports: [{ port: 80 }] }),
      ],
      [
        webSlice([pod1, pod2]),
        ...kernelSlices(scenario).filter((s) => !["web-abc12", "dns-abc12"].includes(s.metadata?.name ?? "")),
        slice({ service: "new" }, [{ port: 8080 }], [{ ip: pod1, node: E2E_NODE }]),
      ],
    );
    const driver = new NftDriver({ ...options, existingRuleset: listed });
    const first = driver.sync(after);
    load(nsOld, first);
    driver.applied();

    const v4 = first.ipv4?.text ?? "";
    const v6 = first.ipv6?.text ?? "";
    const full = compileNftables(after, options);
    // the endpoint chains nft listed with our rules are left alone: web's and sticky's (with its
    // affinity rule) in IPv4, web's in IPv6 (dnat to [address]:port)
    const endpointChains = (t: string) => t.split("\n").filter((l) => /^add chain ip6? kube-proxy endpoint-/.test(l));
    expect(endpointChains(v4).filter((l) => l.includes("/web/") || l.includes("/sticky/"))).toEqual([]);
    expect(endpointChains(v6)).toEqual([]);
    expect(endpointChains(v4).some((l) => l.includes("/new/"))).toBe(true);
    expect(v4).toMatch(/^delete element ip kube-proxy cluster-ips \{ 10\.96\.0\.11 \}$/m);
    expect(first.ipv4?.stats.operations ?? 0).toBeLessThan(full.ipv4?.stats.operations ?? 0);

    // after the grace the stale chains go; both tables equal a fresh full sync's
    driver.ageStaleChains();
    load(nsOld, driver.sync(after));
    driver.applied();
    load(nsFresh, full);
    expect(list(nsFresh, "ip")).toContain("chain services {");
    expect(list(nsOld, "ip")).toBe(list(nsFresh, "ip"));
    expect(list(nsOld, "ip6")).toBe(list(nsFresh, "ip6"));
  });
});
