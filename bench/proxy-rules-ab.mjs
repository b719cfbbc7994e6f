// Same-run A/B of compileIptables: the current build against another build of
// @nodekit/proxy-rules (for a redesign: "no more than 5% slower than before", measured here).
//
//   BASELINE_DIST=/path/to/old/packages/proxy-rules/dist node --expose-gc bench/proxy-rules-ab.mjs
//
// Full compiles of 10,000 Services x 10 endpoints (the input of bench/proxy-rules.mjs),
// alternating between the builds after a forced GC each, BENCH_ROUNDS (15) rounds; prints both
// medians and the ratio current / baseline (target <= 1.05). Also checks that both builds give
// the same text. Without BASELINE_DIST it prints a note and exits.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (!process.env.BASELINE_DIST) {
  console.log(JSON.stringify({ skipped: "set BASELINE_DIST to the dist/ of the build to compare with" }));
  process.exit(0);
}
const current = await import(resolve(here, "../packages/proxy-rules/dist/index.js"));
const baseline = await import(resolve(process.env.BASELINE_DIST, "index.js"));
const N = Number(process.env.BENCH_SERVICES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const EPS = 10;
const gc = globalThis.gc ?? (() => {});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ip4 = (base, k) => `${base + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

function cluster(n) {
  const services = [];
  const endpointSlices = [];
  for (let i = 0; i < n; i++) {
    const namespace = `ns-${i % 100}`;
    const name = `svc-${i}`;
    const nodePort = i % 2 === 1;
    services.push({
      metadata: { namespace, name },
      spec: {
        type: nodePort ? "NodePort" : "ClusterIP",
        clusterIP: `10.${ip4(96, i)}`,
        ports: [{ name: "http", port: 80, protocol: "TCP", ...(nodePort ? { nodePort: 30000 + (i >> 1) } : {}) }],
      },
    });
    const endpoints = [];
    for (let e = 0; e < EPS; e++) {
      const k = i * EPS + e;
      endpoints.push({ addresses: [`10.${ip4(128, k)}`], conditions: { ready: true }, nodeName: `node-${k % 50}` });
    }
    endpointSlices.push({
      metadata: { namespace, name: `${name}-abcde`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints,
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
  }
  return {
    services,
    endpointSlices,
    node: { name: "node-1", addresses: ["192.168.0.1"] },
    config: { clusterCIDR: "10.128.0.0/9" },
  };
}

const input = cluster(N);
const same = current.compileIptables(input).ipv4.text === baseline.compileIptables(input).ipv4.text;
const time = (lib) => {
  gc();
  const t0 = performance.now();
  lib.compileIptables(input).ipv4.text.length; // the text read, as a caller does
  return performance.now() - t0;
};
time(current);
time(baseline);
const a = [];
const b = [];
const perRound = [];
for (let r = 0; r < ROUNDS; r++) {
  const [x, y] = r % 2 === 0 ? [time(current), time(baseline)] : [time(baseline), time(current)].reverse();
  a.push(x);
  b.push(y);
  perRound.push(+(x / y).toFixed(3));
}
console.log(
  JSON.stringify({
    services: N,
    sameText: same,
    currentMs: +median(a).toFixed(1),
    baselineMs: +median(b).toFixed(1),
    ratio: +(median(a) / median(b)).toFixed(3),
    target: 1.05,
    perRound,
  }),
);
