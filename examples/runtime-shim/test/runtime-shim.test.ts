import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Code,
  ContainerState,
  CriError,
  type CriServer,
  createCriServer,
  createImageClient,
  createRuntimeClient,
  type ImageClient,
  openExec,
  type RuntimeClient,
} from "@nodekit/cri";
import { type ConformanceArea, type ConformanceResult, conformancePassed, runConformance } from "@nodekit/cri/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostProcessRuntime, type HostProcessRuntime } from "../src/host-process-runtime.js";
import { defined } from "./support/defined.js";

const BUSYBOX = "docker.io/library/busybox:latest";
const REMOVABLE = "docker.io/library/alpine:3.20";

interface Shim {
  dir: string;
  runtime: HostProcessRuntime;
  server: CriServer;
  client: RuntimeClient;
  images: ImageClient;
  close(): Promise<void>;
}

async function startShim(): Promise<Shim> {
  const dir = mkdtempSync(join(tmpdir(), "nk-shim-"));
  const runtime = createHostProcessRuntime({ images: [BUSYBOX, REMOVABLE], stateDir: dir });
  const server = createCriServer({ runtime, image: runtime });
  await server.listen(`unix://${dir}/shim.sock`);
  const client = createRuntimeClient(`unix://${dir}/shim.sock`);
  const images = createImageClient(`unix://${dir}/shim.sock`);
  return {
    ...{ dir, runtime, server, client, images },
    async close() {
      client.close();
      images.close();
      await server.close({ graceMs: 1_000 });
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const failures = (results: ConformanceResult[]) =>
  results.filter((r) => r.status !== "passed").map((r) => `${r.status} ${r.name}: ${r.message}`);

/** Pids of the processes whose environment holds `marker` (children inherit it). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(marker)) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** The process group of a process, from /proc/<pid>/stat (the field after state and ppid). */
function groupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return undefined; // gone already
  }
}

/** The processes whose environment holds `marker`, and their process groups. */
function processTree(marker: string): { pids: number[]; pgids: number[] } {
  const pids = processesWith(marker);
  const pgids = [...new Set(pids.map(groupOf).filter((g) => g !== undefined))];
  return { pids, pgids };
}

/**
 * Which of these processes and process groups still exist, zombies included: `kill(pid, 0)` and
 * `kill(-pgid, 0)` succeed until the last member has been reaped, and throw ESRCH after.
 */
function survivors({ pids, pgids }: { pids: number[]; pgids: number[] }): string[] {
  const exists = (target: number): boolean => {
    try {
      process.kill(target, 0);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw err;
    }
  };
  return [
    ...pids.filter((p) => exists(p)).map((p) => `pid ${p}`),
    ...pgids.filter((g) => exists(-g)).map((g) => `group ${g}`),
  ];
}

/** Pids of the `sleep 3600` processes among those whose environment holds `marker`. */
function sleepers(marker: string): number[] {
  return processesWith(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "latin1") === "sleep\u00003600\u0000";
    } catch {
      return false;
    }
  });
}

async function settled(what: string, predicate: () => boolean): Promise<void> {
  for (const until = Date.now() + 10_000; !predicate(); await new Promise((r) => setTimeout(r, 25)))
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
}

async function exited(client: RuntimeClient, containerId: string) {
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 25))) {
    const { status } = await client.containerStatus({ containerId });
    if (status?.state === ContainerState.CONTAINER_EXITED) return status;
  }
  throw new Error(`${containerId} did not exit`);
}

async function logged(path: string, text: string): Promise<void> {
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 25))) {
    if (existsSync(path) && readFileSync(path, "utf8").includes(text)) return;
  }
  throw new Error(`${path} never logged ${text}`);
}

describe("host-process runtime shim", () => {
  let shim: Shim;
  beforeAll(async () => {
    shim = await startShim();
  });
  afterAll(async () => {
    await shim?.close();
  });

  const sandbox = async (name: string) => {
    const config = {
      metadata: { name, namespace: "test", uid: randomUUID() },
      logDirectory: join(shim.dir, "logs", name),
    };
    const { podSandboxId } = await shim.client.runPodSandbox({ config });
    return { podSandboxId, config };
  };
  const container = async (sb: Awaited<ReturnType<typeof sandbox>>, name: string, script: string) => {
    const { containerId } = await shim.client.createContainer({
      podSandboxId: sb.podSandboxId,
      config: {
        metadata: { name },
        image: { image: "busybox" },
        command: ["sh", "-c", script],
        logPath: `${name}.log`,
      },
      sandboxConfig: sb.config,
    });
    return containerId;
  };

  it("passes every conformance case of the areas runtime, sandbox, container and exec", async () => {
    const results = await runConformance({
      runtime: shim.client,
      image: shim.images,
      areas: ["runtime", "sandbox", "container", "exec"],
      sandboxConfig: (config) => ({ ...config, logDirectory: join(shim.dir, "logs", config.metadata?.uid ?? "") }),
    });
    expect(results.length).toBeGreaterThan(10);
    expect(failures(results)).toEqual([]);
    expect(conformancePassed(results)).toBe(true);
  });

  it("runs the other areas without crashing and reports each case", async () => {
    const areas: ConformanceArea[] = ["idempotency", "not-found", "image", "filters", "stats", "events"];
    const results = await runConformance({
      runtime: shim.client,
      image: shim.images,
      areas,
      removableImage: REMOVABLE,
      caseTimeoutMs: 20_000,
    });
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(areas).toContain(r.area);
      expect(["passed", "failed", "unsupported"]).toContain(r.status);
    }
    console.info(failures(results).join("\n") || "every other case passed");
  });

  it("writes container output to logDirectory/logPath in the CRI log format", async () => {
    const sb = await sandbox("logs");
    const id = await container(sb, "talker", "echo one; echo two >&2; printf 'no newline'");
    await shim.client.startContainer({ containerId: id });
    const status = await exited(shim.client, id);
    expect([status.exitCode, status.reason]).toEqual([0, "Completed"]);
    expect(status.logPath).toBe(join(sb.config.logDirectory, "talker.log"));
    const lines = readFileSync(status.logPath, "utf8").trimEnd().split("\n");
    const entry = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/;
    expect(lines.every((l) => entry.test(l))).toBe(true);
    const entries = lines.map((l) => entry.exec(l)?.slice(2).join(" "));
    expect(entries.sort()).toEqual(["stderr F two", "stdout F no newline", "stdout F one"]);
    expect(Number.isNaN(Date.parse(defined(defined(lines[0]).split(" ")[0])))).toBe(false);
  });

  it("stops with SIGTERM and a grace period; a process that ignores it is killed after the timeout", async () => {
    const sb = await sandbox("grace");
    const graceful = await container(
      sb,
      "graceful",
      `trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done`,
    );
    const stubborn = await container(sb, "stubborn", `trap '' TERM; echo up; while :; do sleep 0.05; done`);
    await shim.client.startContainer({ containerId: graceful });
    await shim.client.startContainer({ containerId: stubborn });
    // The shells print "up" once their traps are set.
    for (const name of ["graceful", "stubborn"])
      await logged(join(sb.config.logDirectory, `${name}.log`), "stdout F up");

    let t = performance.now();
    await shim.client.stopContainer({ containerId: graceful, timeout: 10n });
    expect(performance.now() - t).toBeLessThan(3_000);
    const a = defined((await shim.client.containerStatus({ containerId: graceful })).status);
    expect([a.state, a.exitCode, a.reason]).toEqual([ContainerState.CONTAINER_EXITED, 0, "Completed"]);
    expect(readFileSync(a.logPath, "utf8")).toMatch(/ stdout F bye\n$/);

    t = performance.now();
    await shim.client.stopContainer({ containerId: stubborn, timeout: 1n });
    expect(performance.now() - t).toBeGreaterThanOrEqual(950);
    const b = defined((await shim.client.containerStatus({ containerId: stubborn })).status);
    expect([b.state, b.exitCode, b.reason]).toEqual([ContainerState.CONTAINER_EXITED, 137, "Error"]);
    // Idempotent.
    await shim.client.stopContainer({ containerId: stubborn, timeout: 1n });
  });

  it("honours the ExecSync timeout and names missing fields", async () => {
    const sb = await sandbox("exec");
    const id = await container(sb, "sleeper", "exec sleep 3600");
    await shim.client.startContainer({ containerId: id });
    const err = await shim.client
      .execSync({ containerId: id, cmd: ["sleep", "30"], timeout: 1n })
      .catch((e: unknown) => e as CriError);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.DeadlineExceeded);
    const invalid = await shim.runtime
      .runPodSandbox({ config: { metadata: { name: "x", namespace: "y" } } })
      .catch((e: unknown) => e as CriError);
    expect(invalid).toMatchObject({ code: Code.InvalidArgument, rawMessage: "config.metadata.uid is required" });
  });

  it("leaves no process behind after close: children, a shell ignoring SIGTERM, a session of its own, an exec's", async () => {
    const own = await startShim();
    const marker = `NODEKIT_SHIM_TEST=${randomUUID()}`;
    const [key, value] = marker.split("=") as [string, string];
    let tree: { pids: number[]; pgids: number[] } = { pids: [], pgids: [] };
    try {
      const { podSandboxId } = await own.client.runPodSandbox({
        config: { metadata: { name: "leak", namespace: "test", uid: randomUUID() } },
      });
      const scripts = {
        plain: "sleep 3600 & sleep 3600 & wait",
        // Ignores SIGTERM; a third child leaves the process group (setsid), as a daemon does.
        stubborn: "trap '' TERM; sleep 3600 & sleep 3600 & setsid sleep 3600 & wait",
      };
      const ids: string[] = [];
      for (const [name, script] of Object.entries(scripts)) {
        const { containerId } = await own.client.createContainer({
          podSandboxId,
          config: {
            metadata: { name },
            image: { image: BUSYBOX },
            command: ["sh", "-c", script],
            envs: [{ key, value: Buffer.from(value) }],
          },
        });
        await own.client.startContainer({ containerId });
        ids.push(containerId);
      }
      // An exec that leaves a process behind in a session of its own (answered once it is there).
      const daemon = `setsid sh -c 'touch daemon; exec sleep 3600' >/dev/null 2>&1 & until [ -e daemon ]; do sleep 0.01; done`;
      await own.client.execSync({ containerId: defined(ids[0]), cmd: ["sh", "-c", daemon], timeout: 10n });
      await settled("six sleeps", () => sleepers(marker).length === 6);
      tree = processTree(marker);
      expect(tree.pgids.length).toBeGreaterThanOrEqual(3); // the containers' groups and the setsid ones
    } finally {
      await own.close();
    }
    // At the moment close() resolved, not a moment later: every process and group is reaped.
    expect(survivors(tree)).toEqual([]);
  });

  it("answers StopContainer and RemovePodSandbox, and reports an exit, only once all the container's processes are gone", async () => {
    const sb = await sandbox("teardown");
    const markers = { stop: "", remove: "", exit: "" };
    const ids = { stop: "", remove: "", exit: "" };
    for (const name of ["stop", "remove", "exit"] as const) {
      markers[name] = `NODEKIT_SHIM_TEST=${randomUUID()}`;
      const [key, value] = markers[name].split("=") as [string, string];
      const { containerId } = await shim.client.createContainer({
        podSandboxId: sb.podSandboxId,
        config: {
          metadata: { name },
          image: { image: "busybox" },
          command: ["sh", "-c", "trap 'exit 3' USR1; sleep 3600 & setsid sleep 3600 & wait"],
          envs: [{ key, value: Buffer.from(value) }],
        },
        sandboxConfig: sb.config,
      });
      await shim.client.startContainer({ containerId });
      ids[name] = containerId;
    }
    for (const marker of Object.values(markers)) await settled("two sleeps", () => sleepers(marker).length === 2);
    const trees = {
      stop: processTree(markers.stop),
      remove: processTree(markers.remove),
      exit: processTree(markers.exit),
    };

    await shim.client.stopContainer({ containerId: ids.stop, timeout: 0n });
    expect(survivors(trees.stop)).toEqual([]);
    expect(survivors(trees.remove)).toEqual([
      ...trees.remove.pids.map((p) => `pid ${p}`),
      ...trees.remove.pgids.map((g) => `group ${g}`),
    ]);

    // The container's main process exits by itself: EXITED is reported once the rest is gone too.
    const { info } = await shim.client.containerStatus({ containerId: ids.exit, verbose: true });
    process.kill(Number(info.pid), "SIGUSR1");
    const status = await exited(shim.client, ids.exit);
    expect(survivors(trees.exit)).toEqual([]);
    expect([status.exitCode, status.reason]).toEqual([3, "Error"]);

    await shim.client.removePodSandbox({ podSandboxId: sb.podSandboxId });
    expect(survivors(trees.remove)).toEqual([]);
  });
});

describe("host-process runtime shim: streaming Exec through the server kit", () => {
  let shim: Shim;
  let containerId: string;
  beforeAll(async () => {
    shim = await startShim();
    const config = { metadata: { name: "streams", namespace: "test", uid: randomUUID() } };
    const { podSandboxId } = await shim.client.runPodSandbox({ config });
    ({ containerId } = await shim.client.createContainer({
      podSandboxId,
      config: { metadata: { name: "idle" }, image: { image: BUSYBOX }, command: ["sleep", "3600"] },
      sandboxConfig: config,
    }));
    await shim.client.startContainer({ containerId });
  });
  afterAll(async () => {
    await shim?.close();
  });

  const text = (r: NodeJS.ReadableStream) =>
    new Promise<string>((resolve, reject) => {
      let s = "";
      r.on("data", (c: Buffer) => {
        s += c.toString();
      });
      r.once("end", () => resolve(s));
      r.once("error", reject);
    });

  it("gives stdout, stderr and the exit code of a real process", async () => {
    const { url } = await shim.client.exec({
      containerId,
      cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
      stdout: true,
      stderr: true,
    });
    const session = await openExec(url);
    const [out, err, result] = await Promise.all([text(session.stdout), text(session.stderr), session.done]);
    expect([out, err, result.exitCode]).toEqual(["out\n", "err\n", 3]);
  });

  it("pipes stdin to cat, and closing stdin (v5) ends it with 0", async () => {
    const { url } = await shim.client.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true });
    const session = await openExec(url);
    expect(session.protocol).toBe("v5.channel.k8s.io");
    const out = text(session.stdout);
    session.stdin.end("to cat and back\n");
    expect(await out).toBe("to cat and back\n");
    expect((await session.done).exitCode).toBe(0);
  });

  it("refuses a TTY (no pseudo-terminal in Node) and an unknown command in the Exec call", async () => {
    const tty = await shim.client.exec({ containerId, cmd: ["sh"], stdout: true, tty: true }).catch((e: unknown) => e);
    expect((tty as CriError).code).toBe(Code.Unimplemented);
    const missing = await shim.client
      .exec({ containerId, cmd: ["no-such-command"], stdout: true })
      .catch((e: unknown) => e);
    expect((missing as CriError).rawMessage).toContain("executable file not found in $PATH");
  });
});
