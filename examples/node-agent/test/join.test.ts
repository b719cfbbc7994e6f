// --kubeconfig: the example joins a cluster (the test API server of kubelet-core's tests, over
// HTTPS, through a kubeconfig file) and runs what is bound to it, as the CLI does.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createTestApiServer,
  type TestApiServer,
} from "../../../packages/kubelet-core/test/support/api-server/index.js";
import { joinCluster } from "../src/join.js";

// biome-ignore lint/suspicious/noExplicitAny: API objects, read field by field in assertions
type Obj = any;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function cluster() {
  const api: TestApiServer = await createTestApiServer();
  cleanup.push(() => api.close());
  const dir = mkdtempSync(join(tmpdir(), "nk-join-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, api.kubeConfigYaml());
  const bind = (name: string) =>
    api.store.put("pods", {
      metadata: { name, namespace: "default" },
      spec: { nodeName: "edge-1", containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }] },
    });
  return { api, dir, kubeconfig, bind };
}

describe("node-agent --kubeconfig", () => {
  it("joinCluster registers the node and runs the pods bound to it, writing their statuses back", async () => {
    const { api, kubeconfig, bind } = await cluster();
    const node = await joinCluster({ kubeconfig, nodeName: "edge-1", nodeIP: "192.168.49.7", relistPeriodMs: 100 });
    cleanup.push(() => node.stop());
    expect((api.store.get("nodes", undefined, "edge-1") as Obj).status.addresses).toEqual([
      { type: "InternalIP", address: "192.168.49.7" },
    ]);
    bind("web");
    await api.waitFor(() => (api.store.get("pods", "default", "web") as Obj)?.status?.phase === "Running", {
      timeoutMs: 30_000,
      message: "web Running in the API",
    });
    expect(node.pods().map((p) => [p.pod.metadata?.name, p.status?.phase])).toEqual([["web", "Running"]]);
  });

  it("the CLI joins with --kubeconfig and exits 0 once the bound pods run (--until-running)", async () => {
    const { api, kubeconfig, bind } = await cluster();
    bind("cli-pod");
    const main = join(import.meta.dirname, "../src/main.ts");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        main,
        "--kubeconfig",
        kubeconfig,
        "--node-name",
        "edge-1",
        "--until-running",
        "--timeout",
        "60",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(out).toContain("joined as node edge-1");
    expect(code).toBe(0);
    expect((api.store.get("pods", "default", "cli-pod") as Obj)?.status?.phase).toBe("Running");
  }, 90_000);
});
