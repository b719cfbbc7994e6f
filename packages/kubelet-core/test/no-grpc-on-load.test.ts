// The pure parts (planner, statuses, eviction decisions) load without @grpc/grpc-js: the package
// imports the CRI's messages from @nodekit/cri/api, and grpc-js only on the first gRPC probe.

import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "../dist");

describe("loading @nodekit/kubelet-core", () => {
  it("does not load @grpc/grpc-js", () => {
    const script = `const k = require(${JSON.stringify(join(dist, "index.cjs"))}); if (typeof k.computePodActions !== "function") throw new Error("no planner"); console.log(Object.keys(require.cache).filter((f) => f.includes("@grpc")).length)`;
    expect(Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim())).toBe(0);
  });
});
