// End-to-end: readContainerLogs on the log file a real containerd writes for a busybox container.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type ContainerLogEntry,
  ContainerState,
  createContainerLogStream,
  createRuntimeClient,
  type DeepPartial,
  NamespaceMode,
  type PodSandboxConfig,
  type RuntimeClient,
  readContainerLogs,
} from "../src/index.js";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./harness/containerd.js";

const describeE2e = describeWithContainerd();
const SCRIPT = "echo out1; echo err1 >&2; printf partial; sleep 0.2; echo end";

describeE2e("readContainerLogs against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  const runId = randomUUID().slice(0, 8);

  beforeAll(async () => {
    h = await startContainerd();
    runtime = createRuntimeClient(h.endpoint, { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    runtime?.close();
    await h?.dispose();
  });

  async function runPrinter(name: string): Promise<{ containerId: string; podSandboxId: string; logFile: string }> {
    const uid = randomUUID();
    const logDirectory = `${h.dir}/logs/${uid}`;
    const config: DeepPartial<PodSandboxConfig> = {
      metadata: { name, namespace: "e2e", uid, attempt: 0 },
      logDirectory,
      labels: { "nodekit-e2e": runId },
      linux: {
        cgroupParent: `${h.cgroupParent}/pod${uid}`,
        securityContext: { namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER } },
      },
    };
    const { podSandboxId } = await runtime.runPodSandbox({ config });
    const { containerId } = await runtime.createContainer({
      podSandboxId,
      sandboxConfig: config,
      config: {
        metadata: { name: "printer", attempt: 0 },
        image: { image: h.busyboxImage },
        command: ["sh", "-c", SCRIPT],
        logPath: "printer/0.log",
        labels: { "nodekit-e2e": runId },
      },
    });
    await runtime.startContainer({ containerId });
    return { containerId, podSandboxId, logFile: `${logDirectory}/printer/0.log` };
  }

  const running = (containerId: string) => async () =>
    (await runtime.containerStatus({ containerId })).status?.state === ContainerState.CONTAINER_RUNNING;

  async function waitExited(containerId: string): Promise<void> {
    for (let i = 0; i < 200 && (await running(containerId)()); i++) await new Promise((r) => setTimeout(r, 50));
  }

  const simple = (entries: ContainerLogEntry[]) => entries.map((e) => [e.stream, e.line.toString(), e.partial]);
  // containerd copies stdout and stderr in two goroutines: the order of out1 and err1 in the file
  // varies, so the streams are compared one by one.
  const byStream = (entries: ContainerLogEntry[]) => ({
    stdout: simple(entries.filter((e) => e.stream === "stdout")),
    stderr: simple(entries.filter((e) => e.stream === "stderr")),
  });
  const expected = {
    stdout: [
      ["stdout", "out1", false],
      ["stdout", "partialend", false],
    ],
    stderr: [["stderr", "err1", false]],
  };

  it("follows the log while the container prints, then ends when it exits", async () => {
    const { containerId, podSandboxId, logFile } = await runPrinter("logs-follow");
    const entries: ContainerLogEntry[] = [];
    let waitedWhileRunning = 0;
    const ac = new AbortController();
    const guard = setTimeout(() => ac.abort(), 20_000);
    for await (const e of readContainerLogs(logFile, {
      follow: true,
      signal: ac.signal,
      isRunning: async () => {
        const answer = await running(containerId)();
        if (answer) waitedWhileRunning++;
        return answer;
      },
      pollIntervalMs: 20,
    })) {
      entries.push(e);
    }
    clearTimeout(guard);
    expect(ac.signal.aborted).toBe(false);
    // The reader reached the end of the file at least once while the container still ran.
    expect(waitedWhileRunning).toBeGreaterThan(0);
    expect(byStream(entries)).toEqual(expected);
    for (const e of entries)
      expect(e.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/);
    await runtime.stopPodSandbox({ podSandboxId });
    await runtime.removePodSandbox({ podSandboxId });
  });

  it("reads the finished log: both streams, the joined line, stream filter, tail, timestamps", async () => {
    const { containerId, podSandboxId, logFile } = await runPrinter("logs-read");
    await waitExited(containerId);
    const raw = await readFile(logFile, "latin1");
    // containerd 1.6 writes one F record per line; it splits (P) only lines longer than its buffer.
    expect(raw).toMatch(/(^|\n)\S+ stdout F out1\n/);
    expect(raw).toMatch(/(^|\n)\S+ stderr F err1\n/);

    const all: ContainerLogEntry[] = [];
    for await (const e of readContainerLogs(logFile)) all.push(e);
    expect(byStream(all)).toEqual(expected);
    expect(all.at(-1)?.line.toString()).toBe("partialend");

    const stderr: ContainerLogEntry[] = [];
    for await (const e of readContainerLogs(logFile, { stream: "stderr" })) stderr.push(e);
    expect(simple(stderr)).toEqual([["stderr", "err1", false]]);

    const last: ContainerLogEntry[] = [];
    for await (const e of readContainerLogs(logFile, { tail: 1 })) last.push(e);
    expect(simple(last)).toEqual([["stdout", "partialend", false]]);

    const chunks: Buffer[] = [];
    for await (const c of createContainerLogStream(logFile, { timestamps: true })) chunks.push(c as Buffer);
    const lines = Buffer.concat(chunks).toString().split("\n");
    const stamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}(Z|[+-]\d{2}:\d{2}) /;
    for (const l of lines.slice(0, -1)) expect(l).toMatch(stamp);
    expect(lines.map((l) => l.replace(stamp, "")).sort()).toEqual(["", "err1", "out1", "partialend"]);

    await runtime.stopPodSandbox({ podSandboxId });
    await runtime.removePodSandbox({ podSandboxId });
  });
});
