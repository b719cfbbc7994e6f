// End-to-end: nodekit-cri as a subprocess against a real containerd (the test harness's, on a
// private socket): the crictl workflow runp → create → start → ps/logs/stats/inspect → stop →
// rm → stopp → rmp, images, info, and a pull that the runtime refuses.
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./harness/containerd.js";

const cli = join(import.meta.dirname, "../dist/cli/nodekit-cri.js");
const describeE2e = describeWithContainerd();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describeE2e("nodekit-cri against real containerd", () => {
  let h: ContainerdHarness;
  let emptyConfig: string;
  const runId = randomUUID().slice(0, 8);

  // containerd's sandbox runs take a moment: -t 30s, as one would give crictl here.
  const cri = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [cli, "-r", h.endpoint, "-t", "30s", ...args],
        { env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    h = await startContainerd();
    emptyConfig = join(h.dir, "crictl.yaml");
    writeFileSync(emptyConfig, "");
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it("version and info", async () => {
    const v = await cri("version");
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(
      /^Version: {2}0\.1\.0\nRuntimeName: {2}containerd\nRuntimeVersion: {2}\S+\nRuntimeApiVersion: {2}v1\n$/,
    );
    const info = JSON.parse((await cri("info")).stdout);
    expect(info.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status])).toEqual([
      ["RuntimeReady", true],
      ["NetworkReady", true],
    ]);
    // containerd's verbose info: JSON objects come back parsed (its CRI config).
    expect(typeof info.config).toBe("object");
  });

  it("runs the crictl workflow on a pod and a container", async () => {
    const uid = randomUUID();
    const podConfig = join(h.dir, `pod-${runId}.yaml`);
    writeFileSync(
      podConfig,
      [
        "metadata:",
        "  name: cli-pod",
        "  namespace: e2e",
        `  uid: ${uid}`,
        "  attempt: 0",
        `log_directory: ${h.dir}/logs/${uid}`,
        "labels:",
        `  nodekit-e2e: "${runId}"`,
        "linux:",
        `  cgroup_parent: ${h.cgroupParent}/pod${uid}`,
        "  security_context:",
        "    namespace_options:",
        "      network: 2", // NODE: no CNI needed for this test
        "",
      ].join("\n"),
    );
    const ctrConfig = join(h.dir, `ctr-${runId}.json`);
    writeFileSync(
      ctrConfig,
      JSON.stringify({
        metadata: { name: "printer" },
        image: { image: h.busyboxImage },
        command: ["sh", "-c", "echo out1; echo err1 >&2; exec sleep 3600"],
        log_path: "printer/0.log",
        labels: { "nodekit-e2e": runId },
      }),
    );

    const runp = await cri("runp", podConfig);
    expect(runp.stderr).toBe("");
    expect(runp.code).toBe(0);
    const podId = runp.stdout.trim();
    const create = await cri("create", podId, ctrConfig, podConfig);
    expect(create.code).toBe(0);
    const ctrId = create.stdout.trim();
    expect((await cri("start", ctrId)).stdout).toBe(`${ctrId}\n`);

    const pods = await cri("pods", "--label", `nodekit-e2e=${runId}`);
    expect(pods.stdout.split("\n")[1]?.split(/ {2,}/)).toEqual([
      podId.slice(0, 13),
      expect.stringMatching(/ ago$/),
      "Ready",
      "cli-pod",
      "e2e",
      "0",
      "(default)",
    ]);
    const ps = await cri("ps", "--pod", podId);
    expect(ps.stdout.split("\n")[1]?.split(/ {2,}/)).toEqual([
      ctrId.slice(0, 13),
      expect.any(String), // containerd reports the image id or ref
      expect.stringMatching(/ ago$/),
      "Running",
      "printer",
      "0",
      podId.slice(0, 13),
      "unknown", // no io.kubernetes.pod.* labels
      "unknown",
    ]);

    // -r shows the image by its first tag instead of containerd's image id.
    expect((await cri("ps", "-r", "--pod", podId)).stdout.split("\n")[1]?.split(/ {2,}/)[1]).toBe(h.busyboxImage);
    expect(await cri("exec", "-s", ctrId, "sh", "-c", "echo out; echo err >&2; exit 3")).toEqual({
      code: 3,
      stdout: "out\n",
      stderr: "err\n",
    });

    // logs: containerd's log file, both streams, each to its own.
    let logs: Result = { code: -1, stdout: "", stderr: "" };
    for (let i = 0; i < 50 && !(logs.stdout.includes("out1") && logs.stderr.includes("err1")); i++) {
      logs = await cri("logs", ctrId);
      if (!logs.stdout.includes("out1")) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toEqual({ code: 0, stdout: "out1\n", stderr: "err1\n" });
    // (containerd writes the two streams from two goroutines: their order in the file may vary.)
    const stamped = await cri("logs", "-t", "--tail", "2", ctrId);
    const stamp = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}(Z|[+-]\\d\\d:\\d\\d)";
    expect(stamped.stdout).toMatch(new RegExp(`^${stamp} out1\\n$`));
    expect(stamped.stderr).toMatch(new RegExp(`^${stamp} err1\\n$`));

    const inspect = JSON.parse((await cri("inspect", ctrId)).stdout);
    expect(inspect.status).toMatchObject({ id: ctrId, state: "CONTAINER_RUNNING", metadata: { name: "printer" } });
    expect(inspect.status.logPath).toBe(`${h.dir}/logs/${uid}/printer/0.log`);
    expect(typeof inspect.info).toBe("object"); // containerd's verbose info, parsed
    expect(JSON.parse((await cri("inspectp", podId)).stdout).status).toMatchObject({
      id: podId,
      state: "SANDBOX_READY",
    });

    // stats: a running container uses memory, so it shows without -a.
    const stats = await cri("stats", "--id", ctrId);
    expect(stats.code).toBe(0);
    const statRow = stats.stdout.split("\n")[1]?.split(/ {2,}/) ?? [];
    expect(statRow.slice(0, 2)).toEqual([ctrId.slice(0, 13), "printer"]);
    expect(statRow[2]).toMatch(/^\d+\.\d\d$/);
    expect(statRow[3]).toMatch(/^[\d.]+(B|kB|MB|GB)$/);

    expect((await cri("rm", ctrId)).code).toBe(1); // running: needs -f
    expect((await cri("stop", "-t", "0", ctrId)).stdout).toBe(`${ctrId}\n`);
    expect(JSON.parse((await cri("inspect", ctrId)).stdout).status.state).toBe("CONTAINER_EXITED");
    expect((await cri("ps", "-a", "--state", "exited", "-q", "--pod", podId)).stdout).toBe(`${ctrId}\n`);
    expect((await cri("rm", ctrId)).stdout).toBe(`${ctrId}\n`);
    expect((await cri("ps", "-aq", "--pod", podId)).stdout).toBe("");
    expect((await cri("stopp", podId)).stdout).toBe(`Stopped sandbox ${podId}\n`);
    expect((await cri("rmp", podId)).stdout).toBe(`Removed sandbox ${podId}\n`);
    expect((await cri("pods", "-q", "--label", `nodekit-e2e=${runId}`)).stdout).toBe("");
  });

  it("exec, attach and port-forward over containerd's streaming server", async () => {
    const uid = randomUUID();
    const podConfig = join(h.dir, `stream-pod-${runId}.json`);
    writeFileSync(
      podConfig,
      JSON.stringify({
        metadata: { name: "cli-stream", namespace: "e2e", uid, attempt: 0 },
        log_directory: `${h.dir}/logs/${uid}`,
        labels: { "nodekit-e2e": runId },
        linux: { cgroup_parent: `${h.cgroupParent}/pod${uid}` }, // pod network: port-forward needs its netns
      }),
    );
    const ctrConfig = join(h.dir, `stream-ctr-${runId}.json`);
    writeFileSync(
      ctrConfig,
      JSON.stringify({
        metadata: { name: "web" },
        image: { image: h.busyboxImage },
        command: [
          "sh",
          "-c",
          "mkdir -p /tmp/www && echo hello-from-the-pod > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && " +
            "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        ],
        log_path: "web/0.log",
        labels: { "nodekit-e2e": runId },
      }),
    );
    const podId = (await cri("runp", podConfig)).stdout.trim();
    const ctrId = (await cri("create", podId, ctrConfig, podConfig)).stdout.trim();
    expect((await cri("start", ctrId)).code).toBe(0);

    // exec: both streams and the exit code, through the WebSocket streaming client.
    expect(await cri("exec", ctrId, "sh", "-c", "echo out; echo err >&2; exit 3")).toEqual({
      code: 3,
      stdout: "out\n",
      stderr: "err\n",
    });
    expect(await cri("exec", ctrId, "echo", "plain")).toEqual({ code: 0, stdout: "plain\n", stderr: "" });
    // -i: our stdin reaches the command (containerd speaks v4: no stdin close on the wire, so
    // the command reads one line instead of waiting for EOF).
    const piped = await new Promise<Result>((resolve) => {
      const child = execFile(
        process.execPath,
        [cli, "-r", h.endpoint, "-t", "30s", "exec", "-i", ctrId, "head", "-n", "1"],
        { env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.write("piped line\n");
    });
    expect(piped).toEqual({ code: 0, stdout: "piped line\n", stderr: "" });
    // -t without a terminal on stdin is refused as crictl refuses it.
    expect((await cri("exec", "-it", ctrId, "sh")).stderr).toBe("nodekit-cri exec: input is not a terminal\n");

    const spawnCli = (...args: string[]) =>
      spawn(process.execPath, [cli, "-r", h.endpoint, "-t", "30s", ...args], {
        env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig },
      });
    const waitFor = async (what: string, probe: () => boolean) => {
      for (let i = 0; i < 200 && !probe(); i++) await new Promise((r) => setTimeout(r, 50));
      if (!probe()) throw new Error(`timed out waiting for ${what}`);
    };

    // attach: the running container's output as it comes; Ctrl-C ends it (130).
    const attach = spawnCli("attach", ctrId);
    let attached = "";
    attach.stdout.on("data", (d: Buffer) => {
      attached += d.toString();
    });
    const attachExit = new Promise<number | null>((resolve) => attach.on("exit", (code) => resolve(code)));
    await waitFor("ticks through attach", () => /tick \d+\n.*tick \d+\n/s.test(attached));
    attach.kill("SIGINT");
    expect(await attachExit).toBe(130);

    // port-forward: a local port into the pod's httpd, with client-go's lines.
    const pf = spawnCli("port-forward", podId, ":8080");
    let pfOut = "";
    let pfErr = "";
    pf.stdout.on("data", (d: Buffer) => {
      pfOut += d.toString();
    });
    pf.stderr.on("data", (d: Buffer) => {
      pfErr += d.toString();
    });
    const pfExit = new Promise<number | null>((resolve) => pf.on("exit", (code) => resolve(code)));
    await waitFor(`port-forward to listen (stderr: ${pfErr})`, () =>
      /Forwarding from 127\.0\.0\.1:\d+ -> 8080\n/.test(pfOut),
    );
    const localPort = Number(/127\.0\.0\.1:(\d+) -> 8080/.exec(pfOut)?.[1]);
    const res = await fetch(`http://127.0.0.1:${localPort}/`);
    expect(await res.text()).toBe("hello-from-the-pod\n");
    expect(pfOut).toContain(`Handling connection for ${localPort}\n`);
    pf.kill("SIGINT");
    expect(await pfExit).toBe(0);

    expect((await cri("rmp", "-f", podId)).code).toBe(0);
  });

  it("lists and inspects images; rmi removes one; a pull from nowhere is refused by containerd", async () => {
    const images = await cri("images");
    const rows = images.stdout
      .trimEnd()
      .split("\n")
      .map((l) => l.split(/ {2,}/));
    expect(rows[0]).toEqual(["IMAGE", "TAG", "IMAGE ID", "SIZE"]);
    const [repo, tag] = h.busyboxImage.split(/:(?=[^:]*$)/);
    expect(rows.some((r) => r[0] === repo && r[1] === tag && /^[0-9a-f]{13}$/.test(r[2] ?? ""))).toBe(true);
    const inspecti = JSON.parse((await cri("inspecti", h.busyboxImage)).stdout);
    expect(inspecti.status.repoTags).toContain(h.busyboxImage);
    expect(Number(inspecti.status.size)).toBeGreaterThan(0);

    expect(await cri("rmi", h.extraImage)).toEqual({ code: 0, stdout: `Deleted: ${h.extraImage}\n`, stderr: "" });
    // (containerd 1.6 ignores ListImages' filter, so `images NAME` would list all: ask by status.)
    expect((await cri("inspecti", h.extraImage)).stderr).toBe(
      `nodekit-cri inspecti: no such image ${JSON.stringify(h.extraImage)} present\n`,
    );

    const pull = await cri("pull", "127.0.0.1:1/nodekit/unreachable:1");
    expect(pull.code).toBe(1);
    expect(pull.stdout).toBe("");
    expect(pull.stderr).toMatch(/^nodekit-cri pull: pulling image: PullImage: \[\w+\] .*127\.0\.0\.1:1/);
  });
});
