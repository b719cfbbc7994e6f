import { createRequire } from "node:module";
import { BinaryReader } from "@bufbuild/protobuf/wire";

const require = createRequire(import.meta.url);
const protoLoader = require("@grpc/proto-loader");
const cri = await import("/work/main/packages/cri/dist/index.js");
class BufferReader extends BinaryReader {
  __tsProtoDecodeDepth = 0;
  #b;
  constructor(b) {
    super(b);
    this.#b = b;
  }
  string() {
    const len = this.uint32();
    const s = this.pos;
    const e = s + len;
    if (e > this.len) throw new RangeError("EOF");
    this.pos = e;
    return this.#b.utf8Slice(s, e);
  }
}
const n = 5000,
  now = 1_764_000_000_000_000_000n;
const cs = Array.from({ length: n }, (_, i) => ({
  id: `${i.toString(16).padStart(8, "0")}${"a".repeat(56)}`,
  podSandboxId: "b".repeat(64),
  metadata: { name: `app-${i}`, attempt: 1 },
  image: { image: "sha256:" + "c".repeat(64), userSpecifiedImage: "registry.local/app:1.0" },
  imageRef: "sha256:" + "c".repeat(64),
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
    "io.kubernetes.container.restartCount": "1",
    "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
  },
}));
const bytes = Buffer.from(
  cri.ListContainersResponse.encode(cri.ListContainersResponse.fromPartial({ containers: cs })).finish(),
);
const pkgDef = protoLoader.loadSync("/work/main/proto/runtime/v1/api.proto", {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const rawDecode = pkgDef["runtime.v1.RuntimeService"].ListContainers.responseDeserialize;
const fns = {
  tsproto: () => cri.ListContainersResponse.decode(bytes),
  bufreader: () => cri.ListContainersResponse.decode(new BufferReader(bytes)),
  protoloader: () => rawDecode(bytes),
};
const res = {};
for (let round = 0; round < 6; round++)
  for (const [name, f] of Object.entries(fns).sort(() => Math.random() - 0.5)) {
    gc();
    const h0 = process.memoryUsage().heapUsed;
    f();
    const h1 = process.memoryUsage().heapUsed;
    for (let i = 0; i < 5; i++) f();
    gc();
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) f();
    (res[name] ??= []).push((performance.now() - t0) / 20);
    if (round === 5) console.log(name, "alloc MB/decode ~", ((h1 - h0) / 1e6).toFixed(1));
  }
for (const [k, v] of Object.entries(res))
  console.log(k, v.map((x) => x.toFixed(1)).join(" "), "median", v.sort((a, b) => a - b)[3].toFixed(2));
