// Property on the kernel: any sequence of nftables partial syncs, each loaded with `nft -f` in one
// network namespace, leaves the same table (`nft list table`) as one full sync of the final input
// loaded into a fresh table, once the stale chains' grace is over. Required in CI (CI=true).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileNftables, type NftablesCompilation } from "../src/index.js";
import { defined } from "./support/defined.js";
import { nftKernelTestBlocker } from "./support/netns.js";
import { NftDriver } from "./support/nftables-driver.js";
import { normalizeListing } from "./support/nftables-model.js";
import { opArb, World } from "./support/world.js";

const blocker = nftKernelTestBlocker();
const required = process.env.CI === "true";
if (blocker && !required) console.warn(`nftables partial-sync kernel tests skipped: ${blocker}`);

const options = { partialResults: true, serviceCIDRs: ["10.96.0.0/16"] };

describe.skipIf(!!blocker && !required)("kernel: nftables partial syncs equal a full sync (property)", () => {
  const id = randomBytes(3).toString("hex");
  const nsPartial = `kpnfp${id}`;
  const nsFull = `kpnff${id}`;
  const exec = (ns: string, args: string[], input?: string) =>
    execFileSync("ip", ["netns", "exec", ns, ...args], { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  const nft = (ns: string, text: string) => {
    if (text === "") return;
    try {
      exec(ns, ["nft", "-f", "-"], text);
    } catch (err) {
      throw new Error(`nft -f failed: ${(err as { stderr?: string }).stderr}\n${text}`);
    }
  };
  const reset = (ns: string) => {
    try {
      exec(ns, ["nft", "delete", "table", "ip", "kube-proxy"]);
    } catch {
      // no table yet
    }
  };
  const load = (ns: string, c: NftablesCompilation) => {
    nft(ns, defined(c.ipv4).cleanupText);
    nft(ns, defined(c.ipv4).text);
  };
  const list = (ns: string) => normalizeListing(exec(ns, ["nft", "list", "table", "ip", "kube-proxy"]));

  beforeAll(() => {
    if (blocker) throw new Error(`required in CI but cannot run: ${blocker}`);
    for (const ns of [nsPartial, nsFull]) execFileSync("ip", ["netns", "add", ns]);
  });
  afterAll(() => {
    for (const ns of [nsPartial, nsFull]) {
      try {
        execFileSync("ip", ["netns", "del", ns]);
      } catch {
        // best effort
      }
    }
  });

  it("nft list table after partial syncs equals a fresh full sync of the final input", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(opArb, fc.boolean()), { minLength: 1, maxLength: 15 }), (steps) => {
        reset(nsPartial);
        const world = new World();
        const driver = new NftDriver(options);
        for (const [op, wait] of steps) {
          world.apply(op);
          if (wait) driver.ageStaleChains();
          load(nsPartial, driver.sync(world.input()));
          driver.applied();
        }
        driver.ageStaleChains();
        load(nsPartial, driver.sync(world.input()));
        driver.applied();
        reset(nsFull);
        nft(nsFull, defined(compileNftables(world.input(), options).ipv4).text);
        expect(list(nsFull)).toContain("chain services {");
        expect(list(nsPartial)).toBe(list(nsFull));
      }),
      { numRuns: Number(process.env.PROPERTY_KERNEL_RUNS ?? 15) },
    );
  });
});
