// The wire facts of the streaming protocols, as pure functions. Expected values come from the
// kubelet's wsstream documentation (its example frames) and from what containerd 1.6.20 sent in
// the e2e probe (docs/decisions/0025-cri-streaming-websocket.md).
import { describe, expect, it } from "vitest";
import { Code, CriError, createStreamingServer, type ExecRequest } from "../src/index.js";
import {
  decodeFrame,
  encodeCloseFrame,
  encodeFrame,
  encodePortPrefix,
  encodeTerminalSize,
  exitCodeStatus,
  negotiateProtocol,
  parseProtocolHeader,
  parseTerminalSize,
  protocolTraits,
  readRemoteCommandStatus,
} from "../src/streaming/protocol.js";
import { defined } from "./support/defined.js";

const v1 = defined(protocolTraits("channel.k8s.io"));
const b64 = defined(protocolTraits("v4.base64.channel.k8s.io"));
const v4 = defined(protocolTraits("v4.channel.k8s.io"));
const v5 = defined(protocolTraits("v5.channel.k8s.io"));

describe("channel framing", () => {
  it("binary: the first byte is the channel (wsstream's example: foo\\n on stdin)", () => {
    expect([...(encodeFrame(0, Buffer.from("foo\n"), false) as Buffer)]).toEqual([0, 102, 111, 111, 10]);
    const d = decodeFrame(Buffer.from([1, 10]), v4);
    expect(d).toEqual({ kind: "data", channel: 1, data: Buffer.from("\n") });
  });

  it("base64: an ASCII digit then base64 (wsstream's example: \\n on stdout is '1Cg==')", () => {
    expect(decodeFrame("1Cg==", b64)).toEqual({ kind: "data", channel: 1, data: Buffer.from("\n") });
    expect(encodeFrame(1, Buffer.from("\n"), true)).toBe("1Cg==");
    expect(() => decodeFrame("1C!==", b64)).toThrow(CriError);
    expect(() => decodeFrame("xCg==", b64)).toThrow(/bad channel/);
  });

  it("an empty message is skipped", () => {
    expect(decodeFrame(Buffer.alloc(0), v4)).toEqual({ kind: "empty" });
    // containerd's first message: the stdout channel with no data.
    expect(decodeFrame(Buffer.from([1]), v4)).toEqual({ kind: "data", channel: 1, data: Buffer.alloc(0) });
  });

  it("v5 close signal: [255, channel]; any other length after 255 is a protocol error", () => {
    expect([...encodeCloseFrame(0)]).toEqual([255, 0]);
    expect(decodeFrame(Buffer.from([255, 0]), v5)).toEqual({ kind: "close", channel: 0 });
    expect(() => decodeFrame(Buffer.from([255]), v5)).toThrow(/exactly one channel byte, got 0/);
    expect(() => decodeFrame(Buffer.from([255, 0, 1]), v5)).toThrow(/got 2 bytes/);
    // Before v5, 255 is only a channel number.
    expect(decodeFrame(Buffer.from([255, 0]), v4)).toEqual({ kind: "data", channel: 255, data: Buffer.from([0]) });
  });

  it("port-forward channels start with the port as uint16 little endian (containerd: 8080 → 90 1f)", () => {
    expect([...encodePortPrefix(8080)]).toEqual([0x90, 0x1f]);
    expect([...encodePortPrefix(1)]).toEqual([1, 0]);
    expect([...encodePortPrefix(65535)]).toEqual([255, 255]);
  });
});

describe("subprotocol negotiation (the kubelet's handshake)", () => {
  const supported = ["v4.channel.k8s.io", "channel.k8s.io", ""];
  it.each([
    [["v5.channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"],
    [["channel.k8s.io", "v4.channel.k8s.io"], "channel.k8s.io"],
    [[], ""],
    [["bogus.k8s.io"], undefined],
  ])("offered %j → %j", (offered, chosen) => {
    expect(negotiateProtocol(offered, supported)).toBe(chosen);
  });
  it("splits the header", () => {
    expect(parseProtocolHeader(" v5.channel.k8s.io , v4.channel.k8s.io,")).toEqual([
      "v5.channel.k8s.io",
      "v4.channel.k8s.io",
    ]);
    expect(parseProtocolHeader(undefined)).toEqual([]);
  });
});

describe("the error channel's Status", () => {
  it("reads the exit code from containerd's NonZeroExitCode status", () => {
    const containerd =
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c echo out; echo err \\u003e\\u00262; exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}';
    const r = readRemoteCommandStatus(Buffer.from(containerd), v4, "Exec");
    expect(r.exitCode).toBe(3);
    // Our server writes the same message shape for the same command.
    expect(exitCodeStatus(3, ["sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual(JSON.parse(containerd));
  });

  it("Success is 0; other failures throw with the server's message; v1 text is an error", () => {
    expect(readRemoteCommandStatus(Buffer.from('{"metadata":{},"status":"Success"}'), v4, "Exec").exitCode).toBe(0);
    const internal = Buffer.from(
      '{"status":"Failure","message":"Internal error occurred: boom","reason":"InternalError"}',
    );
    expect(() => readRemoteCommandStatus(internal, v4, "Exec")).toThrow("Internal error occurred: boom");
    expect(() => readRemoteCommandStatus(Buffer.from("not json"), v4, "Exec")).toThrow(/not hold a JSON Status/);
    const noCause = Buffer.from('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[]}}');
    expect(() => readRemoteCommandStatus(noCause, v4, "Exec")).toThrow(/without a numeric ExitCode cause/);
    expect(readRemoteCommandStatus(Buffer.alloc(0), v1, "Exec").exitCode).toBe(0);
    expect(() => readRemoteCommandStatus(Buffer.from("exit status 2"), v1, "Exec")).toThrow("exit status 2");
  });
});

describe("terminal size messages", () => {
  it("are the kubelet's TerminalSize JSON", () => {
    expect(encodeTerminalSize({ width: 80, height: 24 }).toString()).toBe('{"Width":80,"Height":24}');
    expect(parseTerminalSize(Buffer.from('{"Width":132,"Height":43}'))).toEqual({ width: 132, height: 43 });
    expect(parseTerminalSize(Buffer.from('{"Width":-1,"Height":2}'))).toBeUndefined();
    expect(parseTerminalSize(Buffer.from("{"))).toBeUndefined();
  });
});

describe("server kit limits", () => {
  const req: ExecRequest = { containerId: "c", cmd: ["true"], tty: false, stdin: false, stdout: true, stderr: false };

  it("refuses URLs before start, and past maxInFlight as the kubelet's cache does", async () => {
    const server = createStreamingServer({ exec: () => 0, maxInFlight: 2 });
    expect(() => server.getExec(req)).toThrow(/not started/);
    await server.start();
    try {
      server.getExec(req);
      server.getExec(req);
      let err: unknown;
      try {
        server.getExec(req);
      } catch (e) {
        err = e;
      }
      expect((err as CriError).code).toBe(Code.ResourceExhausted);
      expect((err as CriError).rawMessage).toBe("maximum number of in-flight requests exceeded");
      expect(server.inFlight).toBe(2);
    } finally {
      await server.close();
    }
  });

  it("tokens are 8 URL-safe characters and distinct", async () => {
    const server = createStreamingServer({ exec: () => 0 });
    await server.start();
    try {
      const tokens = new Set(Array.from({ length: 200 }, () => server.getExec(req).url.split("/").at(-1)));
      expect(tokens.size).toBe(200);
      for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{8}$/);
    } finally {
      await server.close();
    }
  });

  it("rejects an unknown subprotocol in its options", () => {
    expect(() => createStreamingServer({ remoteCommandProtocols: ["v9.channel.k8s.io"] })).toThrow(
      /unknown remote-command subprotocol/,
    );
  });

  it("validates PortForward ports", async () => {
    const server = createStreamingServer({ portForward: async () => {} });
    await server.start();
    try {
      expect(() => server.getPortForward({ podSandboxId: "", port: [80] })).toThrow("missing required pod_sandbox_id");
      expect(() => server.getPortForward({ podSandboxId: "p", port: [0] })).toThrow(/port 0 must be an integer/);
      expect(server.getPortForward({ podSandboxId: "p", port: [80] }).url).toContain("/portforward/");
    } finally {
      await server.close();
    }
  });
});
