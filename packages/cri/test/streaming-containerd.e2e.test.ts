// End-to-end: the streaming client against the streaming server embedded in real containerd (1.6).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V5,
  Code,
  type ContainerConfig,
  CriError,
  createPortForwardListener,
  createRuntimeClient,
  type DeepPartial,
  NamespaceMode,
  openAttach,
  openExec,
  openPortForward,
  type PodSandboxConfig,
  type RuntimeClient,
} from "../src/index.js";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./harness/containerd.js";

const describeE2e = describeWithContainerd();

function collect(r: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    r.on("data", (c: Buffer) => chunks.push(c));
    r.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    r.once("error", reject);
  });
}

/** Resolves once `r` has produced text matching `re` (keeps reading). */
function waitFor(r: Readable, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (c: Buffer) => {
      text += c.toString("utf8");
      if (re.test(text)) {
        r.off("data", onData);
        resolve(text);
      }
    };
    r.on("data", onData);
    r.once("end", () => reject(new Error(`ended before ${re}: ${JSON.stringify(text)}`)));
  });
}

describeE2e("streams (exec, attach, port-forward) against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  let podSandboxId: string;
  let shell: string;
  let ticker: string;
  let echoer: string;
  const runId = randomUUID().slice(0, 8);

  beforeAll(async () => {
    h = await startContainerd();
    runtime = createRuntimeClient(h.endpoint, { timeoutMs: 30_000 });
    const uid = randomUUID();
    const config: DeepPartial<PodSandboxConfig> = {
      metadata: { name: "streams", namespace: "e2e", uid, attempt: 0 },
      hostname: "streams",
      logDirectory: `${h.dir}/logs/${uid}`,
      labels: { "nodekit-e2e": runId },
      linux: {
        cgroupParent: `${h.cgroupParent}/pod${uid}`,
        securityContext: {
          namespaceOptions: { network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD },
        },
      },
    };
    ({ podSandboxId } = await runtime.runPodSandbox({ config }));
    const container = async (name: string, extra: DeepPartial<ContainerConfig>) => {
      const { containerId } = await runtime.createContainer({
        podSandboxId,
        sandboxConfig: config,
        config: {
          metadata: { name, attempt: 0 },
          image: { image: h.busyboxImage },
          logPath: `${name}.log`,
          linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
          ...extra,
        },
      });
      await runtime.startContainer({ containerId });
      return containerId;
    };
    // The web root is written before httpd starts; -f keeps httpd in the foreground.
    shell = await container("shell", {
      command: [
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 8080 -h /www",
      ],
    });
    ticker = await container("ticker", {
      command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"],
    });
    echoer = await container("echoer", { command: ["cat"], stdin: true });
  }, 120_000);

  afterAll(async () => {
    runtime?.close();
    await h?.dispose();
  });

  it("exec of sh -c 'echo out; echo err >&2; exit 3' gives both streams and code 3 (v4: containerd 1.6 has no v5)", async () => {
    const { url } = await runtime.exec({
      containerId: shell,
      cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
      stdout: true,
      stderr: true,
    });
    const session = await openExec(url);
    expect(session.protocol).toBe(CHANNEL_PROTOCOL_V4);
    const [out, err, result] = await Promise.all([collect(session.stdout), collect(session.stderr), session.done]);
    expect(out).toBe("out\n");
    expect(err).toBe("err\n");
    expect(result.exitCode).toBe(3);
    expect(result.status?.reason).toBe("NonZeroExitCode");
    expect(result.status?.details?.causes).toEqual([{ reason: "ExitCode", message: "3" }]);
  });

  it("exec of a command that succeeds has exit code 0", async () => {
    const { url } = await runtime.exec({ containerId: shell, cmd: ["echo", "hi"], stdout: true });
    const session = await openExec(url);
    const [out, result] = await Promise.all([collect(session.stdout), session.done]);
    expect(out).toBe("hi\n");
    expect(result.exitCode).toBe(0);
    expect(result.status?.status).toBe("Success");
  });

  it("containerd refuses v5 alone with 403, and the token is used up by the refusal", async () => {
    const { url } = await runtime.exec({ containerId: shell, cmd: ["true"], stdout: true });
    const err = await openExec(url, { protocols: [CHANNEL_PROTOCOL_V5] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.FailedPrecondition);
    expect((err as CriError).rawMessage).toContain("HTTP 403");
    const again = await openExec(url).catch((e: unknown) => e);
    expect((again as CriError).code).toBe(Code.NotFound);
  });

  it("stdin piped to cat comes back on stdout", async () => {
    const { url } = await runtime.exec({ containerId: shell, cmd: ["cat"], stdin: true, stdout: true });
    const session = await openExec(url);
    // containerd 1.6 speaks v4, which cannot half-close stdin.
    expect(session.stdinCloseSupported).toBe(false);
    const seen = waitFor(session.stdout, /second line\n/);
    session.stdin.write("first line\n");
    session.stdin.write("second line\n");
    expect(await seen).toBe("first line\nsecond line\n");
    session.close();
    expect((await session.done).exitCode).toBeNull();
  });

  it("stdin to a command that ends on its own input gives its exit code", async () => {
    const { url } = await runtime.exec({
      containerId: shell,
      cmd: ["sh", "-c", 'read a; read b; echo "$b $a"; exit 4'],
      stdin: true,
      stdout: true,
    });
    const session = await openExec(url);
    const out = collect(session.stdout);
    session.stdin.write("one\ntwo\n");
    expect(await out).toBe("two one\n");
    expect((await session.done).exitCode).toBe(4);
  });

  it("a TTY exec: a terminal device, CRLF output and the size sent on the resize channel", async () => {
    const { url } = await runtime.exec({
      containerId: shell,
      cmd: ["sh", "-c", "tty; sleep 0.5; stty size"],
      stdin: true,
      stdout: true,
      tty: true,
    });
    const session = await openExec(url);
    session.resize({ width: 100, height: 30 });
    const [out, result] = await Promise.all([collect(session.stdout), session.done]);
    expect(out).toMatch(/^\/dev\/pts\/\d+\r\n30 100\r\n$/);
    expect(result.exitCode).toBe(0);
  });

  it("attach to a running container reads what it prints", async () => {
    const { url } = await runtime.attach({ containerId: ticker, stdout: true, stderr: true });
    expect(url).toContain("/attach/");
    const session = await openAttach(url);
    const text = await waitFor(session.stdout, /tick \d+\ntick \d+\n/);
    const numbers = [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    expect(numbers[1]).toBe((numbers[0] as number) + 1);
    session.close();
    expect((await session.done).exitCode).toBeNull();
  });

  it("attach with stdin to a container running cat: what goes in comes out", async () => {
    const { url } = await runtime.attach({ containerId: echoer, stdin: true, stdout: true });
    const session = await openAttach(url);
    const seen = waitFor(session.stdout, /through attach\n/);
    session.stdin.write("through attach\n");
    expect(await seen).toBe("through attach\n");
    session.close();
    await session.done;
  });

  it("port-forward to busybox httpd inside the pod, through a duplex and through a local listener", async () => {
    const { url } = await runtime.portForward({ podSandboxId, port: [8080] });
    const pf = await openPortForward(url, { ports: [8080] });
    const [http] = pf.streams as [NonNullable<(typeof pf.streams)[0]>];
    http.write("GET /index.html HTTP/1.0\r\n\r\n");
    const response = await collect(http as unknown as Readable);
    expect(response).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(response.endsWith("\r\n\r\nhello-from-the-pod\n")).toBe(true);

    const listener = await createPortForwardListener({
      port: 8080,
      openUrl: async () => (await runtime.portForward({ podSandboxId, port: [8080] })).url,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${listener.localPort}/index.html`, {
          headers: { connection: "close" },
        });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("hello-from-the-pod\n");
      }
    } finally {
      await listener.close();
    }
  });

  it("port-forward to a port nothing listens on reports containerd's error on the stream", async () => {
    const { url } = await runtime.portForward({ podSandboxId, port: [8081] });
    const pf = await openPortForward(url, { ports: [8081] });
    const [stream] = pf.streams;
    const err = await collect(stream as unknown as Readable).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).rawMessage).toContain(`error forwarding port 8081 to pod ${podSandboxId}`);
  });
});
