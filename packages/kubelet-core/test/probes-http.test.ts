// httpGet and tcpSocket probes against real servers on localhost, with the kubelet's outputs
// (pkg/probe/http, pkg/probe/tcp), and the Go renderings the messages are made of.
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { afterEach, describe, expect, it } from "vitest";
import type { Container, Pod, Probe } from "../src/index.js";
import { createProbeRunner, KubeletError } from "../src/index.js";
import { goDurationSeconds, goQuote } from "../src/probe/go-format.js";
import { newRequestForHttpGet } from "../src/probe/http.js";
import { resolveContainerPort } from "../src/probe/port.js";
import { createScenario } from "../src/testing/index.js";

const open: Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function serve(handler: Parameters<typeof createServer>[1], https = false): Promise<number> {
  const server = https
    ? createHttpsServer(
        {
          cert: readFileSync(new URL("./support/self-signed.crt", import.meta.url)),
          key: readFileSync(new URL("./support/self-signed.key", import.meta.url)),
        },
        handler,
      )
    : createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push(server);
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const pod: Pod = { metadata: { name: "web", namespace: "default", uid: "u1" }, spec: { containers: [] } };
const container: Container = { name: "app", ports: [{ name: "http", containerPort: 0 }] };
const run = createProbeRunner(createFakeRuntime());
const probeOnce = (probe: Probe, c: Container = container) =>
  run({ pod, container: c, containerId: "c1", probe, kind: "readiness", podIP: "127.0.0.1" });

describe("httpGet probes (pkg/probe/http DoHTTPProbe)", () => {
  it("2xx is a success whose output is the body; 4xx/5xx a failure naming the status code", async () => {
    const port = await serve((req, res) => {
      res.statusCode = req.url === "/ok" ? 200 : req.url === "/missing" ? 404 : 500;
      res.end("body text");
    });
    expect(await probeOnce({ httpGet: { path: "/ok", port } })).toEqual({ result: "success", output: "body text" });
    expect(await probeOnce({ httpGet: { path: "/missing", port } })).toEqual({
      result: "failure",
      output: "HTTP probe failed with statuscode: 404",
    });
    expect(await probeOnce({ httpGet: { path: "/boom", port } })).toEqual({
      result: "failure",
      output: "HTTP probe failed with statuscode: 500",
    });
  });

  it("no server: a failure with Go's client error", async () => {
    const port = await closedPort();
    expect(await probeOnce({ httpGet: { path: "/healthz", port } })).toEqual({
      result: "failure",
      output: `Get "http://127.0.0.1:${port}/healthz": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
  });

  it("no pod IP (a host-network pod on a runtime that reports none): Go's empty host, the local system", async () => {
    const port = await closedPort();
    const outcome = await run({
      pod,
      container,
      containerId: "c1",
      probe: { httpGet: { path: "/healthz", port } },
      kind: "liveness",
      podIP: "",
    });
    expect(outcome).toEqual({
      result: "failure",
      output: `Get "http://:${port}/healthz": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
  });

  it("no answer within timeoutSeconds: a failure saying the client timed out awaiting headers", async () => {
    const port = await serve(() => {}); // never answers
    expect(await probeOnce({ httpGet: { path: "/", port }, timeoutSeconds: 1 })).toEqual({
      result: "failure",
      output: `Get "http://127.0.0.1:${port}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
  });

  it("redirects: followed on the same host, not to another (a warning with the body), at most 10", async () => {
    const port = await serve((req, res) => {
      if (req.url === "/here") {
        res.writeHead(302, { Location: "/ok" }).end();
      } else if (req.url === "/away") {
        res.writeHead(302, { Location: "http://0.0.0.0/" }).end('<a href="http://0.0.0.0/">Found</a>.');
      } else if (req.url?.startsWith("/loop")) {
        res.writeHead(301, { Location: `/loop${Number(req.url.slice(5) || 0) + 1}` }).end();
      } else {
        res.end("ok");
      }
    });
    expect(await probeOnce({ httpGet: { path: "/here", port } })).toEqual({ result: "success", output: "ok" });
    expect(await probeOnce({ httpGet: { path: "/away", port } })).toEqual({
      result: "warning",
      output: 'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.',
    });
    const loop = await probeOnce({ httpGet: { path: "/loop", port } });
    expect(loop).toEqual({
      result: "failure",
      output: `Get "http://127.0.0.1:${port}/loop10": stopped after 10 redirects`,
    });
  });

  it("sends the kubelet's headers: User-Agent kube-probe/1.35 and Accept */* unless set, the probe's own, Host", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const port = await serve((req, res) => {
      seen.push(req.headers);
      res.end();
    });
    await probeOnce({ httpGet: { path: "/", port } });
    await probeOnce({
      httpGet: {
        path: "/",
        port,
        httpHeaders: [
          { name: "x-custom", value: "a" },
          { name: "X-Custom", value: "b" },
          { name: "User-Agent", value: "mine" },
          { name: "Accept", value: "" },
          { name: "Host", value: "svc.example" },
        ],
      },
    });
    expect(seen[0]).toMatchObject({ "user-agent": "kube-probe/1.35", accept: "*/*", host: `127.0.0.1:${port}` });
    expect(seen[1]).toMatchObject({ "user-agent": "mine", "x-custom": "a, b", host: "svc.example" });
    expect(seen[1]).not.toHaveProperty("accept");
  });

  it("reads at most 10 KiB of the body; HTTPS certificates are not checked", async () => {
    const big = "x".repeat(11 * 1024);
    const port = await serve((_, res) => res.end(big), true);
    const outcome = await probeOnce({ httpGet: { path: "/", port, scheme: "HTTPS" } });
    expect(outcome.result).toBe("success");
    expect(outcome.output.length).toBe(10 * 1024);
  });

  it("named ports resolve from the container; a name it does not have is a probe error", async () => {
    const port = await serve((_, res) => res.end("named"));
    const c: Container = { name: "app", ports: [{ name: "http", containerPort: port }] };
    expect(await probeOnce({ httpGet: { path: "/", port: "http" } }, c)).toEqual({
      result: "success",
      output: "named",
    });
    const err = await probeOnce({ httpGet: { path: "/", port: "nope" } }, c).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeletError);
    expect(err).toMatchObject({
      reason: "ProbeError",
      message: 'strconv.Atoi: parsing "nope": invalid syntax',
      pod: "default/web",
      container: "app",
    });
  });
});

describe("tcpSocket probes (pkg/probe/tcp DoTCPProbe)", () => {
  it("a connection that opens is a success; a refused one a failure with Go's dial error", async () => {
    const port = await serve((_, res) => res.end());
    expect(await probeOnce({ tcpSocket: { port } })).toEqual({ result: "success", output: "" });
    const closed = await closedPort();
    expect(await probeOnce({ tcpSocket: { port: closed } })).toEqual({
      result: "failure",
      output: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
  });
});

describe("probe handlers nodekit cannot run", () => {
  it("a probe without a handler is a probe error naming the pod and container", async () => {
    await expect(probeOnce({ periodSeconds: 1 })).rejects.toThrow("missing probe handler for web_default(u1):app");
  });
});

describe("ResolveContainerPort (pkg/probe/util.go)", () => {
  const c = { ports: [{ name: "foo", containerPort: 80 }] };
  it.each([
    [80, 80],
    ["foo", 80],
    ["8080", 8080],
  ] as const)("%s → %s", (port, want) => expect(resolveContainerPort(port, c)).toBe(want));
  it.each([
    ["bar", 'strconv.Atoi: parsing "bar": invalid syntax'],
    ["", 'strconv.Atoi: parsing "": invalid syntax'],
    [0, "invalid port number: 0"],
    [65536, "invalid port number: 65536"],
    ["-1", "invalid port number: -1"],
  ] as const)("%s fails: %s", (port, message) => expect(() => resolveContainerPort(port, c)).toThrow(message));
});

describe("Go renderings", () => {
  it("strconv.Quote", () => {
    expect(goQuote("abc")).toBe('"abc"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote("\x07\b\f\r\n\t\v")).toBe('"\\a\\b\\f\\r\\n\\t\\v"');
    expect(goQuote("\x04\x7f")).toBe('"\\x04\\x7f"');
    expect(goQuote("\u263a")).toBe('"\u263a"');
  });
  it("time.Duration.String of whole seconds", () => {
    expect([0, 1, 2, 59, 60, 75, 3600, 3725].map(goDurationSeconds)).toEqual([
      "0s",
      "1s",
      "2s",
      "59s",
      "1m0s",
      "1m15s",
      "1h0m0s",
      "1h2m5s",
    ]);
  });
});

describe("httpGet probes through the reconciler (fake runtime, real server)", () => {
  it("a redirect to another host: ready, with a Warning ProbeWarning event carrying the body", async () => {
    const port = await serve((_, res) => res.writeHead(302, { Location: "http://0.0.0.0/" }).end("moved"));
    const p: Pod = {
      metadata: { name: "moved", namespace: "default", uid: "uid-moved" },
      spec: {
        hostNetwork: true,
        containers: [
          {
            name: "app",
            image: "busybox:1.36",
            command: ["sleep", "3600"],
            readinessProbe: { httpGet: { path: "/", port }, periodSeconds: 1 },
          },
        ],
      },
    };
    const s = createScenario({ pods: [p] });
    const ready = () => s.status("moved")?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    for (let i = 0; i < 200 && !ready(); i++) {
      await s.runFor(1_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(ready()).toBe(true);
    expect(s.events.find((e) => e.reason === "ProbeWarning")).toMatchObject({
      type: "Warning",
      container: "app",
      message: "Readiness probe warning: Probe terminated redirects, Response body: moved",
    });
    expect(s.events.some((e) => e.reason === "Unhealthy")).toBe(false);
    await s.reconciler.stop();
  });

  it("liveness: an Unhealthy event for every failed run, then the kill and restart after failureThreshold", async () => {
    let code = 200;
    const port = await serve((_, res) => {
      res.statusCode = code;
      res.end();
    });
    const p: Pod = {
      metadata: { name: "live", namespace: "default", uid: "uid-live" },
      spec: {
        hostNetwork: true,
        containers: [
          {
            name: "app",
            image: "busybox:1.36",
            command: ["sleep", "3600"],
            livenessProbe: { httpGet: { path: "/healthz", port }, periodSeconds: 1, failureThreshold: 3 },
          },
        ],
      },
    };
    const s = createScenario({ pods: [p] });
    const until = async (predicate: () => boolean) => {
      for (let i = 0; i < 200 && !predicate(); i++) {
        await s.runFor(1_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      return predicate();
    };
    await until(() => s.status("live")?.phase === "Running");
    code = 503;
    expect(await until(() => s.status("live")?.containerStatuses?.[0]?.restartCount === 1)).toBe(true);
    const unhealthy = s.events.filter((e) => e.reason === "Unhealthy");
    expect(unhealthy.length).toBeGreaterThanOrEqual(3);
    expect(new Set(unhealthy.map((e) => e.message))).toEqual(
      new Set(["Liveness probe failed: HTTP probe failed with statuscode: 503"]),
    );
    expect(s.events.find((e) => e.reason === "Killing")?.message).toBe(
      "Container app failed liveness probe, will be restarted",
    );
    await s.reconciler.stop();
  });
});

describe("pkg/probe/http/request_test.go", () => {
  it.each([
    ["http", 93, "", "http://localhost:93"],
    ["https", 93, "/path", "https://localhost:93/path"],
    ["http", 93, "?foo", "http://localhost:93?foo"],
    ["https", 93, "/path?bar", "https://localhost:93/path?bar"],
  ] as const)("TestFormatURL %s :%s %j", (scheme, port, path, want) => {
    expect(newRequestForHttpGet({ scheme, host: "localhost", port, path }, {}, "", "probe").url).toBe(want);
  });

  const headersOf = (list: { name: string; value: string }[]) => {
    const h = Object.fromEntries(
      newRequestForHttpGet({ port: 80, httpHeaders: list }, {}, "10.0.0.1", "probe").headers,
    );
    delete h["User-Agent"];
    delete h.Accept;
    return h;
  };
  it("Test_v1HeaderToHTTPHeader not empty input", () => {
    expect(
      headersOf([
        { name: "Connection", value: "Keep-Alive" },
        { name: "Content-Type", value: "text/html" },
        { name: "Accept-Ranges", value: "bytes" },
      ]),
    ).toEqual({ Connection: ["Keep-Alive"], "Content-Type": ["text/html"], "Accept-Ranges": ["bytes"] });
  });
  it("Test_v1HeaderToHTTPHeader case insensitive", () => {
    expect(
      headersOf([
        { name: "HOST", value: "example.com" },
        { name: "FOO-bAR", value: "value" },
      ]),
    ).toEqual({ Host: ["example.com"], "Foo-Bar": ["value"] });
  });
  it("Test_v1HeaderToHTTPHeader empty input", () => {
    expect(headersOf([])).toEqual({});
  });
});
