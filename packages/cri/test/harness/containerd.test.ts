import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./containerd.js";

const describeE2e = describeWithContainerd();

describeE2e("containerd test harness", () => {
  const started: ContainerdHarness[] = [];
  afterAll(async () => {
    await Promise.allSettled(started.map((h) => h.dispose()));
  });

  it("starts, survives a containerd kill + restart, and disposes without leftovers", async () => {
    let t = performance.now();
    const h = await startContainerd();
    started.push(h);
    const startMs = performance.now() - t;

    expect(h.endpoint).toBe(`unix://${h.socketPath}`);
    expect(h.socketPath).toBe(path.join(h.dir, "containerd.sock"));
    expect(Buffer.byteLength(h.socketPath)).toBeLessThan(100);
    expect(h.cgroupParent).toMatch(/^\/nodekit-[0-9a-f]+$/);
    expect(fs.statSync(h.socketPath).isSocket()).toBe(true);
    const pid1 = h.pid;
    expect(pid1).toBeTypeOf("number");
    expect(imageRefs(h)).toEqual(expect.arrayContaining([h.pauseImage, h.busyboxImage]));
    const net = cniNetwork(h);

    // a pod on the CNI bridge network, under our cgroup parent
    const pod = await runPodSandbox(h, "harness-a");
    expect(fs.existsSync(`/sys/class/net/${net.bridge}`)).toBe(true);
    expect(cgroupDirs(h).length).toBeGreaterThan(0);
    const shims = shimPids(h);
    expect(shims.length).toBe(1);

    // SIGKILL containerd: the pod and its shim stay
    await h.kill();
    expect(h.pid).toBeUndefined();
    expect(isAlive(pid1 as number)).toBe(false);
    expect(shims.every(isAlive)).toBe(true);

    // restart on the same dir: images and the pod are still there
    t = performance.now();
    await h.start();
    const restartMs = performance.now() - t;
    expect(h.pid).toBeTypeOf("number");
    expect(h.pid).not.toBe(pid1);
    expect(imageRefs(h)).toEqual(expect.arrayContaining([h.pauseImage, h.busyboxImage]));
    expect(ctr(h, "tasks", "ls", "-q")).toContain(pod);
    await h.start(); // no-op while running

    const harnessLog = fs.readFileSync(path.join(h.dir, "harness.log"), "utf8").trim();
    t = performance.now();
    await h.dispose();
    const disposeMs = performance.now() - t;
    expectNothingLeft(h, net, [pod], shims);
    await h.dispose(); // idempotent
    await expect(h.start()).rejects.toThrow(/disposed/);

    console.log(
      `harness: start ${startMs.toFixed(0)} ms (${harnessLog}), restart ${restartMs.toFixed(0)} ms, ` +
        `dispose with 1 pod ${disposeMs.toFixed(0)} ms`,
    );
  }, 120_000);

  it("runs side by side and disposes after containerd was killed with a pod running", async () => {
    const t = performance.now();
    const [a, b] = await Promise.all([startContainerd(), startContainerd({ snapshotter: "native", logLevel: "warn" })]);
    started.push(a, b);
    const startMs = performance.now() - t;
    expect(new Set([a.dir, b.dir, a.cgroupParent, b.cgroupParent]).size).toBe(4);
    const [netA, netB] = [cniNetwork(a), cniNetwork(b)];
    expect(netA.bridge).not.toBe(netB.bridge);

    const [podA, podB] = await Promise.all([runPodSandbox(a, "harness-b"), runPodSandbox(b, "harness-c")]);
    const shimsA = shimPids(a);
    const shimsB = shimPids(b);

    // containerd gone, pod left behind: dispose must clean up without containerd
    await a.kill();
    let t1 = performance.now();
    await a.dispose();
    const killedMs = performance.now() - t1;
    expectNothingLeft(a, netA, [podA], shimsA);

    // b is unaffected by a's teardown
    expect(b.pid).toBeTypeOf("number");
    expect(ctr(b, "tasks", "ls", "-q")).toContain(podB);
    t1 = performance.now();
    await b.dispose();
    const bMs = performance.now() - t1;
    expectNothingLeft(b, netB, [podB], shimsB);

    console.log(
      `harness: 2 in parallel start ${startMs.toFixed(0)} ms, dispose after kill ${killedMs.toFixed(0)} ms, ` +
        `dispose (native) ${bMs.toFixed(0)} ms`,
    );
  }, 120_000);
});

function ctr(h: ContainerdHarness, ...args: string[]): string {
  return execFileSync("ctr", ["--address", h.socketPath, "-n", "k8s.io", ...args], { encoding: "utf8" });
}

function imageRefs(h: ContainerdHarness): string[] {
  return ctr(h, "images", "ls", "-q").split("\n").filter(Boolean);
}

/** Bridge and network name, read from the conflist the harness wrote. */
function cniNetwork(h: ContainerdHarness): { name: string; bridge: string } {
  const dir = path.join(h.dir, "cni", "net.d");
  const [file] = fs.readdirSync(dir);
  const conf = JSON.parse(fs.readFileSync(path.join(dir, file as string), "utf8"));
  return { name: conf.name, bridge: conf.plugins[0].bridge };
}

function cgroupDirs(h: ContainerdHarness): string[] {
  return fs
    .readdirSync("/sys/fs/cgroup")
    .map((c) => path.join("/sys/fs/cgroup", c, h.cgroupParent))
    .concat(path.join("/sys/fs/cgroup", h.cgroupParent))
    .filter((d) => fs.existsSync(d));
}

function shimPids(h: ContainerdHarness): number[] {
  return processesMentioning(h.socketPath);
}

function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(text) && isAlive(Number(e))) pids.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function expectNothingLeft(
  h: ContainerdHarness,
  cni: { name: string; bridge: string },
  pods: string[],
  shims: number[],
): void {
  expect(h.pid).toBeUndefined();
  expect(shims.filter(isAlive)).toEqual([]);
  expect(processesMentioning(h.dir)).toEqual([]);
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
  expect(mounts.includes(h.dir)).toBe(false);
  expect(fs.existsSync(`/sys/class/net/${cni.bridge}`)).toBe(false);
  expect(cgroupDirs(h)).toEqual([]);
  const results = fs.existsSync("/var/lib/cni/results") ? fs.readdirSync("/var/lib/cni/results") : [];
  expect(results.filter((f) => f.startsWith(`${cni.name}-`) || pods.some((p) => f.includes(p)))).toEqual([]);
  expect(fs.existsSync(h.dir)).toBe(false);
}

// --- a just-enough CRI client (the real one is developed separately): RunPodSandbox over raw gRPC ---

/** Runs a POD-network sandbox under `${cgroupParent}/pod<uid>`; returns its id. */
async function runPodSandbox(h: ContainerdHarness, name: string): Promise<string> {
  const uid = `${name}-${Math.random().toString(16).slice(2, 10)}`;
  const metadata = Buffer.concat([pbString(1, name), pbString(2, uid), pbString(3, "default")]);
  const linux = pbString(1, `${h.cgroupParent}/pod${uid}`);
  const config = Buffer.concat([pbBytes(1, metadata), pbBytes(8, linux)]);
  const reply = await grpcUnary(h.socketPath, "/runtime.v1.RuntimeService/RunPodSandbox", pbBytes(1, config));
  // RunPodSandboxResponse { string pod_sandbox_id = 1; } with a one-byte length (ids are 64 hex chars)
  expect(reply[0]).toBe(0x0a);
  return reply.subarray(2, 2 + (reply[1] as number)).toString();
}

function pbString(field: number, value: string): Buffer {
  return pbBytes(field, Buffer.from(value));
}

function pbBytes(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

async function grpcUnary(socketPath: string, method: string, message: Buffer): Promise<Buffer> {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(socketPath) });
  try {
    const req = session.request({
      ":method": "POST",
      ":path": method,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "60S",
    });
    let status: string | undefined;
    let detail = "";
    const onMeta = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined) detail = decodeURIComponent(String(headers["grpc-message"]));
    };
    req.on("response", onMeta);
    req.on("trailers", onMeta);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    req.end(Buffer.concat([prefix, message]));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (status !== "0") throw new Error(`${method}: grpc-status ${status}: ${detail}`);
    return Buffer.concat(chunks).subarray(5);
  } finally {
    session.close();
  }
}
