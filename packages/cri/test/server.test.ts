import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  CriError,
  type CriServer,
  createCriServer,
  createImageClient,
  createRuntimeClient,
  ListContainersResponse,
  type RuntimeServiceHandlers,
} from "../src/index.js";

const version = async () => ({ version: "0.1.0", runtimeName: "t", runtimeVersion: "1", runtimeApiVersion: "v1" });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "nk-srv-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(runtime: RuntimeServiceHandlers, extra: Parameters<typeof createCriServer>[0] = {}) {
  const dir = tmp();
  const server = createCriServer({ runtime, ...extra });
  const endpoint = `unix://${dir}/sub/dir/rt.sock`;
  await server.listen(endpoint);
  cleanups.push(() => server.close({ graceMs: 100 }));
  const client = createRuntimeClient(endpoint, { useStreaming: false });
  cleanups.push(() => client.close());
  return { server, client, endpoint, dir };
}

describe("createCriServer", () => {
  it("serves a partial implementation; missing methods answer UNIMPLEMENTED", async () => {
    const { client, server, endpoint } = await serve({ version });
    expect(server.endpoint).toBe(endpoint);
    expect((await client.version({})).runtimeName).toBe("t");
    const err = (await client.listContainers({}).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.Unimplemented);
    expect(err.rawMessage).toBe("RuntimeService/ListContainers is not implemented by this runtime");
    const images = createImageClient(endpoint);
    cleanups.push(() => images.close());
    expect((await images.imageFsInfo({}).catch((e: unknown) => e)) as CriError).toMatchObject({
      code: Code.Unimplemented,
    });
    const streamErr = await (async () => {
      for await (const _ of client.getContainerEvents({})) break;
    })().catch((e: unknown) => e);
    expect((streamErr as CriError).code).toBe(Code.Unimplemented);
  });

  it("fills partial responses with defaults", async () => {
    const { client } = await serve({
      version,
      // biome-ignore lint/suspicious/noExplicitAny: a handler answering a partial message on purpose
      listContainers: (async () => ({ containers: [{ id: "a" }] })) as any,
    });
    const res = await client.listContainers({});
    expect(res).toEqual(ListContainersResponse.fromPartial({ containers: [{ id: "a" }] }));
  });

  it("maps a thrown CriError to its status, anything else to INTERNAL, and keeps serving", async () => {
    const internal: unknown[] = [];
    const { client } = await serve(
      {
        version,
        containerStatus: async ({ containerId }) => {
          throw new CriError(Code.NotFound, `container ${containerId} not found`);
        },
        podSandboxStatus: () => {
          throw new TypeError("boom in handler");
        },
      },
      { onInternalError: (e) => internal.push(e) },
    );
    const nf = (await client.containerStatus({ containerId: "x" }).catch((e: unknown) => e)) as CriError;
    expect([nf.code, nf.rawMessage]).toEqual([Code.NotFound, "container x not found"]);
    const ie = (await client.podSandboxStatus({ podSandboxId: "p" }).catch((e: unknown) => e)) as CriError;
    expect([ie.code, ie.rawMessage]).toEqual([Code.Internal, "boom in handler"]);
    expect(internal).toHaveLength(1);
    expect((await client.version({})).runtimeName).toBe("t");
  });

  it("aborts a handler's signal when the client's deadline passes; the server keeps serving", async () => {
    let aborted = false;
    let seenTimeout: number | undefined;
    const { client } = await serve({
      version,
      listPodSandbox: (_req, opts) =>
        new Promise(() => {
          seenTimeout = opts?.timeoutMs;
          opts?.signal?.addEventListener("abort", () => {
            aborted = true;
          });
        }),
    });
    await client.version({});
    const err = (await client.listPodSandbox({}, { timeoutMs: 200 }).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.DeadlineExceeded);
    await new Promise((r) => setTimeout(r, 100));
    expect(aborted).toBe(true);
    expect(seenTimeout).toBeGreaterThan(0);
    expect(seenTimeout).toBeLessThanOrEqual(200);
    expect((await client.version({})).version).toBe("0.1.0");
  });

  it("streams from an AsyncIterable and stops it when the client goes away", async () => {
    let returned = false;
    const { client } = await serve({
      version,
      getContainerEvents: () => ({
        [Symbol.asyncIterator]() {
          let n = 0;
          return {
            async next() {
              await new Promise((r) => setTimeout(r, 5));
              return { done: false, value: { containerId: `c${n++}`, containerEventType: 0, createdAt: 1n } as never };
            },
            async return() {
              returned = true;
              return { done: true, value: undefined };
            },
          };
        },
      }),
    });
    const seen: string[] = [];
    for await (const ev of client.getContainerEvents({})) {
      seen.push(ev.containerId);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(["c0", "c1", "c2"]);
    await new Promise((r) => setTimeout(r, 100));
    expect(returned).toBe(true);
  });

  it("ends a stream with the error its iterable throws", async () => {
    const { client } = await serve({
      version,
      streamContainers: () => ({
        async *[Symbol.asyncIterator]() {
          yield { containers: [] };
          throw new CriError(Code.PermissionDenied, "no");
        },
      }),
    });
    const pages: unknown[] = [];
    const err = await (async () => {
      for await (const p of client.streamContainers({})) pages.push(p);
    })().catch((e: unknown) => e);
    expect(pages).toHaveLength(1);
    expect((err as CriError).code).toBe(Code.PermissionDenied);
  });

  it("replaces a stale socket file and refuses a live one", async () => {
    const dir = tmp();
    const path = join(dir, "rt.sock");
    // A live socket: something answers on it.
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(path, r));
    const refused = createCriServer({ runtime: { version } });
    await expect(refused.listen(path)).rejects.toMatchObject({ code: Code.AlreadyExists });
    await new Promise<void>((r) => holder.close(() => r()));
    // A stale socket: a process bound it and was killed, the file stays.
    const child = spawn(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`,
    ]);
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(statSync(path).isSocket()).toBe(true);
    const server = createCriServer({ runtime: { version } });
    await server.listen(path);
    cleanups.push(() => server.close());
    const c = createRuntimeClient(path);
    cleanups.push(() => c.close());
    expect((await c.version({})).runtimeName).toBe("t");
    // Not a socket: never replaced.
    const file = join(dir, "file.sock");
    writeFileSync(file, "x");
    await expect(createCriServer({}).listen(file)).rejects.toThrow(/not a socket/);
  });

  it("close() waits for calls in flight, then removes the socket", async () => {
    let release!: () => void;
    const { client, server, dir } = await serve({
      version,
      listPodSandbox: () => new Promise((r) => (release = () => r({ items: [] }))),
    });
    await client.version({});
    const call = client.listPodSandbox({});
    await new Promise((r) => setTimeout(r, 50));
    const closing = (server as CriServer).close({ graceMs: 5_000 });
    setTimeout(() => release(), 100);
    await expect(call).resolves.toEqual({ items: [] });
    await closing;
    expect(() => statSync(join(dir, "sub/dir/rt.sock"))).toThrow();
    expect(server.endpoint).toBeUndefined();
  });

  it("close() answers the calls still running after graceMs with Unavailable, as a runtime going away", async () => {
    let aborted = 0;
    const hang = (_req: unknown, opts?: { signal?: AbortSignal | undefined }) =>
      new Promise<never>(() => opts?.signal?.addEventListener("abort", () => aborted++));
    const dir = tmp();
    const server = createCriServer({
      runtime: {
        version,
        listPodSandbox: hang,
        getContainerEvents: (_req, opts) => ({
          async *[Symbol.asyncIterator]() {
            yield { containerId: "first", createdAt: 1n };
            await hang(undefined, opts);
          },
        }),
      },
    });
    const endpoint = `unix://${dir}/rt.sock`;
    await server.listen(endpoint);
    const client = createRuntimeClient(endpoint, { useStreaming: false });
    cleanups.push(() => client.close());
    await client.version({});
    const list = client.listPodSandbox({}).catch((e: unknown) => e);
    const events = client.getContainerEvents({})[Symbol.asyncIterator]();
    expect((await events.next()).value?.containerId).toBe("first");
    const next = events.next().catch((e: unknown) => e);
    await server.close({ graceMs: 50 });
    const [listErr, streamErr] = (await Promise.all([list, next])) as CriError[];
    expect([listErr?.code, listErr?.method]).toEqual([Code.Unavailable, "ListPodSandbox"]);
    expect([streamErr?.code, streamErr?.method]).toEqual([Code.Unavailable, "GetContainerEvents"]);
    expect(listErr?.rawMessage).toContain("shutting down");
    expect(aborted).toBe(2);
  });

  it("answers a response that cannot be encoded with INTERNAL and reports it to onInternalError", async () => {
    const internal: [unknown, string][] = [];
    const { client } = await serve(
      {
        version,
        // attempt is a uint32: -1 cannot go on the wire.
        podSandboxStatus: async () => ({ status: { id: "p", metadata: { name: "n", attempt: -1 } } }),
        streamPodSandboxes: () => ({
          async *[Symbol.asyncIterator]() {
            yield { podSandboxes: [{ id: "a" }] };
            yield { podSandboxes: [{ id: "b", metadata: { attempt: 2 ** 40 } }] };
          },
        }),
      },
      { onInternalError: (e, method) => internal.push([e, method]) },
    );
    const err = (await client.podSandboxStatus({ podSandboxId: "p" }).catch((e: unknown) => e)) as CriError;
    expect([err.code, err.method]).toEqual([Code.Internal, "PodSandboxStatus"]);
    expect(err.rawMessage).toContain("uint32");
    const pages: unknown[] = [];
    const streamErr = (await (async () => {
      for await (const p of client.streamPodSandboxes({})) pages.push(p);
    })().catch((e: unknown) => e)) as CriError;
    expect(pages).toHaveLength(1);
    expect([streamErr.code, streamErr.method]).toEqual([Code.Internal, "StreamPodSandboxes"]);
    expect(internal.map(([, method]) => method)).toEqual(["PodSandboxStatus", "StreamPodSandboxes"]);
    expect(String(internal[0]?.[0])).toContain("uint32");
    expect((await client.version({})).version).toBe("0.1.0");
  });

  it("closes connections that send no HTTP/2 preface, or something else, after prefaceTimeoutMs", async () => {
    const { endpoint, client } = await serve({ version }, { prefaceTimeoutMs: 200 });
    const path = endpoint.slice("unix://".length);
    const closed = (send?: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(path);
        socket.on("connect", () => {
          if (send !== undefined) socket.write(send);
        });
        socket.on("data", () => undefined);
        socket.on("error", reject);
        socket.on("close", () => resolve("closed by the server"));
      });
    // Nothing at all, a few bytes of garbage, and the start of a preface that never ends.
    await expect(closed()).resolves.toBe("closed by the server");
    await expect(closed("hello")).resolves.toBe("closed by the server");
    await expect(closed("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).resolves.toBe("closed by the server");
    await expect(closed("PRI * HTTP/2.0\r\n")).resolves.toBe("closed by the server");
    // A real client is served as before, also on a connection that stays idle longer than the timeout.
    expect((await client.version({})).runtimeName).toBe("t");
    await new Promise((r) => setTimeout(r, 400));
    expect((await client.version({})).runtimeName).toBe("t");
  });

  it("refuses requests over the 16 MiB limit", async () => {
    const { endpoint } = await serve({ version, listContainers: async () => ({ containers: [] }) });
    const big = createRuntimeClient(endpoint, { maxSendMessageBytes: 64 * 1024 * 1024, useStreaming: false });
    cleanups.push(() => big.close());
    const labels = { blob: "x".repeat(17 * 1024 * 1024) };
    const err = (await big.listContainers({ filter: { labelSelector: labels } }).catch((e: unknown) => e)) as CriError;
    expect(err.code).toBe(Code.ResourceExhausted);
  });

  it("survives a stream handler whose cleanup throws, and leaves no listeners behind on backpressure", async () => {
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on("unhandledRejection", onRejection);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const big = "x".repeat(256 * 1024);
      const { client } = await serve({
        version,
        // A cleanup that throws when the client goes away.
        getContainerEvents: () => ({
          async *[Symbol.asyncIterator]() {
            try {
              for (let n = 0; ; n++) yield { containerId: `c${n}`, containerEventType: 0, createdAt: 1n } as never;
            } finally {
              // biome-ignore lint/correctness/noUnsafeFinally: the point of the test
              throw new Error("cleanup failed in handler");
            }
          },
        }),
        // Large pages: the server waits for the socket to drain many times.
        streamContainers: () => ({
          async *[Symbol.asyncIterator]() {
            for (let n = 0; n < 40; n++) yield { containers: [{ id: `c${n}`, labels: { big } }] } as never;
          },
        }),
      });
      let seen = 0;
      for await (const _ of client.getContainerEvents({})) if (++seen === 3) break;
      let pages = 0;
      for await (const _ of client.streamContainers({})) pages++;
      expect(pages).toBe(40);
      await new Promise((r) => setTimeout(r, 100));
      expect(rejections).toEqual([]);
      expect(warnings).not.toContain("MaxListenersExceededWarning");
      expect((await client.version({})).version).toBe("0.1.0");
    } finally {
      process.off("unhandledRejection", onRejection);
      process.off("warning", onWarning);
    }
  });
});
