import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IptablesCompilation } from "@nodekit/proxy-rules";
import { afterEach, describe, expect, it } from "vitest";
import { createNodeAgent, type NodeAgent } from "../src/agent.js";
import { podRow, podStatusColumn, renderTable } from "../src/table.js";
import { defined } from "./support/defined.js";

const manifests = join(import.meta.dirname, "../manifests");
const agents: NodeAgent[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copyOfManifests(): string {
  const dir = mkdtempSync(join(tmpdir(), "nk-agent-test-"));
  dirs.push(dir);
  cpSync(manifests, dir, { recursive: true });
  return dir;
}

async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const running = (agent: NodeAgent, name: string) =>
  agent
    .pods()
    .find((p) => p.pod.metadata?.name === name)
    ?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";

describe("node-agent (embedded fake runtime over gRPC)", () => {
  it("runs the example manifests to Running and compiles the services' rules from its own endpoints", async () => {
    const agent = createNodeAgent({ manifests, watch: false, relistPeriodMs: 100, pullDelayMs: 50 });
    agents.push(agent);
    await agent.start();
    expect(agent.endpoint).toMatch(/^unix:\/\/.*\/cri\.sock$/);
    await until("all pods ready", () => ["web-1", "web-2", "cache"].every((n) => running(agent, n)));
    await until("rules with 3 endpoints", () => agent.rules()?.ipv4?.stats.endpoints === 3);
    const { endpointSlices } = agent.proxyInput();
    const web = defined(endpointSlices.find((s) => s.metadata?.name === "web-nodekit"));
    expect(web.ports).toEqual([{ name: "http", protocol: "TCP", port: 8080 }]); // named targetPort resolved
    expect(web.endpoints?.map((e) => e.conditions?.ready)).toEqual([true, true]);
    const text = defined(agent.rules()?.ipv4).text;
    const ips = (web.endpoints ?? []).map((e) => e.addresses[0]); // two, as checked above
    for (const ip of ips) expect(text).toContain(`-j DNAT --to-destination ${ip}:8080`);
    expect(text).toContain("-A KUBE-NODEPORTS -m comment --comment demo/web:http -m tcp -p tcp --dport 30080");
    expect(text).toContain("--rcheck --seconds 10800 --reap"); // the cache's ClientIP affinity
  });

  it("reconciles edits and removals in the watched folder", async () => {
    const dir = copyOfManifests();
    const agent = createNodeAgent({ manifests: dir, relistPeriodMs: 100, pullDelayMs: 10 });
    agents.push(agent);
    await agent.start();
    await until("web-2 ready", () => running(agent, "web-2"));
    // Edit: web-2 gets another image: its container is replaced, the pod keeps its uid.
    const uid = defined(defined(agent.pods().find((p) => p.pod.metadata?.name === "web-2")).pod.metadata).uid;
    const file = join(dir, "web.yaml");
    const docs = readFileSync(file, "utf8").split("\n---\n");
    docs[1] = defined(docs[1]).replace("busybox:1.36", "busybox:1.37");
    writeFileSync(file, docs.join("\n---\n"));
    await until("web-2 restarted with the new image", () => {
      const p = agent.pods().find((x) => x.pod.metadata?.name === "web-2");
      return p?.status?.containerStatuses?.[0]?.image === "docker.io/library/busybox:1.37" && running(agent, "web-2");
    });
    expect(agent.pods().find((p) => p.pod.metadata?.name === "web-2")?.pod.metadata?.uid).toBe(uid);
    expect(
      agent.pods().find((p) => p.pod.metadata?.name === "web-2")?.status?.containerStatuses?.[0]?.restartCount,
    ).toBe(1);
    // Removal: the cache pod and its Service go; the rules follow.
    rmSync(join(dir, "cache.yaml"));
    await until("cache gone", () => !agent.pods().some((p) => p.pod.metadata?.name === "cache"));
    await until("cache rules gone", () => !agent.rules()?.ipv4?.text.includes("demo/cache"));
    // A broken file is reported and does not stop the others.
    const problems: string[] = [];
    agent.onUpdate((u) => u.kind === "problem" && problems.push(u.message));
    writeFileSync(join(dir, "broken.yaml"), "kind: Pod\nmetadata: [unclosed\n");
    await until("the problem is reported", () => problems.some((p) => p.startsWith("broken.yaml:")));
    expect(running(agent, "web-1")).toBe(true);
  });

  it("loads the rules with iptables-restore into a network namespace (--apply --netns)", async (ctx) => {
    const can =
      process.getuid?.() === 0 &&
      (() => {
        try {
          execFileSync("iptables-restore", ["--version"], { stdio: "ignore" });
          return true;
        } catch {
          return false;
        }
      })();
    if (!can) {
      if (process.env.CI === "true") throw new Error("CI needs root and iptables for this test");
      console.warn("skipping --apply test: needs root and iptables-restore");
      ctx.skip();
    }
    const ns = `nk-agent-${process.pid}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      const agent = createNodeAgent({
        manifests,
        watch: false,
        relistPeriodMs: 100,
        pullDelayMs: 10,
        apply: { netns: ns },
      });
      agents.push(agent);
      // What iptables-restore has loaded: agent.rules() is the latest compile, whose load may still
      // be in flight; an update with `applied: true` comes once its compilation is in the kernel.
      let loaded: IptablesCompilation | undefined;
      agent.onUpdate((u) => {
        if (u.kind === "rules" && u.applied) loaded = u.compilation;
      });
      await agent.start();
      // Endpoints count before they are ready (web-1 waits for its readiness probe, and a not-ready
      // endpoint gets no DNAT rule): wait for both web pods ready and their rules loaded.
      const webIPs = () =>
        ["web-1", "web-2"].map((n) => agent.pods().find((p) => p.pod.metadata?.name === n)?.status?.podIP);
      await until(
        "both web endpoints ready and loaded",
        () =>
          ["web-1", "web-2", "cache"].every((n) => running(agent, n)) &&
          webIPs().every((ip) => ip && loaded?.ipv4?.text.includes(`-j DNAT --to-destination ${ip}:8080`)),
      );
      const nat = execFileSync("ip", ["netns", "exec", ns, "iptables-save", "-t", "nat"]).toString();
      expect(nat).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
      expect(nat).toMatch(
        /-A KUBE-SERVICES -d 10\.96\.0\.80\/32 -p tcp -m comment --comment "demo\/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-/,
      );
      expect(nat.match(/-j DNAT --to-destination 10\.88\.\d+\.\d+:8080/g)).toHaveLength(2);
      for (const ip of webIPs()) expect(nat).toContain(`-j DNAT --to-destination ${ip}:8080`);
    } finally {
      for (const a of agents.splice(0)) await a.stop();
      execFileSync("ip", ["netns", "del", ns]);
    }
  });
});

describe("pod table", () => {
  it("prints kubectl's columns and statuses", () => {
    const pod = {
      metadata: { name: "p" },
      spec: { initContainers: [{ name: "i" }, { name: "j" }], containers: [{ name: "a" }] },
    };
    const waiting = {
      name: "i",
      ready: false,
      restartCount: 0,
      image: "",
      imageID: "",
      state: { waiting: { reason: "PodInitializing" } },
    };
    expect(
      podStatusColumn(pod, { phase: "Pending", initContainerStatuses: [waiting, { ...waiting, name: "j" }] }),
    ).toBe("Init:0/2");
    const crash = {
      name: "a",
      ready: false,
      restartCount: 4,
      image: "",
      imageID: "",
      state: { waiting: { reason: "CrashLoopBackOff" } },
    };
    expect(
      podStatusColumn(
        { ...pod, spec: { containers: [{ name: "a" }] } },
        { phase: "Running", containerStatuses: [crash] },
      ),
    ).toBe("CrashLoopBackOff");
    const row = podRow(
      { ...pod, spec: { containers: [{ name: "a" }] } },
      { phase: "Running", containerStatuses: [crash] },
      0,
      185_000,
    );
    expect(renderTable([row])).toBe(
      ["NAME   READY   STATUS             RESTARTS   AGE", "p      0/1     CrashLoopBackOff   4          3m5s"].join(
        "\n",
      ),
    );
  });
});
