// Installs the packages as a user does, and uses them: packs every published package, installs
// the tarballs into fresh ESM, CommonJS and strict-TypeScript projects (type-checked under the module
// resolutions nodenext, bundler and node10), each once
// with @kubernetes/client-node 1.x and once with 2.x, and runs a small program per package there
// (the TypeScript projects are type-checked, the JavaScript ones run).
//
//   node test/packaging/check-packages.mjs        (Node.js 22+, after npm run build; CI runs it)
//   UPDATE_SIZES=1 node test/packaging/check-packages.mjs   (records the sizes, after a wanted growth)
//
// It also checks each tarball: a LICENSE, no source maps, README links that work on npm, and a
// size no more than 10% over the one recorded in test/packaging/sizes.json.
//
// Needs the npm registry (or a warm npm cache) for the packages' own dependencies. Prints one line
// per project and exits non-zero when any fails.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PACKAGES = ["cri", "kubelet-core", "proxy-rules"];
const CLIENT_NODE = { "1.x": "1.3.0", "2.x": "2.0.1" };
if (Number(process.versions.node.split(".")[0]) < 22) {
  // client-node 2.x needs Node.js 22 or newer (its undici does)
  console.log(`FAIL run this check with Node.js 22 or newer (this is ${process.version}): client-node 2.x needs it`);
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), "nodekit-packaging-"));

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// the tarballs, what is in them, and their sizes against the recorded ones (test/packaging/sizes.json)
const tarballs = join(work, "tarballs");
mkdirSync(tarballs);
const REPO = "https://github.com/nodekit/nodekit/blob/main/";
const recorded = JSON.parse(readFileSync(join(root, "test/packaging/sizes.json"), "utf8"));
const sizes = {};
let failures = 0;
const fail = (what) => {
  failures++;
  console.log(`FAIL ${what}`);
};
for (const p of PACKAGES) {
  const [info] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tarballs], join(root, "packages", p)));
  const paths = new Set(info.files.map((f) => f.path));
  if (!paths.has("LICENSE")) fail(`${info.name}: no LICENSE in the tarball`);
  if ([...paths].some((f) => f.endsWith(".map"))) fail(`${info.name}: source maps in the tarball (decision 24)`);
  // README links must work on npm: no relative links, and links into the repository name files that exist
  const readme = readFileSync(join(root, "packages", p, "README.md"), "utf8");
  for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (target.startsWith("#")) continue;
    if (!/^https?:/.test(target)) fail(`${info.name}: README link ${target} is relative (broken on npm)`);
    else if (target.startsWith(REPO) && !existsSync(join(root, target.slice(REPO.length).split("#")[0]))) {
      fail(`${info.name}: README link ${target} names no file of the repository`);
    }
  }
  sizes[info.name] = { packed: info.size, unpacked: info.unpackedSize };
  const before = recorded[info.name];
  for (const k of ["packed", "unpacked"]) {
    if (before && sizes[info.name][k] > before[k] * 1.1) {
      fail(`${info.name}: ${k} size ${sizes[info.name][k]} B is more than 10% over the recorded ${before[k]} B`);
    }
  }
  console.log(
    `size ${info.name}: ${(info.size / 1024).toFixed(0)} kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked`,
  );
}
if (process.env.UPDATE_SIZES)
  writeFileSync(join(root, "test/packaging/sizes.json"), `${JSON.stringify(sizes, null, 2)}\n`);
const files = readdirSync(tarballs).map((f) => join(tarballs, f));

const program = {
  // ESM: every package through its entry points, the CRI over a real socket
  esm: `
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCriServer, createRuntimeClient, isNotFound } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { PodSandboxState, runtimeServiceMethods } from "@nodekit/cri/api";
import { createScenario } from "@nodekit/kubelet-core/testing";
import { toV1PodStatus } from "@nodekit/kubelet-core/apiserver";
if (PodSandboxState.SANDBOX_READY !== 0 || runtimeServiceMethods.length < 30) throw new Error("@nodekit/cri/api");
import { compileIptables, createProxier } from "@nodekit/proxy-rules";

const endpoint = "unix://" + join(mkdtempSync(join(tmpdir(), "nk-")), "cri.sock");
const fake = createFakeRuntime();
const server = createCriServer({ runtime: fake, image: fake });
await server.listen(endpoint);
const runtime = createRuntimeClient(endpoint);
const { runtimeName } = await runtime.version({});
const missing = await runtime.podSandboxStatus({ podSandboxId: "nope" }).catch((e) => e);
runtime.close();
await server.close();

const s = createScenario({ pods: [{ metadata: { name: "web", namespace: "default", uid: "web-1" },
  spec: { containers: [{ name: "app", image: "busybox", command: ["sleep", "60"] }] } }] });
await s.runUntil(() => s.status("web")?.phase === "Running");
const v1 = toV1PodStatus(s.status("web"));

const input = { services: [{ metadata: { namespace: "default", name: "web" },
    spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] } }],
  endpointSlices: [], node: { name: "n" } };
const text = compileIptables(input).ipv4.text;
const proxier = createProxier({ mode: "iptables" });
proxier.sync(input);
proxier.applied();
console.log(runtimeName, isNotFound(missing), v1.phase, v1.startTime instanceof Date, text.includes("has no endpoints"));
`,
  // CommonJS: the same through require()
  cjs: `
const { mkdtempSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const { createCriServer, createRuntimeClient, isNotFound } = require("@nodekit/cri");
const { createFakeRuntime } = require("@nodekit/cri/testing");
const { PodSandboxState } = require("@nodekit/cri/api");
if (PodSandboxState.SANDBOX_READY !== 0) throw new Error("@nodekit/cri/api");
const { createScenario } = require("@nodekit/kubelet-core/testing");
const { toV1PodStatus } = require("@nodekit/kubelet-core/apiserver");
const { compileIptables, createProxier } = require("@nodekit/proxy-rules");

(async () => {
  const endpoint = "unix://" + join(mkdtempSync(join(tmpdir(), "nk-")), "cri.sock");
  const fake = createFakeRuntime();
  const server = createCriServer({ runtime: fake, image: fake });
  await server.listen(endpoint);
  const runtime = createRuntimeClient(endpoint);
  const { runtimeName } = await runtime.version({});
  const missing = await runtime.podSandboxStatus({ podSandboxId: "nope" }).catch((e) => e);
  runtime.close();
  await server.close();
  const s = createScenario({ pods: [{ metadata: { name: "web", namespace: "default", uid: "web-1" },
    spec: { containers: [{ name: "app", image: "busybox", command: ["sleep", "60"] }] } }] });
  await s.runUntil(() => s.status("web")?.phase === "Running");
  const v1 = toV1PodStatus(s.status("web"));
  const input = { services: [{ metadata: { namespace: "default", name: "web" },
      spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] } }],
    endpointSlices: [], node: { name: "n" } };
  const text = compileIptables(input).ipv4.text;
  const proxier = createProxier({ mode: "iptables" });
  proxier.sync(input);
  proxier.applied();
  console.log(runtimeName, isNotFound(missing), v1.phase, v1.startTime instanceof Date, text.includes("has no endpoints"));
})().catch((e) => { console.error(e); process.exit(1); });
`,
  // strict TypeScript: client-node's objects go into the packages' types and back
  ts: `
import type { V1EndpointSlice, V1Pod, V1PodStatus, V1Service } from "@kubernetes/client-node";
import { createRuntimeClient, type DeepPartial, isNotFound, type PodSandboxConfig, type RuntimeService } from "@nodekit/cri";
import type { ServiceOf } from "@nodekit/cri/api";
import { type imageServiceMethods, PodSandboxState } from "@nodekit/cri/api";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { computePodActions, type Pod } from "@nodekit/kubelet-core";
import { toV1PodStatus } from "@nodekit/kubelet-core/apiserver";
import { createScenario } from "@nodekit/kubelet-core/testing";
import { compileIptables, type EndpointSlice, type Service } from "@nodekit/proxy-rules";

export async function check(v1pod: V1Pod, v1svc: V1Service, v1slice: V1EndpointSlice): Promise<V1PodStatus | undefined> {
  const pod: Pod = v1pod;
  const services: Service[] = [v1svc];
  const endpointSlices: EndpointSlice[] = [v1slice];
  const runtime: RuntimeService = createFakeRuntime();
  const client: RuntimeService = createRuntimeClient("unix:///run/x.sock");
  const config: DeepPartial<PodSandboxConfig> = { metadata: { name: pod.metadata?.name ?? "" } };
  void config; void client; void runtime; void computePodActions;
  const images: ServiceOf<typeof imageServiceMethods> = createFakeRuntime();
  void images; void PodSandboxState.SANDBOX_READY;
  const err: unknown = await client.version({}).catch((e: unknown) => e);
  if (isNotFound(err)) console.log(err.code);
  const text: string | undefined = compileIptables({ services, endpointSlices, node: { name: "n" } }).ipv4?.text;
  void text;
  const s = createScenario({ pods: [pod] });
  const status = s.status("web");
  return status ? toV1PodStatus(status) : undefined;
}
`,
};
// The moduleResolution values TypeScript 6.0 accepts that read node_modules: nodenext (= node16),
// bundler, and node10 (deprecated in 6.0, removed in 7.0; still what "moduleResolution": "node" means).
const RESOLUTIONS = {
  nodenext: { module: "nodenext", moduleResolution: "nodenext", verbatimModuleSyntax: true },
  bundler: { module: "preserve", moduleResolution: "bundler", verbatimModuleSyntax: true },
  node10: { module: "commonjs", moduleResolution: "node10", ignoreDeprecations: "6.0", esModuleInterop: true },
};
const EXPECTED = "nodekit-fake true Running true true";

const manifest = (kind, clientNode) =>
  JSON.stringify({
    name: `check-${kind}`,
    private: true,
    version: "0.0.0",
    ...(kind === "cjs" ? {} : { type: "module" }),
    dependencies: { "@kubernetes/client-node": clientNode },
  });

for (const [label, version] of Object.entries(CLIENT_NODE)) {
  for (const kind of ["esm", "cjs", "ts"]) {
    const dir = join(work, `${kind}-client-node-${label}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), manifest(kind, version));
    try {
      // (client-node 1.x's own types need @types/ws, as for any user of it under TypeScript)
      const extra = kind === "ts" ? ["typescript@6.0.3", "@types/node@22", "@types/ws@8"] : [];
      run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--silent", ...files, ...extra], dir);
      if (kind === "ts") {
        writeFileSync(join(dir, "main.ts"), program.ts);
        // every module resolution TypeScript 6.0 still has for packages (decision 24's addendum)
        for (const [resolution, options] of Object.entries(RESOLUTIONS)) {
          writeFileSync(
            join(dir, `tsconfig.${resolution}.json`),
            JSON.stringify({
              compilerOptions: {
                ...options,
                target: "es2022",
                strict: true,
                exactOptionalPropertyTypes: true,
                noUncheckedIndexedAccess: true,
                noEmit: true,
                types: ["node"],
              },
              files: ["main.ts"],
            }),
          );
          run(join(dir, "node_modules/.bin/tsc"), ["-p", `tsconfig.${resolution}.json`], dir);
        }
        console.log(`ok   ${kind} client-node ${label}: type-checks (strict; ${Object.keys(RESOLUTIONS).join(", ")})`);
      } else {
        const file = kind === "esm" ? "main.mjs" : "main.cjs";
        writeFileSync(join(dir, file), program[kind]);
        const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: "utf8" }).trim();
        if (out !== EXPECTED) throw new Error(`printed ${JSON.stringify(out)}, expected ${JSON.stringify(EXPECTED)}`);
        console.log(`ok   ${kind} client-node ${label}: ${out}`);
      }
    } catch (err) {
      failures++;
      console.log(`FAIL ${kind} client-node ${label}: ${String(err.message ?? err).slice(0, 4000)}`);
    }
  }
}
if (failures === 0) rmSync(work, { recursive: true, force: true });
else console.log(`(projects left in ${work})`);
process.exitCode = failures === 0 ? 0 : 1;
