// Benchmarks what issue 15's response validation and nodekit-cri cost, in the same run, against
// the fake runtime served on a unix socket. Prints ratios, not absolute targets.
//
//   node --expose-gc bench/cri-cli.mjs      (after npm run build; npm run bench does both)
//
// 1. response validation: sequential ContainerStatus calls through a client with
//    validateResponses on and one with it off, rounds alternating which goes first; the ratio is
//    the median of the per-round ratios (on / off). Target: <= 1.05.
// 2. nodekit-cri's start-up: `nodekit-cri version` as a subprocess vs `node -e ""` (a bare Node
//    start), alternating, median ratio and median milliseconds.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cri = await import(resolve(here, "../packages/cri/dist/index.js"));
const testing = await import(resolve(here, "../packages/cri/dist/testing.js"));
const cli = resolve(here, "../packages/cri/dist/cli/nodekit-cri.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 31);
const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const STARTS = Number(process.env.BENCH_STARTS ?? 11);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = mkdtempSync(join(tmpdir(), "nk-bench-cli-"));
const sock = join(dir, "fake.sock");
const fake = testing.createFakeRuntime({ callLogLimit: 1000 });
const server = cri.createCriServer({ runtime: fake, image: fake });
await server.listen(sock);
try {
  const on = cri.createRuntimeClient(sock);
  const off = cri.createRuntimeClient(sock, { validateResponses: false });
  const { podSandboxId } = await on.runPodSandbox({
    config: { metadata: { name: "bench", namespace: "bench", uid: "bench-uid", attempt: 0 } },
  });
  const { containerId } = await on.createContainer({
    podSandboxId,
    config: { metadata: { name: "c", attempt: 0 }, image: { image: "docker.io/library/busybox:latest" } },
  });
  const time = async (client) => {
    const t = performance.now();
    for (let i = 0; i < CALLS; i++) await client.containerStatus({ containerId });
    return performance.now() - t;
  };
  await time(on);
  await time(off); // warm-up
  const ratios = [];
  for (let r = 0; r < ROUNDS; r++) {
    let onMs;
    let offMs;
    if (r % 2) {
      offMs = await time(off);
      onMs = await time(on);
    } else {
      onMs = await time(on);
      offMs = await time(off);
    }
    ratios.push(onMs / offMs);
  }
  on.close();
  off.close();

  // Not spawnSync: the fake answering the CLI lives in this process's event loop.
  const run = (args) =>
    new Promise((resolveRun, reject) => {
      const t = performance.now();
      execFile(process.execPath, args, (err, _stdout, stderr) =>
        err ? reject(new Error(`${args.join(" ")}: ${stderr}`)) : resolveRun(performance.now() - t),
      );
    });
  const cliMs = [];
  const nodeMs = [];
  const startRatios = [];
  for (let i = 0; i < STARTS; i++) {
    const c = await run([cli, "-r", sock, "version"]);
    const n = await run(["-e", ""]);
    cliMs.push(c);
    nodeMs.push(n);
    startRatios.push(c / n);
  }
  console.log(
    JSON.stringify(
      {
        validation: {
          calls: CALLS,
          rounds: ROUNDS,
          ratioOnOverOff: Number(median(ratios).toFixed(3)),
          target: "<= 1.05",
        },
        cliStartup: {
          runs: STARTS,
          nodekitCriVersionMs: Math.round(median(cliMs)),
          bareNodeMs: Math.round(median(nodeMs)),
          ratio: Number(median(startRatios).toFixed(2)),
        },
      },
      null,
      2,
    ),
  );
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
