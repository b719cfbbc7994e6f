/**
 * Test harness: a private, throw-away containerd (with its built-in CRI plugin)
 * on its own socket, state folder, runc root, CNI network and cgroup parent,
 * with two local busybox-based images imported into the `k8s.io` namespace.
 *
 * Written for containerd 1.6 (Debian 12) on a root-only VM without systemd;
 * see shared/recipes/containerd/README.md for the reasons behind the settings.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe } from "vitest";

/** A running (or stopped, not yet disposed) private containerd. */
export interface ContainerdHarness {
  /** gRPC target of the CRI services, `unix:///<dir>/containerd.sock`. */
  readonly endpoint: string;
  /** Absolute path of containerd's gRPC unix socket. */
  readonly socketPath: string;
  /** Scratch folder holding config, state, root, runc root, CNI config and logs. */
  readonly dir: string;
  /** Unique cgroup parent (cgroupfs driver), e.g. `/nodekit-1a2b3c4d`; put sandboxes under `${cgroupParent}/pod<uid>`. */
  readonly cgroupParent: string;
  /** The configured sandbox (pause) image, `local.test/pause:busybox`. */
  readonly pauseImage: string;
  /** A general purpose busybox image, `local.test/busybox:latest`. */
  readonly busyboxImage: string;
  /** A third image, "local.test/extra:latest" (busybox with another config), free to remove. */
  readonly extraImage: string;
  /** host-local range of this instance's CNI bridge network, e.g. `10.222.7.0/24`. */
  readonly podSubnet: string;
  /** containerd's pid while it runs, else `undefined`. */
  readonly pid: number | undefined;
  /**
   * (Re)starts containerd on the same folder, socket and config. Resolves once the
   * socket answers `ctr version` (30 s cap). No-op while running.
   */
  start(): Promise<void>;
  /** Kills containerd (default `SIGKILL`) and resolves once it has exited; pods and shims stay. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Full teardown: removes all pods and containers, stops containerd, kills leftover
   * shims, unmounts everything under {@link dir}, deletes the bridge link, the cgroups
   * and CNI result files of this instance, then the folder itself. Idempotent.
   */
  dispose(): Promise<void>;
}

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** `auto` (default) uses overlayfs if a test overlay mount works in the scratch folder, else `native`. */
  snapshotter?: "auto" | "overlayfs" | "native";
  /** containerd log level (default `info`); the log goes to `<dir>/containerd.log`. */
  logLevel?: string;
}

const PAUSE_IMAGE = "local.test/pause:busybox";
const BUSYBOX_IMAGE = "local.test/busybox:latest";
const EXTRA_IMAGE = "local.test/extra:latest";
const DIR_PREFIX = "nk-ctrd-";
const CNI_BIN_DIR = "/usr/lib/cni";
const CNI_RESULTS = "/var/lib/cni/results";
const CGROUP_ROOT = "/sys/fs/cgroup";
const STATE_FILE = "harness.json";
const READY_TIMEOUT_MS = 30_000;
const BUILD_SCRIPT = fileURLToPath(new URL("./build-images.sh", import.meta.url));

const REQUIRED_COMMANDS = ["containerd", "containerd-shim-runc-v2", "ctr", "runc", "ip", "mount", "umount", "tar"];
const REQUIRED_FILES = [
  "/bin/busybox",
  `${CNI_BIN_DIR}/bridge`,
  `${CNI_BIN_DIR}/host-local`,
  `${CNI_BIN_DIR}/loopback`,
];
const INSTALL_HINT = "apt-get install -y containerd runc busybox-static containernetworking-plugins iproute2";

/** Host dirs that containerd 1.6 / libcni create outside the scratch dir; removed on dispose if we created them. */
function sharedHostDirs(): string[] {
  return [
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd/runc/k8s.io",
    "/run/containerd/runc",
    "/run/containerd",
    CNI_RESULTS,
    "/var/lib/cni",
    ...cgroupRoots().map((r) => path.join(r, "k8s.io")),
  ];
}

let prerequisites: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Checks what {@link startContainerd} needs: Linux, root, the containerd/runc/ctr/iproute2
 * binaries on `PATH`, a static `/bin/busybox` and the CNI bridge/host-local/loopback plugins.
 */
export function containerdPrerequisites(): { ok: true } | { ok: false; reason: string } {
  prerequisites ??= checkPrerequisites();
  return prerequisites;
}

function checkPrerequisites(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: `needs Linux, not ${process.platform}` };
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `needs root (uid is ${uid})` };
  const missing = [...REQUIRED_COMMANDS.filter((c) => !onPath(c)), ...REQUIRED_FILES.filter((f) => !isExecutable(f))];
  if (missing.length > 0) return { ok: false, reason: `missing ${missing.join(", ")} (${INSTALL_HINT})` };
  if (hasElfInterpreter("/bin/busybox")) {
    return { ok: false, reason: "/bin/busybox is dynamically linked; the images need busybox-static" };
  }
  return { ok: true };
}

/**
 * Returns vitest's `describe` when containerd can run here. Otherwise, with `CI=true`,
 * a `describe` whose body throws (a missing part fails CI); elsewhere it logs
 * `skipping containerd e2e: <reason>` and returns `describe.skip`.
 */
export function describeWithContainerd(): typeof describe {
  const pre = containerdPrerequisites();
  if (pre.ok) return describe;
  if (process.env.CI === "true") {
    const message = `containerd e2e prerequisites missing in CI: ${pre.reason}`;
    // Same object as describe (so .each/.only still exist), but every suite body throws.
    return new Proxy(describe, {
      apply: (target, _this, args: unknown[]) =>
        target(args[0] as string, () => {
          throw new Error(message);
        }),
    });
  }
  console.warn(`skipping containerd e2e: ${pre.reason}`);
  // describe.skip lacks only skipIf/runIf of the full describe type
  return describe.skip as typeof describe;
}

/**
 * Creates a scratch dir, writes containerd's config and a CNI bridge conflist, builds
 * the pause and busybox images, starts containerd and imports the images into `k8s.io`.
 * Call {@link ContainerdHarness.dispose} when done.
 */
export async function startContainerd(options: ContainerdOptions = {}): Promise<ContainerdHarness> {
  const pre = containerdPrerequisites();
  if (!pre.ok) throw new Error(`cannot start containerd: ${pre.reason}`);
  await sweepStaleHarnesses();
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  const harness = new Containerd(dir, options.logLevel ?? "info");
  try {
    await harness.setUp(options.snapshotter ?? "auto");
  } catch (err) {
    await harness.dispose().catch(() => {});
    throw err;
  }
  return harness;
}

/** Persisted in `<dir>/harness.json`. */
interface HarnessState {
  owner: number;
  hex: string;
  createdSharedDirs?: string[];
}

/** Tears down harnesses left behind by test processes that died without dispose(). */
async function sweepStaleHarnesses(): Promise<void> {
  const tmp = os.tmpdir();
  for (const entry of fs.readdirSync(tmp).filter((e) => e.startsWith(DIR_PREFIX))) {
    const dir = path.join(tmp, entry);
    let state: HarnessState;
    try {
      state = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), "utf8"));
    } catch {
      continue; // not (yet) a harness dir
    }
    if (state.owner === process.pid || isAlive(state.owner)) continue;
    const stale = new Containerd(dir, "info", state.hex);
    stale.createdSharedDirs = state.createdSharedDirs ?? [];
    await stale.dispose().catch(() => {});
  }
}

/** Harnesses still to be torn down; killed hard if the process exits first. */
const live = new Set<Containerd>();
let exitHookInstalled = false;

class Containerd implements ContainerdHarness {
  readonly socketPath: string;
  readonly endpoint: string;
  readonly cgroupParent: string;
  readonly pauseImage = PAUSE_IMAGE;
  readonly busyboxImage = BUSYBOX_IMAGE;
  readonly extraImage = EXTRA_IMAGE;
  readonly podSubnet: string;
  private readonly bridge: string;
  private readonly network: string;
  private snapshotter = "native";
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private disposed: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  createdSharedDirs: string[] = [];

  constructor(
    readonly dir: string,
    private readonly logLevel: string,
    private readonly hex = randomBytes(4).toString("hex"),
  ) {
    this.socketPath = path.join(dir, "containerd.sock");
    this.endpoint = `unix://${this.socketPath}`;
    this.cgroupParent = `/nodekit-${hex}`;
    this.bridge = `nk${hex}`; // link names are limited to 15 bytes
    this.network = `nk-${hex}`;
    this.podSubnet = `10.222.${Number.parseInt(hex.slice(0, 2), 16)}.0/24`;
  }

  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  async setUp(snapshotter: "auto" | "overlayfs" | "native"): Promise<void> {
    // sun_path holds 108 bytes; the longest socket is the ttrpc one
    if (Buffer.byteLength(`${this.socketPath}.ttrpc`) >= 100) {
      throw new Error(`scratch dir ${this.dir} is too long for unix sockets; set TMPDIR to a shorter path`);
    }
    for (const d of ["root", "state", "opt", "runc", "cni/net.d", "cni/ipam", "images"]) {
      fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    }
    this.snapshotter = snapshotter === "auto" ? await this.probeOverlay() : snapshotter;
    this.createdSharedDirs = sharedHostDirs().filter((d) => !fs.existsSync(d));
    // lets a later run tear this instance down if our process dies without dispose()
    const state: HarnessState = { owner: process.pid, hex: this.hex, createdSharedDirs: this.createdSharedDirs };
    fs.writeFileSync(path.join(this.dir, STATE_FILE), JSON.stringify(state));
    fs.writeFileSync(path.join(this.dir, "config.toml"), this.config());
    // written before start: a conflist added later may be picked up late (recipe §1)
    fs.writeFileSync(path.join(this.dir, "cni/net.d/10-nodekit.conflist"), this.conflist());
    live.add(this);
    installExitHook();

    const t0 = performance.now();
    let built = 0;
    const build = run(
      "sh",
      [BUILD_SCRIPT, path.join(this.dir, "images"), PAUSE_IMAGE, BUSYBOX_IMAGE, EXTRA_IMAGE],
      60_000,
    ).then(() => {
      built = performance.now() - t0;
    });
    let ready = 0;
    const start = this.start().then(() => {
      ready = performance.now() - t0;
    });
    await Promise.all([build, start]);
    const t1 = performance.now();
    // one at a time: both archives hold the same layer blob
    for (const img of ["pause", "busybox", "extra"]) {
      await this.ctr(
        ["images", "import", "--snapshotter", this.snapshotter, path.join(this.dir, "images", `${img}.tar`)],
        60_000,
      );
    }
    const imported = performance.now() - t1;
    fs.appendFileSync(
      path.join(this.dir, "harness.log"),
      `snapshotter=${this.snapshotter} build=${built.toFixed(0)}ms ready=${ready.toFixed(0)}ms import=${imported.toFixed(0)}ms\n`,
    );
  }

  start(): Promise<void> {
    if (this.disposed) return Promise.reject(new Error("containerd harness already disposed"));
    // concurrent callers share one start-up
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async launch(): Promise<void> {
    if (this.pid !== undefined) return;
    // a SIGKILLed containerd leaves its sockets behind
    fs.rmSync(this.socketPath, { force: true });
    fs.rmSync(`${this.socketPath}.ttrpc`, { force: true });

    const log = fs.openSync(path.join(this.dir, "containerd.log"), "a");
    let child: ChildProcess;
    try {
      // our own child, so it is reaped at once (no zombie in liveness checks)
      child = spawn("containerd", ["--config", path.join(this.dir, "config.toml"), "--log-level", this.logLevel], {
        stdio: ["ignore", log, log],
      });
    } finally {
      fs.closeSync(log);
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", () => resolve()); // spawn failure: no "exit" follows
    });
    if (child.pid !== undefined) fs.writeFileSync(path.join(this.dir, "containerd.pid"), `${child.pid}\n`);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.child !== child || this.pid === undefined) {
        throw new Error(`containerd exited during start-up; log tail:\n${this.logTail()}`);
      }
      if (fs.existsSync(this.socketPath) && (await succeeds("ctr", ["--address", this.socketPath, "version"]))) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`containerd not ready after ${READY_TIMEOUT_MS} ms; log tail:\n${this.logTail()}`);
      }
      await sleep(25);
    }
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    tryKill(pid, signal);
    await this.exited;
  }

  dispose(): Promise<void> {
    this.disposed ??= this.tearDown();
    return this.disposed;
  }

  private async tearDown(): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    const ids = new Set<string>();

    // 1. while containerd is up, let it kill and delete every task/container (shims exit, rootfs
    //    unmounts); best effort, the steps below clean up without containerd as well
    if (this.pid !== undefined) {
      const ignore = () => "";
      const tasks = lines(await this.ctr(["tasks", "ls", "-q"]).catch(ignore));
      if (tasks.length > 0) await this.ctr(["tasks", "rm", "-f", ...tasks], 30_000).catch(ignore);
      const containers = lines(await this.ctr(["containers", "ls", "-q"]).catch(ignore));
      if (containers.length > 0) await this.ctr(["containers", "rm", ...containers], 30_000).catch(ignore);
      for (const id of [...tasks, ...containers]) ids.add(id);
    }

    // 2. containerd itself: TERM, then KILL after 5 s
    await step(async () => {
      const pid = this.pid;
      if (pid === undefined) return;
      tryKill(pid, "SIGTERM");
      await Promise.race([this.exited, sleep(5_000)]);
      await this.kill("SIGKILL");
    });

    // 3. shims still serving our socket (containerd was killed with pods running)
    await step(async () => {
      const shims = this.shims();
      for (const s of shims) {
        tryKill(s.pid, "SIGKILL");
        ids.add(s.id);
      }
      await waitUntil(() => shims.every((s) => !isAlive(s.pid)), 5_000);
    });

    // 4. containers whose shim is gone: their runc state lives in our runc root
    await step(async () => {
      const root = path.join(this.dir, "runc", "k8s.io");
      if (!fs.existsSync(root)) return;
      for (const id of lines(await run("runc", ["--root", root, "list", "-q"]))) {
        ids.add(id);
        await run("runc", ["--root", root, "delete", "--force", id]).catch(() => {});
      }
    });

    // 5. anything still running in our cgroups; sockets of killed shims (a clean shim exit removes its own)
    await step(() => this.killCgroupProcesses());
    await step(() => {
      for (const id of ids) fs.rmSync(this.shimSocket("k8s.io", id), { force: true });
    });

    // 6. rootfs, netns and shm mounts under the dir, deepest first
    await step(async () => {
      for (const m of mountsUnder(this.dir)) await run("umount", ["-l", m]).catch(() => {});
      const left = mountsUnder(this.dir);
      if (left.length > 0) throw new Error(`still mounted: ${left.join(", ")}`);
    });

    // 7. the bridge created by the CNI bridge plugin (veths went with the netns)
    await step(async () => {
      if (fs.existsSync(`/sys/class/net/${this.bridge}`)) await run("ip", ["link", "del", this.bridge]);
    });

    // 8. cgroup dirs: runc removes only the leaves
    await step(() => this.removeCgroups());

    // 9. libcni result cache of sandboxes that never got a CNI DEL
    await step(() => {
      const files = fs.existsSync(CNI_RESULTS) ? fs.readdirSync(CNI_RESULTS) : [];
      const prefix = `${this.network}-`;
      for (const f of files.filter((f) => f.startsWith(prefix))) ids.add(f.slice(prefix.length).split("-")[0] ?? "");
      for (const f of files) {
        const loopbackOf = /^cni-loopback-(.+)-lo$/.exec(f)?.[1];
        if (f.startsWith(prefix) || (loopbackOf !== undefined && ids.has(loopbackOf))) {
          fs.rmSync(path.join(CNI_RESULTS, f), { force: true });
        }
      }
    });

    // 10. empty host dirs we caused, unless another harness may still use them
    await step(() => {
      if (otherHarnessRunning(this.dir)) return;
      for (const d of this.createdSharedDirs) {
        try {
          fs.rmdirSync(d);
        } catch {
          // absent, or not empty: in use by someone else
        }
      }
    });

    // 11. the scratch dir
    await step(() => fs.promises.rm(this.dir, { recursive: true, force: true, maxRetries: 5 }));

    live.delete(this);
    if (errors.length > 0) throw new AggregateError(errors, `containerd harness teardown of ${this.dir} incomplete`);
  }

  /** Sync, best effort: used from the process "exit" hook. */
  emergencyKill(): void {
    if (this.pid !== undefined) tryKill(this.pid, "SIGKILL");
    for (const s of this.shims()) {
      tryKill(s.pid, "SIGKILL");
      fs.rmSync(this.shimSocket(s.namespace, s.id), { force: true });
    }
    this.killCgroupProcesses();
  }

  /** containerd 1.6 puts shim sockets at /run/containerd/s/sha256("<address>/<namespace>/<id>"). */
  private shimSocket(namespace: string, id: string): string {
    const name = createHash("sha256")
      .update(path.join(this.socketPath, namespace, id))
      .digest("hex");
    return path.join("/run/containerd/s", name);
  }

  private ctr(args: string[], timeoutMs = 10_000): Promise<string> {
    return run("ctr", ["--address", this.socketPath, "-n", "k8s.io", ...args], timeoutMs);
  }

  private async probeOverlay(): Promise<"overlayfs" | "native"> {
    // overlayfs cannot use an overlayfs upperdir (e.g. /tmp inside Docker) -> native
    const base = path.join(this.dir, "overlay-probe");
    const [lower, upper, work, merged] = ["l", "u", "w", "m"].map((d) => path.join(base, d)) as [
      string,
      string,
      string,
      string,
    ];
    for (const d of [lower, upper, work, merged]) fs.mkdirSync(d, { recursive: true });
    const opts = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
    const ok = await succeeds("mount", ["-t", "overlay", "overlay", "-o", opts, merged]);
    if (ok) await run("umount", [merged]);
    fs.rmSync(base, { recursive: true, force: true });
    return ok ? "overlayfs" : "native";
  }

  private config(): string {
    const q = (s: string) => JSON.stringify(s); // JSON strings are valid TOML basic strings
    const d = (p: string) => q(path.join(this.dir, p));
    return `version = 2
root = ${d("root")}
state = ${d("state")}
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(this.socketPath)}

[ttrpc]
  address = ${q(`${this.socketPath}.ttrpc`)}

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${d("opt")}
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = ${q(PAUSE_IMAGE)}
    # netns bind mounts under our state dir, not /var/run/netns
    netns_mounts_under_state_dir = true
    # no CAP_SYS_RESOURCE here: runc cannot set the sandbox's oom_score_adj=-998
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = ${q(CNI_BIN_DIR)}
      conf_dir = ${d("cni/net.d")}
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = ${q(this.snapshotter)}
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = ${d("runc")}
          # cgroupfs driver: there is no systemd
          SystemdCgroup = false
`;
  }

  private conflist(): string {
    // no gateway and no masquerading: no host IP, no ip_forward change, no iptables rules
    const conf = {
      cniVersion: "1.0.0",
      name: this.network,
      plugins: [
        {
          type: "bridge",
          bridge: this.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: this.podSubnet }]],
            dataDir: path.join(this.dir, "cni", "ipam"),
          },
        },
      ],
    };
    return `${JSON.stringify(conf, null, 2)}\n`;
  }

  /** containerd-shim processes started for our socket. */
  private shims(): { pid: number; namespace: string; id: string }[] {
    const found: { pid: number; namespace: string; id: string }[] = [];
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let argv: string[];
      try {
        argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      } catch {
        continue;
      }
      const flag = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
      };
      if (!path.basename(argv[0] ?? "").startsWith("containerd-shim")) continue;
      if (flag("-address") !== this.socketPath) continue;
      found.push({ pid: Number(entry), namespace: flag("-namespace") ?? "k8s.io", id: flag("-id") ?? "" });
    }
    return found;
  }

  private cgroupDirs(): string[] {
    return cgroupRoots()
      .map((root) => path.join(root, this.cgroupParent))
      .filter((d) => fs.existsSync(d));
  }

  private killCgroupProcesses(): void {
    for (const top of this.cgroupDirs()) {
      for (const dir of walkDirs(top)) {
        let procs = "";
        try {
          procs = fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8");
        } catch {
          continue;
        }
        for (const pid of lines(procs)) tryKill(Number(pid), "SIGKILL");
      }
    }
  }

  private async removeCgroups(): Promise<void> {
    // rmdir fails with EBUSY until killed tasks are fully gone: retry for a while
    const deadline = Date.now() + 5_000;
    for (;;) {
      const failed: string[] = [];
      for (const top of this.cgroupDirs()) {
        for (const dir of walkDirs(top).reverse()) {
          try {
            fs.rmdirSync(dir);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") failed.push(dir);
          }
        }
      }
      if (failed.length === 0) return;
      if (Date.now() > deadline) throw new Error(`cannot remove cgroups: ${failed.join(", ")}`);
      this.killCgroupProcesses();
      await sleep(50);
    }
  }

  private logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir, "containerd.log"), "utf8").split("\n").slice(-30).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // "exit" handlers must be synchronous: kill processes; files, mounts and cgroups stay
  // behind until the next startContainerd() sweeps them (see sweepStaleHarnesses)
  process.on("exit", () => {
    for (const h of live) h.emergencyKill();
  });
}

/** Runs a command; resolves with stdout, rejects with the command line and stderr. */
function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function succeeds(cmd: string, args: string[]): Promise<boolean> {
  return run(cmd, args, 5_000).then(
    () => true,
    () => false,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(20);
  }
}

function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** True while pid exists and is not a zombie (orphaned shims are reaped late by PID 1). */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function otherHarnessRunning(ownDir: string): boolean {
  const tmp = path.dirname(ownDir);
  for (const entry of fs.readdirSync(tmp)) {
    const dir = path.join(tmp, entry);
    if (!entry.startsWith(DIR_PREFIX) || dir === ownDir) continue;
    try {
      if (isAlive(Number(fs.readFileSync(path.join(dir, "containerd.pid"), "utf8")))) return true;
    } catch {
      // no pid file yet: start-up creates the shared dirs again itself
    }
  }
  return false;
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort()
    .reverse();
}

/** cgroup hierarchies: every v1 controller dir (incl. the v2 "unified" one), or the v2 root itself. */
function cgroupRoots(): string[] {
  if (fs.existsSync(path.join(CGROUP_ROOT, "cgroup.controllers"))) return [CGROUP_ROOT];
  try {
    return fs.readdirSync(CGROUP_ROOT).map((e) => path.join(CGROUP_ROOT, e));
  } catch {
    return [];
  }
}

/** dir and all dirs below it, parents before children. */
function walkDirs(dir: string): string[] {
  const out = [dir];
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...walkDirs(path.join(dir, e.name)));
  return out;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => d !== "" && isExecutable(path.join(d, cmd)));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** True if the 64-bit little-endian ELF file has a PT_INTERP segment (is dynamically linked). */
function hasElfInterpreter(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const header = Buffer.alloc(64);
    fs.readSync(fd, header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return false;
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return true;
    return false;
  } finally {
    fs.closeSync(fd);
  }
}
