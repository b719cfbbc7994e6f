// nodekit-cri as a subprocess against the fake runtime served on a unix socket. Expected output
// follows crictl (cmd/crictl in kubernetes-sigs/cri-tools): its column names, its tabwriter
// layout (cells padded to the widest + 3, at least 20), its messages, its JSON (proto3 JSON with
// default values).
import { execFile, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  AttachRequest,
  type CriServer,
  createCriServer,
  createStreamingServer,
  ExecRequest,
  PortForwardRequest,
} from "../src/index.js";
import { createFakeRuntime, type FakeRuntime } from "../src/testing/index.js";

const cli = join(import.meta.dirname, "../dist/cli/nodekit-cri.js");
const emptyConfig = join(mkdtempSync(join(tmpdir(), "nk-cri-cli-config-")), "crictl.yaml");
writeFileSync(emptyConfig, "");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string | undefined> = {}, stdin?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, ...args],
      // An empty config file of our own: a machine's /etc/crictl.yaml must not steer the tests.
      { env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

describe("nodekit-cri against the fake runtime on a socket", () => {
  let dir: string;
  let server: CriServer;
  let fake: FakeRuntime;
  let sock: string;
  const cri = (...args: string[]) => run(["-r", `unix://${sock}`, ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "nk-cri-cli-"));
    sock = join(dir, "fake.sock");
    fake = createFakeRuntime({ registry: ["local.test/pulled:2"] });
    fake.addImage("local.test/removable:1", 4_400_000);
    server = createCriServer({ runtime: fake, image: fake });
    await server.listen(sock);
    writeFileSync(
      join(dir, "pod.json"),
      JSON.stringify({
        metadata: { name: "web-sandbox", namespace: "default", attempt: 1, uid: "web-uid" },
        log_directory: join(dir, "logs"),
        labels: { app: "web" },
        linux: { cgroup_parent: "/nodekit-test" },
      }),
    );
    writeFileSync(
      join(dir, "ctr.yaml"),
      [
        "metadata:",
        "  name: app",
        "image:",
        "  image: docker.io/library/busybox:latest",
        "command: [sh, -c, 'echo hi; sleep 3600']",
        "log_path: app/0.log",
        "labels:",
        "  io.kubernetes.pod.name: web",
        "  io.kubernetes.pod.namespace: default",
        "",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("version prints crictl's four lines", async () => {
    const r = await cri("version");
    expect(r).toEqual({
      code: 0,
      stdout: "Version:  0.1.0\nRuntimeName:  nodekit-fake\nRuntimeVersion:  0.1.0\nRuntimeApiVersion:  v1\n",
      stderr: "",
    });
  });

  it("runs a pod and a container from crictl config files, lists and inspects them", async () => {
    const runp = await cri("runp", join(dir, "pod.json"));
    expect(runp.code).toBe(0);
    const podId = runp.stdout.trim();
    expect(podId).toMatch(/^[0-9a-f]{64}$/);
    const create = await cri("create", podId, join(dir, "ctr.yaml"), join(dir, "pod.json"));
    expect(create.code).toBe(0);
    const ctrId = create.stdout.trim();
    expect(ctrId).toMatch(/^[0-9a-f]{64}$/);

    // A created container is not running: `ps` (running only) does not show it, `ps -a` does.
    expect((await cri("ps", "-q")).stdout).toBe("");
    expect((await cri("ps", "-aq")).stdout).toBe(`${ctrId}\n`);
    expect((await cri("ps", "--state", "created", "-q")).stdout).toBe(`${ctrId}\n`);
    expect(await cri("start", ctrId)).toEqual({ code: 0, stdout: `${ctrId}\n`, stderr: "" });

    // exec -s: ExecSync; the command's output on our stdout/stderr, its exit code as ours.
    expect(await cri("exec", "-s", ctrId, "echo", "hello", "cli")).toEqual({
      code: 0,
      stdout: "hello cli\n",
      stderr: "",
    });
    expect(await cri("exec", "-s", ctrId, "sh", "-c", "echo oops >&2; exit 3")).toEqual({
      code: 3,
      stdout: "",
      stderr: "oops\n",
    });
    expect(await cri("exec", "-s", "--name", "^app$", "echo", "x")).toEqual({
      code: 0,
      stdout: `${ctrId}:\nx\n`,
      stderr: "",
    });
    // Streaming exec against a runtime without it: the runtime's refusal, exit 1.
    const noStreams = await cri("exec", ctrId, "echo", "x");
    expect([noStreams.code, noStreams.stderr]).toEqual([
      1,
      expect.stringMatching(/^nodekit-cri exec: execing command in container [0-9a-f]{64}: Exec: \[Unimplemented\]/),
    ]);

    const pods = await cri("pods");
    const [header, row, end] = pods.stdout.split("\n");
    // crictl's columns; each cell but the last padded to max(20, widest + 3).
    const created = /^.{20}(.+? ago) /.exec(row ?? "")?.[1] ?? "";
    expect(created).toMatch(/^(Less than a second|\d+ seconds?) ago$/);
    const w = Math.max(20, created.length + 3);
    expect(header).toBe(
      `${"POD ID".padEnd(20)}${"CREATED".padEnd(w)}${"STATE".padEnd(20)}${"NAME".padEnd(20)}${"NAMESPACE".padEnd(20)}${"ATTEMPT".padEnd(20)}RUNTIME`,
    );
    expect(row).toBe(
      `${podId.slice(0, 13).padEnd(20)}${created.padEnd(w)}${"Ready".padEnd(20)}${"web-sandbox".padEnd(20)}${"default".padEnd(20)}${"1".padEnd(20)}(default)`,
    );
    expect(end).toBe("");

    const ps = await cri("ps");
    const [psHeader, psRow] = ps.stdout.split("\n");
    expect(psHeader?.split(/ {2,}/)).toEqual([
      "CONTAINER",
      "IMAGE",
      "CREATED",
      "STATE",
      "NAME",
      "ATTEMPT",
      "POD ID",
      "POD",
      "NAMESPACE",
    ]);
    expect(psRow?.split(/ {2,}/)).toEqual([
      ctrId.slice(0, 13),
      "docker.io/library/busybox:latest",
      expect.stringMatching(/ ago$/),
      "Running",
      "app",
      "0",
      podId.slice(0, 13),
      "web",
      "default",
    ]);
    expect((await cri("ps", "--no-trunc", "-q")).stdout).toBe(`${ctrId}\n`);
    expect((await cri("ps", "--no-trunc")).stdout).toContain(ctrId);

    // Filters: --name is a regular expression, --label key=value, --pod, --id (prefix).
    expect((await cri("ps", "-q", "--name", "^ap")).stdout).toBe(`${ctrId}\n`);
    expect((await cri("ps", "-q", "--name", "^nope")).stdout).toBe("");
    expect((await cri("pods", "-q", "--label", "app=web")).stdout).toBe(`${podId}\n`);
    expect((await cri("pods", "-q", "--label", "app=db")).stdout).toBe("");
    expect((await cri("pods", "-q", "--state", "NotReady")).stdout).toBe("");
    expect((await cri("ps", "-q", "--pod", podId)).stdout).toBe(`${ctrId}\n`);
    expect((await cri("ps", "-q", "--id", ctrId.slice(0, 6))).stdout).toBe(`${ctrId}\n`);
    expect((await cri("pods", "-q", "--namespace", "^def")).stdout).toBe(`${podId}\n`);

    // -o json: proto3 JSON with default values, as crictl prints it (a READY sandbox has state 0).
    const podsJson = JSON.parse((await cri("pods", "-o", "json")).stdout);
    expect(podsJson.items).toHaveLength(1);
    expect(podsJson.items[0]).toMatchObject({
      id: podId,
      metadata: { name: "web-sandbox", namespace: "default", uid: "web-uid", attempt: 1 },
      state: "SANDBOX_READY",
      labels: { app: "web" },
      runtimeHandler: "",
    });
    expect(podsJson.items[0].createdAt).toMatch(/^\d{19}$/); // int64 as a string
    const psYaml = parseYaml((await cri("ps", "-o", "yaml")).stdout);
    expect(psYaml.containers[0]).toMatchObject({ id: ctrId, state: "CONTAINER_RUNNING", podSandboxId: podId });

    // inspect*: {status, info} with keys sorted and times in RFC 3339.
    const inspect = JSON.parse((await cri("inspect", ctrId)).stdout);
    expect(Object.keys(inspect)).toEqual(["status"]);
    expect(inspect.status).toMatchObject({
      id: ctrId,
      state: "CONTAINER_RUNNING",
      metadata: { name: "app", attempt: 0 },
      finishedAt: "0001-01-01T00:00:00Z",
      logPath: join(dir, "logs", "app/0.log"),
    });
    expect(inspect.status.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Object.keys(inspect.status)).toEqual([...Object.keys(inspect.status)].sort());
    const inspectp = JSON.parse((await cri("inspectp", podId)).stdout);
    expect(inspectp.status).toMatchObject({ id: podId, state: "SANDBOX_READY" });
    // Without IDs the filters choose: --latest, --name.
    expect(JSON.parse((await cri("inspectp", "--latest")).stdout).status.id).toBe(podId);
    expect(JSON.parse((await cri("inspect", "--name", "app")).stdout).status.id).toBe(ctrId);
    const table = await cri("inspectp", "-o", "table", podId);
    expect(table.stdout).toMatch(
      new RegExp(
        `^ID: ${podId}\nName: web-sandbox\nUID: web-uid\nNamespace: default\nAttempt: 1\nStatus: SANDBOX_READY\n`,
      ),
    );

    // logs: the CRI log file at the container's logPath, stdout lines to stdout, stderr to stderr.
    mkdirSync(join(dir, "logs", "app"), { recursive: true });
    writeFileSync(
      join(dir, "logs", "app/0.log"),
      [
        "2026-01-02T03:04:05.1Z stdout F first",
        "2026-01-02T03:04:06.000000002Z stderr F oops",
        "2026-01-02T03:04:07Z stdout P par",
        "2026-01-02T03:04:07.5Z stdout F tial",
        "",
      ].join("\n"),
    );
    expect(await cri("logs", ctrId)).toEqual({ code: 0, stdout: "first\npartial\n", stderr: "oops\n" });
    expect((await cri("logs", "--tail", "1", ctrId)).stdout).toBe("partial\n");
    const stamped = await cri("logs", "-t", ctrId);
    expect(stamped.stdout).toBe("2026-01-02T03:04:05.100000000Z first\n2026-01-02T03:04:07.000000000Z partial\n");
    expect(stamped.stderr).toBe("2026-01-02T03:04:06.000000002Z oops\n");
    expect((await cri("logs", "--since", "2026-01-02T03:04:06Z", ctrId)).stdout).toBe("partial\n");
    expect((await cri("logs", "--stream", "stderr", ctrId)).stdout).toBe("");
    const both = await cri("logs", "--tail", "1", "--stream", "stdout", ctrId);
    expect([both.code, both.stderr]).toEqual([2, "nodekit-cri logs: --tail and --stream are mutually exclusive\n"]);

    // logs -f: follows the file as it grows, and ends once the container no longer runs.
    const follower = spawn(process.execPath, [cli, "-r", `unix://${sock}`, "logs", "-f", ctrId], {
      env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig },
    });
    let followed = "";
    follower.stdout.on("data", (d: Buffer) => {
      followed += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => follower.on("exit", (code) => resolve(code)));
    // What is there first (so the follower is reading), then what is appended.
    for (let i = 0; i < 200 && followed !== "first\npartial\n"; i++) await new Promise((r) => setTimeout(r, 50));
    expect(followed).toBe("first\npartial\n");
    appendFileSync(join(dir, "logs", "app/0.log"), "2026-01-02T03:04:08Z stdout F later\n");
    for (let i = 0; i < 200 && !followed.includes("later"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(followed).toBe("first\npartial\nlater\n");
    await fake.stopContainer({ containerId: ctrId, timeout: 0n });
    expect(await exited).toBe(0);
    await fake.removeContainer({ containerId: ctrId });
    const again = await cri("create", podId, join(dir, "ctr.yaml"), join(dir, "pod.json"));
    const ctrId2 = again.stdout.trim();
    await cri("start", ctrId2);

    // stats: the fake reports zero usage, so only -a shows the container (crictl skips idle ones).
    const stats = await cri("stats", "-a", "-s", "0");
    expect(stats.stdout.split("\n")[0]?.split(/ {2,}/)).toEqual([
      "CONTAINER",
      "NAME",
      "CPU %",
      "MEM",
      "DISK",
      "INODES",
      "SWAP",
    ]);
    expect(stats.stdout.split("\n")[1]?.split(/ {2,}/)).toEqual([
      ctrId2.slice(0, 13),
      "app",
      "0.00",
      "0B",
      "0B",
      "0",
      "0B",
    ]);
    expect(JSON.parse((await cri("stats", "-o", "json")).stdout).stats[0].attributes.id).toBe(ctrId2);

    // rm refuses a running container without -f; stop, then rm.
    const refused = await cri("rm", ctrId2);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `nodekit-cri rm: container "${ctrId2}" is running, please stop it first\n`,
    ]);
    expect(await cri("stop", "-t", "0", ctrId2)).toEqual({ code: 0, stdout: `${ctrId2}\n`, stderr: "" });
    expect(JSON.parse((await cri("inspect", ctrId2)).stdout).status.state).toBe("CONTAINER_EXITED");
    expect((await cri("rm", ctrId2)).stdout).toBe(`${ctrId2}\n`);
    expect((await cri("ps", "-aq")).stdout).toBe("");

    // rmp refuses a ready pod without -f; stopp, then rmp.
    expect((await cri("rmp", podId)).code).toBe(1);
    expect(await cri("stopp", podId)).toEqual({ code: 0, stdout: `Stopped sandbox ${podId}\n`, stderr: "" });
    expect((await cri("pods", "--state", "notready", "-q")).stdout).toBe(`${podId}\n`);
    expect(await cri("rmp", podId)).toEqual({ code: 0, stdout: `Removed sandbox ${podId}\n`, stderr: "" });
    expect((await cri("pods", "-q")).stdout).toBe("");
  });

  it("lists, inspects, pulls and removes images", async () => {
    const images = await cri("images");
    const lines = images.stdout.trimEnd().split("\n");
    expect(lines[0]?.split(/ {2,}/)).toEqual(["IMAGE", "TAG", "IMAGE ID", "SIZE"]);
    // Sorted by first tag; sizes in go-units' decimal units with 3 significant digits.
    const rows = lines.slice(1).map((l) => l.split(/ {2,}/));
    expect(rows.map((r) => [r[0], r[1], r[3]])).toEqual([
      ["docker.io/library/busybox", "latest", "1.05MB"], // 1 MiB = 1,048,576 B
      ["local.test/removable", "1", "4.4MB"],
      ["registry.k8s.io/pause", "3.10", "1.05MB"],
    ]);
    expect(rows.every((r) => /^[0-9a-f]{13}$/.test(r[2] ?? ""))).toBe(true);
    expect((await cri("images", "--digests")).stdout.split("\n")[0]?.split(/ {2,}/)).toEqual([
      "IMAGE",
      "TAG",
      "DIGEST",
      "IMAGE ID",
      "SIZE",
    ]);
    expect((await cri("images", "-q", "local.test/removable:1")).stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await cri("images", "-f", "reference=removable", "-q")).stdout.split("\n")).toHaveLength(2);

    const inspecti = JSON.parse((await cri("inspecti", "local.test/removable:1")).stdout);
    expect(inspecti.status).toMatchObject({ repoTags: ["local.test/removable:1"], size: "4400000", pinned: false });
    const absent = await cri("inspecti", "local.test/absent:1");
    expect([absent.code, absent.stderr]).toEqual([
      1,
      'nodekit-cri inspecti: no such image "local.test/absent:1" present\n',
    ]);

    const pulled = await cri("pull", "local.test/pulled:2");
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(/^Image is up to date for sha256:[0-9a-f]{64}\n$/);
    const notThere = await cri("pull", "local.test/nowhere:1");
    expect(notThere.code).toBe(1);
    expect(notThere.stderr).toMatch(
      /^nodekit-cri pull: pulling image: PullImage: \[NotFound\] .*local\.test\/nowhere:1/,
    );

    expect(await cri("rmi", "local.test/removable:1")).toEqual({
      code: 0,
      stdout: "Deleted: local.test/removable:1\n",
      stderr: "",
    });
    const gone = await cri("rmi", "local.test/removable:1");
    expect([gone.code, gone.stderr]).toEqual([1, "nodekit-cri rmi: no such image local.test/removable:1\n"]);
  });

  it("info prints the runtime's status as crictl does", async () => {
    const info = JSON.parse((await cri("info")).stdout);
    expect(info.status.conditions).toEqual([
      { type: "RuntimeReady", status: true, reason: "", message: "" },
      { type: "NetworkReady", status: true, reason: "", message: "" },
    ]);
    expect(parseYaml((await cri("info", "-o", "yaml")).stdout).status.conditions).toHaveLength(2);
  });

  it("takes the endpoint from the flag, CONTAINER_RUNTIME_ENDPOINT, or crictl's config file, in that order", async () => {
    const config = join(dir, "crictl.yaml");
    writeFileSync(config, `runtime-endpoint: unix://${sock}\ntimeout: 10\ndebug: false\n`);
    const bogus = `unix://${join(dir, "none.sock")}`;
    expect((await run(["version"], { CONTAINER_RUNTIME_ENDPOINT: `unix://${sock}` })).code).toBe(0);
    // The flag beats the environment, which beats the config file.
    expect((await run(["-r", `unix://${sock}`, "version"], { CONTAINER_RUNTIME_ENDPOINT: bogus })).code).toBe(0);
    expect((await run(["--config", config, "version"], { CONTAINER_RUNTIME_ENDPOINT: bogus })).code).toBe(3);
    expect((await run(["--config", config, "version"])).code).toBe(0);
    expect((await run(["version"], { CRI_CONFIG_FILE: config })).code).toBe(0);
    // CRI_CONFIG_FILE names the config file as --config does; the flag wins.
    const other = join(dir, "other.yaml");
    writeFileSync(other, `runtime-endpoint: ${bogus}\n`);
    expect((await run(["--config", other, "version"], { CRI_CONFIG_FILE: config })).code).toBe(3);
    expect((await run(["-c", config, "-r", bogus, "version"])).code).toBe(3);
    // A config file that was asked for must exist and be valid.
    writeFileSync(join(dir, "bad.yaml"), "runtime-endpoint: x\nbogus: 1\n");
    expect(await run(["--config", join(dir, "bad.yaml"), "version"])).toEqual({
      code: 2,
      stdout: "",
      stderr: `nodekit-cri: config file ${join(dir, "bad.yaml")}: Config option 'bogus' is not valid\n`,
    });
    expect((await run(["--config", join(dir, "missing.yaml"), "version"])).code).toBe(2);
  });

  it("stops early with one clear line and exit 3 when the endpoint is unreachable", async () => {
    const missing = await run(["-r", join(dir, "none.sock"), "ps"]);
    expect(missing).toEqual({
      code: 3,
      stdout: "",
      stderr: `nodekit-cri ps: cannot reach the runtime at ${join(dir, "none.sock")}: no socket at ${join(dir, "none.sock")}\n`,
    });
    // A socket file nobody listens on.
    const deadPath = join(dir, "dead.sock");
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(deadPath, resolve));
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    writeFileSync(deadPath, ""); // the path stays, nothing listens
    const dead = await run(["-r", deadPath, "pods"]);
    expect(dead.code).toBe(3);
    expect(dead.stdout).toBe("");
    expect(dead.stderr).toMatch(new RegExp(`^nodekit-cri: cannot reach the runtime at ${deadPath}: [^\\n]+\\n$`));
  });

  it("exits 2 on bad usage", async () => {
    const unknown = await cri("frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^nodekit-cri: No help topic for 'frobnicate'\n/);
    expect((await cri("ps", "--bogus")).code).toBe(2);
    expect(await cri("pods", "--state", "sleepy")).toEqual({
      code: 2,
      stdout: "",
      stderr: "nodekit-cri pods: --state should be ready or notready\n",
    });
    expect((await cri("ps", "--label", "novalue")).stderr).toBe(
      "nodekit-cri ps: incorrectly specified label: novalue\n",
    );
    expect((await cri("inspect", "-o", "go-template", "x")).code).toBe(2);
    expect((await cri("runp", join(dir, "absent.json"))).stderr).toBe(
      `nodekit-cri runp: config at ${join(dir, "absent.json")} not found\n`,
    );
    expect(await run(["--version"])).toEqual({ code: 0, stdout: "nodekit-cri version 0.1.0\n", stderr: "" });
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit status: 0 success; 1 the runtime refused a call");
  });

  it("exec, attach and port-forward through a shim's streaming server (the server kit)", async () => {
    const base = createFakeRuntime();
    const seen: { cmd?: string[]; tty?: boolean; size?: unknown } = {};
    const streaming = createStreamingServer({
      async exec(request, streams) {
        seen.cmd = request.cmd;
        seen.tty = streams.tty;
        if (streams.tty) {
          // The client sends the terminal's size right after connecting.
          await new Promise<void>((resolve) => {
            if (streams.terminalSize) resolve();
            streams.onResize(() => resolve());
            setTimeout(resolve, 5000);
          });
          seen.size = streams.terminalSize;
          streams.stdout?.write("tty ok\r\n");
          return 0;
        }
        streams.stdout?.write(`ran ${request.cmd.join(" ")}\n`);
        streams.stderr?.write("to stderr\n");
        if (streams.stdin) for await (const chunk of streams.stdin) streams.stdout?.write(`stdin: ${chunk}`);
        return request.cmd[0] === "fail" ? 4 : 0;
      },
      async attach(_request, streams) {
        streams.stdout?.write("attached output\n");
        return 0;
      },
      async portForward(target, stream) {
        // An echo service "inside the pod", answering with the port it was reached on.
        for await (const chunk of stream) stream.write(`${target.port}:${chunk}`);
        stream.end();
      },
    });
    await streaming.start();
    const runtime = Object.create(base) as typeof base;
    runtime.exec = async (request) => streaming.getExec(ExecRequest.fromPartial(request));
    runtime.attach = async (request) => streaming.getAttach(AttachRequest.fromPartial(request));
    runtime.portForward = async (request) => streaming.getPortForward(PortForwardRequest.fromPartial(request));
    const shimSock = join(dir, "streams.sock");
    const shim = createCriServer({ runtime, image: base });
    await shim.listen(shimSock);
    const sh = (args: string[], stdin?: string) => run(["-r", shimSock, ...args], {}, stdin);
    try {
      const { podSandboxId } = await base.runPodSandbox({
        config: { metadata: { name: "s", namespace: "default", uid: "s-uid" } },
      });
      const { containerId } = await base.createContainer({
        podSandboxId,
        config: { metadata: { name: "c" }, image: { image: "docker.io/library/busybox:latest" } },
      });
      await base.startContainer({ containerId });

      expect(await sh(["exec", containerId, "echo", "hi"])).toEqual({
        code: 0,
        stdout: "ran echo hi\n",
        stderr: "to stderr\n",
      });
      expect(seen).toEqual({ cmd: ["echo", "hi"], tty: false });
      expect((await sh(["exec", containerId, "fail"])).code).toBe(4); // the command's exit code
      // -i: our stdin to the command; its end reaches it (v5.channel.k8s.io's close signal).
      expect((await sh(["exec", "-i", containerId, "cat"], "piped line\n")).stdout).toBe(
        "ran cat\nstdin: piped line\n",
      );
      expect(await sh(["attach", containerId])).toEqual({ code: 0, stdout: "attached output\n", stderr: "" });
      // -it in a terminal (script(1) gives one): raw mode, the size on the resize channel.
      const inTty = await new Promise<Result>((resolve) => {
        execFile(
          "script",
          [
            "-qec",
            `stty cols 100 rows 30; ${process.execPath} ${cli} -r ${shimSock} exec -it ${containerId} sh`,
            "/dev/null",
          ],
          { env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig } },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(inTty.code).toBe(0);
      expect(inTty.stdout).toContain("tty ok");
      expect(seen).toMatchObject({ cmd: ["sh"], tty: true, size: { width: 100, height: 30 } });

      const pf = spawn(process.execPath, [cli, "-r", shimSock, "port-forward", podSandboxId, ":7070", "7071"], {
        env: { PATH: process.env.PATH, CRI_CONFIG_FILE: emptyConfig },
      });
      let out = "";
      pf.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => pf.on("exit", (code) => resolve(code)));
      for (let i = 0; i < 100 && !/-> 7071\n/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      const [, first, second] =
        /127\.0\.0\.1:(\d+) -> 7070\nForwarding from 127\.0\.0\.1:(\d+) -> 7071\n/.exec(out) ?? [];
      expect(Number(first)).toBeGreaterThan(0);
      expect(second).toBe("7071"); // LOCAL_PORT omitted: the same as the remote one
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(first), "127.0.0.1", () => sock.write("ping"));
        sock.once("data", (d) => {
          resolve(d.toString());
          sock.destroy();
        });
        sock.once("error", reject);
      });
      expect(answer).toBe("7070:ping");
      expect(out).toContain(`Handling connection for ${first}\n`);
      pf.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      await shim.close();
      await streaming.close();
    }
  });

  it("refuses a runtime's response that lacks what cri-client requires", async () => {
    const broken = createFakeRuntime();
    const brokenSock = join(dir, "broken.sock");
    const brokenServer = createCriServer({
      runtime: {
        ...broken,
        containerStatus: async () => ({
          status: { id: "c1", metadata: { name: "x" }, createdAt: 1n, image: { image: "i" } },
        }),
      },
      image: broken,
    });
    await brokenServer.listen(brokenSock);
    try {
      const r = await run(["-r", brokenSock, "inspect", "c1"]);
      expect(r).toEqual({
        code: 1,
        stdout: "",
        stderr:
          "nodekit-cri inspect: get container status: ContainerStatus: [Internal] invalid response: status.imageRef is not set\n",
      });
    } finally {
      await brokenServer.close();
    }
  });
});
