// Property: a chain of partial syncs leaves the tables exactly as one full sync of the final
// input would, whatever the changes (Services and slices added, removed, changed, renamed,
// invalid objects, node label changes), and every payload loads (no dangling jumps, no rules for
// missing chains). Checked against a model of iptables-restore --noflush.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createProxier } from "../src/index.js";
import { defined } from "./support/defined.js";
import { applyRestore, dumpTables, emptyTables, reachable } from "./support/restore-model.js";
import { fullState, opArb, World } from "./support/world.js";

describe("partial sync (property)", () => {
  it("partial payloads applied in sequence equal one full sync of the final input", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const world = new World();
        const kernel = emptyTables();
        const proxier = createProxier({ mode: "iptables", partialResults: true });
        for (const op of ops) {
          world.apply(op);
          const input = world.input();
          const c = proxier.sync(input);
          applyRestore(kernel, defined(c.ipv4).text);
          proxier.applied();
          expect(dumpTables(kernel)).toBe(fullState(input));
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });

  it("after a failed payload (lost, or loaded though reported failed) the next sync is a correct full sync", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 2, maxLength: 12 }), opArb, fc.boolean(), (ops, extra, loaded) => {
        const world = new World();
        for (const op of ops) world.apply(op);
        const proxier = createProxier({ mode: "iptables", partialResults: true });
        const base = proxier.sync(world.input());
        const kernel = emptyTables();
        applyRestore(kernel, defined(base.ipv4).text);
        proxier.applied();
        // the next payload fails: not loaded at all, or loaded and still reported failed
        world.apply(extra);
        const lost = proxier.sync(world.input());
        if (loaded) applyRestore(kernel, defined(lost.ipv4).text);
        proxier.failed();
        const retry = proxier.sync(world.input());
        expect(defined(retry.ipv4).partial).toBe(false);
        applyRestore(kernel, defined(retry.ipv4).text);
        proxier.applied();
        // what traffic can reach equals a fresh full sync; stale chains are harmless leftovers
        const live = reachable(kernel);
        expect(dumpTables(kernel, (c) => live.has(c))).toBe(fullState(world.input()));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100) },
    );
  });
});
