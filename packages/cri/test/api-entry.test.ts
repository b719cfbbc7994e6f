// @nodekit/cri/api carries the messages, enums, service interfaces and errors without loading
// @grpc/grpc-js (checked on the built package, in a fresh process for CommonJS and by walking the
// ESM import graph); the main entry, which has the gRPC client, does load it.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "../dist");

/** Modules whose path names grpc-js after requiring `file` in a fresh process. */
function grpcModulesAfterRequire(file: string): number {
  const script = `require(${JSON.stringify(file)}); console.log(Object.keys(require.cache).filter((k) => k.includes("@grpc")).length)`;
  return Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim());
}

/** The bare specifiers the ESM file and the chunks it imports (transitively) import. */
function bareImports(file: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(file)) return out;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const [, spec] of text.matchAll(
    /(?:^|\n)\s*(?:import|export)[^"']*?from\s*["']([^"']+)["']|import\(["']([^"']+)["']\)/g,
  )) {
    if (!spec) continue;
    if (spec.startsWith(".")) for (const s of bareImports(join(dirname(file), spec), seen)) out.add(s);
    else out.add(spec);
  }
  return out;
}

describe("@nodekit/cri/api", () => {
  it("loads without @grpc/grpc-js (CommonJS), where the main entry loads it", () => {
    expect(grpcModulesAfterRequire(join(dist, "api.cjs"))).toBe(0);
    expect(grpcModulesAfterRequire(join(dist, "index.cjs"))).toBeGreaterThan(0);
  });

  it("imports nothing of @grpc/grpc-js (ESM import graph), where the main entry does", () => {
    expect([...bareImports(join(dist, "api.js"))].filter((s) => s.startsWith("@grpc/"))).toEqual([]);
    expect([...bareImports(join(dist, "index.js"))]).toContain("@grpc/grpc-js");
  });

  it("has the messages, enums, tables and errors", async () => {
    const api = await import(join(dist, "api.js"));
    expect(api.PodSandboxState.SANDBOX_READY).toBe(0);
    expect(api.runtimeServiceMethods.length).toBeGreaterThan(30);
    expect(api.isNotFound(new api.CriError(api.Code.NotFound, "x"))).toBe(true);
    expect(api.VersionRequest.fromPartial({}).version).toBe("");
  });
});
