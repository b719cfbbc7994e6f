import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CriServer, createCriServer } from "../src/index.js";
import { createFakeRuntime } from "../src/testing/index.js";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../dist/cli/conformance.js");

describe("nodekit-cri-conformance CLI", () => {
  let dir: string;
  let server: CriServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "nk-cli-"));
    const fake = createFakeRuntime();
    fake.addImage("local.test/removable:1");
    server = createCriServer({ runtime: fake, image: fake });
    await server.listen(join(dir, "fake.sock"));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports every case and exits 0 for a conformant runtime", async () => {
    const { stdout } = await run(process.execPath, [
      cli,
      "--endpoint",
      `unix://${dir}/fake.sock`,
      "--removable-image",
      "local.test/removable:1",
    ]);
    expect(stdout).toMatch(/^PASS\s+runtime\/version\s/m);
    expect(stdout).toMatch(/^PASS\s+events\/container-lifecycle\s/m);
    expect(stdout).toMatch(/\d+ passed, 0 failed, 0 unsupported \(0 known differences\): CONFORMANT$/m);
  });

  it("prints JSON; unsupported cases do not fail the run", async () => {
    const { stdout } = await run(process.execPath, [
      cli,
      "--endpoint",
      `${dir}/fake.sock`,
      "--area",
      "image",
      "--json",
    ]);
    const report = JSON.parse(stdout);
    expect(report.passed).toBe(true);
    expect(report.results.find((r: { name: string }) => r.name === "image/remove")).toMatchObject({
      status: "unsupported",
      message: "no removableImage given",
    });
  });

  it("exits 1 when a case fails", async () => {
    const broken = createCriServer({
      runtime: {
        ...createFakeRuntime(),
        version: async () => ({
          version: "0.2.0",
          runtimeName: "broken",
          runtimeVersion: "1",
          runtimeApiVersion: "v1",
        }),
      },
    });
    await broken.listen(join(dir, "broken.sock"));
    try {
      const err = (await run(process.execPath, [cli, "--endpoint", `${dir}/broken.sock`, "--area", "runtime"]).catch(
        (e: unknown) => e,
      )) as { code: number; stdout: string };
      expect(err.code).toBe(1);
      expect(err.stdout).toMatch(
        /^FAILED\s+runtime\/version\s.*Version.version \(the kubelet requires 0.1.0\): expected "0.1.0", got "0.2.0"$/m,
      );
      expect(err.stdout).toMatch(/NOT CONFORMANT$/m);
    } finally {
      await broken.close();
    }
  });

  it("stops at once with one line and exit 3 when nothing listens on the endpoint", async () => {
    const err = (await run(process.execPath, [cli, "--endpoint", `${dir}/nobody.sock`]).catch((e: unknown) => e)) as {
      code: number;
      stdout: string;
      stderr: string;
    };
    expect(err.code).toBe(3);
    expect(err.stdout).toBe("");
    expect(err.stderr).toMatch(
      new RegExp(`^nodekit-cri-conformance: ${dir}/nobody\\.sock: cannot reach the runtime service: [^\\n]+\\n$`),
    );
  });

  it("exits 2 with usage on bad arguments", async () => {
    const err = (await run(process.execPath, [cli, "--bogus"]).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(2);
    expect(err.stderr).toContain("Usage: nodekit-cri-conformance");
    const typo = (await run(process.execPath, [cli, "--endpoint", `${dir}/fake.sock`, "--area", "runtme"]).catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect([typo.code, typo.stderr]).toEqual([
      2,
      expect.stringContaining("unknown area runtme; the areas are runtime,"),
    ]);
    const timeout = (await run(process.execPath, [cli, "--endpoint", `${dir}/fake.sock`, "--timeout", "abc"]).catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect([timeout.code, timeout.stderr]).toEqual([2, '--timeout needs a number of seconds > 0, not "abc"\n']);
  });
});
