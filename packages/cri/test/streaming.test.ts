// The streaming client against the server kit and the fake runtime, in-process over loopback.
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import type { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V5,
  Code,
  CriError,
  createPortForwardListener,
  createStreamingServer,
  type ExecRequest,
  openAttach,
  openExec,
  openPortForward,
  type StreamingServer,
  type TerminalSize,
} from "../src/index.js";
import { createFakeRuntime, type FakeRuntime } from "../src/testing/index.js";

function collect(r: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    r.on("data", (c: Buffer) => chunks.push(c));
    r.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    r.once("error", reject);
  });
}

const execRequest = (over: Partial<ExecRequest> = {}): ExecRequest => ({
  containerId: "c1",
  cmd: ["sh"],
  tty: false,
  stdin: false,
  stdout: true,
  stderr: true,
  ...over,
});

async function rejection(p: Promise<unknown>): Promise<CriError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CriError);
  return err as CriError;
}

describe("client ↔ fake runtime (streaming: true)", () => {
  let fake: FakeRuntime;
  let containerId: string;
  let podSandboxId: string;

  beforeAll(async () => {
    fake = createFakeRuntime({ streaming: true });
    const config = { metadata: { name: "web", namespace: "default", uid: "u1" } };
    ({ podSandboxId } = await fake.runPodSandbox({ config }));
    ({ containerId } = await fake.createContainer({
      podSandboxId,
      config: { metadata: { name: "app" }, image: { image: "busybox" }, command: ["sleep", "3600"] },
      sandboxConfig: config,
    }));
    await fake.startContainer({ containerId });
  });
  afterAll(async () => {
    await fake.closeStreaming();
  });

  it("exec gives stdout, stderr and the exit code 3 over v5", async () => {
    const { url } = await fake.exec({
      containerId,
      cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
      stdout: true,
      stderr: true,
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{8}$/);
    const session = await openExec(url);
    expect(session.protocol).toBe(CHANNEL_PROTOCOL_V5);
    const [out, err, result] = await Promise.all([collect(session.stdout), collect(session.stderr), session.done]);
    expect(out).toBe("out\n");
    expect(err).toBe("err\n");
    expect(result.exitCode).toBe(3);
    expect(result.status?.reason).toBe("NonZeroExitCode");
  });

  it("exec with exit 0 reports Success", async () => {
    const { url } = await fake.exec({ containerId, cmd: ["echo", "hi"], stdout: true });
    const session = await openExec(url);
    const [out, result] = await Promise.all([collect(session.stdout), session.done]);
    expect(out).toBe("hi\n");
    expect(result).toEqual({ exitCode: 0, status: { metadata: {}, status: "Success" } });
  });

  it("stdin piped to cat comes back, and its end (v5 close signal) ends the command", async () => {
    const { url } = await fake.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true });
    const session = await openExec(url);
    expect(session.stdinCloseSupported).toBe(true);
    const out = collect(session.stdout);
    session.stdin.write("line one\n");
    session.stdin.end("line two\n");
    expect(await out).toBe("line one\nline two\n");
    expect((await session.done).exitCode).toBe(0);
  });

  it("a v4-only client cannot close stdin: stdinCloseSupported is false", async () => {
    const { url } = await fake.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true });
    const session = await openExec(url, { protocols: [CHANNEL_PROTOCOL_V4] });
    expect(session.protocol).toBe(CHANNEL_PROTOCOL_V4);
    expect(session.stdinCloseSupported).toBe(false);
    const chunks: Buffer[] = [];
    session.stdout.on("data", (c: Buffer) => chunks.push(c));
    session.stdin.write("abc\n");
    while (Buffer.concat(chunks).toString() !== "abc\n") await new Promise((r) => setTimeout(r, 5));
    session.close();
    // Closed by the caller before a status came: no exit code.
    expect((await session.done).exitCode).toBeNull();
  });

  it("attach echoes stdin to stdout until stdin ends", async () => {
    const { url } = await fake.attach({ containerId, stdin: true, stdout: true });
    expect(url).toContain("/attach/");
    const session = await openAttach(url);
    const out = collect(session.stdout);
    session.stdin.end("ping\n");
    expect(await out).toBe("ping\n");
    expect((await session.done).exitCode).toBe(0);
  });

  it("port-forward reaches a TCP server on the host loopback, through a duplex and a local listener", async () => {
    const echo: Server = createServer((s) => {
      s.once("data", (d: Buffer) => s.end(`echo:${d.toString()}`));
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const port = (echo.address() as { port: number }).port;
    try {
      const { url } = await fake.portForward({ podSandboxId, port: [port] });
      const pf = await openPortForward(url, { ports: [port] });
      const [stream] = pf.streams;
      stream?.write("hello");
      expect(await collect(stream as unknown as Readable)).toBe("echo:hello");
      await pf.closed;

      const listener = await createPortForwardListener({
        port,
        openUrl: async () => (await fake.portForward({ podSandboxId, port: [port] })).url,
      });
      try {
        for (const word of ["a", "b"]) {
          const { connect } = await import("node:net");
          const sock = connect(listener.localPort, "127.0.0.1");
          sock.write(word);
          expect(await collect(sock)).toBe(`echo:${word}`);
        }
      } finally {
        await listener.close();
      }
    } finally {
      echo.close();
    }
  });

  it("port-forward to a closed port reports the error on the port's stream", async () => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const { url } = await fake.portForward({ podSandboxId, port: [port] });
    const pf = await openPortForward(url, { ports: [port] });
    const [stream] = pf.streams;
    const err = await rejection(collect(stream as unknown as Readable));
    expect(err.code).toBe(Code.Unknown);
    expect(err.rawMessage).toContain(`error forwarding port ${port} to pod ${podSandboxId}, uid : `);
    expect(err.rawMessage).toContain("ECONNREFUSED");
  });

  it("port-forward of two ports in one session: a data and an error channel each", async () => {
    const servers: Server[] = [];
    const ports: number[] = [];
    for (const tag of ["first", "second"]) {
      const srv = createServer((s) => s.end(tag));
      srv.listen(0, "127.0.0.1");
      await once(srv, "listening");
      servers.push(srv);
      ports.push((srv.address() as { port: number }).port);
    }
    try {
      const { url } = await fake.portForward({ podSandboxId, port: ports });
      const pf = await openPortForward(url, { ports });
      expect(pf.streams).toHaveLength(2);
      const texts = await Promise.all(pf.streams.map((st) => collect(st as unknown as Readable)));
      expect(texts).toEqual(["first", "second"]);
      await pf.closed;
    } finally {
      for (const srv of servers) srv.close();
    }
  });

  it("an AbortSignal cancels before connecting, and closes an open session", async () => {
    const { url } = await fake.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true });
    const aborted = await rejection(openExec(url, { signal: AbortSignal.abort() }));
    expect(aborted.code).toBe(Code.Cancelled);
    const again = await fake.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true });
    const controller = new AbortController();
    const session = await openExec(again.url, { signal: controller.signal });
    session.stdout.resume();
    controller.abort();
    expect((await session.done).exitCode).toBeNull();
  });

  it("Exec on a container that is not running fails in the RPC", async () => {
    const err = await rejection(fake.exec({ containerId: "nope", cmd: ["sh"], stdout: true }));
    expect(err.code).toBe(Code.NotFound);
  });
});

describe("server kit protocol edges", () => {
  let server: StreamingServer;
  let clock = 1_000_000;
  const sizes: TerminalSize[] = [];
  let lastStdinEnded = false;

  beforeAll(async () => {
    server = createStreamingServer({
      now: () => clock,
      async exec(request, streams) {
        if (request.cmd[0] === "fail") throw new Error("no such thing");
        if (request.cmd[0] === "tty") {
          expect(streams.stderr).toBeNull();
          streams.onResize((s) => {
            sizes.push(s);
            if (sizes.length === 2) streams.stdout?.end(`size ${s.width}x${s.height}\r\n`);
          });
          await new Promise((r) => streams.stdout?.once("finish", r));
          return 0;
        }
        if (request.cmd[0] === "read-then-talk") {
          // Reads stdin to EOF, then writes: the session goes on after the half-close.
          let text = "";
          for await (const c of streams.stdin as Readable) text += c;
          lastStdinEnded = true;
          streams.stdout?.write(`got ${text.length} bytes`);
          return 7;
        }
        streams.stdout?.write("x");
        return 0;
      },
    });
    await server.start();
  });
  afterAll(async () => {
    await server.close();
  });
  afterEach(() => {
    clock = 1_000_000;
  });

  it("validates requests as the kubelet's GetExec/GetAttach/GetPortForward", () => {
    const cases: [() => unknown, string][] = [
      [() => server.getExec(execRequest({ containerId: "" })), "missing required container_id"],
      [() => server.getExec(execRequest({ tty: true, stderr: true })), "tty and stderr cannot both be true"],
      [
        () => server.getExec(execRequest({ stdin: false, stdout: false, stderr: false })),
        "one of stdin, stdout, or stderr must be set",
      ],
    ];
    for (const [call, message] of cases) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CriError);
      expect((err as CriError).code).toBe(Code.InvalidArgument);
      expect((err as CriError).rawMessage).toBe(message);
    }
    expect(() =>
      server.getAttach({ containerId: "c", stdin: false, stdout: false, stderr: false, tty: false }),
    ).toThrow(/Unimplemented/);
    expect(() => server.getPortForward({ podSandboxId: "p", port: [1] })).toThrow(/Unimplemented/);
  });

  it("an unknown subprotocol is refused with 403 and names the offer", async () => {
    const { url } = server.getExec(execRequest());
    const err = await rejection(openExec(url, { protocols: ["bogus.k8s.io"] }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("HTTP 403");
    expect(err.rawMessage).toContain("requested protocol(s) are not supported: [bogus.k8s.io]");
  });

  it("a bad token is 404, and a token is single use", async () => {
    const bad = await rejection(openExec(`${server.url}/exec/AAAAAAAA`));
    expect(bad.code).toBe(Code.NotFound);
    const { url } = server.getExec(execRequest());
    const first = await openExec(url);
    expect((await first.done).exitCode).toBe(0);
    expect((await rejection(openExec(url))).code).toBe(Code.NotFound);
    // A URL of one kind does not open another.
    const other = server.getExec(execRequest()).url.replace("/exec/", "/attach/");
    expect((await rejection(openAttach(other))).code).toBe(Code.NotFound);
  });

  it("a token expires after one minute (the kubelet's TTL)", async () => {
    const { url } = server.getExec(execRequest());
    const { url: fresh } = server.getExec(execRequest());
    clock += 60_000; // not after the expiry yet
    const ok = await openExec(fresh);
    expect((await ok.done).exitCode).toBe(0);
    clock += 1;
    expect((await rejection(openExec(url))).code).toBe(Code.NotFound);
    expect(server.inFlight).toBe(0);
  });

  it("a plain HTTP request (no WebSocket upgrade, e.g. SPDY) gets 400 and uses up the token", async () => {
    const { url } = server.getExec(execRequest());
    const res = await fetch(url);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("unable to upgrade");
    expect((await rejection(openExec(url))).code).toBe(Code.NotFound);
  });

  it("closed stdin: the handler sees EOF and the session goes on to a status", async () => {
    const { url } = server.getExec(execRequest({ cmd: ["read-then-talk"], stdin: true }));
    const session = await openExec(url);
    const out = collect(session.stdout);
    session.stdin.end("12345");
    expect(await out).toBe("got 5 bytes");
    expect((await session.done).exitCode).toBe(7);
    expect(lastStdinEnded).toBe(true);
  });

  it("TTY resize messages reach the handler", async () => {
    const { url } = server.getExec(execRequest({ cmd: ["tty"], tty: true, stdin: true, stderr: false }));
    const session = await openExec(url);
    const out = collect(session.stdout);
    session.resize({ width: 80, height: 24 });
    session.resize({ width: 132, height: 43 });
    expect(await out).toBe("size 132x43\r\n");
    expect(sizes).toEqual([
      { width: 80, height: 24 },
      { width: 132, height: 43 },
    ]);
    expect(() => session.resize({ width: -1, height: 2 })).toThrow(/not valid/);
  });

  it("a failing handler is an internal error status, a rejected done", async () => {
    const { url } = server.getExec(execRequest({ cmd: ["fail"] }));
    const session = await openExec(url);
    const err = await rejection(session.done);
    expect(err.code).toBe(Code.Unknown);
    expect(err.method).toBe("Exec");
    expect(err.rawMessage).toBe("Internal error occurred: no such thing");
  });

  it("the base64 v4 protocol and raw frames: the empty first message, then data, then the status", async () => {
    const { url } = server.getExec(execRequest());
    const ws = new WebSocket(url.replace("http:", "ws:"), ["v4.base64.channel.k8s.io"]);
    const messages: string[] = [];
    ws.on("message", (m: Buffer) => messages.push(m.toString()));
    await once(ws, "close");
    expect(ws.protocol).toBe("v4.base64.channel.k8s.io");
    expect(messages).toEqual([
      "1",
      `1${Buffer.from("x").toString("base64")}`,
      `3${Buffer.from('{"metadata":{},"status":"Success"}').toString("base64")}`,
    ]);
  });

  it("without a subprotocol the server speaks channel.k8s.io framing (the kubelet's empty protocol)", async () => {
    const { url } = server.getExec(execRequest());
    const ws = new WebSocket(url.replace("http:", "ws:"));
    const messages: Buffer[] = [];
    ws.on("message", (m: Buffer) => messages.push(m));
    await once(ws, "close");
    expect(ws.protocol).toBe("");
    // v1 writes nothing on the error channel for a success.
    expect(messages.map((m) => [...m])).toEqual([[1], [1, 120]]);
  });
});
