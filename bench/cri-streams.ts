// Benchmarks @nodekit/cri's streaming client against real containerd, with same-run baselines.
// Prints ratios, not absolute targets. Needs root and containerd (skipped otherwise).
//
//   node --import tsx bench/cri-streams.ts        (npm run bench runs it with the others)
//
// 1. exec round trip of `echo hi`: Exec + openExec + the exit code, against the same command
//    through ExecSync, rounds alternating which goes first; the ratio is the median of the
//    per-round ratios (streaming / ExecSync). Target: <= 1.2.
// 2. port-forward throughput: an HTTP GET of a 100 MB file from busybox httpd in a host-network
//    pod, through openPortForward, against a direct TCP connection to the same httpd; rounds
//    alternate; the ratio is the median per-round throughput ratio (port-forward / direct).
//    Target: >= 0.5. A third leg, a bare `ws` client reading the same port-forward URL (no Node
//    streams, no port-prefix handling), shows what containerd's streaming path itself allows:
//    `ratioOursOverBareWs`. A fourth leg forwards through our own server kit (createStreamingServer
//    in this process, its handler dialling the same httpd): `kitRatioOverDirect`. BENCH_CPU=1 also prints the CPU time of this process and of containerd
//    for one forwarded transfer (to tell a busy machine from a slow path).
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import WebSocket from "ws";
import {
  createRuntimeClient,
  createStreamingServer,
  NamespaceMode,
  openExec,
  openPortForward,
} from "../packages/cri/src/index.js";
import { containerdPrerequisites, startContainerd } from "../packages/cri/test/harness/containerd.js";

const EXEC_ROUNDS = Number(process.env.BENCH_EXEC_ROUNDS ?? 15);
const EXECS_PER_ROUND = Number(process.env.BENCH_EXECS ?? 4);
const PF_ROUNDS = Number(process.env.BENCH_PF_ROUNDS ?? 5);
const FILE_MB = 100;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** Sends an HTTP/1.0 GET on `stream` and counts the bytes until the server closes. */
function fetchOver(stream: Duplex, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    stream.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    stream.once("end", () => resolve(bytes));
    stream.once("error", reject);
    stream.write(`GET ${path} HTTP/1.0\r\n\r\n`);
  });
}

const pre = containerdPrerequisites();
if (!pre.ok) {
  console.log(JSON.stringify({ bench: "cri-streams", skipped: pre.reason }));
  process.exit(0);
}

const h = await startContainerd();
const runtime = createRuntimeClient(h.endpoint, { timeoutMs: 60_000 });
try {
  const uid = randomUUID();
  const config = {
    metadata: { name: "bench-streams", namespace: "bench", uid, attempt: 0 },
    logDirectory: `${h.dir}/logs/${uid}`,
    linux: {
      cgroupParent: `${h.cgroupParent}/pod${uid}`,
      securityContext: {
        namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD },
      },
    },
  };
  const { podSandboxId } = await runtime.runPodSandbox({ config });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const { containerId } = await runtime.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: {
      metadata: { name: "httpd", attempt: 0 },
      image: { image: h.busyboxImage },
      command: [
        "sh",
        "-c",
        `mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=${FILE_MB} 2>/dev/null && touch /www/ready && exec httpd -f -p 127.0.0.1:${port} -h /www`,
      ],
      logPath: "httpd.log",
      linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
    },
  });
  await runtime.startContainer({ containerId });
  for (;;) {
    const r = await runtime.execSync({ containerId, cmd: ["sh", "-c", "test -e /www/ready"], timeout: 10n });
    if (r.exitCode === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }

  // --- 1. exec round trip -----------------------------------------------------------------------
  const viaExecSync = async () => {
    const r = await runtime.execSync({ containerId, cmd: ["echo", "hi"], timeout: 10n });
    if (Buffer.from(r.stdout).toString() !== "hi\n" || r.exitCode !== 0) throw new Error("ExecSync: wrong output");
  };
  const viaStream = async () => {
    const { url } = await runtime.exec({ containerId, cmd: ["echo", "hi"], stdout: true });
    const session = await openExec(url);
    let out = "";
    session.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const { exitCode } = await session.done;
    if (out !== "hi\n" || exitCode !== 0) throw new Error(`stream: wrong output ${JSON.stringify(out)} ${exitCode}`);
  };
  const time = async (fn: () => Promise<void>) => {
    const t0 = performance.now();
    for (let i = 0; i < EXECS_PER_ROUND; i++) await fn();
    return (performance.now() - t0) / EXECS_PER_ROUND;
  };
  await time(viaExecSync);
  await time(viaStream);
  const execRatios: number[] = [];
  const syncMs: number[] = [];
  const streamMs: number[] = [];
  for (let round = 0; round < EXEC_ROUNDS; round++) {
    let a: number;
    let b: number;
    if (round % 2 === 0) {
      a = await time(viaExecSync);
      b = await time(viaStream);
    } else {
      b = await time(viaStream);
      a = await time(viaExecSync);
    }
    syncMs.push(a);
    streamMs.push(b);
    execRatios.push(b / a);
  }

  // --- 2. port-forward throughput ---------------------------------------------------------------
  const expected = FILE_MB * 1024 * 1024;
  const direct = async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise((res, rej) => {
      socket.once("connect", res);
      socket.once("error", rej);
    });
    const t0 = performance.now();
    const bytes = await fetchOver(socket, "/big");
    const ms = performance.now() - t0;
    if (bytes < expected) throw new Error(`direct: ${bytes} bytes`);
    return (bytes / ms) * 1000;
  };
  const forwarded = async () => {
    const { url } = await runtime.portForward({ podSandboxId, port: [port] });
    const pf = await openPortForward(url, { ports: [port] });
    const t0 = performance.now();
    const bytes = await fetchOver(pf.streams[0] as Duplex, "/big");
    const ms = performance.now() - t0;
    await pf.closed;
    if (bytes < expected) throw new Error(`port-forward: ${bytes} bytes`);
    return (bytes / ms) * 1000;
  };
  const bareWs = async () => {
    const { url } = await runtime.portForward({ podSandboxId, port: [port] });
    const ws = new WebSocket(url.replace(/^http/, "ws"), ["v4.channel.k8s.io"], { perMessageDeflate: false });
    let bytes = 0;
    let t0 = 0;
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => {
        t0 = performance.now();
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from("GET /big HTTP/1.0\r\n\r\n")]));
      });
      ws.on("message", (m: Buffer) => {
        if (m[0] === 0) bytes += m.length - 1;
      });
      ws.once("close", () => resolve());
      ws.once("error", reject);
    });
    const ms = performance.now() - t0;
    if (bytes < expected) throw new Error(`bare ws: ${bytes} bytes`);
    return (bytes / ms) * 1000;
  };
  const kit = createStreamingServer({
    async portForward({ port: p }, stream) {
      const socket = connect(p, "127.0.0.1");
      stream.pipe(socket);
      await pipeline(socket, stream);
    },
  });
  await kit.start();
  const viaKit = async () => {
    const { url } = kit.getPortForward({ podSandboxId, port: [port] });
    const pf = await openPortForward(url, { ports: [port] });
    const t0 = performance.now();
    const bytes = await fetchOver(pf.streams[0] as Duplex, "/big");
    const ms = performance.now() - t0;
    await pf.closed;
    if (bytes < expected) throw new Error(`kit: ${bytes} bytes`);
    return (bytes / ms) * 1000;
  };
  await direct();
  await forwarded();
  await bareWs();
  await viaKit();
  if (process.env.BENCH_CPU) {
    const { readFileSync } = await import("node:fs");
    const ticks = (pid: number) => {
      const f = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    };
    const pid = h.pid;
    if (pid === undefined) throw new Error("containerd's pid is not known");
    const c0 = process.cpuUsage();
    const d0 = ticks(pid);
    const t0 = performance.now();
    await forwarded();
    const c1 = process.cpuUsage(c0);
    console.log({
      wallMs: performance.now() - t0,
      nodeCpuMs: (c1.user + c1.system) / 1000,
      containerdCpuMs: ticks(pid) - d0,
    });
  }
  const pfRatios: number[] = [];
  const bareRatios: number[] = [];
  const directMBs: number[] = [];
  const pfMBs: number[] = [];
  const bareMBs: number[] = [];
  const kitMBs: number[] = [];
  const kitRatios: number[] = [];
  for (let round = 0; round < PF_ROUNDS; round++) {
    let d: number;
    let f: number;
    let b: number;
    let k: number;
    if (round % 2 === 0) {
      d = await direct();
      f = await forwarded();
      b = await bareWs();
      k = await viaKit();
    } else {
      k = await viaKit();
      b = await bareWs();
      f = await forwarded();
      d = await direct();
    }
    directMBs.push(d / 1e6);
    pfMBs.push(f / 1e6);
    bareMBs.push(b / 1e6);
    kitMBs.push(k / 1e6);
    pfRatios.push(f / d);
    bareRatios.push(f / b);
    kitRatios.push(k / d);
  }
  await kit.close();

  const execRatio = median(execRatios);
  const pfRatio = median(pfRatios);
  console.log(
    JSON.stringify(
      {
        bench: "cri-streams",
        execRoundTrip: {
          rounds: EXEC_ROUNDS,
          execsPerRound: EXECS_PER_ROUND,
          execSyncMsMedian: Number(median(syncMs).toFixed(2)),
          streamingMsMedian: Number(median(streamMs).toFixed(2)),
          ratioStreamingOverExecSync: Number(execRatio.toFixed(3)),
          target: "<= 1.2",
          pass: execRatio <= 1.2,
        },
        portForwardThroughput: {
          rounds: PF_ROUNDS,
          transferMB: FILE_MB,
          directMBpsMedian: Number(median(directMBs).toFixed(1)),
          portForwardMBpsMedian: Number(median(pfMBs).toFixed(1)),
          bareWsMBpsMedian: Number(median(bareMBs).toFixed(1)),
          ratioOursOverBareWs: Number(median(bareRatios).toFixed(3)),
          kitMBpsMedian: Number(median(kitMBs).toFixed(1)),
          kitRatioOverDirect: Number(median(kitRatios).toFixed(3)),
          ratioPortForwardOverDirect: Number(pfRatio.toFixed(3)),
          target: ">= 0.5",
          pass: pfRatio >= 0.5,
        },
      },
      null,
      2,
    ),
  );
} finally {
  runtime.close();
  await h.dispose();
}
