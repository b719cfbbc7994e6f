// Issue 12: static pods from a folder, with the kubelet's file source semantics
// (pkg/kubelet/config/file.go, file_linux.go, common.go, config.go). Real temp folders and
// fs.watch; the full listing's timer runs on a fake clock, so the tests move it by hand. Tests
// wait for conditions, never for fixed times.
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  configHashAnnotation,
  configSeenAnnotation,
  configSourceAnnotation,
  createFileSource,
  type FileSourceOptions,
  type FileSourceProblem,
} from "../src/config/file-source.js";
import {
  canonicalJson,
  decodeManifestText,
  readManifest,
  staticPodFromManifest,
  staticPodUid,
} from "../src/config/file-source-manifest.js";
import type { PodSourceSink } from "../src/config/pod-source.js";
import type { Pod } from "../src/pod.js";
import { createFakeClock } from "../src/testing/index.js";

type Call = { op: "set"; pods: Pod[] } | { op: "add" | "update" | "remove"; pod: Pod } | { op: "synced" };

/** A sink that records every call. */
function recordingSink(): PodSourceSink & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    set: (pods) => calls.push({ op: "set", pods: [...pods] }),
    add: (pod) => calls.push({ op: "add", pod }),
    update: (pod) => calls.push({ op: "update", pod }),
    remove: (pod) => calls.push({ op: "remove", pod }),
    synced: () => calls.push({ op: "synced" }),
  };
}

/** Polls `check` until it returns a value other than `undefined`/`false`; fails after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets the source's pending reads settle: several macrotask turns, for tests that expect nothing to happen. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
};

const yamlPod = (name: string, image = "busybox:1.36", extra = "") =>
  `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  containers:
  - name: main
    image: ${image}
    command: ["sleep", "3600"]
${extra}`;

const jsonPod = (name: string, namespace?: string) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec: { containers: [{ name: "main", image: "nginx:1.27" }] },
  });

const names = (pods: readonly Pod[]) => pods.map((p) => p.metadata?.name);
const uidOf = (pod: Pod | undefined) => pod?.metadata?.uid;

describe("createFileSource", () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "nodekit-file-source-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  /** Starts a source on `path`; returns the sink, the fake clock of its listing timer and its problems. */
  const start = (options: Partial<FileSourceOptions> & { path: string }) => {
    const clock = createFakeClock();
    const sink = recordingSink();
    const reported: FileSourceProblem[] = [];
    const warnings: string[] = [];
    const source = createFileSource({
      nodeName: "Node-1",
      clock,
      pollIntervalMs: 20_000,
      onProblem: (p) => reported.push(p),
      logger: { debug: () => {}, info: () => {}, warn: (m) => warnings.push(m) },
      ...options,
    });
    const stop = new AbortController();
    cleanup.push(() => stop.abort());
    source.start(sink, stop.signal);
    const firstSet = () => waitFor("the first set", () => sink.calls.find((c) => c.op === "set"));
    /** Runs one full listing (the kubelet's file check period) and waits until it has been read. */
    const relist = async () => {
      await waitFor("the listing timer", () => clock.pendingTimers() === 1);
      clock.advance(20_000);
      await waitFor("the listing to finish", () => clock.pendingTimers() === 1);
    };
    return { source, sink, clock, stop, reported, warnings, firstSet, relist };
  };

  it("delivers the first complete read as one set: names, uids, annotations, node, namespace (YAML and JSON)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    writeFileSync(join(dir, "api.json"), jsonPod("api", "kube-system"));
    const { sink, firstSet, clock } = start({ path: dir });

    const set = await firstSet();
    expect(sink.calls).toHaveLength(1);
    if (set.op !== "set") throw new Error("unreachable");
    expect(names(set.pods)).toEqual(["api-node-1", "web-node-1"]); // file-name order, node name lowercased
    const [api, web] = set.pods as [Pod, Pod];
    expect(api.metadata?.namespace).toBe("kube-system");
    expect(web.metadata?.namespace).toBe("default");
    expect(web.metadata?.labels).toEqual({ app: "web" });
    for (const [pod, file] of [
      [api, join(dir, "api.json")],
      [web, join(dir, "web.yaml")],
    ] as const) {
      const uid = pod.metadata?.uid;
      expect(uid).toMatch(/^[0-9a-f]{32}$/);
      expect(pod.spec?.nodeName).toBe("Node-1");
      expect(pod.metadata?.annotations?.[configHashAnnotation]).toBe(uid);
      expect(pod.metadata?.annotations?.[configSourceAnnotation]).toBe("file");
      expect(pod.metadata?.annotations?.[configSeenAnnotation]).toBe(new Date(clock.now()).toISOString());
      expect(pod.status?.phase).toBe("Pending");
      expect((pod.spec as { tolerations?: unknown }).tolerations).toEqual([
        { operator: "Exists", effect: "NoExecute" },
      ]);
      // The uid is the hash of the decoded manifest, the node and the file's path.
      const { pod: again } = readManifest(
        Buffer.from(file.endsWith(".json") ? jsonPod("api", "kube-system") : yamlPod("web")),
        {
          nodeName: "Node-1",
          file,
        },
      );
      expect(uidOf(again)).toBe(uid);
    }
    expect(api.spec?.containers[0]?.image).toBe("nginx:1.27");
    expect(web.spec?.containers[0]?.command).toEqual(["sleep", "3600"]);
  });

  it("an empty or missing folder is still a complete read: set([])", async () => {
    const empty = start({ path: tempDir() });
    expect(await empty.firstSet()).toEqual({ op: "set", pods: [] });

    const missingPath = join(tempDir(), "not-there");
    const missing = start({ path: missingPath });
    expect(await missing.firstSet()).toEqual({ op: "set", pods: [] });
    expect(missing.source.problems()).toEqual([
      { path: missingPath, message: expect.stringContaining("does not exist") },
    ]);

    // The folder appears: its pods arrive at the next listing.
    mkdirSync(missingPath);
    writeFileSync(join(missingPath, "web.yaml"), yamlPod("web"));
    await missing.relist();
    const added = await waitFor("the add", () => missing.sink.calls.find((c) => c.op === "add"));
    expect(added.op === "add" && added.pod.metadata?.name).toBe("web-node-1");
    expect(missing.source.problems()).toEqual([]);
  });

  it("a new file is an add, a deleted file a remove, and unchanged files produce no call", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    const { sink, firstSet, relist } = start({ path: dir });
    await firstSet();

    writeFileSync(join(dir, "db.yaml"), yamlPod("db", "postgres:16"));
    const add = await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));
    expect(add.op === "add" && add.pod.metadata?.name).toBe("db-node-1");

    // Rewriting the same bytes, touching nothing, and full listings: no call.
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    await relist();
    await relist();
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "add"]);

    unlinkSync(join(dir, "db.yaml"));
    const removed = await waitFor("the remove", () => sink.calls.find((c) => c.op === "remove"));
    expect(removed.op === "remove" && uidOf(removed.pod)).toBe(add.op === "add" && uidOf(add.pod));
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "add", "remove"]);
  });

  it("editing one file restarts only that pod: its old uid is removed and the new uid added", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    writeFileSync(join(dir, "db.yaml"), yamlPod("db", "postgres:16"));
    const { sink, firstSet, clock } = start({ path: dir });
    const set = await firstSet();
    if (set.op !== "set") throw new Error("unreachable");
    const oldWeb = set.pods.find((p) => p.metadata?.name === "web-node-1");
    const firstSeen = oldWeb?.metadata?.annotations?.[configSeenAnnotation];

    clock.advance(1_000); // so the new pod's first-seen time differs
    writeFileSync(join(dir, "web.yaml"), yamlPod("web", "busybox:1.37"));
    const added = await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "remove", "add"]);
    const removed = sink.calls[1];
    expect(removed?.op === "remove" && uidOf(removed.pod)).toBe(uidOf(oldWeb));
    if (added.op !== "add") throw new Error("unreachable");
    expect(added.pod.metadata?.name).toBe("web-node-1");
    expect(uidOf(added.pod)).not.toBe(uidOf(oldWeb));
    expect(added.pod.metadata?.annotations?.[configHashAnnotation]).toBe(uidOf(added.pod));
    expect(added.pod.spec?.containers[0]?.image).toBe("busybox:1.37");
    expect(added.pod.metadata?.annotations?.[configSeenAnnotation]).not.toBe(firstSeen);
  });

  it("a manifest with its own metadata.uid keeps it: a change is an update that keeps the first-seen time", async () => {
    const dir = tempDir();
    const withUid = (image: string) =>
      yamlPod("pinned", image).replace("metadata:\n", "metadata:\n  uid: 0f6b1d4e-pinned\n");
    writeFileSync(join(dir, "pinned.yaml"), withUid("busybox:1.36"));
    const { sink, firstSet, clock } = start({ path: dir });
    const set = await firstSet();
    if (set.op !== "set") throw new Error("unreachable");
    expect(uidOf(set.pods[0])).toBe("0f6b1d4e-pinned");
    expect(set.pods[0]?.metadata?.annotations?.[configHashAnnotation]).toBe("0f6b1d4e-pinned");

    clock.advance(1_000);
    writeFileSync(join(dir, "pinned.yaml"), withUid("busybox:1.37"));
    const update = await waitFor("the update", () => sink.calls.find((c) => c.op === "update"));
    if (update.op !== "update") throw new Error("unreachable");
    expect(uidOf(update.pod)).toBe("0f6b1d4e-pinned");
    expect(update.pod.spec?.containers[0]?.image).toBe("busybox:1.37");
    expect(update.pod.metadata?.annotations?.[configSeenAnnotation]).toBe(
      set.pods[0]?.metadata?.annotations?.[configSeenAnnotation],
    );
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "update"]);
  });

  it("a broken file is reported and skipped, the others run, and once fixed its pod arrives", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    writeFileSync(join(dir, "broken.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: broken\nspec: [");
    writeFileSync(join(dir, "bad-image.yaml"), yamlPod("bad", "has space"));
    writeFileSync(join(dir, "list.yaml"), "apiVersion: v1\nkind: PodList\nitems: []\n");
    writeFileSync(join(dir, "two.yaml"), `${yamlPod("one")}---\n${yamlPod("two")}`);
    const { sink, firstSet, source, reported, warnings } = start({ path: dir });
    const set = await firstSet();
    expect(set.op === "set" && names(set.pods)).toEqual(["web-node-1"]);

    const problems = source.problems();
    expect(problems.map((p) => p.path)).toEqual(
      ["bad-image.yaml", "broken.yaml", "list.yaml", "two.yaml"].map((f) => join(dir, f)),
    );
    expect(problems[0]?.message).toContain('spec.containers[0].image: "has space" must not contain spaces');
    expect(problems[1]?.message).toContain("couldn't parse as pod: YAML:");
    expect(problems[2]?.message).toContain("a static pod manifest holds a single Pod");
    expect(problems[3]?.message).toContain("holds 2 YAML documents");
    expect(reported).toEqual(problems);
    expect(warnings.filter((w) => w.includes(join(dir, "broken.yaml")))).toHaveLength(1);

    writeFileSync(join(dir, "broken.yaml"), yamlPod("broken"));
    const add = await waitFor("the fixed pod", () => sink.calls.find((c) => c.op === "add"));
    expect(add.op === "add" && add.pod.metadata?.name).toBe("broken-node-1");
    expect(source.problems().map((p) => p.path)).not.toContain(join(dir, "broken.yaml"));
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "add"]); // web untouched
  });

  it("a file that breaks keeps its pod on the watch event; the next full listing removes it, as the kubelet does", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    writeFileSync(join(dir, "db.yaml"), yamlPod("db", "postgres:16"));
    const { sink, firstSet, source, relist } = start({ path: dir });
    const set = await firstSet();
    if (set.op !== "set") throw new Error("unreachable");

    writeFileSync(join(dir, "web.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [web\n");
    await waitFor("the problem", () => source.problems().length === 1);
    expect(source.problems()[0]?.message).toContain("its last good pod runs on");
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set"]);

    await relist();
    const removed = await waitFor("the remove", () => sink.calls.find((c) => c.op === "remove"));
    expect(removed.op === "remove" && removed.pod.metadata?.name).toBe("web-node-1");
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "remove"]); // db untouched
  });

  it("ignores dot-files and folders, and reads files of any extension", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, ".web.yaml.swp"), "not yaml: [");
    writeFileSync(join(dir, ".hidden.yaml"), yamlPod("hidden"));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "nested.yaml"), yamlPod("nested"));
    writeFileSync(join(dir, "manifest"), yamlPod("noext"));
    const { sink, firstSet, source } = start({ path: dir });
    const set = await firstSet();
    expect(set.op === "set" && names(set.pods)).toEqual(["noext-node-1"]);
    expect(source.problems()).toEqual([]);

    writeFileSync(join(dir, ".another.yaml"), yamlPod("another"));
    writeFileSync(join(dir, "sub", "later.yaml"), yamlPod("later"));
    writeFileSync(join(dir, "visible.yaml"), yamlPod("visible"));
    const add = await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));
    expect(add.op === "add" && add.pod.metadata?.name).toBe("visible-node-1");
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "add"]);
  });

  it("two files with the same pod name: the first in name order wins, the other is reported", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web", "busybox:1.37"));
    writeFileSync(join(dir, "web.yaml~"), yamlPod("web", "busybox:1.36")); // an editor's backup
    const { firstSet, source, reported } = start({ path: dir });
    const set = await firstSet();
    if (set.op !== "set") throw new Error("unreachable");
    expect(set.pods.map((p) => p.spec?.containers[0]?.image)).toEqual(["busybox:1.37"]);
    expect(source.problems()).toEqual([
      { path: join(dir, "web.yaml~"), message: expect.stringContaining("duplicate pod default/web-node-1") },
    ]);
    expect(reported).toHaveLength(1);
  });

  it("the uid is stable across restarts for the same content, path and node, and differs for another node or path", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    const uids: (string | undefined)[] = [];
    for (const nodeName of ["Node-1", "Node-1", "node-2"]) {
      const { firstSet, stop } = start({ path: dir, nodeName });
      const set = await firstSet();
      uids.push(set.op === "set" ? uidOf(set.pods[0]) : undefined);
      stop.abort();
    }
    expect(uids[0]).toBe(uids[1]);
    expect(uids[2]).not.toBe(uids[0]);

    const other = tempDir();
    writeFileSync(join(other, "web.yaml"), yamlPod("web"));
    const moved = start({ path: other });
    const set = await moved.firstSet();
    expect(set.op === "set" && uidOf(set.pods[0])).not.toBe(uids[0]);
  });

  it("a single manifest file as the path; an atomic replace (rename over it) is seen", async () => {
    const dir = tempDir();
    const file = join(dir, "web.yaml");
    writeFileSync(file, yamlPod("web"));
    writeFileSync(join(dir, "other.yaml"), yamlPod("other"));
    const { sink, firstSet } = start({ path: file });
    const set = await firstSet();
    expect(set.op === "set" && names(set.pods)).toEqual(["web-node-1"]);

    writeFileSync(join(dir, ".web.yaml.tmp"), yamlPod("web", "busybox:1.37"));
    renameSync(join(dir, ".web.yaml.tmp"), file);
    const add = await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));
    expect(add.op === "add" && add.pod.spec?.containers[0]?.image).toBe("busybox:1.37");
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "remove", "add"]);
  });

  it("a single manifest file that is broken at start leaves the source unsynced, as the kubelet does", async () => {
    const dir = tempDir();
    const file = join(dir, "web.yaml");
    writeFileSync(file, "kind: Pod\n");
    const { sink, source, relist } = start({ path: file });
    await waitFor("the problem", () => source.problems().length === 1);
    await relist();
    expect(sink.calls).toEqual([]);

    writeFileSync(file, yamlPod("web"));
    const set = await waitFor("the set", () => sink.calls.find((c) => c.op === "set"));
    expect(set.op === "set" && names(set.pods)).toEqual(["web-node-1"]);
  });

  it("a folder removed and made again: its pods go at the next listing, come back, and the new folder is watched", async () => {
    const dir = join(tempDir(), "manifests");
    mkdirSync(dir);
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    const { sink, firstSet, relist } = start({ path: dir });
    await firstSet();

    rmSync(dir, { recursive: true });
    await relist();
    await waitFor("the remove", () => sink.calls.find((c) => c.op === "remove"));
    mkdirSync(dir);
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    await relist();
    await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));

    writeFileSync(join(dir, "db.yaml"), yamlPod("db")); // seen by the new watcher, no listing
    await waitFor("the second add", () => sink.calls.filter((c) => c.op === "add").length === 2);
    expect(sink.calls.map((c) => c.op)).toEqual(["set", "remove", "add", "add"]);
  });

  it("without fs.watch, the full listing alone finds changes", async () => {
    const dir = tempDir();
    const { sink, firstSet, relist } = start({ path: dir, watch: false });
    await firstSet();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    await relist();
    const add = await waitFor("the add", () => sink.calls.find((c) => c.op === "add"));
    expect(add.op === "add" && add.pod.metadata?.name).toBe("web-node-1");
  });

  it("stops on abort: no calls after, the watcher closed and the timer cleared", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    const { sink, firstSet, stop, clock } = start({ path: dir });
    await firstSet();
    await waitFor("the listing timer", () => clock.pendingTimers() === 1);
    stop.abort();
    expect(clock.pendingTimers()).toBe(0);

    writeFileSync(join(dir, "db.yaml"), yamlPod("db"));
    unlinkSync(join(dir, "web.yaml"));
    clock.advance(60_000);
    await settle();
    expect(sink.calls.map((c) => c.op)).toEqual(["set"]);
  });

  it("an already aborted signal: nothing is read or delivered", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.yaml"), yamlPod("web"));
    const sink = recordingSink();
    const clock = createFakeClock();
    const stop = new AbortController();
    stop.abort();
    createFileSource({ path: dir, nodeName: "n", clock }).start(sink, stop.signal);
    await settle();
    expect(sink.calls).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("the parse hook replaces the decoder; its errors are reported", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.txt"), "web");
    writeFileSync(join(dir, "b.txt"), "!");
    const { firstSet, source } = start({
      path: dir,
      parse: (text) => {
        if (text === "!") throw new Error("bang");
        return JSON.parse(jsonPod(text));
      },
    });
    const set = await firstSet();
    expect(set.op === "set" && names(set.pods)).toEqual(["web-node-1"]);
    expect(source.problems()).toEqual([{ path: join(dir, "b.txt"), message: "couldn't parse as pod: bang" }]);
  });
});

describe("static pod manifests (pure)", () => {
  it("decodes YAML as YAML 1.1, as the kubelet's go-yaml v2 does: octal modes, yes/no, timestamps as text", () => {
    expect(decodeManifestText("mode: 0644\nflag: yes\nwhen: 2026-01-01\n")).toEqual({
      mode: 420,
      flag: true,
      when: "2026-01-01",
    });
    expect(decodeManifestText("---\na: 1\n---\n# only a comment\n")).toEqual({ a: 1 });
    expect(() => decodeManifestText("")).toThrow("empty");
    expect(() => decodeManifestText("a: 1\n---\nb: 2\n")).toThrow("2 YAML documents");
    expect(decodeManifestText('  {"a": 1, "a": 2}')).toEqual({ a: 2 });
  });

  it("refuses what is not a single v1 Pod with a name", () => {
    const at = { nodeName: "n", file: "/m/p.yaml" };
    const spec = { containers: [{ name: "c", image: "i" }] };
    const problems = (m: unknown) => staticPodFromManifest(m, at).problems?.join("; ");
    expect(problems([1])).toBe("the manifest is not an object");
    expect(problems({ apiVersion: "v1", metadata: { name: "p" }, spec })).toBe("Object 'Kind' is missing");
    expect(problems({ kind: "Pod", metadata: { name: "p" }, spec })).toBe("Object 'apiVersion' is missing");
    expect(problems({ apiVersion: "apps/v1", kind: "Pod", metadata: { name: "p" }, spec })).toContain("apiVersion");
    expect(problems({ apiVersion: "v1", kind: "List", items: [] })).toContain("single Pod");
    expect(problems({ apiVersion: "v1", kind: "Pod", metadata: {}, spec })).toBe(
      "invalid pod: name is needed for the pod",
    );
    expect(problems({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" } })).toBe("spec: required");
    expect(problems({ apiVersion: "v1", kind: "Pod", metadata: { name: "P_1" }, spec })).toContain(
      "invalid pod: metadata.name",
    );
    expect(problems({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "Bad" }, spec })).toContain(
      "metadata.namespace",
    );
  });

  it("applies the kubelet's defaults and keeps what the manifest sets", () => {
    const manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "etcd",
        namespace: "kube-system",
        annotations: { [configHashAnnotation]: "forged", "example.com/a": "b" },
      },
      spec: {
        containers: [{ name: "etcd", image: "etcd:3.5" }],
        tolerations: [
          { operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
          { key: "k", operator: "Equal", value: "v", effect: "NoSchedule" },
        ],
      },
    };
    const { pod } = staticPodFromManifest(manifest, { nodeName: "CP-1", file: "/etc/kubernetes/manifests/etcd.yaml" });
    const uid = staticPodUid(manifest, "CP-1", "/etc/kubernetes/manifests/etcd.yaml");
    expect(pod?.metadata).toEqual({
      name: "etcd-cp-1",
      namespace: "kube-system",
      uid,
      annotations: { [configHashAnnotation]: uid, [configSourceAnnotation]: "file", "example.com/a": "b" },
    });
    expect((pod?.spec as { tolerations?: unknown } | undefined)?.tolerations).toEqual([
      { operator: "Exists", effect: "NoExecute" },
      { key: "k", operator: "Equal", value: "v", effect: "NoSchedule" },
    ]);
    expect(pod?.spec?.nodeName).toBe("CP-1");
    expect(pod?.status).toEqual({ phase: "Pending" });
    // The uid hashes the manifest's content, not its key order or formatting.
    const reordered = JSON.parse(canonicalJson(manifest));
    expect(staticPodUid(reordered, "CP-1", "/etc/kubernetes/manifests/etcd.yaml")).toBe(uid);
  });

  it("refuses manifests over 10 MiB and text that is not UTF-8", () => {
    const at = { nodeName: "n", file: "/m/p.yaml" };
    expect(readManifest(new Uint8Array(10 * 1024 * 1024 + 1), at).problems?.[0]).toContain("larger than");
    expect(readManifest(new Uint8Array([0xff, 0xfe, 0x00]), at).problems?.[0]).toContain("couldn't parse as pod");
  });
});
