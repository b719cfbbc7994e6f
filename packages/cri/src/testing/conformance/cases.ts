import { Code, CriError } from "../../errors.js";
import {
  type ContainerConfig,
  ContainerEventType,
  ContainerState,
  type DeepPartial,
  type PodSandboxConfig,
  PodSandboxState,
} from "../../gen/messages.js";
import type { ImageService, RuntimeService } from "../../gen/services.js";

/** The areas of the conformance suite, after critest's. */
export type ConformanceArea =
  | "runtime"
  | "sandbox"
  | "container"
  | "exec"
  | "idempotency"
  | "not-found"
  | "image"
  | "filters"
  | "stats"
  | "events";

/** What a case can use: the services under test, helpers that clean up after it, and settings. */
export interface CaseContext {
  /** The runtime service under test (methods it lacks fail UNIMPLEMENTED). */
  readonly runtime: RuntimeService;
  /** The image service under test. */
  readonly image: ImageService;
  /** An image present on the runtime whose containers have `sh`, `echo` and `sleep`. */
  readonly testImage: string;
  /** An image the case may remove; `undefined` when none was configured. */
  readonly removableImage: string | undefined;
  /** An image whose pull must fail. */
  readonly unpullableImage: string;
  /** Labels every sandbox and container of this run carries. */
  readonly runLabels: Readonly<Record<string, string>>;
  /** Runs a sandbox (removed after the case) and returns its id and config. */
  runSandbox(name: string): Promise<{
    /** The sandbox id the runtime returned. */
    id: string;
    /** The config it was run with (after `ConformanceOptions.sandboxConfig`). */
    config: DeepPartial<PodSandboxConfig>;
  }>;
  /** Creates a container running `command` (default: prints, then sleeps) in a sandbox. */
  createContainer(
    sandbox: { id: string; config: DeepPartial<PodSandboxConfig> },
    name: string,
    extra?: DeepPartial<ContainerConfig>,
  ): Promise<string>;
  /** Creates and starts a container; returns its id. */
  startedContainer(sandbox: { id: string; config: DeepPartial<PodSandboxConfig> }, name: string): Promise<string>;
}

/** One conformance case. */
export interface ConformanceCase {
  /** `area/what`, e.g. `container/stop-exited`. */
  readonly name: string;
  /** The area it belongs to (the part of `name` before the slash). */
  readonly area: ConformanceArea;
  /** Resolves when the runtime behaves; throws (with why) when it does not. */
  run(ctx: CaseContext): Promise<void>;
}

/** Thrown by a case that cannot run with the given options; reported as `unsupported`. */
export class NotConfigured extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual, canonical);
  const e = JSON.stringify(expected, canonical);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/** JSON with bigints and with object keys sorted: proto maps have no order. */
function canonical(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return value;
}

async function expectCode(promise: Promise<unknown>, code: Code, what: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CriError && err.code === code) return;
    if (err instanceof CriError && err.code === Code.Unimplemented) throw err;
    throw new Error(`${what}: expected ${Code[code]}, got ${err instanceof CriError ? Code[err.code] : String(err)}`);
  }
  throw new Error(`${what}: expected ${Code[code]}, but it succeeded`);
}

// Codes that say the call never reached a runtime's answer: the transport or the client failed.
const notAnAnswer: ReadonlySet<Code> = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Cancelled]);

/**
 * Expects the runtime to refuse the call. A failure that is not the runtime's answer (the runtime
 * cannot be reached, the deadline passed, the call was cancelled, or something other than a
 * CriError was thrown) fails the case: a suite run against a dead socket must not pass it.
 * `mentions`, when given, is text the runtime's message must contain (what the call was about).
 */
async function expectFailure(promise: Promise<unknown>, what: string, mentions?: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CriError && err.code === Code.Unimplemented) throw err;
    if (!(err instanceof CriError)) {
      throw new Error(`${what}: expected the runtime to refuse it, got a ${describeThrown(err)}`);
    }
    if (notAnAnswer.has(err.code)) {
      throw new Error(
        `${what}: expected the runtime to refuse it, but the call failed with ${Code[err.code]}: ${err.rawMessage}`,
      );
    }
    if (mentions !== undefined && !err.rawMessage.includes(mentions)) {
      throw new Error(
        `${what}: the runtime refused it with ${Code[err.code]}, but its message does not name ${JSON.stringify(mentions)}: ${err.rawMessage}`,
      );
    }
    return;
  }
  throw new Error(`${what}: expected an error, but it succeeded`);
}

function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : `thrown ${typeof err} ${String(err)}`;
}

/** The registry host of an image reference (`127.0.0.1:1` of `127.0.0.1:1/a/b:1`), or the reference. */
function registryOf(ref: string): string {
  const slash = ref.indexOf("/");
  const first = slash < 0 ? "" : ref.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? first : ref.replace(/[:@].*$/, "");
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const state = async (ctx: CaseContext, containerId: string) =>
  (await ctx.runtime.containerStatus({ containerId })).status;

/** Every case of the suite, in the order they run. */
export const conformanceCases: readonly ConformanceCase[] = [
  // runtime --------------------------------------------------------------------------------------
  {
    name: "runtime/version",
    area: "runtime",
    async run({ runtime }) {
      const v = await runtime.version({});
      eq(v.version, "0.1.0", "Version.version (the kubelet requires 0.1.0)");
      eq(v.runtimeApiVersion, "v1", "Version.runtimeApiVersion");
      check(v.runtimeName && v.runtimeVersion, "Version needs runtimeName and runtimeVersion");
    },
  },
  {
    name: "runtime/status-conditions",
    area: "runtime",
    async run({ runtime }) {
      const { status } = await runtime.status({});
      const conditions = Object.fromEntries((status?.conditions ?? []).map((c) => [c.type, c.status]));
      eq(conditions.RuntimeReady, true, "RuntimeReady condition");
      eq(conditions.NetworkReady, true, "NetworkReady condition");
    },
  },

  // sandbox --------------------------------------------------------------------------------------
  {
    name: "sandbox/run-ready-attributes",
    area: "sandbox",
    async run(ctx) {
      const sb = await ctx.runSandbox("attrs");
      const { status } = await ctx.runtime.podSandboxStatus({ podSandboxId: sb.id });
      eq(status?.id, sb.id, "status.id");
      eq(status?.state, PodSandboxState.SANDBOX_READY, "state after RunPodSandbox");
      eq(status?.metadata?.name, sb.config.metadata?.name, "metadata.name");
      eq(status?.metadata?.uid, sb.config.metadata?.uid, "metadata.uid");
      eq(status?.metadata?.namespace, sb.config.metadata?.namespace, "metadata.namespace");
      eq(status?.labels, sb.config.labels, "labels");
      eq(status?.annotations, sb.config.annotations, "annotations");
      check((status?.createdAt ?? 0n) > 0n, "createdAt must be set (nanoseconds)");
    },
  },
  {
    name: "sandbox/stop-notready",
    area: "sandbox",
    async run(ctx) {
      const sb = await ctx.runSandbox("stop");
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      const { status } = await ctx.runtime.podSandboxStatus({ podSandboxId: sb.id });
      eq(status?.state, PodSandboxState.SANDBOX_NOTREADY, "state after StopPodSandbox");
    },
  },
  {
    name: "sandbox/remove",
    area: "sandbox",
    async run(ctx) {
      const sb = await ctx.runSandbox("remove");
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      await ctx.runtime.removePodSandbox({ podSandboxId: sb.id });
      await expectCode(ctx.runtime.podSandboxStatus({ podSandboxId: sb.id }), Code.NotFound, "status after remove");
      const { items } = await ctx.runtime.listPodSandbox({ filter: { id: sb.id } });
      eq(items.length, 0, "sandboxes listed after remove");
    },
  },
  {
    name: "sandbox/list-filters",
    area: "sandbox",
    async run(ctx) {
      const a = await ctx.runSandbox("list-a");
      const b = await ctx.runSandbox("list-b");
      await ctx.runtime.stopPodSandbox({ podSandboxId: b.id });
      const ids = async (filter: Parameters<RuntimeService["listPodSandbox"]>[0]["filter"]) =>
        (await ctx.runtime.listPodSandbox({ filter })).items.map((s) => s.id).sort();
      eq(await ids({ labelSelector: ctx.runLabels }), [a.id, b.id].sort(), "label selector");
      eq(await ids({ id: a.id.slice(0, 12) }), [a.id], "id prefix");
      eq(
        await ids({ labelSelector: ctx.runLabels, state: { state: PodSandboxState.SANDBOX_NOTREADY } }),
        [b.id],
        "state NOTREADY",
      );
      eq(
        await ids({ labelSelector: { ...ctx.runLabels, sandbox: "list-a" } }),
        [a.id],
        "label selector with two labels",
      );
    },
  },

  // container ------------------------------------------------------------------------------------
  {
    name: "container/create-attributes",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("create");
      const id = await ctx.createContainer(sb, "attrs", {
        labels: { tier: "web" },
        annotations: { note: `quotes ' " and spaces` },
      });
      const st = await state(ctx, id);
      eq(st?.state, ContainerState.CONTAINER_CREATED, "state after CreateContainer");
      eq(st?.metadata?.name, "attrs", "metadata.name");
      eq(st?.labels?.tier, "web", "labels");
      eq(st?.annotations?.note, `quotes ' " and spaces`, "annotations");
      check((st?.createdAt ?? 0n) > 0n, "createdAt must be set");
      check(st?.imageRef, "imageRef must be set");
    },
  },
  {
    name: "container/start-running",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("start");
      const id = await ctx.startedContainer(sb, "run");
      const st = await state(ctx, id);
      eq(st?.state, ContainerState.CONTAINER_RUNNING, "state after StartContainer");
      check((st?.startedAt ?? 0n) >= (st?.createdAt ?? 0n) && (st?.startedAt ?? 0n) > 0n, "startedAt ≥ createdAt");
    },
  },
  {
    name: "container/stop-exited",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("stop-ctr");
      const id = await ctx.startedContainer(sb, "stop");
      await ctx.runtime.stopContainer({ containerId: id, timeout: 0n });
      const st = await state(ctx, id);
      eq(st?.state, ContainerState.CONTAINER_EXITED, "state after StopContainer");
      check(st?.exitCode !== 0, "a killed container has a non-zero exit code");
      check((st?.finishedAt ?? 0n) >= (st?.startedAt ?? 0n), "finishedAt ≥ startedAt");
    },
  },
  {
    name: "container/exits-on-its-own",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("exit");
      const crash = await ctx.createContainer(sb, "crash", { command: ["sh", "-c", "exit 3"] });
      const done = await ctx.createContainer(sb, "done", { command: ["sh", "-c", "echo done"] });
      await ctx.runtime.startContainer({ containerId: crash });
      await ctx.runtime.startContainer({ containerId: done });
      for (const [id, code, reason] of [
        [crash, 3, "Error"],
        [done, 0, "Completed"],
      ] as const) {
        const st = await waitFor(`${id} to exit`, async () => {
          const s = await state(ctx, id);
          return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
        });
        eq([st.exitCode, st.reason], [code, reason], "exit code and reason");
      }
    },
  },
  {
    name: "container/remove",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("rm-ctr");
      const stopped = await ctx.startedContainer(sb, "stopped");
      await ctx.runtime.stopContainer({ containerId: stopped, timeout: 0n });
      await ctx.runtime.removeContainer({ containerId: stopped });
      await expectCode(ctx.runtime.containerStatus({ containerId: stopped }), Code.NotFound, "status after remove");
      // A running container is removed by force.
      const running = await ctx.startedContainer(sb, "running");
      await ctx.runtime.removeContainer({ containerId: running });
      await expectCode(
        ctx.runtime.containerStatus({ containerId: running }),
        Code.NotFound,
        "running container removed",
      );
      const created = await ctx.createContainer(sb, "created");
      await ctx.runtime.removeContainer({ containerId: created });
      await expectCode(
        ctx.runtime.containerStatus({ containerId: created }),
        Code.NotFound,
        "created container removed",
      );
    },
  },
  {
    name: "container/sandbox-stop-stops-containers",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("cascade-stop");
      const id = await ctx.startedContainer(sb, "victim");
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      eq((await state(ctx, id))?.state, ContainerState.CONTAINER_EXITED, "container state after StopPodSandbox");
    },
  },
  {
    name: "container/sandbox-remove-removes-containers",
    area: "container",
    async run(ctx) {
      const sb = await ctx.runSandbox("cascade-rm");
      const id = await ctx.startedContainer(sb, "victim");
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      await ctx.runtime.removePodSandbox({ podSandboxId: sb.id });
      await expectCode(
        ctx.runtime.containerStatus({ containerId: id }),
        Code.NotFound,
        "container after RemovePodSandbox",
      );
    },
  },

  // exec -----------------------------------------------------------------------------------------
  {
    name: "exec/stdout",
    area: "exec",
    async run(ctx) {
      const sb = await ctx.runSandbox("exec");
      const id = await ctx.startedContainer(sb, "exec");
      const r = await ctx.runtime.execSync({ containerId: id, cmd: ["echo", "hello", "conformance"], timeout: 10n });
      eq(r.exitCode, 0, "exit code");
      eq(Buffer.from(r.stdout).toString(), "hello conformance\n", "stdout");
    },
  },
  {
    name: "exec/exit-code-and-stderr",
    area: "exec",
    async run(ctx) {
      const sb = await ctx.runSandbox("exec-fail");
      const id = await ctx.startedContainer(sb, "exec");
      const r = await ctx.runtime.execSync({
        containerId: id,
        cmd: ["sh", "-c", "echo oops >&2; exit 3"],
        timeout: 10n,
      });
      eq(r.exitCode, 3, "a non-zero exit is a result, not an error");
      eq(Buffer.from(r.stderr).toString(), "oops\n", "stderr");
    },
  },
  {
    name: "exec/not-running",
    area: "exec",
    async run(ctx) {
      const sb = await ctx.runSandbox("exec-stopped");
      const id = await ctx.startedContainer(sb, "exec");
      await ctx.runtime.stopContainer({ containerId: id, timeout: 0n });
      await expectFailure(
        ctx.runtime.execSync({ containerId: id, cmd: ["true"], timeout: 10n }),
        "exec in an exited container",
      );
    },
  },

  // idempotency ----------------------------------------------------------------------------------
  {
    name: "idempotency/container-stop-and-remove-twice",
    area: "idempotency",
    async run(ctx) {
      const sb = await ctx.runSandbox("idem-ctr");
      const id = await ctx.startedContainer(sb, "twice");
      await ctx.runtime.stopContainer({ containerId: id, timeout: 0n });
      await ctx.runtime.stopContainer({ containerId: id, timeout: 0n });
      await ctx.runtime.removeContainer({ containerId: id });
      await ctx.runtime.removeContainer({ containerId: id });
    },
  },
  {
    name: "idempotency/sandbox-stop-and-remove-twice",
    area: "idempotency",
    async run(ctx) {
      const sb = await ctx.runSandbox("idem-sb");
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      await ctx.runtime.stopPodSandbox({ podSandboxId: sb.id });
      await ctx.runtime.removePodSandbox({ podSandboxId: sb.id });
      await ctx.runtime.removePodSandbox({ podSandboxId: sb.id });
    },
  },
  {
    name: "idempotency/remove-unknown-ids",
    area: "idempotency",
    async run(ctx) {
      await ctx.runtime.removeContainer({ containerId: "nodekit-conformance-no-such-container" });
      await ctx.runtime.removePodSandbox({ podSandboxId: "nodekit-conformance-no-such-sandbox" });
      await ctx.image.removeImage({ image: { image: "local.test/nodekit-conformance-absent:1" } });
    },
  },

  // not found ------------------------------------------------------------------------------------
  {
    name: "not-found/status-of-unknown-ids",
    area: "not-found",
    async run(ctx) {
      await expectCode(
        ctx.runtime.containerStatus({ containerId: "nodekit-absent" }),
        Code.NotFound,
        "ContainerStatus",
      );
      await expectCode(
        ctx.runtime.podSandboxStatus({ podSandboxId: "nodekit-absent" }),
        Code.NotFound,
        "PodSandboxStatus",
      );
    },
  },
  {
    name: "not-found/act-on-unknown-ids",
    area: "not-found",
    async run(ctx) {
      await expectCode(ctx.runtime.startContainer({ containerId: "nodekit-absent" }), Code.NotFound, "StartContainer");
      await expectCode(ctx.runtime.stopContainer({ containerId: "nodekit-absent" }), Code.NotFound, "StopContainer");
      await expectCode(
        ctx.runtime.createContainer({
          podSandboxId: "nodekit-absent",
          config: { metadata: { name: "x" }, image: { image: ctx.testImage } },
        }),
        Code.NotFound,
        "CreateContainer in an unknown sandbox",
      );
    },
  },
  {
    name: "not-found/create-with-absent-image",
    area: "not-found",
    async run(ctx) {
      const sb = await ctx.runSandbox("no-image");
      await expectCode(
        ctx.runtime.createContainer({
          podSandboxId: sb.id,
          config: { metadata: { name: "x" }, image: { image: "local.test/nodekit-conformance-absent:1" } },
          sandboxConfig: sb.config,
        }),
        Code.NotFound,
        "CreateContainer with an image that is not present",
      );
    },
  },

  // image ----------------------------------------------------------------------------------------
  {
    name: "image/list-and-status",
    area: "image",
    async run(ctx) {
      const { images } = await ctx.image.listImages({});
      const { image } = await ctx.image.imageStatus({ image: { image: ctx.testImage } });
      check(image, `ImageStatus of the test image ${ctx.testImage} must find it`);
      check(image.id, "image.id must be set");
      check(image.size > 0n, "image.size must be > 0");
      check(
        images.some((i) => i.id === image.id),
        "ListImages must include the test image",
      );
      const byId = await ctx.image.imageStatus({ image: { image: image.id } });
      eq(byId.image?.id, image.id, "ImageStatus by id");
    },
  },
  {
    name: "image/status-of-absent-image",
    area: "image",
    async run(ctx) {
      const { image } = await ctx.image.imageStatus({ image: { image: "local.test/nodekit-conformance-absent:1" } });
      eq(image, undefined, "an absent image is no error, and no image");
    },
  },
  {
    name: "image/pull-unreachable-fails",
    area: "image",
    async run(ctx) {
      // The runtime must answer the pull with an error about that registry (or image): a client
      // that cannot reach the runtime, or a pull that times out, is no such answer.
      await expectFailure(
        ctx.image.pullImage({ image: { image: ctx.unpullableImage } }, { timeoutMs: 30_000 }),
        `PullImage ${ctx.unpullableImage}`,
        registryOf(ctx.unpullableImage),
      );
    },
  },
  {
    name: "image/remove",
    area: "image",
    async run(ctx) {
      if (!ctx.removableImage) throw new NotConfigured("no removableImage given");
      const before = await ctx.image.imageStatus({ image: { image: ctx.removableImage } });
      check(before.image, `the removable image ${ctx.removableImage} must be present`);
      await ctx.image.removeImage({ image: { image: ctx.removableImage } });
      eq(
        (await ctx.image.imageStatus({ image: { image: ctx.removableImage } })).image,
        undefined,
        "status after remove",
      );
    },
  },
  {
    name: "image/fs-info",
    area: "image",
    async run(ctx) {
      const fs = await ctx.image.imageFsInfo({});
      check(fs.imageFilesystems.length >= 1, "ImageFsInfo must report an image filesystem");
      check(fs.imageFilesystems[0]?.fsId?.mountpoint, "the image filesystem needs a mountpoint");
    },
  },

  // filters --------------------------------------------------------------------------------------
  {
    name: "filters/containers",
    area: "filters",
    async run(ctx) {
      const sb = await ctx.runSandbox("filters");
      const running = await ctx.startedContainer(sb, "running");
      const created = await ctx.createContainer(sb, "created", { labels: { extra: "yes" } });
      const ids = async (filter: Parameters<RuntimeService["listContainers"]>[0]["filter"]) =>
        (await ctx.runtime.listContainers({ filter })).containers.map((c) => c.id).sort();
      eq(await ids({ podSandboxId: sb.id }), [running, created].sort(), "by sandbox");
      eq(await ids({ id: running.slice(0, 12) }), [running], "by id prefix");
      eq(
        await ids({ podSandboxId: sb.id, state: { state: ContainerState.CONTAINER_RUNNING } }),
        [running],
        "by state RUNNING",
      );
      eq(await ids({ labelSelector: { ...ctx.runLabels, extra: "yes" } }), [created], "by labels");
    },
  },

  // stats ----------------------------------------------------------------------------------------
  {
    name: "stats/container",
    area: "stats",
    async run(ctx) {
      const sb = await ctx.runSandbox("stats");
      const id = await ctx.startedContainer(sb, "stats");
      const { stats } = await ctx.runtime.containerStats({ containerId: id });
      eq(stats?.attributes?.id, id, "stats.attributes.id");
      check((stats?.cpu?.timestamp ?? 0n) > 0n, "cpu stats need a timestamp");
      const list = await ctx.runtime.listContainerStats({ filter: { id } });
      eq(
        list.stats.map((s) => s.attributes?.id),
        [id],
        "ListContainerStats by id",
      );
    },
  },

  // events ---------------------------------------------------------------------------------------
  {
    name: "events/container-lifecycle",
    area: "events",
    async run(ctx) {
      const ac = new AbortController();
      const seen: { id: string; type: ContainerEventType }[] = [];
      const iterator = ctx.runtime.getContainerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
      // The first next() opens the stream; an UNIMPLEMENTED runtime fails it.
      let pending = iterator.next();
      const first = await Promise.race([pending, new Promise((r) => setTimeout(r, 200, "open"))]);
      let streamError: unknown;
      const collect = (async () => {
        let result =
          first === "open"
            ? await pending
            : (first as IteratorResult<{ containerId: string; containerEventType: ContainerEventType }>);
        while (!result.done) {
          seen.push({ id: result.value.containerId, type: result.value.containerEventType });
          pending = iterator.next();
          result = await pending;
        }
      })().catch((err: unknown) => {
        // Kept, not thrown: nobody awaits this promise until the end of the case.
        if (!ac.signal.aborted) streamError = err;
      });
      const sb = await ctx.runSandbox("events");
      const id = await ctx.startedContainer(sb, "events");
      await ctx.runtime.stopContainer({ containerId: id, timeout: 0n });
      await ctx.runtime.removeContainer({ containerId: id });
      try {
        await waitFor("the container's DELETED event", async () => {
          if (streamError) throw streamError;
          return seen.some((e) => e.id === id && e.type === ContainerEventType.CONTAINER_DELETED_EVENT)
            ? true
            : undefined;
        });
      } finally {
        ac.abort();
        await iterator.return?.();
        await collect;
      }
      eq(
        seen.filter((e) => e.id === id).map((e) => ContainerEventType[e.type]),
        ["CONTAINER_CREATED_EVENT", "CONTAINER_STARTED_EVENT", "CONTAINER_STOPPED_EVENT", "CONTAINER_DELETED_EVENT"],
        "events of one container",
      );
    },
  },
];

/** True when `err` says the runtime lacks an RPC. */
export function isUnsupported(err: unknown): boolean {
  return (err instanceof CriError && err.code === Code.Unimplemented) || err instanceof NotConfigured;
}
