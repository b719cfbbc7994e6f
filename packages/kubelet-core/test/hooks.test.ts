// Lifecycle hooks as the kubelet runs them: pkg/kubelet/lifecycle/handlers_test.go's cases (by
// their upstream names), real HTTP servers on localhost, and the executor's events in virtual time.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Container, createHookRunner, type HookRequest, KubeletError, type Pod } from "../src/index.js";
import { HttpGetError, httpGet, newRequestForHttpGet } from "../src/probe/http.js";
import { resolveContainerPort } from "../src/probe/port.js";
import { createScenario, type Scenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

const open: Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});
async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push(server);
  return (server.address() as AddressInfo).port;
}
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// handlers_test.go's pod: name podFoo, namespace nsFoo, no uid.
const podFoo: Pod = { metadata: { name: "podFoo", namespace: "nsFoo" }, spec: { containers: [] } };
const podDesc = "podFoo_nsFoo()";

/** A running container in a fake runtime, and a hook runner over it. */
async function runner(exec?: Parameters<typeof createScenario>[0] extends infer O ? O : never) {
  const s = createScenario({
    ...exec,
    pods: [
      {
        metadata: { name: "host", namespace: "default", uid: "uid-host" },
        spec: { containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }] },
      },
    ],
  });
  await s.runUntil(() => s.status("host")?.phase === "Running", 10_000);
  const { containers } = await s.runtime.listContainers({});
  const hooks = createHookRunner({ runtime: s.runtime, clock: s.clock });
  return { s, hooks, containerId: defined(containers[0]).id };
}

const request = (over: Partial<HookRequest> & Pick<HookRequest, "handler">): HookRequest => ({
  pod: podFoo,
  container: { name: "containerFoo" },
  containerId: "abc1234",
  kind: "postStart",
  timeoutMs: 30_000,
  ...over,
});

describe("handlers_test.go", () => {
  it("TestResolvePort", () => {
    expect(resolveContainerPort("foo", { ports: [{ name: "foo", containerPort: 80 }] })).toBe(80);
    expect(resolveContainerPort("80", {})).toBe(80);
    expect(() => resolveContainerPort("foo", { ports: [{ name: "bar", containerPort: 80 }] })).toThrow();
  });

  it("TestRunHandlerExec", async () => {
    const { s, hooks, containerId } = await runner();
    s.runtime.clearCalls();
    await hooks.run(request({ containerId, handler: { exec: { command: ["true"] } } }));
    const call = s.runtime.callLog.find((c) => c.method === "ExecSync")?.request as {
      containerId: string;
      cmd: string[];
    };
    expect(call).toMatchObject({ containerId, cmd: ["true"] });
  });

  it("TestRunHandlerHttp", () => {
    const req = newRequestForHttpGet({ host: "foo", port: 8080, path: "bar" }, {}, "127.0.0.1", "lifecycle");
    expect(req.url).toBe("http://foo:8080/bar");
  });

  it("TestRunHandlerHttpWithHeaders", async () => {
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    const port = await serve((req, res) => {
      seen.push({ url: req.url ?? "", headers: req.headers });
      res.end();
    });
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    await hooks.run(
      request({
        handler: { httpGet: { host: "127.0.0.1", port, path: "/bar", httpHeaders: [{ name: "Foo", value: "bar" }] } },
      }),
    );
    expect(seen).toHaveLength(1);
    expect(defined(seen[0]).url).toBe("/bar");
    expect(defined(seen[0]).headers.foo).toBe("bar");
  });

  it("TestRunHandlerHttps", () => {
    const req = newRequestForHttpGet(
      { scheme: "HTTPS", host: "foo", path: "bar", port: "70" },
      {},
      "127.0.0.1",
      "lifecycle",
    );
    expect(req.url).toBe("https://foo:70/bar");
  });

  it.each([
    ["consistent/with port", "70", "https://foo:70/bar"],
    ["consistent/without port", "", undefined],
  ] as const)("TestRunHandlerHTTPPort %s", (_name, port, expected) => {
    const build = () =>
      newRequestForHttpGet({ scheme: "HTTPS", host: "foo", path: "bar", port }, {}, "127.0.0.1", "lifecycle");
    if (expected === undefined) expect(build).toThrow();
    else expect(build().url).toBe(expected);
  });

  // The upstream table's headers carry "kube-lifecycle/." (a test binary has no version); nodekit's is 1.35.
  const ua = "kube-lifecycle/1.35";
  const container: Pick<Container, "ports"> = { ports: [{ name: "quux", containerPort: 8080 }] };
  it.each([
    [
      "missing pod IP",
      "",
      { path: "foo", port: "42", host: "example.test", scheme: "http" },
      "http://example.test:42/foo",
      {},
    ],
    ["missing host", "233.252.0.1", { path: "foo", port: "42", scheme: "http" }, "http://233.252.0.1:42/foo", {}],
    [
      "path with leading slash",
      "233.252.0.1",
      { path: "/foo", port: "42", scheme: "http" },
      "http://233.252.0.1:42/foo",
      {},
    ],
    [
      "path without leading slash",
      "233.252.0.1",
      { path: "foo", port: "42", scheme: "http" },
      "http://233.252.0.1:42/foo",
      {},
    ],
    [
      "port resolution",
      "233.252.0.1",
      { path: "foo", port: "quux", scheme: "http" },
      "http://233.252.0.1:8080/foo",
      {},
    ],
    ["https", "233.252.0.1", { path: "foo", port: "4430", scheme: "https" }, "https://233.252.0.1:4430/foo", {}],
    ["unknown scheme", "233.252.0.1", { path: "foo", port: "80", scheme: "baz" }, "baz://233.252.0.1:80/foo", {}],
    [
      "query param",
      "233.252.0.1",
      { path: "foo?k=v", port: "80", scheme: "http" },
      "http://233.252.0.1:80/foo?k=v",
      {},
    ],
    ["fragment", "233.252.0.1", { path: "foo#frag", port: "80", scheme: "http" }, "http://233.252.0.1:80/foo#frag", {}],
    [
      "headers",
      "233.252.0.1",
      { path: "foo", port: "80", scheme: "http", httpHeaders: [{ name: "Foo", value: "bar" }] },
      "http://233.252.0.1:80/foo",
      { Foo: ["bar"] },
    ],
    [
      "host header",
      "233.252.0.1",
      {
        host: "example.test",
        path: "foo",
        port: "80",
        scheme: "http",
        httpHeaders: [{ name: "Host", value: "from.header" }],
      },
      "http://example.test:80/foo",
      { Host: ["from.header"] },
    ],
  ] as const)("TestRunHTTPHandler %s", (_name, podIP, action, url, extra) => {
    const req = newRequestForHttpGet(action, container, podIP, "lifecycle");
    expect(req.url).toBe(url);
    expect(Object.fromEntries(req.headers)).toEqual({ Accept: ["*/*"], "User-Agent": [ua], ...extra });
  });

  it("TestRunHandlerNil", async () => {
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    await expect(hooks.run(request({ handler: {} }))).rejects.toThrow(/^Cannot run handler: invalid handler: /);
  });

  it("TestRunHandlerExecFailure", async () => {
    const { hooks, containerId } = await runner({
      runtime: { exec: () => ({ exitCode: 2, stdout: "", stderr: "ls: unrecognized option: a\n" }) },
    });
    const err = await hooks.run(request({ containerId, handler: { exec: { command: ["ls", "--a"] } } })).then(
      () => new KubeletError("", "the hook succeeded"),
      (e: unknown) => e as KubeletError,
    );
    expect(err).toBeInstanceOf(KubeletError);
    expect(err.reason).toBe("PostStartHookError");
    expect(err.message).toBe(
      `Exec lifecycle hook ([ls --a]) for Container "containerFoo" in Pod "${podDesc}" failed - error: command 'ls --a' exited with 2: ls: unrecognized option: a\n, message: "ls: unrecognized option: a\\n"`,
    );
  });

  it("TestRunHandlerHttpFailure", async () => {
    const port = await closedPort();
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    const err = await hooks.run(request({ handler: { httpGet: { host: "127.0.0.1", port, path: "bar" } } })).then(
      () => new Error("the hook succeeded"),
      (e: unknown) => e as Error,
    );
    expect(err.message).toBe(
      `HTTP lifecycle hook (bar) for Container "containerFoo" in Pod "${podDesc}" failed - error: Get "http://127.0.0.1:${port}/bar": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
  });

  it("TestRunHandlerHttpsFailureFallback", async () => {
    let headers: IncomingHttpHeaders | undefined;
    const port = await serve((req, res) => {
      headers = req.headers;
      res.end();
    });
    const events: string[] = [];
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    await hooks.run(
      request({
        handler: {
          httpGet: {
            scheme: "https",
            host: "127.0.0.1",
            port: String(port),
            path: "bar",
            httpHeaders: [{ name: "Authorization", value: "secret" }],
          },
        },
        recordEvent: (type, reason, message) => events.push(`${type} ${reason} ${message}`),
      }),
    );
    expect(headers).toBeDefined();
    expect(defined(headers).authorization).toBeUndefined();
    expect(events).toEqual([
      `Warning LifecycleHTTPFallback request to HTTPS lifecycle hook 127.0.0.1:${port} got HTTP response, retry with HTTP succeeded`,
    ]);
  });

  it("TestIsHTTPResponseError", async () => {
    const port = await serve((_, res) => res.end());
    const err = await httpGet({ url: `https://127.0.0.1:${port}/`, headers: new Map() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpGetError);
    expect((err as HttpGetError).httpResponseToHttps).toBe(true);
  });

  it.each([
    ["valid seconds", 5, 30, undefined],
    ["longer than TerminationGracePeriodSeconds", 3, 2, "container terminated before sleep hook finished"],
  ] as const)("TestRunSleepHandler %s", async (_name, sleepSeconds, grace, expectedErr) => {
    const { s, hooks } = await runner();
    const done = hooks.run(
      request({ kind: "preStop", handler: { sleep: { seconds: sleepSeconds } }, timeoutMs: grace * 1000 }),
    );
    const outcome = done.then(
      () => undefined,
      (e: Error) => e.message,
    );
    s.clock.advance(30_000);
    const message = await outcome;
    if (expectedErr === undefined) expect(message).toBeUndefined();
    else
      expect(message).toBe(
        `Sleep lifecycle hook (${sleepSeconds}) for Container "containerFoo" in Pod "${podDesc}" failed - error: ${expectedErr}`,
      );
  });
});

describe("the hook runner: where hooks go and what counts", () => {
  it("an exec hook the runtime cannot run: its gRPC error as Go prints it, and no output", async () => {
    const { hooks, containerId } = await runner();
    const err = await hooks.run(request({ containerId, handler: { exec: { command: ["nope"] } } })).then(
      () => new Error("the hook succeeded"),
      (e: unknown) => e as Error,
    );
    expect(err.message).toBe(
      `Exec lifecycle hook ([nope]) for Container "containerFoo" in Pod "${podDesc}" failed - error: rpc error: code = Unknown desc = failed to exec in container: executable file "nope" not found in $PATH, message: ""`,
    );
  });

  it("any HTTP answer is a success, a 500 too (the kubelet does not read the status)", async () => {
    const port = await serve((_, res) => {
      res.statusCode = 500;
      res.end("broken");
    });
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    await expect(hooks.run(request({ handler: { httpGet: { host: "127.0.0.1", port, path: "/" } } }))).resolves.toBe(
      undefined,
    );
  });

  it("without a host: to the pod IP given, else to the IP of the pod's ready sandbox in the runtime", async () => {
    const seen: { host: string; ua: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ host: req.headers.host ?? "", ua: req.headers["user-agent"] ?? "" });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    open.push(server);
    const port = (server.address() as AddressInfo).port;
    // The fake hands out pod IPs on loopback (127.0.1.x), which reach the server above.
    const { s, hooks, containerId } = await runner({ runtime: { podNetwork: "127.0.1" } });
    const podIP = s.reconciler.podStatus("uid-host")?.podIP;
    expect(podIP).toMatch(/^127\.0\.1\./);
    await hooks.run(request({ containerId, handler: { httpGet: { port, path: "/x" } }, podIP: "127.0.0.1" }));
    s.runtime.clearCalls();
    await hooks.run(
      request({
        pod: { metadata: { name: "host", namespace: "default", uid: "uid-host" }, spec: { containers: [] } },
        containerId,
        handler: { httpGet: { port, path: "/x" } },
      }),
    );
    expect(seen).toEqual([
      { host: `127.0.0.1:${port}`, ua: "kube-lifecycle/1.35" },
      { host: `${podIP}:${port}`, ua: "kube-lifecycle/1.35" },
    ]);
    expect(s.runtime.callLog.map((c) => c.method)).toEqual(["ListPodSandbox", "PodSandboxStatus"]);
  });

  it("no IP anywhere: the kubelet's 'failed to find networking container'", async () => {
    const { hooks } = await runner();
    const err = await hooks
      .run(
        request({
          pod: { metadata: { name: "gone", namespace: "default", uid: "no-such-pod" }, spec: { containers: [] } },
          handler: { httpGet: { port: 80, path: "/" } },
        }),
      )
      .then(
        () => new Error("the hook succeeded"),
        (e: unknown) => e as Error,
      );
    expect(err.message).toMatch(
      /^HTTP lifecycle hook \(\/\) for Container "containerFoo" in Pod "gone_default\(no-such-pod\)" failed - error: failed to find networking container: /,
    );
  });

  it("tcpSocket hooks are not run: the kubelet's invalid handler error", async () => {
    const hooks = createHookRunner({ runtime: undefined as never, clock: undefined as never });
    const err = await hooks.run(request({ handler: { tcpSocket: { port: 8080 } } })).then(
      () => new Error("the hook succeeded"),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(KubeletError);
    expect(err.message).toMatch(
      /^Cannot run handler: invalid handler: &LifecycleHandler\{.*TCPSocket:&TCPSocketAction\{/,
    );
  });
});

describe("hooks in the executor: events and statuses as the kubelet writes them", () => {
  const podWith = (lifecycle: object, grace = 30): Pod => ({
    metadata: { name: "web", namespace: "default", uid: "uid-web" },
    spec: {
      terminationGracePeriodSeconds: grace,
      containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"], lifecycle }],
    },
  });
  const until = async (s: Scenario, predicate: () => boolean) => {
    for (let i = 0; i < 200 && !predicate(); i++) {
      await s.runFor(1_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    return predicate();
  };

  it("a failed postStart httpGet: FailedPostStartHook 'PostStartHook failed', killed, PostStartHookError with the message", async () => {
    const port = await closedPort();
    const s = createScenario({
      pods: [podWith({ postStart: { httpGet: { host: "127.0.0.1", port, path: "/started" } } })],
    });
    expect(await until(s, () => s.events.some((e) => e.reason === "FailedPostStartHook"))).toBe(true);
    expect(s.events.find((e) => e.reason === "FailedPostStartHook")).toMatchObject({
      type: "Warning",
      message: "PostStartHook failed",
      container: "app",
    });
    expect(s.events.find((e) => e.reason === "Killing")?.message).toBe("FailedPostStartHook");
    await until(s, () => s.status("web")?.containerStatuses?.[0]?.state?.waiting?.reason === "PostStartHookError");
    const waiting = s.status("web")?.containerStatuses?.[0]?.state?.waiting;
    expect(waiting?.message).toBe(
      `HTTP lifecycle hook (/started) for Container "app" in Pod "web_default(uid-web)" failed - error: Get "http://127.0.0.1:${port}/started": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
    await s.reconciler.stop();
  });

  it("a postStart tcpSocket hook fails the container as the kubelet's does", async () => {
    const s = createScenario({ pods: [podWith({ postStart: { tcpSocket: { port: 8080 } } })] });
    expect(await until(s, () => s.events.some((e) => e.reason === "FailedPostStartHook"))).toBe(true);
    await until(s, () => s.status("web")?.containerStatuses?.[0]?.state?.waiting?.reason === "PostStartHookError");
    expect(s.status("web")?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(
      /^Cannot run handler: invalid handler: /,
    );
  });

  it("preStop httpGet on deletion reaches the server; one that cannot is FailedPreStopHook 'PreStopHook failed'", async () => {
    const seen: string[] = [];
    const port = await serve((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers["user-agent"]}`);
      res.end();
    });
    const ok = createScenario({
      pods: [podWith({ preStop: { httpGet: { host: "127.0.0.1", port, path: "/quit" } } })],
    });
    await until(ok, () => ok.status("web")?.phase === "Running");
    ok.reconciler.updatePods([]);
    await until(
      ok,
      () => seen.length > 0 && (ok.runtime.callLog.some((c) => c.method === "RemovePodSandbox") ?? false),
    );
    expect(seen).toEqual(["GET /quit kube-lifecycle/1.35"]);
    expect(ok.events.some((e) => e.reason === "FailedPreStopHook")).toBe(false);

    const closed = await closedPort();
    const bad = createScenario({
      pods: [podWith({ preStop: { httpGet: { host: "127.0.0.1", port: closed, path: "/quit" } } })],
    });
    await until(bad, () => bad.status("web")?.phase === "Running");
    bad.reconciler.updatePods([]);
    expect(await until(bad, () => bad.events.some((e) => e.reason === "FailedPreStopHook"))).toBe(true);
    expect(bad.events.find((e) => e.reason === "FailedPreStopHook")).toMatchObject({
      type: "Warning",
      message: "PreStopHook failed",
      container: "app",
    });
  });

  it("a preStop sleep longer than the grace period: cut at the grace period, no event, then the 2 s minimum stop", async () => {
    const s = createScenario({ pods: [podWith({ preStop: { sleep: { seconds: 600 } } }, 5)] });
    await s.runUntil(() => s.status("web")?.phase === "Running", 10_000);
    s.runtime.clearCalls();
    const start = s.clock.now();
    s.reconciler.updatePods([]);
    await s.runUntil(() => s.runtime.callLog.some((c) => c.method === "StopContainer"), 60_000);
    const stop = s.runtime.callLog.find((c) => c.method === "StopContainer")?.request as { timeout: bigint };
    expect(s.clock.now() - start).toBeGreaterThanOrEqual(5_000);
    expect(s.clock.now() - start).toBeLessThan(600_000);
    expect(stop.timeout).toBe(2n);
    expect(s.events.some((e) => e.reason === "FailedPreStopHook")).toBe(false);
  });
});
