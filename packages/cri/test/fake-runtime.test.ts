import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  Code,
  ContainerEventType,
  ContainerState,
  CriError,
  createCriServer,
  createRuntimeClient,
  type DeepPartial,
  isNotFound,
  NamespaceMode,
  normalizeImageRef,
  type PodSandboxConfig,
  PodSandboxState,
  type RuntimeService,
} from "../src/index.js";
import { createFakeRuntime, type FakeRuntimeClock } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

function manualClock(start = 1_700_000_000_000): FakeRuntimeClock & { advance(ms: number): void } {
  let now = start;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(h) {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms) {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
    },
  };
}

const podConfig = (name: string, extra: DeepPartial<PodSandboxConfig> = {}): DeepPartial<PodSandboxConfig> => ({
  metadata: { name, namespace: "default", uid: `uid-${name}`, attempt: 0 },
  labels: { app: name },
  annotations: { note: 'it\'s "quoted"' },
  ...extra,
});

async function podWithContainer(fake = createFakeRuntime(), name = "web") {
  const config = podConfig(name);
  const { podSandboxId } = await fake.runPodSandbox({ config });
  const { containerId } = await fake.createContainer({
    podSandboxId,
    config: { metadata: { name: "app" }, image: { image: "busybox" }, labels: { role: "app" } },
    sandboxConfig: config,
  });
  return { fake, podSandboxId, containerId };
}

describe("createFakeRuntime", () => {
  it("runs the sandbox and container lifecycle with nanosecond timestamps from the injected clock", async () => {
    const clock = manualClock();
    const fake = createFakeRuntime({ clock });
    const { podSandboxId, containerId } = await podWithContainer(fake);
    let { status: sb } = await fake.podSandboxStatus({ podSandboxId });
    expect(sb?.state).toBe(PodSandboxState.SANDBOX_READY);
    expect(sb?.createdAt).toBe(1_700_000_000_000_000_000n);
    expect(sb?.network?.ip).toBe("10.88.0.2");
    expect(sb?.annotations).toEqual({ note: 'it\'s "quoted"' });
    let st = defined((await fake.containerStatus({ containerId })).status);
    expect([st.state, st.imageRef.startsWith("sha256:")]).toEqual([ContainerState.CONTAINER_CREATED, true]);
    expect(st.image?.image).toBe("busybox");
    clock.advance(1500);
    await fake.startContainer({ containerId });
    st = defined((await fake.containerStatus({ containerId })).status);
    expect(st.state).toBe(ContainerState.CONTAINER_RUNNING);
    expect(st.startedAt).toBe(1_700_000_001_500_000_000n);
    clock.advance(250);
    await fake.stopContainer({ containerId, timeout: 10n });
    st = defined((await fake.containerStatus({ containerId })).status);
    expect([st.state, st.exitCode, st.reason, st.finishedAt]).toEqual([
      ContainerState.CONTAINER_EXITED,
      137,
      "Error",
      1_700_000_001_750_000_000n,
    ]);
    await fake.stopPodSandbox({ podSandboxId });
    ({ status: sb } = await fake.podSandboxStatus({ podSandboxId }));
    expect(sb?.state).toBe(PodSandboxState.SANDBOX_NOTREADY);
    await fake.removePodSandbox({ podSandboxId });
    // Removing the sandbox removed its container.
    expect(isNotFound(await fake.containerStatus({ containerId }).catch((e: unknown) => e))).toBe(true);
    expect(fake.size()).toMatchObject({ sandboxes: 0, containers: 0 });
  });

  it("lets a test drive exits: completion, crash, OOM kill, and behaviour decided at start", async () => {
    const clock = manualClock();
    const fake = createFakeRuntime({
      clock,
      containerBehaviour: (config) =>
        config.metadata?.name === "flaky" ? { exitAfterMs: 3000, exitCode: 2, message: "bad config" } : undefined,
    });
    const config = podConfig("p");
    const { podSandboxId } = await fake.runPodSandbox({ config });
    const make = async (name: string) => {
      const { containerId } = await fake.createContainer({
        podSandboxId,
        config: { metadata: { name }, image: { image: "busybox" } },
      });
      await fake.startContainer({ containerId });
      return containerId;
    };
    const [done, crash, oom, flaky] = [await make("done"), await make("crash"), await make("oom"), await make("flaky")];
    fake.completeContainer(done);
    fake.crashContainer(crash, 3);
    fake.oomKillContainer(oom);
    const view = (id: string) => {
      const s = defined(fake.getContainer(id));
      return [s.state, s.exitCode, s.reason, s.message];
    };
    expect(view(done)).toEqual([ContainerState.CONTAINER_EXITED, 0, "Completed", ""]);
    expect(view(crash)).toEqual([ContainerState.CONTAINER_EXITED, 3, "Error", ""]);
    expect(view(oom)).toEqual([ContainerState.CONTAINER_EXITED, 137, "OOMKilled", ""]);
    expect(view(flaky)[0]).toBe(ContainerState.CONTAINER_RUNNING);
    clock.advance(2999);
    expect(view(flaky)[0]).toBe(ContainerState.CONTAINER_RUNNING);
    clock.advance(1);
    expect(view(flaky)).toEqual([ContainerState.CONTAINER_EXITED, 2, "Error", "bad config"]);
    expect(() => fake.crashContainer(done)).toThrow(/not running/);
  });

  it("answers as containerd does for unknown ids, repeated calls and wrong states", async () => {
    const { fake, podSandboxId, containerId } = await podWithContainer();
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: CriError) => Code[e.code],
      );
    expect(await code(fake.stopPodSandbox({ podSandboxId: "nope" }))).toBe("NotFound");
    expect(await code(fake.removePodSandbox({ podSandboxId: "nope" }))).toBe("ok");
    expect(await code(fake.stopContainer({ containerId: "nope" }))).toBe("NotFound");
    expect(await code(fake.removeContainer({ containerId: "nope" }))).toBe("ok");
    expect(await code(fake.startContainer({ containerId: "nope" }))).toBe("NotFound");
    expect(await code(fake.containerStatus({ containerId: "nope" }))).toBe("NotFound");
    expect(await code(fake.podSandboxStatus({ podSandboxId: "nope" }))).toBe("NotFound");
    expect(
      await code(
        fake.createContainer({
          podSandboxId: "nope",
          config: { metadata: { name: "x" }, image: { image: "busybox" } },
        }),
      ),
    ).toBe("NotFound");
    expect(
      await code(
        fake.createContainer({ podSandboxId, config: { metadata: { name: "x" }, image: { image: "nothing:here" } } }),
      ),
    ).toBe("NotFound");
    expect(
      await code(
        fake.createContainer({ podSandboxId, config: { metadata: { name: "app" }, image: { image: "busybox" } } }),
      ),
    ).toBe("AlreadyExists");
    expect(await code(fake.runPodSandbox({ config: podConfig("web") }))).toBe("AlreadyExists");
    expect(await code(fake.execSync({ containerId, cmd: ["true"] }))).toBe("FailedPrecondition");
    await fake.startContainer({ containerId });
    expect(await code(fake.startContainer({ containerId }))).toBe("FailedPrecondition");
    await fake.stopContainer({ containerId });
    await fake.stopContainer({ containerId });
    await fake.removeContainer({ containerId });
    await fake.removeContainer({ containerId });
    await fake.stopPodSandbox({ podSandboxId });
    await fake.stopPodSandbox({ podSandboxId });
    expect(
      await code(
        fake.createContainer({ podSandboxId, config: { metadata: { name: "late" }, image: { image: "busybox" } } }),
      ),
    ).toBe("FailedPrecondition");
    await fake.removePodSandbox({ podSandboxId });
    await fake.removePodSandbox({ podSandboxId });
    expect(await code(fake.stopPodSandbox({ podSandboxId }))).toBe("NotFound");
  });

  it("rejects requests missing required fields with INVALID_ARGUMENT naming the field", async () => {
    const fake = createFakeRuntime();
    const err = (p: Promise<unknown>) => p.catch((e: CriError) => [Code[e.code], e.rawMessage, e.method]);
    expect(await err(fake.runPodSandbox({}))).toEqual([
      "InvalidArgument",
      "config.metadata.name is required",
      "RunPodSandbox",
    ]);
    expect(await err(fake.runPodSandbox({ config: { metadata: { name: "a", namespace: "b" } } }))).toEqual([
      "InvalidArgument",
      "config.metadata.uid is required",
      "RunPodSandbox",
    ]);
    expect(await err(fake.createContainer({ podSandboxId: "x", config: { metadata: { name: "c" } } }))).toEqual([
      "InvalidArgument",
      "config.image.image is required",
      "CreateContainer",
    ]);
    expect(await err(fake.execSync({ containerId: "x", cmd: [] }))).toEqual([
      "InvalidArgument",
      "cmd is required",
      "ExecSync",
    ]);
    expect(await err(fake.pullImage({ image: {} }))).toEqual([
      "InvalidArgument",
      "image.image is required",
      "PullImage",
    ]);
  });

  it("filters lists by id prefix, sandbox, state and labels", async () => {
    const fake = createFakeRuntime();
    const a = await podWithContainer(fake, "a");
    const b = await podWithContainer(fake, "b");
    await fake.startContainer({ containerId: a.containerId });
    const ids = async (f: Parameters<typeof fake.listContainers>[0]) =>
      (await fake.listContainers(f)).containers.map((c) => c.id);
    expect((await ids({})).sort()).toEqual([a.containerId, b.containerId].sort());
    expect(await ids({ filter: { id: a.containerId.slice(0, 6) } })).toEqual([a.containerId]);
    expect(await ids({ filter: { podSandboxId: b.podSandboxId.slice(0, 6) } })).toEqual([b.containerId]);
    expect(await ids({ filter: { state: { state: ContainerState.CONTAINER_RUNNING } } })).toEqual([a.containerId]);
    expect(await ids({ filter: { state: { state: ContainerState.CONTAINER_CREATED } } })).toEqual([b.containerId]);
    expect(await ids({ filter: { labelSelector: { role: "app" } } })).toHaveLength(2);
    expect(await ids({ filter: { labelSelector: { role: "app", other: "x" } } })).toEqual([]);
    const pods = await fake.listPodSandbox({ filter: { labelSelector: { app: "b" } } });
    expect(pods.items.map((p) => p.id)).toEqual([b.podSandboxId]);
    // Status calls resolve a unique id prefix too.
    expect((await fake.containerStatus({ containerId: a.containerId.slice(0, 12) })).status?.id).toBe(a.containerId);
    const stats = await fake.listContainerStats({});
    expect(stats.stats.map((s) => s.attributes?.id)).toEqual([a.containerId]);
  });

  it("gives deterministic ids and pod IPs; host-network sandboxes have no IP", async () => {
    const ids = async () => {
      const fake = createFakeRuntime({ idSeed: "s" });
      const one = await fake.runPodSandbox({ config: podConfig("one") });
      const host = await fake.runPodSandbox({
        config: podConfig("host", {
          linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } },
        }),
      });
      return [one.podSandboxId, host.podSandboxId, fake.getSandbox(host.podSandboxId)?.network?.ip];
    };
    const first = await ids();
    expect(first).toEqual(await ids());
    expect(first[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(first[2]).toBe("");
  });

  it("emits an event for every container state change", async () => {
    const { fake, podSandboxId, containerId } = await podWithContainer();
    const ac = new AbortController();
    const seen: [string, ContainerEventType, ContainerState | undefined][] = [];
    const done = (async () => {
      for await (const ev of fake.getContainerEvents({}, { signal: ac.signal })) {
        const mine = ev.containersStatuses.find((s) => s.id === ev.containerId);
        seen.push([ev.containerId, ev.containerEventType, mine?.state]);
        expect(ev.podSandboxStatus?.id ?? podSandboxId).toBe(podSandboxId);
      }
    })();
    await new Promise((r) => setImmediate(r));
    await fake.startContainer({ containerId });
    const second = await fake.createContainer({
      podSandboxId,
      config: { metadata: { name: "side" }, image: { image: "busybox" } },
    });
    fake.crashContainer(containerId);
    await fake.removePodSandbox({ podSandboxId });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    expect(((await done.catch((e: unknown) => e)) as CriError).code).toBe(Code.Cancelled);
    expect(seen).toEqual([
      [containerId, ContainerEventType.CONTAINER_STARTED_EVENT, ContainerState.CONTAINER_RUNNING],
      [second.containerId, ContainerEventType.CONTAINER_CREATED_EVENT, ContainerState.CONTAINER_CREATED],
      [containerId, ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerState.CONTAINER_EXITED],
      [containerId, ContainerEventType.CONTAINER_DELETED_EVENT, ContainerState.CONTAINER_EXITED],
      [second.containerId, ContainerEventType.CONTAINER_DELETED_EVENT, ContainerState.CONTAINER_CREATED],
    ]);
  });

  it("pulls from its registry with scripted failures and delays; lists, inspects and removes images", async () => {
    const clock = manualClock();
    const fake = createFakeRuntime({ clock, registry: ["nginx:1.27"] });
    expect(isNotFound(await fake.pullImage({ image: { image: "unknown/app:1" } }).catch((e: unknown) => e))).toBe(true);
    const { imageRef } = await fake.pullImage({ image: { image: "nginx:1.27" } });
    expect(imageRef).toMatch(/^sha256:/);
    const { image } = await fake.imageStatus({ image: { image: "docker.io/library/nginx:1.27" } });
    expect(image?.repoTags).toEqual(["docker.io/library/nginx:1.27"]);
    expect((await fake.imageStatus({ image: { image: imageRef } })).image?.id).toBe(imageRef);
    fake.scriptPull("registry.local/slow:1", { delayMs: 5000, size: 42 });
    let pulled = false;
    const slow = fake.pullImage({ image: { image: "registry.local/slow:1" } }).then((r) => {
      pulled = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    expect(pulled).toBe(false);
    clock.advance(5000);
    await slow;
    expect((await fake.imageStatus({ image: { image: "registry.local/slow:1" } })).image?.size).toBe(42n);
    fake.scriptPull("registry.local/broken:1", { error: "rpc error: code = Unknown desc = manifest unknown" });
    const err = (await fake
      .pullImage({ image: { image: "registry.local/broken:1" } })
      .catch((e: unknown) => e)) as CriError;
    expect([err.code, err.rawMessage]).toEqual([Code.Unknown, "rpc error: code = Unknown desc = manifest unknown"]);
    await fake.removeImage({ image: { image: "nginx:1.27" } });
    await fake.removeImage({ image: { image: "nginx:1.27" } });
    expect((await fake.imageStatus({ image: { image: "nginx:1.27" } })).image).toBeUndefined();
    const fs = await fake.imageFsInfo({});
    expect(fs.imageFilesystems[0]?.usedBytes?.value).toBe(BigInt(2 * 1024 * 1024 + 42));
    expect(normalizeImageRef("localhost:5000/app")).toBe("localhost:5000/app:latest");
    const open = createFakeRuntime({ registry: ["*"] });
    expect((await open.pullImage({ image: { image: "any.registry/any/image:9" } })).imageRef).toMatch(/^sha256:/);
    expect(normalizeImageRef("org/app@sha256:ab")).toBe("docker.io/org/app@sha256:ab");
  });

  it("runs ExecSync through a tiny shell or a scripted handler", async () => {
    const { fake, containerId } = await podWithContainer();
    await fake.startContainer({ containerId });
    const run = async (cmd: string[]) => {
      const r = await fake.execSync({ containerId, cmd, timeout: 5n });
      return [r.stdout.toString(), r.stderr.toString(), r.exitCode];
    };
    expect(await run(["echo", "hello"])).toEqual(["hello\n", "", 0]);
    expect(await run(["sh", "-c", "echo out; echo 'to err' >&2; exit 3"])).toEqual(["out\n", "to err\n", 3]);
    expect(await run(["sh", "-c", "frobnicate"])).toEqual(["", "sh: frobnicate: not found\n", 127]);
    await expect(fake.execSync({ containerId, cmd: ["frobnicate"] })).rejects.toThrow(/not found in \$PATH/);
    const scripted = await podWithContainer(
      createFakeRuntime({ exec: ({ cmd }) => ({ stdout: `ran ${cmd.join(" ")}`, exitCode: 7 }) }),
    );
    await scripted.fake.startContainer({ containerId: scripted.containerId });
    const r = await scripted.fake.execSync({ containerId: scripted.containerId, cmd: ["probe"] });
    expect([r.stdout.toString(), r.exitCode]).toEqual(["ran probe", 7]);
  });

  it("records every call and fails injected errors once, n times or always", async () => {
    const fake = createFakeRuntime();
    fake.injectError("Version", new CriError(Code.Unavailable, "down"));
    fake.injectError("status", undefined, { times: 2 });
    fake.injectError("ListImages", undefined, { times: Number.POSITIVE_INFINITY });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: CriError) => Code[e.code],
      );
    expect(await outcome(fake.version({}))).toBe("Unavailable");
    expect(await outcome(fake.version({}))).toBe("ok");
    expect([await outcome(fake.status({})), await outcome(fake.status({})), await outcome(fake.status({}))]).toEqual([
      "Unknown",
      "Unknown",
      "ok",
    ]);
    for (let i = 0; i < 5; i++) expect(await outcome(fake.listImages({}))).toBe("Unknown");
    expect(fake.calls.slice(0, 6)).toEqual(["Version", "Version", "Status", "Status", "Status", "ListImages"]);
    expect(fake.callLog[0]).toEqual({ method: "Version", request: {} });
    fake.clearErrors();
    expect(await outcome(fake.listImages({}))).toBe("ok");
    fake.clearCalls();
    expect(fake.calls).toEqual([]);
    expect(await outcome(fake.checkpointPod({}))).toBe("Unimplemented");
    expect(await outcome(fake.listPodSandbox({}, { signal: AbortSignal.abort() }))).toBe("Cancelled");
  });

  it("keeps a bounded call log", async () => {
    const fake = createFakeRuntime({ callLogLimit: 100 });
    for (let i = 0; i < 1_000; i++) await fake.version({ version: String(i) });
    expect(fake.calls.length).toBeLessThanOrEqual(110);
    expect(fake.callLog.at(-1)?.request).toEqual({ version: "999" });
  });

  it("bounds the call log by bytes too, dropping the oldest first and counting what it dropped", async () => {
    const blob = "x".repeat(2_000); // 2 KB of annotations per call, as a kubelet's pods carry
    const fake = createFakeRuntime({ callLogBytes: 100_000 });
    for (let i = 0; i < 4_000; i++) {
      await fake.listPodSandbox({ filter: { id: String(i), labelSelector: { blob } } });
    }
    // About 100 KB of requests are kept, not 4,000 × 2 KB.
    expect(fake.callLog.length).toBeGreaterThan(10);
    expect(fake.callLog.length).toBeLessThan(60);
    expect(fake.calls.length).toBe(fake.callLog.length);
    expect(fake.droppedCalls).toBe(4_000 - fake.callLog.length);
    // The newest are kept, in order.
    const ids = fake.callLog.map((c) => (c.request as { filter: { id: string } }).filter.id);
    expect(ids.at(-1)).toBe("3999");
    expect(ids).toEqual([...ids].sort((a, b) => Number(a) - Number(b)));
    fake.clearCalls();
    expect([fake.callLog.length, fake.droppedCalls]).toEqual([0, 0]);
    // A request larger than the whole bound is kept alone, as the newest entry.
    await fake.version({ version: "y".repeat(200_000) });
    await fake.version({ version: "z".repeat(200_000) });
    expect(fake.calls).toEqual(["Version"]);
    expect(fake.droppedCalls).toBe(1);
    // The default bound is 32 MiB.
    const byDefault = createFakeRuntime();
    const mib = "m".repeat(1024 * 1024);
    for (let i = 0; i < 40; i++) await byDefault.version({ version: mib });
    expect(byDefault.callLog.length).toBeLessThanOrEqual(32);
    expect(byDefault.droppedCalls).toBe(40 - byDefault.callLog.length);
  });

  it("drops an event subscriber that stops reading, with Unavailable, as containerd ends a subscription", async () => {
    const { fake, podSandboxId } = await podWithContainer(createFakeRuntime({ eventQueueLimit: 5 }));
    const slow = fake.getContainerEvents({})[Symbol.asyncIterator]();
    const first = slow.next();
    // A subscriber that keeps reading is not affected.
    const ac = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const ev of fake.getContainerEvents({}, { signal: ac.signal })) seen.push(ev.containerId);
    })();
    await new Promise((r) => setImmediate(r));
    const created: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { containerId } = await fake.createContainer({
        podSandboxId,
        config: { metadata: { name: `c${i}` }, image: { image: "busybox" } },
      });
      created.push(containerId);
      await new Promise((r) => setImmediate(r));
    }
    expect((await first).value?.containerId).toBe(created[0]);
    // The slow one read one event and then nothing while 7 more came: more than 5 queued.
    const err = (await slow.next().catch((e: unknown) => e)) as CriError;
    expect(err).toBeInstanceOf(CriError);
    expect([err.code, err.method]).toEqual([Code.Unavailable, "GetContainerEvents"]);
    expect(err.rawMessage).toContain("container events subscription closed by server");
    ac.abort();
    const ended = (await reading.catch((e: unknown) => e)) as CriError;
    expect([ended.code, ended.method]).toEqual([Code.Cancelled, "GetContainerEvents"]);
    expect(seen).toEqual(created);
  });

  it("an aborted event stream fails with Cancelled, the same in process and through the gRPC client", async () => {
    const fake = createFakeRuntime();
    const dir = mkdtempSync(join(tmpdir(), "nk-fake-events-"));
    const server = createCriServer({ runtime: fake, image: fake });
    await server.listen(join(dir, "cri.sock"));
    const client = createRuntimeClient(`unix://${join(dir, "cri.sock")}`);
    try {
      let pods = 0;
      const endOf = async (runtime: Pick<RuntimeService, "getContainerEvents">): Promise<unknown> => {
        const ac = new AbortController();
        const seen: string[] = [];
        const reading = (async () => {
          for await (const ev of runtime.getContainerEvents({}, { signal: ac.signal })) {
            seen.push(ev.containerId);
            ac.abort(); // the reader stops after its first event
          }
          return "ended without an error";
        })().catch((e: unknown) => e);
        // Events until the reader has one (the gRPC stream opens a little later than the call).
        for (let i = 0; i < 200 && seen.length === 0; i++) {
          pods++;
          await podWithContainer(fake, `p${pods}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(seen.length).toBeGreaterThan(0);
        return reading;
      };
      const inProcess = (await endOf(fake)) as CriError;
      const overGrpc = (await endOf(client)) as CriError;
      for (const e of [inProcess, overGrpc]) {
        expect(e).toBeInstanceOf(CriError);
        expect([e.code, e.method]).toEqual([Code.Cancelled, "GetContainerEvents"]);
      }
    } finally {
      client.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
