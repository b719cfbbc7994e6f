import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  ContainerState,
  CriError,
  createCriServer,
  createImageClient,
  createRuntimeClient,
} from "../src/index.js";
import {
  type ConformanceResult,
  conformanceCases,
  conformancePassed,
  createFakeRuntime,
  runConformance,
} from "../src/testing/index.js";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./harness/containerd.js";

const summary = (results: ConformanceResult[]) =>
  results.filter((r) => r.status !== "passed").map((r) => `${r.status} ${r.name}: ${r.message}`);

function fakeWithRemovable() {
  const fake = createFakeRuntime();
  fake.addImage("local.test/removable:1");
  return fake;
}

async function conformanceOfFake(): Promise<ConformanceResult[]> {
  const fake = fakeWithRemovable();
  return runConformance({ runtime: fake, image: fake, removableImage: "local.test/removable:1" });
}

describe("conformance suite against the fake runtime", () => {
  it("passes every case in-process", async () => {
    const results = await conformanceOfFake();
    expect(results.map((r) => r.name)).toEqual(conformanceCases.map((c) => c.name));
    expect(summary(results)).toEqual([]);
    expect(conformancePassed(results)).toBe(true);
  });

  it("passes every case over a unix socket through the gRPC client and the server kit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nk-conf-"));
    const fake = fakeWithRemovable();
    const server = createCriServer({ runtime: fake, image: fake });
    await server.listen(join(dir, "fake.sock"));
    const runtime = createRuntimeClient(join(dir, "fake.sock"));
    const image = createImageClient(join(dir, "fake.sock"));
    try {
      const results = await runConformance({ runtime, image, removableImage: "local.test/removable:1" });
      expect(summary(results)).toEqual([]);
      // The client talked to the fake: its call log saw the suite's RPCs.
      expect(fake.calls).toContain("RunPodSandbox");
      expect(fake.size()).toMatchObject({ sandboxes: 0, containers: 0 });
    } finally {
      runtime.close();
      image.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a misbehaving runtime as failed, with why, and UNIMPLEMENTED as unsupported", async () => {
    const fake = createFakeRuntime();
    const broken = Object.create(fake) as typeof fake;
    broken.stopContainer = async () => ({}); // never stops anything
    const results = await runConformance({ runtime: broken, image: fake, areas: ["container", "image"] });
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(byName["container/stop-exited"]?.status).toBe("failed");
    expect(byName["container/stop-exited"]?.message).toMatch(/state after StopContainer: expected 2, got 1/);
    expect(byName["image/remove"]).toMatchObject({ status: "unsupported", message: "no removableImage given" });
    expect(results.every((r) => r.area === "container" || r.area === "image")).toBe(true);
    expect(conformancePassed(results)).toBe(false);
  });

  it("treats the methods a partial in-process shim lacks as unsupported", async () => {
    const fake = createFakeRuntime();
    const results = await runConformance({
      runtime: { version: fake.version },
      image: {},
      areas: ["runtime"],
    });
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ["runtime/version", "passed"],
      ["runtime/status-conditions", "unsupported"],
    ]);
    expect(results[1]?.message).toBe(
      "Status: [Unimplemented] RuntimeService/Status is not implemented by this runtime",
    );
  });

  it("does not leak sandboxes from a case that times out, nor crash on an events stream that fails later", async () => {
    const fake = createFakeRuntime();
    const slow = Object.create(fake) as typeof fake;
    slow.runPodSandbox = async (req, o) => {
      await new Promise((r) => setTimeout(r, 150));
      return fake.runPodSandbox(req, o);
    };
    let opened = 0;
    slow.getContainerEvents = () => ({
      async *[Symbol.asyncIterator]() {
        opened++;
        await new Promise((r) => setTimeout(r, 300));
        throw new CriError(Code.Unavailable, "runtime restarting");
      },
    });
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on("unhandledRejection", onRejection);
    try {
      const results = await runConformance({
        runtime: slow,
        image: fake,
        areas: ["sandbox", "events"],
        caseTimeoutMs: 100,
      });
      expect(results.filter((r) => r.area === "sandbox").every((r) => r.status === "failed")).toBe(true);
      const events = results.find((r) => r.area === "events");
      expect(events?.status).toBe("failed");
      expect(events?.message).toMatch(/did not finish within 100 ms|runtime restarting/);
      await new Promise((r) => setTimeout(r, 400));
      expect(fake.size().sandboxes).toBe(0);
      expect(rejections).toEqual([]);
      expect(opened).toBe(1);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("fails at once, before any case, when nothing listens on the endpoint", async () => {
    // Before: every case ran, and image/pull-unreachable-fails passed on the client's UNAVAILABLE.
    const dead = join(tmpdir(), `nk-conf-dead-${process.pid}.sock`);
    const runtime = createRuntimeClient(dead);
    const image = createImageClient(dead);
    const seen: string[] = [];
    try {
      const err = await runConformance({ runtime, image, onResult: (r) => seen.push(r.name) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CriError);
      expect((err as CriError).code).toBe(Code.Unavailable);
      expect((err as CriError).rawMessage).toMatch(/^cannot reach the runtime service: /);
      expect(seen).toEqual([]);
    } finally {
      runtime.close();
      image.close();
    }
  });

  it("passes image/pull-unreachable-fails only on the runtime's refusal that names the registry", async () => {
    const fake = createFakeRuntime();
    const run = async (pullImage: () => Promise<never>) => {
      const image = Object.create(fake) as typeof fake;
      image.pullImage = pullImage;
      const results = await runConformance({ runtime: fake, image, areas: ["image"] });
      return results.find((r) => r.name === "image/pull-unreachable-fails");
    };
    const unavailable = await run(async () => {
      throw new CriError(Code.Unavailable, "No connection established", { method: "PullImage" });
    });
    expect(unavailable).toMatchObject({
      status: "failed",
      message:
        "PullImage 127.0.0.1:1/nodekit/unreachable:1: expected the runtime to refuse it, but the call failed with Unavailable: No connection established",
    });
    const timedOut = await run(async () => {
      throw new CriError(Code.DeadlineExceeded, "Deadline exceeded", { method: "PullImage" });
    });
    expect(timedOut?.status).toBe("failed");
    const notCri = await run(async () => {
      throw new TypeError("cannot read properties of undefined");
    });
    expect(notCri).toMatchObject({ status: "failed", message: expect.stringContaining("got a TypeError") });
    const elsewhere = await run(async () => {
      throw new CriError(Code.Unknown, "disk full", { method: "PullImage" });
    });
    expect(elsewhere).toMatchObject({
      status: "failed",
      message: expect.stringContaining('its message does not name "127.0.0.1:1": disk full'),
    });
    const refused = await run(async () => {
      throw new CriError(Code.Unknown, "dial tcp 127.0.0.1:1: connect: connection refused", { method: "PullImage" });
    });
    expect(refused?.status).toBe("passed");
  });

  it("checks an in-process shim's responses as the gRPC client would", async () => {
    const fake = createFakeRuntime();
    const runtime = Object.create(fake) as typeof fake;
    runtime.containerStatus = async (request) => {
      const r = await fake.containerStatus(request);
      return { ...r, status: r.status && { ...r.status, imageRef: "" } };
    };
    const results = await runConformance({ runtime, image: fake, areas: ["container"] });
    expect(results.find((r) => r.name === "container/start-running")).toMatchObject({
      status: "failed",
      message: expect.stringContaining("ContainerStatus: [Internal] invalid response: status.imageRef is not set"),
    });
  });

  it("passes exec/not-running only on the runtime's refusal", async () => {
    const fake = createFakeRuntime();
    const runtime = Object.create(fake) as typeof fake;
    const execSync = fake.execSync.bind(fake);
    runtime.execSync = async (request, o) => {
      const status = await fake.containerStatus({ containerId: request.containerId ?? "" });
      if (status.status?.state === ContainerState.CONTAINER_EXITED) {
        throw new CriError(Code.Unavailable, "connection reset", { method: "ExecSync" });
      }
      return execSync(request, o);
    };
    const results = await runConformance({ runtime, image: fake, areas: ["exec"] });
    expect(results.find((r) => r.name === "exec/not-running")).toMatchObject({
      status: "failed",
      message: expect.stringContaining("but the call failed with Unavailable: connection reset"),
    });
  });

  it("gives in-process handlers complete requests, and takes a runtime's own known differences", async () => {
    const fake = createFakeRuntime();
    const seen: unknown[] = [];
    const broken = Object.create(fake) as typeof fake;
    broken.stopContainer = async (request) => {
      seen.push(request);
      return {}; // never stops anything
    };
    const results = await runConformance({
      runtime: broken,
      image: fake,
      areas: ["container"],
      knownDifferences: {
        "container/stop-exited": { status: "failed", reason: "this runtime cannot stop containers yet" },
      },
    });
    // The request was complete: unset fields at their defaults.
    expect(seen[0]).toMatchObject({ containerId: expect.any(String), timeout: 0n });
    const stop = results.find((r) => r.name === "container/stop-exited");
    expect(stop?.knownDifference?.reason).toBe("this runtime cannot stop containers yet");
  });
});

const describeE2e = describeWithContainerd();

describeE2e("conformance suite against real containerd", () => {
  let h: ContainerdHarness;
  beforeAll(async () => {
    h = await startContainerd();
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it("passes every case but the listed differences, and agrees with the fake on every case both support", async () => {
    const runtime = createRuntimeClient(h.endpoint);
    const image = createImageClient(h.endpoint);
    let results: ConformanceResult[];
    try {
      results = await runConformance({
        runtime,
        image,
        testImage: h.busyboxImage,
        removableImage: h.extraImage,
        sandboxConfig: (config) => ({
          ...config,
          logDirectory: `${h.dir}/logs/${config.metadata?.uid}`,
          linux: { cgroupParent: `${h.cgroupParent}/pod${config.metadata?.uid}` },
        }),
      });
    } finally {
      runtime.close();
      image.close();
    }
    const notPassed = results.filter((r) => r.status !== "passed");
    expect(notPassed.map((r) => [r.name, r.status, r.knownDifference !== undefined, r.message])).toEqual([
      [
        "events/container-lifecycle",
        "unsupported",
        true,
        expect.stringContaining("GetContainerEvents not implemented"),
      ],
    ]);
    expect(conformancePassed(results)).toBe(true);

    const fake = await conformanceOfFake();
    const fakeStatus = Object.fromEntries(fake.map((r) => [r.name, r.status]));
    const disagreements = results
      .filter((r) => r.status !== "unsupported" && fakeStatus[r.name] !== "unsupported")
      .filter((r) => r.status !== fakeStatus[r.name])
      .map((r) => `${r.name}: containerd ${r.status}, fake ${fakeStatus[r.name]}`);
    expect(disagreements).toEqual([]);
  });
});
