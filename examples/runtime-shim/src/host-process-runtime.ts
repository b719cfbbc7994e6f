import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  accessSync,
  createWriteStream,
  constants as fsConstants,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  type WriteStream,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  Code,
  type Container,
  ContainerConfig,
  type ContainerFilter,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  CriError,
  createStreamingServer,
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
  type StreamingServer,
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
  | "exec"
  | "containerStats"
  | "listContainerStats"
  | "updateRuntimeConfig";
type ImageMethods = "listImages" | "imageStatus" | "pullImage" | "removeImage" | "imageFsInfo";

/** A CRI runtime whose sandboxes are groups of host processes, as made by {@link createHostProcessRuntime}. */
export interface HostProcessRuntime extends Pick<RuntimeService, RuntimeMethods>, Pick<ImageService, ImageMethods> {
  /**
   * Kills every container (whole PID namespaces) and exec process, resolves once every process
   * the shim started is reaped, and removes the state folder.
   */
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
  /** Host pid of the container's process (a child of the init of its PID namespace) once started. */
  pid?: number;
  /** Settles once StartContainer has either started the process or failed. */
  starting?: Promise<void>;
  /**
   * Resolves once the container's PID namespace is gone (every process in it reaped) and its log
   * is flushed.
   */
  exited?: Promise<void>;
  /** Set when the namespace is gone (before the log is flushed): nothing left to signal. */
  gone?: boolean;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Longest log line written whole; longer ones are split into `P` (partial) entries, as containerd does. */
const MAX_LOG_LINE = 16 * 1024;
/** Output kept per ExecSync stream, so that the answer fits in a 16 MiB gRPC message. */
const MAX_EXEC_OUTPUT = 4 * 1024 * 1024;
/** Images have no content here; CRI clients expect a size > 0. */
const NOMINAL_IMAGE_SIZE = 1n;

/**
 * The init of a container's PID namespace (`sh -c INIT init <env> <command> <args>…`), as
 * `docker run --init`: it starts the command as its child, reports the child's host pid on fd 3,
 * reaps every orphan of the namespace and exits with the command's status (`128 + n` for signal
 * n). When it exits the kernel kills the rest of the namespace and reaps it before `unshare`, the
 * shim's child, can exit. The command is not PID 1, so signals it does not handle act as on the
 * host; `env --default-signal` undoes the SIGINT/SIGQUIT a shell ignores in background jobs.
 * `/proc` is the host's, so `/proc/self/stat` names the host pid.
 */
const INIT = [
  "env=$1; shift",
  '{ read -r pid _ </proc/self/stat; echo "$pid" >&3; exec 3>&-; exec "$env" --default-signal -- "$@"; } &',
  "exec 3>&-",
  'wait "$!"',
].join("\n");

/**
 * Creates a CRI runtime (RuntimeService and ImageService) where a pod sandbox is a group of host
 * child processes and a container is one host process, in a PID namespace of its own (so that
 * everything it starts ends, and is reaped, with it). Serve it with
 * `createCriServer({ runtime, image: runtime })`. Needs util-linux `unshare`/`nsenter` and
 * coreutils `env` ≥ 8.31; without root, it uses a user namespace mapping the user to itself.
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
  const tools = hostTools();
  /** Every live process group we started, for the shim's own exit (when nothing can be awaited). */
  const groups = new Set<number>();
  const killAll = (): void => {
    for (const pgid of groups) killGroup(pgid, "SIGKILL");
  };
  process.on("exit", killAll);
  /** Every exec process (ExecSync and streaming Exec), with what resolves once it and its group are reaped. */
  const execs = new Map<ChildProcess, Promise<void>>();
  /** Serves the URLs that Exec hands out; started on the first Exec. */
  let streaming: Promise<StreamingServer> | undefined;

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
  /** The containers of a sandbox (every id in its set is one of `containers`). */
  const sandboxContainers = (s: SandboxRecord): ContainerRecord[] =>
    [...s.containers].flatMap((id) => containers.get(id) ?? []);
  const findImage = (ref: string): Image | undefined => {
    const wanted = ref.startsWith("sha256:") ? ref : normalizeImageRef(ref);
    for (const name of present) {
      const image = known.get(name); // every present name is a known image
      if (image && (name === wanted || image.id === wanted)) return image;
    }
    return undefined;
  };

  /** The running container an exec goes into, with its command found on the container's PATH. */
  const execTarget = (id: string, cmd: readonly unknown[] | undefined, method: string): ContainerRecord => {
    const c = mustFind(containers, id, "container", method);
    if (c.state !== ContainerState.CONTAINER_RUNNING) {
      throw new CriError(Code.FailedPrecondition, `container "${c.id}" is ${ContainerState[c.state]}, not running`, {
        method,
      });
    }
    const command = String(cmd?.[0] ?? "");
    if (!findExecutable(command, c.env.PATH ?? "", c.cwd)) {
      throw new CriError(
        Code.Unknown,
        `failed to exec in container: "${command}": executable file not found in $PATH`,
        {
          method,
        },
      );
    }
    return c;
  };
  /** Starts `cmd` in the container's PID namespace, so that what it leaves behind ends with the container. */
  const spawnExec = async (
    c: ContainerRecord,
    cmd: readonly string[],
    stdin: "pipe" | "ignore",
    method: string,
  ): Promise<{ child: ChildProcess; pid: number; stdout: Readable; stderr: Readable }> => {
    const child = spawn(
      tools.nsenter,
      ["--target", String(c.pid), ...tools.nsenterUserns, "--pid", "--", tools.env, "--default-signal", "--", ...cmd],
      { cwd: c.cwd, env: c.env, detached: true, stdio: [stdin, "pipe", "pipe"] },
    );
    const failed = new Promise<Error>((resolve) => child.once("error", resolve));
    const pid = child.pid;
    if (pid === undefined) {
      throw new CriError(Code.Unknown, `failed to exec in container: ${(await failed).message}`, { method });
    }
    groups.add(pid);
    child.once("exit", () => {
      // What is left of its group; the namespace's init reaps them.
      killGroup(pid, "SIGKILL");
      groups.delete(pid);
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    execs.set(child, closed);
    void closed.then(() => execs.delete(child));
    // Piped stdout and stderr are always there.
    const { stdout, stderr } = child;
    if (!stdout || !stderr)
      throw new CriError(Code.Unknown, "failed to exec in container: no output pipes", { method });
    return { child, pid, stdout, stderr };
  };

  const startFailed = (c: ContainerRecord, message: string): CriError => {
    // As containerd: a container that failed to start is EXITED with 128 and reason StartError.
    c.state = ContainerState.CONTAINER_EXITED;
    c.finishedAt = nowNs();
    c.exitCode = 128;
    c.reason = "StartError";
    c.message = message;
    return new CriError(Code.Unknown, `failed to start container "${c.id}": ${message}`, { method: "StartContainer" });
  };

  /**
   * Starts the container in a PID namespace of its own (`unshare --pid --fork`, see {@link INIT}),
   * so that everything it starts, whatever its process group or session, ends with it and is
   * reaped before the shim's child exits.
   */
  const start = async (c: ContainerRecord): Promise<void> => {
    // CreateContainer refused a container without a command.
    const [command = "", ...args] = [...c.config.command, ...c.config.args];
    if (!findExecutable(command, c.env.PATH ?? "", c.cwd)) {
      throw startFailed(c, `exec: "${command}": executable file not found in $PATH`);
    }
    // Logs go where the kubelet asked (logDirectory/logPath); a relative path has no meaning here.
    const log = isAbsolute(c.logPath) ? openLog(c.logPath) : undefined;
    const child = spawn(
      tools.unshare,
      [
        ...tools.userns,
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        tools.sh,
        "-c",
        INIT,
        "init",
        tools.env,
        command,
        ...args,
      ],
      {
        cwd: c.cwd,
        env: c.env,
        detached: true,
        stdio: ["ignore", log ? "pipe" : "ignore", log ? "pipe" : "ignore", "pipe"],
      },
    );
    const failed = new Promise<Error>((resolve) => child.once("error", resolve));
    if (child.pid === undefined) {
      const err = await failed;
      log?.end();
      throw startFailed(c, err.message);
    }
    const shimPid = child.pid;
    groups.add(shimPid);
    child.once("exit", () => {
      c.gone = true;
      groups.delete(shimPid);
    });
    const streams = log ? [writeLog(child.stdout, "stdout", log), writeLog(child.stderr, "stderr", log)] : [];
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once("close", async (code: number | null, signal: NodeJS.Signals | null) => {
        await Promise.all(streams);
        if (log) await new Promise((done) => log.end(done));
        resolve([code, signal]);
      }),
    );
    const pid = await hostPidFrom(child.stdio[3] as Readable);
    if (pid === undefined) {
      // The init never started the command (unshare refused, say): nothing ran.
      const [code, signal] = await closed;
      throw startFailed(c, `the container's PID namespace did not start (unshare exit ${exitCodeOf(code, signal)})`);
    }
    c.pid = pid;
    c.state = ContainerState.CONTAINER_RUNNING;
    c.startedAt = nowNs();
    c.exited = closed.then(([code, signal]) => {
      c.state = ContainerState.CONTAINER_EXITED;
      c.finishedAt = nowNs();
      c.exitCode = exitCodeOf(code, signal);
      c.reason = c.exitCode === 0 ? "Completed" : "Error";
    });
  };

  /**
   * Sends the stop signal to the container's process, then SIGKILL after `timeoutS` (at once for 0),
   * and resolves once its PID namespace is gone: when the process dies, its init exits and the
   * kernel kills and reaps the rest.
   */
  const stop = async (c: ContainerRecord, timeoutS: number): Promise<void> => {
    await c.starting?.catch(() => undefined); // a container being started is stopped once it runs
    const pid = c.pid;
    if (c.state !== ContainerState.CONTAINER_RUNNING || !c.exited || pid === undefined) return;
    const signal = (name: NodeJS.Signals): void => {
      if (c.gone) return; // the pid may be reused once the namespace is gone
      try {
        process.kill(pid, name);
      } catch {
        // Already gone.
      }
    };
    if (timeoutS > 0) {
      signal(c.config.stopSignal ? (Signal[c.config.stopSignal].replace("SIGNAL_", "") as NodeJS.Signals) : "SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutS * 1000)))]);
      clearTimeout(timer);
    }
    signal("SIGKILL");
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
      // requireFields checked the metadata; a missing message or field decodes as its default.
      const config = PodSandboxConfig.fromPartial(request.config ?? {});
      const { name, namespace, uid, attempt } = config.metadata ?? { name: "", namespace: "", uid: "", attempt: 0 };
      const key = `sandbox/${name}_${namespace}_${uid}_${attempt}`;
      const id = newId();
      reserve(names, key, id, "RunPodSandbox");
      const state = PodSandboxState.SANDBOX_READY;
      sandboxes.set(id, { id, config, state, createdAt: nowNs(), containers: new Set() });
      return { podSandboxId: id };
    },
    async stopPodSandbox(request) {
      requireFields("StopPodSandbox", request, ["podSandboxId"]);
      const s = mustFind(sandboxes, request.podSandboxId ?? "", "sandbox", "StopPodSandbox");
      await Promise.all(sandboxContainers(s).map((c) => stop(c, 0)));
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      return {};
    },
    async removePodSandbox(request) {
      requireFields("RemovePodSandbox", request, ["podSandboxId"]);
      const s = find(sandboxes, request.podSandboxId ?? "", "sandbox", "RemovePodSandbox");
      if (!s) return {};
      s.state = PodSandboxState.SANDBOX_NOTREADY;
      await Promise.all(sandboxContainers(s).map(remove));
      sandboxes.delete(s.id);
      for (const [key, id] of names) if (id === s.id) names.delete(key);
      return {};
    },
    async podSandboxStatus(request) {
      requireFields("PodSandboxStatus", request, ["podSandboxId"]);
      const s = mustFind(sandboxes, request.podSandboxId ?? "", "sandbox", "PodSandboxStatus");
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
      const s = mustFind(sandboxes, request.podSandboxId ?? "", "sandbox", "CreateContainer");
      if (s.state !== PodSandboxState.SANDBOX_READY) {
        throw new CriError(Code.FailedPrecondition, `sandbox "${s.id}" is not ready`, { method: "CreateContainer" });
      }
      const config = ContainerConfig.fromPartial(request.config ?? {});
      const ref = config.image?.image ?? "";
      const image = findImage(ref);
      if (!image) {
        throw new CriError(Code.NotFound, `image "${ref}" not found`, { method: "CreateContainer" });
      }
      if (config.command.length + config.args.length === 0) {
        throw new CriError(Code.InvalidArgument, "config.command is required (host processes have no entrypoint)", {
          method: "CreateContainer",
        });
      }
      const id = newId();
      reserve(names, `container/${s.id}/${config.metadata?.name}_${config.metadata?.attempt}`, id, "CreateContainer");
      const cwd = config.workingDir || join(stateDir, id);
      if (!config.workingDir) mkdirSync(cwd);
      const env: Record<string, string> = { PATH: DEFAULT_PATH };
      for (const { key, value } of config.envs) env[key] = String(value);
      containers.set(id, {
        ...{ id, sandboxId: s.id, config, imageRef: image.id, state: ContainerState.CONTAINER_CREATED },
        ...{ createdAt: nowNs(), startedAt: 0n, finishedAt: 0n, exitCode: 0, reason: "", message: "" },
        ...{ cwd, env, logPath: joinLogPath(s.config, config) },
      });
      s.containers.add(id);
      return { containerId: id };
    },
    async startContainer(request) {
      requireFields("StartContainer", request, ["containerId"]);
      const c = mustFind(containers, request.containerId ?? "", "container", "StartContainer");
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
      c.starting = start(c);
      await c.starting;
      return {};
    },
    async stopContainer(request) {
      requireFields("StopContainer", request, ["containerId"]);
      const c = mustFind(containers, request.containerId ?? "", "container", "StopContainer");
      await stop(c, Number(request.timeout ?? 0n));
      return {};
    },
    async removeContainer(request) {
      requireFields("RemoveContainer", request, ["containerId"]);
      const c = find(containers, request.containerId ?? "", "container", "RemoveContainer");
      if (c) await remove(c);
      return {};
    },
    async containerStatus(request) {
      requireFields("ContainerStatus", request, ["containerId"]);
      const c = mustFind(containers, request.containerId ?? "", "container", "ContainerStatus");
      const info: Record<string, string> = request.verbose && c.pid ? { pid: String(c.pid) } : {};
      return { status: containerStatus(c), info };
    },
    async listContainers(request) {
      return { containers: listContainerRecords(request.filter).map(containerItem) };
    },

    async execSync(request, callOptions) {
      requireFields("ExecSync", request, ["containerId", "cmd"]);
      const c = execTarget(request.containerId ?? "", request.cmd, "ExecSync");
      const cmd = (request.cmd ?? []).map(String);
      const { child, pid, ...pipes } = await spawnExec(c, cmd, "ignore", "ExecSync");
      const stdout = collect(pipes.stdout);
      const stderr = collect(pipes.stderr);
      const timeoutS = Number(request.timeout ?? 0n);
      let timedOut = false;
      const onTimeout = (): void => {
        timedOut = true;
        killGroup(pid, "SIGKILL");
      };
      const timer = timeoutS > 0 ? setTimeout(onTimeout, timeoutS * 1000) : undefined;
      const onAbort = (): void => killGroup(pid, "SIGKILL");
      callOptions?.signal?.addEventListener("abort", onAbort, { once: true });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.once("close", (...result) => resolve(result)),
      );
      clearTimeout(timer);
      callOptions?.signal?.removeEventListener("abort", onAbort);
      if (timedOut) {
        throw new CriError(Code.DeadlineExceeded, `command ${JSON.stringify(cmd)} timed out after ${timeoutS}s`, {
          method: "ExecSync",
        });
      }
      return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exitCode: exitCodeOf(code, signal) };
    },

    async exec(request) {
      requireFields("Exec", request, ["containerId", "cmd"]);
      const c = execTarget(request.containerId ?? "", request.cmd, "Exec");
      if (request.tty) {
        // A terminal needs a pseudo-terminal pair, which Node cannot open without a native module.
        throw new CriError(Code.Unimplemented, "the host-process shim has no TTY support", { method: "Exec" });
      }
      streaming ??= (async () => {
        const server = createStreamingServer({
          // Runs the command as ExecSync does, with the client's streams as its stdio.
          async exec(req, { stdin, stdout, stderr, signal }) {
            const target = execTarget(req.containerId, req.cmd, "Exec");
            const { child, pid, ...pipes } = await spawnExec(target, req.cmd, stdin ? "pipe" : "ignore", "Exec");
            const onAbort = (): void => killGroup(pid, "SIGKILL");
            signal.addEventListener("abort", onAbort, { once: true });
            if (stdin && child.stdin) void pipeline(stdin, child.stdin).catch(() => {});
            const copies = [
              stdout ? pipeline(pipes.stdout, stdout, { end: false }) : pipes.stdout.resume(),
              stderr ? pipeline(pipes.stderr, stderr, { end: false }) : pipes.stderr.resume(),
            ];
            const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
              child.once("close", (...result) => resolve(result)),
            );
            await Promise.allSettled(copies);
            signal.removeEventListener("abort", onAbort);
            return exitCodeOf(code, sig);
          },
        });
        await server.start();
        return server;
      })();
      return (await streaming).getExec({
        containerId: c.id,
        cmd: (request.cmd ?? []).map(String),
        tty: false,
        stdin: request.stdin === true,
        stdout: request.stdout === true,
        stderr: request.stderr === true,
      });
    },

    async containerStats(request) {
      requireFields("ContainerStats", request, ["containerId"]);
      return { stats: await statsOf(mustFind(containers, request.containerId ?? "", "container", "ContainerStats")) };
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
      return { image: findImage(request.image?.image ?? ""), info: {} };
    },
    async pullImage(request) {
      requireFields("PullImage", request, ["image.image"]);
      const ref = normalizeImageRef(request.image?.image ?? "");
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
      const image = findImage(request.image?.image ?? "");
      const tag = image?.repoTags[0];
      if (tag !== undefined) present.delete(tag);
      return {};
    },
    async imageFsInfo() {
      const usage = { timestamp: nowNs(), fsId: { mountpoint: stateDir }, usedBytes: { value: 0n } };
      return ImageFsInfoResponse.fromPartial({ imageFilesystems: [usage], containerFilesystems: [usage] });
    },

    async close() {
      const started = streaming;
      streaming = undefined;
      if (started) await (await started).close();
      // Every container's namespace, which takes its exec processes with it; then any exec left.
      await Promise.all([...containers.values()].map((c) => stop(c, 0)));
      for (const child of execs.keys()) if (child.pid) killGroup(child.pid, "SIGKILL");
      await Promise.all(execs.values());
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

/** The host tools a container runs with (util-linux `unshare`/`nsenter`, coreutils `env` ≥ 8.31, `sh`). */
function hostTools() {
  const path = process.env.PATH || DEFAULT_PATH;
  const find = (name: string): string => {
    const found = findExecutable(name, path, "/");
    if (!found) throw new Error(`the host-process runtime needs ${name} on the PATH`);
    return found;
  };
  // Without root, a user namespace where the user is itself gives the right to make PID namespaces.
  const root = process.getuid?.() === 0;
  return {
    ...{ unshare: find("unshare"), nsenter: find("nsenter"), env: find("env"), sh: find("sh") },
    userns: root ? [] : ["--map-current-user"],
    nsenterUserns: root ? [] : ["--user", "--preserve-credentials"],
  };
}

/** The file `execvp` would run for `command`: a path (relative to `cwd`) or a search of `path`. */
function findExecutable(command: string, path: string, cwd: string): string | undefined {
  const candidates = command.includes("/")
    ? [resolve(cwd, command)]
    : path.split(delimiter).map((dir) => resolve(cwd, dir || ".", command));
  return candidates.find((file) => {
    try {
      accessSync(file, fsConstants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** Reads the host pid the container's init reports on fd 3; undefined if it exits first. */
function hostPidFrom(stream: Readable): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = "";
    stream.setEncoding("utf8");
    const done = (): void => {
      stream.destroy();
      const pid = Number.parseInt(text, 10);
      resolve(text.includes("\n") && pid > 0 ? pid : undefined);
    };
    stream.on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\n")) done();
    });
    stream.once("close", done);
  });
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
    pending = lines.pop() ?? ""; // split gives at least one part
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
