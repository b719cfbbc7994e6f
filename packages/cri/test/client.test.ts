import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import type * as grpc from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  ContainerEventResponse,
  ContainerEventType,
  CriError,
  createImageClient,
  createRuntimeClient,
  isNotFound,
  isUnavailable,
  isUnimplemented,
  ListContainersResponse,
  ListImagesResponse,
  PodSandboxStatusResponse,
  PullImageResponse,
  RunPodSandboxResponse,
  type RuntimeClient,
  StopContainerResponse,
  StreamContainersResponse,
} from "../src/index.js";
import { startTestServer, type TestServer, versionV1 } from "./support/grpc-server.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(...args: Parameters<typeof startTestServer>): Promise<TestServer> {
  const s = await startTestServer(...args);
  cleanups.push(() => s.dispose());
  return s;
}

function runtimeClient(endpoint: string, options?: Parameters<typeof createRuntimeClient>[1]): RuntimeClient {
  const c = createRuntimeClient(endpoint, options);
  cleanups.push(() => c.close());
  return c;
}

type Call = grpc.ServerUnaryCall<unknown, unknown>;
type Cb = grpc.sendUnaryData<unknown>;

/** Remaining time of a server call's deadline in ms (Infinity when the client set none). */
function remainingMs(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  const t = d instanceof Date ? d.getTime() : d;
  return t === Number.POSITIVE_INFINITY ? t : t - Date.now();
}

describe("createRuntimeClient", () => {
  it("accepts partial requests and resolves to complete responses", async () => {
    const s = await serve({ version: versionV1() });
    const rt = runtimeClient(s.endpoint);
    const v = await rt.version({});
    expect(v).toEqual({ version: "0.1.0", runtimeName: "test", runtimeVersion: "1.0.0", runtimeApiVersion: "v1" });
    // A bare absolute path is accepted too.
    const rt2 = runtimeClient(s.socketPath);
    expect((await rt2.version({})).runtimeName).toBe("test");
  });

  it("turns gRPC statuses into CriError with code and method", async () => {
    const s = await serve({
      version: versionV1(),
      containerStatus: (_c: Call, cb: Cb) => cb({ code: grpcStatus.NOT_FOUND, details: 'container "x" not found' }),
    });
    const rt = runtimeClient(s.endpoint);
    const err = await rt.containerStatus({ containerId: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect(isNotFound(err)).toBe(true);
    expect((err as CriError).method).toBe("ContainerStatus");
    expect((err as CriError).rawMessage).toBe('container "x" not found');
    expect((err as CriError).message).toBe('ContainerStatus: [NotFound] container "x" not found');
    // Unknown RPCs answer UNIMPLEMENTED.
    expect(isUnimplemented(await rt.checkpointPod({}).catch((e: unknown) => e))).toBe(true);
  });

  it("verifies the runtime speaks CRI v1 on first use", async () => {
    const s = await serve({ version: versionV1("v1alpha2"), podSandboxStatus: () => {} });
    const rt = runtimeClient(s.endpoint);
    const err = (await rt.podSandboxStatus({ podSandboxId: "a" }).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toContain('speaks CRI API "v1alpha2"; nodekit needs "v1"');
    await expect(rt.verifyRuntime()).rejects.toThrow(/v1alpha2/);
    // The failed verification is remembered: no further Version calls, the RPC is never sent.
    expect(s.calls.filter((c) => c === "podSandboxStatus")).toEqual([]);
  });

  it("verifies once, then calls straight through", async () => {
    const s = await serve({
      version: versionV1(),
      podSandboxStatus: (_c: Call, cb: Cb) => cb(null, PodSandboxStatusResponse.fromPartial({})),
    });
    const rt = runtimeClient(s.endpoint);
    await rt.podSandboxStatus({ podSandboxId: "a" });
    await rt.podSandboxStatus({ podSandboxId: "b" });
    expect(s.calls).toEqual(["version", "podSandboxStatus", "podSandboxStatus"]);
  });

  it("sets deadlines as k8s.io/cri-client does", async () => {
    const seen: Record<string, number> = {};
    const record = (name: string, reply: unknown) => (call: Call, cb: Cb) => {
      seen[name] = remainingMs(call);
      cb(null, reply);
    };
    const s = await serve(
      {
        version: versionV1(),
        runPodSandbox: record("run", RunPodSandboxResponse.fromPartial({ podSandboxId: "p" })),
        stopContainer: record("stop", StopContainerResponse.fromPartial({})),
        listContainers: record("list", ListContainersResponse.fromPartial({})),
        execSync: record("exec", { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0 }),
      },
      { pullImage: record("pull", PullImageResponse.fromPartial({ imageRef: "sha256:x" })) },
    );
    const rt = runtimeClient(s.endpoint, { timeoutMs: 10_000, useStreaming: false });
    const img = createImageClient(s.endpoint, { timeoutMs: 10_000 });
    cleanups.push(() => img.close());
    await rt.runPodSandbox({});
    await rt.stopContainer({ containerId: "c", timeout: 30n });
    await rt.listContainers({});
    await rt.execSync({ containerId: "c", cmd: ["true"], timeout: 0n });
    await img.pullImage({ image: { image: "x" } });
    expect(seen.run).toBeGreaterThan(19_000);
    expect(seen.run).toBeLessThanOrEqual(20_000);
    expect(seen.stop).toBeGreaterThan(39_000);
    expect(seen.stop).toBeLessThanOrEqual(40_000);
    expect(seen.list).toBeGreaterThan(9_000);
    expect(seen.list).toBeLessThanOrEqual(10_000);
    expect(seen.exec).toBe(Number.POSITIVE_INFINITY);
    expect(seen.pull).toBe(Number.POSITIVE_INFINITY);
    // The per-call timeout replaces the computed one.
    await rt.runPodSandbox({}, { timeoutMs: 3_000 });
    expect(seen.run).toBeLessThanOrEqual(3_000);
    expect(seen.run).toBeGreaterThan(2_000);
  });

  it("fails a call that outlives its deadline with DeadlineExceeded, and ExecSync says the command timed out", async () => {
    const s = await serve({ version: versionV1(), listContainers: () => {}, execSync: () => {} });
    const rt = runtimeClient(s.endpoint);
    const err = (await rt.listContainers({}, { timeoutMs: 50 }).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.DeadlineExceeded);
    const execErr = (await rt
      .execSync({ containerId: "c", cmd: ["sleep", "9"] }, { timeoutMs: 50 })
      .catch((e: unknown) => e)) as CriError;
    expect(execErr.code).toBe(Code.DeadlineExceeded);
    expect(execErr.message).toContain('command ["sleep","9"] timed out after 0.05s');
  });

  it("cancels a call with an AbortSignal", async () => {
    let cancelled = false;
    const s = await serve({
      version: versionV1(),
      listContainers: (call: Call) => call.on("cancelled", () => (cancelled = true)),
    });
    const rt = runtimeClient(s.endpoint);
    await rt.version({});
    const ac = new AbortController();
    const p = rt.listContainers({}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    const err = (await p.catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.Cancelled);
    await new Promise((r) => setTimeout(r, 50));
    expect(cancelled).toBe(true);
    await expect(rt.listContainers({}, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: Code.Cancelled,
    });
  });

  it("falls back from StreamContainers to ListContainers on UNIMPLEMENTED, once", async () => {
    const s = await serve({
      version: versionV1(),
      // As containerd 1.6 answers: the stream fails with UNIMPLEMENTED before any message.
      streamContainers: (call: grpc.ServerWritableStream<unknown, unknown>) =>
        call.emit("error", { code: Code.Unimplemented, details: "unknown method StreamContainers" }),
      listContainers: (_c: Call, cb: Cb) =>
        cb(null, ListContainersResponse.fromPartial({ containers: [{ id: "a" }, { id: "b" }] })),
    });
    const rt = runtimeClient(s.endpoint);
    expect((await rt.listContainers({})).containers.map((c) => c.id)).toEqual(["a", "b"]);
    expect((await rt.listContainers({})).containers.map((c) => c.id)).toEqual(["a", "b"]);
    expect(s.calls).toEqual(["version", "streamContainers", "listContainers", "listContainers"]);
  });

  it("gathers the pages of StreamContainers into one list when the runtime streams", async () => {
    let filterSeen: unknown;
    const s = await serve({
      version: versionV1(),
      streamContainers: (call: grpc.ServerWritableStream<{ filter?: unknown }, unknown>) => {
        filterSeen = call.request.filter;
        call.write(StreamContainersResponse.fromPartial({ containers: [{ id: "a" }] }));
        call.write(StreamContainersResponse.fromPartial({ containers: [{ id: "b" }, { id: "c" }] }));
        call.end();
      },
    });
    const rt = runtimeClient(s.endpoint);
    const res = await rt.listContainers({ filter: { labelSelector: { app: "x" } } });
    expect(res.containers.map((c) => c.id)).toEqual(["a", "b", "c"]);
    expect(filterSeen).toMatchObject({ labelSelector: { app: "x" } });
    expect(s.calls).not.toContain("listContainers");
  });

  it("yields server streams as AsyncIterable and cancels the stream when the consumer stops", async () => {
    let serverCancelled = false;
    const s = await serve({
      version: versionV1(),
      getContainerEvents: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.on("cancelled", () => (serverCancelled = true));
        let n = 0;
        const t = setInterval(() => {
          if (call.cancelled) return clearInterval(t);
          call.write(
            ContainerEventResponse.fromPartial({
              containerId: `c${n++}`,
              containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT,
              createdAt: 1_700_000_000_000_000_000n,
            }),
          );
        }, 5);
      },
    });
    const rt = runtimeClient(s.endpoint);
    const seen: string[] = [];
    for await (const ev of rt.getContainerEvents({})) {
      expect(ev.createdAt).toBe(1_700_000_000_000_000_000n);
      seen.push(ev.containerId);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(["c0", "c1", "c2"]);
    await new Promise((r) => setTimeout(r, 50));
    expect(serverCancelled).toBe(true);
  });

  it("reports UNIMPLEMENTED from a stream as CriError", async () => {
    const s = await serve({ version: versionV1() });
    const rt = runtimeClient(s.endpoint);
    const it = rt.getContainerEvents({})[Symbol.asyncIterator]();
    const err = await it.next().catch((e: unknown) => e);
    expect(isUnimplemented(err)).toBe(true);
    expect((err as CriError).method).toBe("GetContainerEvents");
  });

  it("fails with UNAVAILABLE while the runtime is down and works again once it is back", async () => {
    const s = await serve(
      {
        version: versionV1(),
        listImages: () => {},
      },
      {
        listImages: (_c: Call, cb: Cb) => cb(null, ListImagesResponse.fromPartial({ images: [{ id: "i" }] })),
      },
    );
    const rt = runtimeClient(s.endpoint);
    const img = createImageClient(s.endpoint, { useStreaming: false });
    cleanups.push(() => img.close());
    expect((await rt.version({})).runtimeApiVersion).toBe("v1");
    await s.stop();
    const started = Date.now();
    const err = await rt.version({}, { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(isUnavailable(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(isUnavailable(await img.listImages({}).catch((e: unknown) => e))).toBe(true);
    await s.restart();
    const deadline = Date.now() + 10_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = await rt.version({}, { timeoutMs: 1_000 }).then(
        () => true,
        () => false,
      );
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
    expect((await img.listImages({})).images[0]?.id).toBe("i");
  });

  it("fails fast with UNAVAILABLE when nothing listens on the socket", async () => {
    const rt = runtimeClient("/tmp/nodekit-no-such-runtime.sock");
    const err = (await rt.version({}).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.Unavailable);
    expect(err.method).toBe("Version");
  });

  it("receives up to 16 MiB by default; larger needs maxReceiveMessageBytes", async () => {
    const big = ListContainersResponse.fromPartial({
      containers: Array.from({ length: 18 }, (_, i) => ({ id: `c${i}`, labels: { blob: "x".repeat(1024 * 1024) } })),
    });
    const s = await serve(
      { version: versionV1(), listContainers: (_c: Call, cb: Cb) => cb(null, big) },
      {},
      { "grpc.max_send_message_length": 64 * 1024 * 1024 },
    );
    const rt = runtimeClient(s.endpoint, { useStreaming: false });
    const err = (await rt.listContainers({}).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.ResourceExhausted);
    const roomy = runtimeClient(s.endpoint, { useStreaming: false, maxReceiveMessageBytes: 32 * 1024 * 1024 });
    expect((await roomy.listContainers({})).containers).toHaveLength(18);
  });

  it("close() settles every call in flight at once with Cancelled: deadlines, none, and open streams", async () => {
    const hang = () => {};
    const s = await serve(
      { version: versionV1(), listContainers: hang, execSync: hang, getContainerEvents: hang, podSandboxStatus: hang },
      { pullImage: hang },
    );
    const rt = createRuntimeClient(s.endpoint, { useStreaming: false });
    const img = createImageClient(s.endpoint);
    await rt.version({});
    const settled = (p: Promise<unknown>) =>
      p.then(
        () => "resolved",
        (e: unknown) => e,
      );
    const list = settled(rt.listContainers({})); // the client's 2-minute deadline
    const exec = settled(rt.execSync({ containerId: "c", cmd: ["sleep", "1d"], timeout: 0n })); // none
    const status = settled(rt.podSandboxStatus({ podSandboxId: "p" }, { timeoutMs: Number.POSITIVE_INFINITY }));
    const pull = settled(img.pullImage({ image: { image: "busybox" } })); // none
    const events = rt.getContainerEvents({})[Symbol.asyncIterator]();
    const event = settled(events.next());
    const sent = ["listContainers", "execSync", "podSandboxStatus", "pullImage", "getContainerEvents"];
    while (!sent.every((c) => s.calls.includes(c))) await new Promise((r) => setTimeout(r, 10));
    rt.close();
    img.close();
    const results = (await Promise.all([list, exec, status, pull, event])) as CriError[];
    expect(results.map((e) => e instanceof CriError && e.code)).toEqual(Array(5).fill(Code.Cancelled));
    expect(results.map((e) => e.method)).toEqual([
      "ListContainers",
      "ExecSync",
      "PodSandboxStatus",
      "PullImage",
      "GetContainerEvents",
    ]);
    for (const e of results) expect(e.rawMessage).toMatch(/client .* was closed while the call was in flight/);
    // Later calls are refused as before.
    await expect(rt.version({})).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });

  it("close() lets the process exit while an event stream is open", async () => {
    const s = await serve({
      version: versionV1(),
      getContainerEvents: (call: grpc.ServerWritableStream<unknown, unknown>) =>
        call.write(ContainerEventResponse.fromPartial({ containerId: "first", createdAt: 1n })),
    });
    const src = new URL("../src/index.ts", import.meta.url).pathname;
    const script = [
      `import { createRuntimeClient } from ${JSON.stringify(src)};`,
      `const rt = createRuntimeClient(${JSON.stringify(s.endpoint)});`,
      "const events = rt.getContainerEvents({})[Symbol.asyncIterator]();",
      "console.log((await events.next()).value.containerId);",
      "const pending = events.next().catch((e) => console.log(e.code, e.method));",
      "rt.close();",
      "await pending;",
    ].join("\n");
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: new URL("../../..", import.meta.url).pathname,
    });
    cleanups.push(() => child.kill("SIGKILL"));
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    // The child exits on its own: nothing keeps its event loop alive once the client is closed.
    const code = await new Promise((r) => child.once("exit", r));
    expect(out.trim().split("\n")).toEqual(["first", `${Code.Cancelled} GetContainerEvents`]);
    expect(code).toBe(0);
  });

  it("fails a request with a field out of range with InvalidArgument before anything is sent", async () => {
    const s = await serve({
      version: versionV1(),
      runPodSandbox: (_c: Call, cb: Cb) => cb(null, RunPodSandboxResponse.fromPartial({ podSandboxId: "p" })),
      stopContainer: (_c: Call, cb: Cb) => cb(null, StopContainerResponse.fromPartial({})),
      getContainerEvents: () => {},
    });
    const rt = runtimeClient(s.endpoint);
    await rt.version({});
    const metadata = { name: "n", namespace: "ns", uid: "u" };
    for (const attempt of [-1, 2 ** 40, 1.5]) {
      const err = (await rt
        .runPodSandbox({ config: { metadata: { ...metadata, attempt } } })
        .catch((e: unknown) => e)) as CriError;
      expect([err.code, err.method]).toEqual([Code.InvalidArgument, "RunPodSandbox"]);
      expect(err.rawMessage).toContain("uint32");
    }
    const err = (await rt.stopContainer({ containerId: "c", timeout: 2n ** 70n }).catch((e: unknown) => e)) as CriError;
    expect([err.code, err.method]).toEqual([Code.InvalidArgument, "StopContainer"]);
    const streamErr = await (async () => {
      for await (const _ of rt.streamContainers({ filter: { state: { state: -(2 ** 40) } } })) break;
    })().catch((e: unknown) => e);
    expect([(streamErr as CriError).code, (streamErr as CriError).method]).toEqual([
      Code.InvalidArgument,
      "StreamContainers",
    ]);
    expect(s.calls).toEqual(["version"]);
    expect((await rt.runPodSandbox({ config: { metadata } })).podSandboxId).toBe("p");
  });

  it("refuses calls after close()", async () => {
    const s = await serve({ version: versionV1() });
    const rt = createRuntimeClient(s.endpoint);
    rt.close();
    await expect(rt.version({})).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });
});

describe("CriError", () => {
  it("keeps instanceof across the ESM and CJS builds", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("../dist/index.cjs") as typeof import("../src/index.js");
    const esm = (await import("../dist/index.js")) as typeof import("../src/index.js");
    const fromCjs = new cjs.CriError(cjs.Code.NotFound, "x");
    expect(fromCjs instanceof esm.CriError).toBe(true);
    expect(new esm.CriError(esm.Code.NotFound, "x") instanceof cjs.CriError).toBe(true);
    expect(fromCjs instanceof CriError).toBe(true);
    expect(esm.isNotFound(fromCjs)).toBe(true);
    expect(new Error("x") instanceof CriError).toBe(false);
  });

  it("normalises anything with from()", () => {
    const grpcErr = Object.assign(new Error("14 UNAVAILABLE: no connection"), { code: 14, details: "no connection" });
    const e = CriError.from(grpcErr, "Status");
    expect([e.code, e.method, e.rawMessage, e.cause]).toEqual([Code.Unavailable, "Status", "no connection", grpcErr]);
    expect(CriError.from("boom").code).toBe(Code.Unknown);
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(CriError.from(abort).code).toBe(Code.Cancelled);
    const known = new CriError(Code.NotFound, "gone");
    expect(CriError.from(known)).toBe(known);
    expect(CriError.from(known, "RemoveContainer").method).toBe("RemoveContainer");
  });
});
