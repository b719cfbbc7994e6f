// Benchmarks @nodekit/cri's client against a raw @grpc/grpc-js + @grpc/proto-loader client, in the
// same run, on the same unix-socket server. Prints ratios (ours / baseline), not absolute targets.
//
//   node --expose-gc bench/cri-client.mjs      (after npm run build; npm run bench does both)
//
// 1. unary latency: sequential Version calls, rounds alternating which client goes first; the
//    ratio is the median of the per-round ratios. Target: ratio <= 1.10.
// 2. decoding a ListContainers response of 5,000 containers: ts-proto (ours) vs proto-loader's
//    deserializer (protobufjs + toObject with the options crictl-like tools use). Target: ours at
//    least as fast (time ratio <= 1.00).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const here = dirname(fileURLToPath(import.meta.url));
const cri = await import(resolve(here, "../packages/cri/dist/index.js"));

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 41);
const CALLS_PER_ROUND = Number(process.env.BENCH_CALLS ?? 200);
const DECODE_ITERS = Number(process.env.BENCH_DECODE_ITERS ?? 20);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function containers(n) {
  const now = 1_764_000_000_000_000_000n;
  return Array.from({ length: n }, (_, i) => ({
    id: `${i.toString(16).padStart(8, "0")}${"a".repeat(56)}`,
    podSandboxId: `${(i >> 2).toString(16).padStart(8, "0")}${"b".repeat(56)}`,
    metadata: { name: `app-${i}`, attempt: i % 3 },
    image: { image: `sha256:${"c".repeat(64)}`, annotations: {}, userSpecifiedImage: "registry.local/app:1.0" },
    imageRef: `sha256:${"c".repeat(64)}`,
    state: 1,
    createdAt: now + BigInt(i),
    labels: {
      "io.kubernetes.container.name": `app-${i}`,
      "io.kubernetes.pod.name": `pod-${i >> 2}`,
      "io.kubernetes.pod.namespace": "default",
      "io.kubernetes.pod.uid": `0000${i}-1111-2222-3333-444455556666`,
      app: "bench",
    },
    annotations: {
      "io.kubernetes.container.hash": "3a5c1f2b",
      "io.kubernetes.container.restartCount": String(i % 3),
      "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
    },
    imageId: "",
  }));
}

const listResponse = cri.ListContainersResponse.fromPartial({ containers: containers(5000) });
const listBytes = Buffer.from(cri.ListContainersResponse.encode(listResponse).finish());

// --- the server: one pre-built Version answer, encoded with the generated code --------------
const dir = mkdtempSync(join(tmpdir(), "nk-bench-"));
const socket = join(dir, "rt.sock");
const server = new grpc.Server();
const version = cri.VersionResponse.fromPartial({
  version: "0.1.0",
  runtimeName: "bench",
  runtimeVersion: "1.0.0",
  runtimeApiVersion: "v1",
});
const passthrough = (x) => x;
server.addService(
  {
    Version: {
      path: "/runtime.v1.RuntimeService/Version",
      requestStream: false,
      responseStream: false,
      requestDeserialize: passthrough,
      responseSerialize: (v) => Buffer.from(cri.VersionResponse.encode(v).finish()),
    },
  },
  { Version: (_call, cb) => cb(null, version) },
);
await new Promise((res, rej) =>
  server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
);

// --- the clients ----------------------------------------------------------------------------
const pkgDef = protoLoader.loadSync(resolve(here, "../proto/runtime/v1/api.proto"), {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(pkgDef);
const raw = new loaded.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
const rawVersion = (req) => new Promise((res, rej) => raw.Version(req, (e, v) => (e ? rej(e) : res(v))));
const ours = cri.createRuntimeClient(`unix://${socket}`);

async function timeCalls(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS_PER_ROUND; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3 / CALLS_PER_ROUND; // µs per call
}

// warm up both (connection, JIT, our one-time Version check)
for (let i = 0; i < 300; i++) {
  await rawVersion({});
  await ours.version({});
}
const rawRounds = [];
const ourRounds = [];
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    rawRounds.push(await timeCalls(() => rawVersion({})));
    ourRounds.push(await timeCalls(() => ours.version({})));
  } else {
    ourRounds.push(await timeCalls(() => ours.version({})));
    rawRounds.push(await timeCalls(() => rawVersion({})));
  }
}
const rawUs = median(rawRounds);
const ourUs = median(ourRounds);
// Each round measures both clients back to back: the median of the per-round ratios cancels the
// machine's slow drifts better than the ratio of the medians.
const pairedRatio = median(ourRounds.map((o, i) => o / rawRounds[i]));

// --- decoding -------------------------------------------------------------------------------
const rawDecode = pkgDef["runtime.v1.RuntimeService"].ListContainers.responseDeserialize;
const ourDecode = (b) => cri.ListContainersResponse.decode(b);
const check = [ourDecode(listBytes), rawDecode(listBytes)];
if (check[0].containers.length !== 5000 || check[1].containers.length !== 5000) throw new Error("decode mismatch");
// Each timed batch starts on a clean heap (node --expose-gc), so neither side pays for the
// other's garbage; rounds alternate which side goes first.
function timeDecode(fn) {
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < DECODE_ITERS; i++) fn(listBytes);
  return Number(process.hrtime.bigint() - t0) / 1e6 / DECODE_ITERS; // ms per decode
}
for (let i = 0; i < 5; i++) {
  timeDecode(ourDecode);
  timeDecode(rawDecode);
}
const rawDec = [];
const ourDec = [];
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    rawDec.push(timeDecode(rawDecode));
    ourDec.push(timeDecode(ourDecode));
  } else {
    ourDec.push(timeDecode(ourDecode));
    rawDec.push(timeDecode(rawDecode));
  }
}
const rawMs = median(rawDec);
const ourMs = median(ourDec);

ours.close();
raw.close();
server.forceShutdown();
rmSync(dir, { recursive: true, force: true });

const result = {
  unary: {
    baselineUs: +rawUs.toFixed(1),
    oursUs: +ourUs.toFixed(1),
    ratio: +pairedRatio.toFixed(3),
    ratioOfMedians: +(ourUs / rawUs).toFixed(3),
    target: "<= 1.10",
  },
  decode5000: {
    bytes: listBytes.length,
    baselineMs: +rawMs.toFixed(2),
    oursMs: +ourMs.toFixed(2),
    ratio: +(ourMs / rawMs).toFixed(3),
    target: "<= 1.00",
  },
};
console.log(JSON.stringify(result, null, 2));
