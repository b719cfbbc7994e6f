// Property: any sequence of nftables partial syncs (Services and slices added, removed, changed,
// renamed, invalid objects, node label changes), each transaction replayed in a model of the
// table (its stale-chain clean-up first), leaves the table exactly as one full sync of the final
// input does once the stale chains' grace is over; every transaction replays (no reference to a
// missing chain or set, no element added twice, no missing object flushed). A failed transaction
// (lost, as `nft -f` is atomic) is followed by a full sync that gives the same table again.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileNftables, type ProxyInput } from "../src/index.js";
import { defined } from "./support/defined.js";
import { NftDriver } from "./support/nftables-driver.js";
import { NftTableModel, sortNFTablesTransaction } from "./support/nftables-model.js";
import { opArb, World } from "./support/world.js";

const options = { partialResults: true, serviceCIDRs: ["10.96.0.0/16"] };

function fullDump(input: ProxyInput): string {
  const t = new NftTableModel("ip");
  t.apply(defined(compileNftables(input, options).ipv4).text);
  return sortNFTablesTransaction(t.dump());
}

function load(t: NftTableModel, c: { ipv4?: { cleanupText: string; text: string } | undefined }): void {
  if (defined(c.ipv4).cleanupText !== "") t.apply(defined(c.ipv4).cleanupText);
  t.apply(defined(c.ipv4).text);
}

describe("nftables partial sync (property)", () => {
  it("partial transactions applied in sequence equal one full sync of the final input", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(opArb, fc.boolean()), { minLength: 1, maxLength: 25 }), (steps) => {
        const world = new World();
        const table = new NftTableModel("ip");
        const driver = new NftDriver(options);
        for (const [op, wait] of steps) {
          world.apply(op);
          if (wait) driver.ageStaleChains();
          load(table, driver.sync(world.input()));
          driver.applied();
        }
        // the grace of every stale chain ends: the next sync's clean-up deletes them
        driver.ageStaleChains();
        const last = driver.sync(world.input());
        load(table, last);
        driver.applied();
        expect(defined(last.ipv4).stats.staleChains).toBe(0);
        expect(sortNFTablesTransaction(table.dump())).toBe(fullDump(world.input()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });

  it("after a failed transaction (not loaded) the next sync is full and gives the same table", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 2, maxLength: 12 }), opArb, (ops, extra) => {
        const world = new World();
        for (const op of ops) world.apply(op);
        const driver = new NftDriver(options);
        const table = new NftTableModel("ip");
        load(table, driver.sync(world.input()));
        driver.applied();
        world.apply(extra);
        driver.sync(world.input());
        driver.failed();
        const retry = driver.sync(world.input());
        expect(defined(retry.ipv4).partial).toBe(false);
        load(table, retry);
        driver.applied();
        driver.ageStaleChains();
        load(table, driver.sync(world.input()));
        driver.applied();
        expect(sortNFTablesTransaction(table.dump())).toBe(fullDump(world.input()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100) },
    );
  });
});
