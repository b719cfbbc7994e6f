import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import type { Readable } from "node:stream";
import {
  Code,
  type Container,
  ContainerConfig,
  type ContainerFilter,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  CriError,
  type DeepPartial,
  Image,
  ImageFsInfoResponse,
  type ImageService,
  NamespaceMode,
  normalizeImageRef,
  type PodSandbox,
  PodSandboxConfig,
  type PodSandboxFilter,
  PodSandboxState,
  PodSandboxStatusResponse,
  type RuntimeService,
  requireFields,
  Signal,
  StatusResponse,
} from "@nodekit/cri";

/** Options of {@link createHostProcessRuntime}. */
export interface HostProcessRuntimeOptions {
  /**
   * The images the shim knows (default `docker.io/library/busybox:latest`). They are names only:
   * every container runs a host command. All are present at start; PullImage brings back a removed
   * one and fails `NotFound` for any other reference.
   */
  images?: readonly string[];
  /** Folder for the per-container working directories (default: a new folder under the OS temp dir). */
  stateDir?: string;
}

/** The RPCs the host-process runtime implements; the server kit answers UNIMPLEMENTED for the rest. */
type RuntimeMethods =
  | "version"
  | "status"
  | "runPodSandbox"
  | "stopPodSandbox"
  | "removePodSandbox"
  | "podSandboxStatus"
  | "listPodSandbox"
  | "createContainer"
  | "startContainer"
  | "stopContainer"
  | "removeContainer"
  | "containerStatus"
  | "listContainers"
  | "execSync"
  | "containerStats"
  | "listContainerStats"
  | "updateRuntimeConfig";
type ImageMethods = "listImages" | "imageStatus" | "pullImage" | "removeImage" | "imageFsInfo";

/** A CRI runtime whose sandboxes are groups of host processes, as made by {@link createHostProcessRuntime}. */
export interface HostProcessRuntime extends Pick<RuntimeService, RuntimeMethods>, Pick<ImageService, ImageMethods> {
  /** Kills every container and exec process (whole process groups) and removes the state folder. */
  close(): Promise<void>;
}

interface SandboxRecord {
  id: string;
  config: PodSandboxConfig;
  state: PodSandboxState;
  createdAt: bigint;
  containers: Set<string>;
}

interface ContainerRecord {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  imageRef: string;
  state: ContainerState;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  cwd: string;
  env: Record<string, string>;
  logPath: string;
  /** Process (and process group) id while started. */
  pid?: number;
  /** Resolves once the process exited, its group is gone and its log is flushed. */
  exited?: Promise<void>;
  /** Process groups of the ExecSync commands running in it. */
  execs: Set<number>;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Longest log line written whole; longer ones are split into `P` (partial) entries, as containerd does. */
const MAX_LOG_LINE = 16 * 1024;
/** Output kept per ExecSync stream, so that the answer fits in a 16 MiB gRPC message. */
const MAX_EXEC_OUTPUT = 4 * 1024 * 1024;
/** Images have no content here; CRI clients expect a size > 0. */
const NOMINAL_IMAGE_SIZE = 1n;

/**
 * Creates a CRI runtime (RuntimeService and ImageService) where a pod sandbox is a group of host
 * child processes and a container is one host child process, in its own process group. Serve it
 * with `createCriServer({ runtime, image: runtime })`.
 *
 * Semantics follow containerd: CREATED → RUNNING → EXITED containers with nanosecond timestamps,
 * exit code `128 + signal` for a killed process, reasons `Completed`/`Error`, idempotent Stop and
 * Remove, NOT_FOUND for unknown ids, ids resolved by unique prefix. It is not an isolation
 * boundary: processes run as the shim's user, on the host's filesystem and network.
 *
 * @example
 * ```ts
 * const runtime = createHostProcessRuntime({ images: ["docker.io/library/busybox:latest"] });
 * const server = createCriServer({ runtime, image: runtime });
 * await server.listen("unix:///tmp/host-shim.sock");
 * // … later
 * await server.close();
 * await runtime.close();
 * ```
 */
export function createHostProcessRuntime(options: HostProcessRuntimeOptions = {}): HostProcessRuntime {
  const stateDir = mkdtempSync(join(options.stateDir ?? tmpdir(), "host-shim-"));
  const sandboxes = new Map<string, SandboxRecord>();
  const containers = new Map<string, ContainerRecord>();
  const names = new Map<string, string>();
  const known = new Map((options.images ?? ["docker.io/library/busybox:latest"]).map((r) => imageOf(r)));
  const present = new Set(known.keys());
  /** Every live process group we started; killed when the shim closes or its process exits. */
  const groups = new Set<number>();
  const killAll = (): void => {
    for (const pgid of groups) killGroup(pgid, "SIGKILL");
  };
  process.on("exit", killAll);

  const find = <T>(map: Map<string, T>, id: string, what: string, method: string): T | undefined => {
    const exact = map.get(id);
    if (exact || !id) return exact;
    const matches = [...map.keys()].filter((key) => key.startsWith(id));
    if (matches.length > 1)
      throw new CriError(Code.InvalidArgument, `${what} id prefix "${id}" is ambiguous`, { method });
    return matches[0] === undefined ? undefined : map.get(matches[0]);
  };
  const mustFind = <T>(map: Map<string, T>, id: string, what: string, method: string): T => {
    const found = find(map, id, what, method);
    if (!found) throw new CriError(Code.NotFound, `${what} "${id}" not found`, { method });
    return found;
  };
  const findImage = (ref: string): Image | undefined => {
    const wanted = ref.startsWith("sha256:") ? ref : normalizeImageRef(ref);
    for (const name of present) {
      const image = known.get(name)!;
      if (name === wanted || image.id === wanted) return image;
    }
    return undefined;
  };

  const start = async (c: ContainerRecord): Promise<void> => {
    const [command, ...args] = [...c.config.command, ...c.config.args];
    // Logs go where the kubelet asked (logDirectory/logPath); a relative path has no meaning here.
    const log = isAbsolute(c.logPath) ? openLog(c.logPath) : undefined;
    const child = spawn(command!, args, {
      cwd: c.cwd,
      env: c.env,
      detached: true,
      stdio: ["ignore", log ? "pipe" : "ignore", log ? "pipe" : "ignore"],
    });
    const failed = new Promise<Error>((resolve) => child.once("error", resolve));
    const pid = child.pid;
    if (pid === undefined) {
      const err = await failed;
      log?.end();
      // As containerd: a container that failed to start is EXITED with 128 and reason StartError.
      c.state = ContainerState.CONTAINER_EXITED;
      c.finishedAt = nowNs();
      c.exitCode = 128;
      c.reason = "StartError";
      c.message = err.message;
      throw new CriError(Code.Unknown, `failed to start container "${c.id}": ${err.message}`, {
        method: "StartContainer",
      });
    }
    groups.add(pid);
    c.pid = pid;
    c.state = ContainerState.CONTAINER_RUNNING;
    c.startedAt = nowNs();
    // When a container's first process dies, the rest of it goes too (as with a PID namespace).
    child.once("exit", () => killGroup(pid, "SIGKILL"));
    const streams = log ? [writeLog(child.stdout, "stdout", log), writeLog(child.stderr, "stderr", log)] : [];
    c.exited = new Promise((resolve) => {
      child.once("close", async (code: number | null, signal: NodeJS.Signals | null) => {
        groups.delete(pid);
        for (const exec of c.execs) killGroup(exec, "SIGKILL");
        await Promise.all(streams);
        if (log) await new Promise((done) => log.end(done));
        c.state = ContainerState.CONTAINER_EXITED;
        c.finishedAt = nowNs();
        c.exitCode = exitCodeOf(code, signal);
        c.reason = c.exitCode === 0 ? "Completed" : "Error";
        resolve();
      });
    });
  };

  /** Sends the stop signal to the container's process, then kills its group after `timeoutS`. */
  const stop = async (c: ContainerRecord, timeoutS: number): Promise<void> => {
    if (c.state !== ContainerState.CONTAINER_RUNNING || !c.exited || c.pid === undefined) return;
    if (timeoutS > 0) {
      const signal = c.config.stopSignal ? Signal[c.config.stopSignal].replace("SIGNAL_", "") : "SIGTERM";
      try {
        process.kill(c.pid, signal);
      } catch {
        // Already gone.
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutS * 1000)))]);
      clearTimeout(timer);
    }
    killGroup(c.pid, "SIGKILL");
    await c.exited;
  };

  const remove = async (c: ContainerRecord): Promise<void> => {
    await stop(c, 0);
    if (containers.get(c.id) !== c) return;
    containers.delete(c.id);
    sandboxes.get(c.sandboxId)?.containers.delete(c.id);
    for (const [key, id] of names) if (id === c.id) names.delete(key);
    if (!c.config.workingDir) rmSync(c.cwd, { recursive: true, force: true });
  };

  const containerStatus = (c: ContainerRecord): ContainerStatus =>
    ContainerStatus.fromPartial({
      ...pick(c, ["id", "state", "createdAt", "startedAt", "finishedAt", "exitCode", "reason", "message", "imageRef"]),
      ...pick(c.config, ["metadata", "image", "labels", "annotations", "mounts", "stopSignal"]),
      imageId: c.imageRef,
      logPath: c.logPath,
    });
  const containerItem = (c: ContainerRecord): Container => ({
    ...pick(c, ["id", "state", "createdAt", "imageRef"]),
    ...pick(c.config, ["metadata", "image", "labels", "annotations"]),
    podSandboxId: c.sandboxId,
    imageId: c.imageRef,
  });
  const sandboxItem = (s: SandboxRecord): PodSandbox => ({
    ...pick(s, ["id", "state", "createdAt"]),
    ...pick(s.config, ["metadata", "labels", "annotations"]),
    runtimeHandler: "",
  });
  const listContainerRecords = (filter: DeepPartial<ContainerFilter> | undefined): ContainerRecord[] =>
    [...containers.values()].filter(
      (c) =>
        c.id.startsWith(filter?.id ?? "") &&
        c.sandboxId.startsWith(filter?.podSandboxId ?? "") &&
        (!filter?.state || c.state === (filter.state.state ?? ContainerState.CONTAINER_CREATED)) &&
        labelsMatch(c.config.labels, filter?.labelSelector),
    );
  const listSandboxes = (filter: DeepPartial<PodSandboxFilter> | undefined): PodSandbox[] =>
    [...sandboxes.values()]
      .filter(
        (s) =>
          s.id.startsWith(filter?.id ?? "") &&
          (!filter?.state || s.state === (filter.state.state ?? PodSandboxState.SANDBOX_READY)) &&
          labelsMatch(s.config.labels, filter?.labelSelector),
      )
      .map(sandboxItem);
  const statsOf = async (c: ContainerRecord): Promise<ContainerStats> => {
    const timestamp = nowNs();
    const cpuNs = c.state === ContainerState.CONTAINER_RUNNING && c.pid ? await cpuTimeNs(c.pid) : 0n;
    return ContainerStats.fromPartial({
      attributes: { id: c.id, ...pick(c.config, ["metadata", "labels", "annotations"]) },
      cpu: { timestamp, usageCoreNanoSeconds: { value: cpuNs } },
      memory: { timestamp, workingSetBytes: { value: 0n } },
    });
  };

  return {
    async version() {
      return { version: "0.1.0", runtimeName: "host-process-shim", runtimeVersion: "0.1.0", runtimeApiVersion: "v1" };
    },
    async status() {
      const ready = (type: string) => ({ type, status: true });
      return StatusResponse.fromPartial({ status: { conditions: [ready("RuntimeReady"), ready("NetworkReady")] } });
    },
    async updateRuntimeConfig() {
      return {};
    },

    async runPodSandbox(request) {
      requireFields("RunPodSandbox", request, [
        "config.metadata.name",
        "config.metadata.namespace",
        "config.metadata.uid",
      ]);
      const config = PodSandboxConfig.fromPartial(request.config!);
      const { name, namespace, uid, attempt } = config.metadata!;
      const key = `sandbox/${name}_${namespace}_${uid}_${attempt}`;
      const id = newId();
      reserve(names, key, id, "RunPodSandbox");
      const state = PodSandboxState.SANDBOX_READY;
      sandboxes.set(id, { id, config, state, createdAt: nowNs(), containers: new Set() });
      return { podSandboxId: id };
    },
    async stopPodSandbox(request) {
      requireFields("StopPodSandbox", request, ["podSandboxId"]);
      const s = mustFind(sandboxes, request.podSandboxId!, "sandbox", "StopPodSandbox");
      await Promise.all([...s.containers].map((id) => stop(containers.get(id)!, 0)));
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      return {};
    },
    async removePodSandbox(request) {
      requireFields("RemovePodSandbox", request, ["podSandboxId"]);
      const s = find(sandboxes, request.podSandboxId!, "sandbox", "RemovePodSandbox");
      if (!s) return {};
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      await Promise.all([...s.containers].map((id) => remove(containers.get(id)!)));
      sandboxes.delete(s.id);
      for (const [key, id] of names) if (id === s.id) names.delete(key);
      return {};
    },
    async podSandboxStatus(request) {
      requireFields("PodSandboxStatus", request, ["podSandboxId"]);
      const s = mustFind(sandboxes, request.podSandboxId!, "sandbox", "PodSandboxStatus");
      const node = NamespaceMode.NODE;
      return PodSandboxStatusResponse.fromPartial({
        status: {
          ...sandboxItem(s),
          network: { ip: "" }, // host network: no pod IP of its own
          linux: { namespaces: { options: { network: node, pid: node, ipc: node } } },
        },
        timestamp: nowNs(),
      });
    },
    async listPodSandbox(request) {
      return { items: listSandboxes(request.filter) };
    },

    async createContainer(request) {
      requireFields("CreateContainer", request, ["podSandboxId", "config.metadata.name", "config.image.image"]);
      const s = mustFind(sandboxes, request.podSandboxId!, "sandbox", "CreateContainer");
      if (s.state !== PodSandboxState.SANDBOX_READY) {
        throw new CriError(Code.FailedPrecondition, `sandbox "${s.id}" is not ready`, { method: "CreateContainer" });
      }
      const config = ContainerConfig.fromPartial(request.config!);
      const image = findImage(config.image!.image);
      if (!image) {
        throw new CriError(Code.NotFound, `image "${config.image!.image}" not found`, { method: "CreateContainer" });
      }
      if (config.command.length + config.args.length === 0) {
        throw new CriError(Code.InvalidArgument, "config.command is required (host processes have no entrypoint)", {
          method: "CreateContainer",
        });
      }
      const id = newId();
      reserve(names, `container/${s.id}/${config.metadata!.name}_${config.metadata!.attempt}`, id, "CreateContainer");
      const cwd = config.workingDir || join(stateDir, id);
      if (!config.workingDir) mkdirSync(cwd);
      const env: Record<string, string> = { PATH: DEFAULT_PATH };
      for (const { key, value } of config.envs) env[key] = String(value);
      containers.set(id, {
        ...{ id, sandboxId: s.id, config, imageRef: image.id, state: ContainerState.CONTAINER_CREATED },
        ...{ createdAt: nowNs(), startedAt: 0n, finishedAt: 0n, exitCode: 0, reason: "", message: "" },
        ...{ cwd, env, logPath: joinLogPath(s.config, config), execs: new Set() },
      });
      s.containers.add(id);
      return { containerId: id };
    },
    async startContainer(request) {
      requireFields("StartContainer", request, ["containerId"]);
      const c = mustFind(containers, request.containerId!, "container", "StartContainer");
      if (c.state !== ContainerState.CONTAINER_CREATED) {
        throw new CriError(Code.FailedPrecondition, `container "${c.id}" is ${ContainerState[c.state]}`, {
          method: "StartContainer",
        });
      }
      if (sandboxes.get(c.sandboxId)?.state !== PodSandboxState.SANDBOX_READY) {
        throw new CriError(Code.FailedPrecondition, `sandbox "${c.sandboxId}" is not ready`, {
          method: "StartContainer",
        });
      }
      await start(c);
      return {};
    },
    async stopContainer(request) {
      requireFields("StopContainer", request, ["containerId"]);
      const c = mustFind(containers, request.containerId!, "container", "StopContainer");
      await stop(c, Number(request.timeout ?? 0n));
      return {};
    },
    async removeContainer(request) {
      requireFields("RemoveContainer", request, ["containerId"]);
      const c = find(containers, request.containerId!, "container", "RemoveContainer");
      if (c) await remove(c);
      return {};
    },
    async containerStatus(request) {
      requireFields("ContainerStatus", request, ["containerId"]);
      const c = mustFind(containers, request.containerId!, "container", "ContainerStatus");
      const info: Record<string, string> = request.verbose && c.pid ? { pid: String(c.pid) } : {};
      return { status: containerStatus(c), info };
    },
    async listContainers(request) {
      return { containers: listContainerRecords(request.filter).map(containerItem) };
    },

    async execSync(request, callOptions) {
      requireFields("ExecSync", request, ["containerId", "cmd"]);
      const c = mustFind(containers, request.containerId!, "container", "ExecSync");
      if (c.state !== ContainerState.CONTAINER_RUNNING) {
        throw new CriError(Code.FailedPrecondition, `container "${c.id}" is ${ContainerState[c.state]}, not running`, {
          method: "ExecSync",
        });
      }
      const [command, ...args] = (request.cmd ?? []).map(String);
      const child = spawn(command!, args, {
        cwd: c.cwd,
        env: c.env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const failed = new Promise<Error>((resolve) => child.once("error", resolve));
      const pid = child.pid;
      if (pid === undefined) {
        throw new CriError(Code.Unknown, `failed to exec in container: ${(await failed).message}`, {
          method: "ExecSync",
        });
      }
      groups.add(pid);
      c.execs.add(pid);
      const stdout = collect(child.stdout);
      const stderr = collect(child.stderr);
      const timeoutS = Number(request.timeout ?? 0n);
      let timedOut = false;
      const onTimeout = (): void => {
        timedOut = true;
        killGroup(pid, "SIGKILL");
      };
      const timer = timeoutS > 0 ? setTimeout(onTimeout, timeoutS * 1000) : undefined;
      const onAbort = (): void => killGroup(pid, "SIGKILL");
      callOptions?.signal?.addEventListener("abort", onAbort, { once: true });
      child.once("exit", () => killGroup(pid, "SIGKILL"));
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.once("close", (...result) => resolve(result)),
      );
      clearTimeout(timer);
      callOptions?.signal?.removeEventListener("abort", onAbort);
      groups.delete(pid);
      c.execs.delete(pid);
      if (timedOut) {
        throw new CriError(
          Code.DeadlineExceeded,
          `command ${JSON.stringify([command, ...args])} timed out after ${timeoutS}s`,
          {
            method: "ExecSync",
          },
        );
      }
      return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exitCode: exitCodeOf(code, signal) };
    },

    async containerStats(request) {
      requireFields("ContainerStats", request, ["containerId"]);
      return { stats: await statsOf(mustFind(containers, request.containerId!, "container", "ContainerStats")) };
    },
    async listContainerStats(request) {
      const running = listContainerRecords({ ...request.filter, state: { state: ContainerState.CONTAINER_RUNNING } });
      return { stats: await Promise.all(running.map(statsOf)) };
    },

    async listImages(request) {
      const ref = request.filter?.image?.image;
      const images = ref ? [findImage(ref)] : [...present].map((name) => known.get(name));
      return { images: images.filter((i) => i !== undefined) };
    },
    async imageStatus(request) {
      requireFields("ImageStatus", request, ["image.image"]);
      return { image: findImage(request.image!.image!), info: {} };
    },
    async pullImage(request) {
      requireFields("PullImage", request, ["image.image"]);
      const ref = normalizeImageRef(request.image!.image!);
      const image = known.get(ref);
      if (!image) {
        throw new CriError(
          Code.NotFound,
          `failed to pull image "${ref}": not found (the shim only knows its configured images)`,
          {
            method: "PullImage",
          },
        );
      }
      present.add(ref);
      return { imageRef: image.id };
    },
    async removeImage(request) {
      requireFields("RemoveImage", request, ["image.image"]);
      const image = findImage(request.image!.image!);
      if (image) present.delete(image.repoTags[0]!);
      return {};
    },
    async imageFsInfo() {
      const usage = { timestamp: nowNs(), fsId: { mountpoint: stateDir }, usedBytes: { value: 0n } };
      return ImageFsInfoResponse.fromPartial({ imageFilesystems: [usage], containerFilesystems: [usage] });
    },

    async close() {
      killAll();
      await Promise.all([...containers.values()].map((c) => c.exited));
      process.off("exit", killAll);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

// --- helpers -------------------------------------------------------------------------------------

function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
}

function newId(): string {
  return randomBytes(32).toString("hex");
}

function imageOf(ref: string): [string, Image] {
  const name = normalizeImageRef(ref);
  const id = `sha256:${createHash("sha256").update(name).digest("hex")}`;
  return [name, Image.fromPartial({ id, repoTags: [name], size: NOMINAL_IMAGE_SIZE })];
}

function reserve(names: Map<string, string>, key: string, id: string, method: string): void {
  const holder = names.get(key);
  if (holder) throw new CriError(Code.AlreadyExists, `name "${key}" is reserved for "${holder}"`, { method });
  names.set(key, id);
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

function labelsMatch(
  labels: Record<string, string>,
  selector: Record<string, string | undefined> | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

function joinLogPath(sandbox: PodSandboxConfig | undefined, config: ContainerConfig): string {
  if (!config.logPath) return "";
  return sandbox?.logDirectory ? join(sandbox.logDirectory, config.logPath) : config.logPath;
}

/** `128 + n` for a process killed by signal n, as shells and containerd report it. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? constants.signals[signal] : 0);
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is gone already.
  }
}

function openLog(path: string): WriteStream {
  mkdirSync(dirname(path), { recursive: true });
  const log = createWriteStream(path, { flags: "a" });
  log.on("error", () => undefined); // a full disk must not take the shim down
  return log;
}

/** Copies a stream into a CRI log: `<RFC3339Nano> <stream> <F|P> <line>` per line. */
function writeLog(stream: Readable | null, name: "stdout" | "stderr", log: WriteStream): Promise<void> {
  if (!stream) return Promise.resolve();
  let pending = "";
  const write = (tag: "F" | "P", line: string): void => void log.write(`${rfc3339Nano()} ${name} ${tag} ${line}\n`);
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop()!;
    for (const line of lines) write("F", line);
    while (pending.length >= MAX_LOG_LINE) {
      write("P", pending.slice(0, MAX_LOG_LINE));
      pending = pending.slice(MAX_LOG_LINE);
    }
  });
  return new Promise((resolve) =>
    stream.once("close", () => {
      if (pending) write("F", pending);
      resolve();
    }),
  );
}

function rfc3339Nano(): string {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  const subMs = Math.min(999_999, Math.round((ms - whole) * 1e6));
  return `${new Date(whole).toISOString().slice(0, 23)}${String(subMs).padStart(6, "0")}Z`;
}

function collect(stream: Readable | null): Buffer[] {
  const chunks: Buffer[] = [];
  let size = 0;
  stream?.on("data", (chunk: Buffer) => {
    if (size < MAX_EXEC_OUTPUT) chunks.push(chunk.subarray(0, MAX_EXEC_OUTPUT - size));
    size += chunk.length;
  });
  return chunks;
}

/** CPU time of a process and its reaped children (utime+stime+cutime+cstime), from /proc/<pid>/stat. */
async function cpuTimeNs(pid: number): Promise<bigint> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Fields after the `(comm)`, which may hold spaces; utime is field 14, i.e. index 11 here.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + BigInt(fields[i] ?? 0), 0n);
  return ticks * 10_000_000n; // USER_HZ is 100 on Linux: one tick is 10 ms
}
