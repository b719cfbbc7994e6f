// Property: a chain of partial syncs leaves the tables exactly as one full sync of the final
// input would, whatever the changes (Services and slices added, removed, changed, renamed,
// invalid objects, node label changes), and every payload loads (no dangling jumps, no rules for
// missing chains). Checked against a model of iptables-restore --noflush.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileIptables, type IptablesCompilation } from "../src/index.js";
import { applyRestore, dumpTables, emptyTables, reachable } from "./support/restore-model.js";
import { fullState, opArb, World } from "./support/world.js";

describe("partial sync (property)", () => {
  it("partial payloads applied in sequence equal one full sync of the final input", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const world = new World();
        const kernel = emptyTables();
        let prev: IptablesCompilation | undefined;
        for (const op of ops) {
          world.apply(op);
          const input = world.input();
          const c = compileIptables(input, { previous: prev, partialResults: true });
          applyRestore(kernel, c.ipv4!.text);
          expect(dumpTables(kernel)).toBe(fullState(input));
          prev = c;
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });

  it("a previous compilation used twice still yields a correct (full) sync", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 2, maxLength: 12 }), opArb, (ops, extra) => {
        const world = new World();
        for (const op of ops) world.apply(op);
        const base = compileIptables(world.input(), { partialResults: true });
        const kernel = emptyTables();
        applyRestore(kernel, base.ipv4!.text);
        // a first successor consumes `base`, then its payload is lost (say the restore failed)
        world.apply(extra);
        compileIptables(world.input(), { previous: base, partialResults: true });
        const retry = compileIptables(world.input(), { previous: base, partialResults: true });
        applyRestore(kernel, retry.ipv4!.text);
        // what traffic can reach equals a fresh full sync; stale chains are harmless leftovers
        const live = reachable(kernel);
        expect(dumpTables(kernel, (c) => live.has(c))).toBe(fullState(world.input()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100) },
    );
  });
});
