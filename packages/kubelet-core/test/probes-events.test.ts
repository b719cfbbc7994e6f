// The kubelet's probe events (pkg/kubelet/prober/prober.go), its retries of a probe that errored
// (maxProbeRetries), exec probe timeouts, and the worker's pauses (pkg/kubelet/prober/worker.go),
// in virtual time on the fake runtime.
import { Code, CriError } from "@nodekit/cri";
import { describe, expect, it } from "vitest";
import type { Pod } from "../src/index.js";
import { maxProbeRetries } from "../src/index.js";
import { expandCommand } from "../src/sync/prober.js";
import { createScenario, type Scenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

function pod(name: string, container: object): Pod {
  return {
    metadata: { name, namespace: "default", uid: `uid-${name}` },
    spec: { containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"], ...container }] },
  };
}

type Answer = { exitCode?: number; stdout?: string; stderr?: string } | Error | "hang";

/** Answers in turn; the last one sticks. */

/** An exec script: each command answers what the test set last, and every call is kept. */
function script(getScenario: () => Scenario) {
  const answers = new Map<string, Answer[]>();
  const calls: { cmd: string; containerId: string; at: number }[] = [];
  return {
    calls,
    set: (cmd: string, a: Answer | Answer[]) => answers.set(cmd, Array.isArray(a) ? [...a] : [a]),
    exec: async ({ cmd, containerId }: { cmd: string[]; containerId: string }) => {
      const s = getScenario();
      calls.push({ cmd: cmd.join(" "), containerId, at: s.clock.now() });
      const queue = answers.get(cmd.join(" ")) ?? [{ exitCode: 0 }];
      const a = queue.length > 1 ? defined(queue.shift()) : defined(queue[0]);
      if (a instanceof Error) throw a;
      if (a === "hang") {
        // As containerd does when the command outlives the ExecSync timeout (the probe's timeoutSeconds).
        const last = s.runtime.callLog.filter((c) => c.method === "ExecSync").at(-1);
        const timeout = Number((last?.request as { timeout?: bigint } | undefined)?.timeout ?? 0n);
        await new Promise((r) => s.clock.setTimeout(() => r(undefined), timeout * 1000));
        throw new CriError(Code.DeadlineExceeded, `timeout ${timeout}s exceeded: context deadline exceeded`);
      }
      return a;
    },
  };
}

function setup(container: object) {
  let s: Scenario | undefined;
  const sc = script(() => defined(s));
  s = createScenario({ runtime: { exec: sc.exec }, pods: [pod("p", container)] });
  return { s, sc };
}

const unhealthy = (s: Scenario) => s.events.filter((e) => e.reason === "Unhealthy").map((e) => e.message);
const ready = (s: Scenario) => s.status("p")?.conditions?.find((c) => c.type === "Ready")?.status;

describe("Warning Unhealthy events, as the kubelet's prober records them", () => {
  it("a failed exec probe: '<Kind> probe failed: <output>' (stdout then stderr), for every failed run", async () => {
    const { s, sc } = setup({
      livenessProbe: { exec: { command: ["alive"] }, periodSeconds: 10, failureThreshold: 3 },
      readinessProbe: { exec: { command: ["ready"] }, periodSeconds: 10 },
    });
    sc.set("alive", { exitCode: 1, stdout: "not ok\n", stderr: "disk full\n" });
    sc.set("ready", { exitCode: 2, stdout: "warming up" });
    await s.runUntil(() => s.status("p")?.containerStatuses?.[0]?.restartCount === 1, 120_000);
    const messages = unhealthy(s);
    expect(messages.filter((m) => m.startsWith("Liveness")).slice(0, 3)).toEqual([
      "Liveness probe failed: not ok\ndisk full\n",
      "Liveness probe failed: not ok\ndisk full\n",
      "Liveness probe failed: not ok\ndisk full\n",
    ]);
    expect(messages).toContain("Readiness probe failed: warming up");
    const e = defined(s.events.find((x) => x.reason === "Unhealthy"));
    expect(e).toMatchObject({ type: "Warning", container: "app", pod: { name: "p", namespace: "default" } });
  });

  it("a startup probe that fails: 'Startup probe failed: …', then the kill for the startup probe", async () => {
    const { s, sc } = setup({
      startupProbe: { exec: { command: ["started"] }, periodSeconds: 2, failureThreshold: 2 },
    });
    sc.set("started", { exitCode: 1, stdout: "no" });
    await s.runUntil(() => s.status("p")?.containerStatuses?.[0]?.restartCount === 1, 60_000);
    expect(unhealthy(s)[0]).toBe("Startup probe failed: no");
    expect(s.events.find((e) => e.reason === "Killing")?.message).toBe(
      "Container app failed startup probe, will be restarted",
    );
  });
});

describe("probe errors: retried within the period, reported, thrown away", () => {
  it(`an exec that cannot run is tried ${maxProbeRetries} times per period and never counts`, async () => {
    const { s, sc } = setup({
      livenessProbe: { exec: { command: ["nope"] }, periodSeconds: 10, failureThreshold: 1 },
    });
    sc.set(
      "nope",
      new CriError(Code.Unknown, 'failed to exec in container: executable file "nope" not found in $PATH'),
    );
    await s.runFor(35_000);
    // Four periods (0, 10, 20, 30 s), three attempts in each, all at the period's start.
    const times = sc.calls.filter((c) => c.cmd === "nope").map((c) => c.at - defined(sc.calls[0]).at);
    expect(times).toEqual([0, 0, 0, 10_000, 10_000, 10_000, 20_000, 20_000, 20_000, 30_000, 30_000, 30_000]);
    // failureThreshold 1, yet no restart: an error is not a failure.
    expect(s.status("p")?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(unhealthy(s)).toHaveLength(4);
    expect(unhealthy(s)[0]).toBe(
      'Liveness probe errored and resulted in unknown state: rpc error: code = Unknown desc = failed to exec in container: executable file "nope" not found in $PATH',
    );
  });

  it("an attempt that errors and one that then answers: the answer counts, no event", async () => {
    const { s, sc } = setup({ readinessProbe: { exec: { command: ["flaky"] }, periodSeconds: 5 } });
    sc.set("flaky", [
      new CriError(Code.Unavailable, "runtime busy"),
      new CriError(Code.Unavailable, "runtime busy"),
      {},
    ]);
    expect(await s.runUntil(() => ready(s) === "True", 1_000)).toBe(true);
    const times = sc.calls.filter((c) => c.cmd === "flaky").map((c) => c.at);
    expect(times).toHaveLength(3);
    expect(new Set(times).size).toBe(1); // all three within the first run
    expect(unhealthy(s)).toEqual([]);
  });

  it("a readiness probe whose port name the container lacks: errored events, not ready, never a restart", async () => {
    const { s } = setup({
      ports: [{ name: "web", containerPort: 8080 }],
      readinessProbe: { tcpSocket: { port: "admin" }, periodSeconds: 5 },
    });
    await s.runFor(12_000);
    expect(ready(s)).toBe("False");
    expect(unhealthy(s)[0]).toBe(
      'Readiness probe errored and resulted in unknown state: strconv.Atoi: parsing "admin": invalid syntax',
    );
  });
});

describe("exec probe timeouts (ExecProbeTimeout)", () => {
  it("ExecSync gets timeoutSeconds; a command that outlives it is a failure, counted toward the threshold", async () => {
    const { s, sc } = setup({
      livenessProbe: { exec: { command: ["slow"] }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 2 },
    });
    await s.runFor(15_000);
    expect(s.status("p")?.containerStatuses?.[0]?.restartCount).toBe(0);
    sc.set("slow", "hang");
    await s.runUntil(() => s.status("p")?.containerStatuses?.[0]?.restartCount === 1, 120_000);
    const execs = s.runtime.callLog.filter((c) => c.method === "ExecSync");
    expect(new Set(execs.map((c) => (c.request as { timeout: bigint }).timeout))).toEqual(new Set([3n]));
    // The exec wrote nothing before it was stopped: the kubelet's event has an empty output.
    expect(unhealthy(s).slice(0, 2)).toEqual(["Liveness probe failed: ", "Liveness probe failed: "]);
  });
});

describe("the worker's pauses (pkg/kubelet/prober/worker.go)", () => {
  it("after a liveness failure verdict the container is not probed again; its successor is", async () => {
    const { s, sc } = setup({ livenessProbe: { exec: { command: ["alive"] }, periodSeconds: 1, failureThreshold: 2 } });
    sc.set("alive", { exitCode: 1 });
    await s.runUntil(() => s.status("p")?.containerStatuses?.[0]?.restartCount === 1, 60_000);
    await s.runFor(3_000);
    const perContainer = new Map<string, number>();
    for (const c of sc.calls) perContainer.set(c.containerId, (perContainer.get(c.containerId) ?? 0) + 1);
    expect(perContainer.size).toBeGreaterThanOrEqual(2);
    // failureThreshold runs for each killed container, none after its verdict (the last one may be mid-way).
    const counts = [...perContainer.values()];
    expect(counts.slice(0, -1).every((n) => n === 2)).toBe(true);
    expect(counts.at(-1)).toBeLessThanOrEqual(2);
  });

  it("a pod being deleted is not probed for liveness, so not killed for it", async () => {
    const { s, sc } = setup({
      terminationGracePeriodSeconds: 30,
      livenessProbe: { exec: { command: ["alive"] }, periodSeconds: 1, failureThreshold: 1 },
      readinessProbe: { exec: { command: ["ready"] }, periodSeconds: 1 },
    });
    await s.runUntil(() => ready(s) === "True", 30_000);
    const p = pod("p", {});
    s.reconciler.updatePods([
      {
        ...p,
        metadata: {
          ...p.metadata,
          deletionTimestamp: new Date(s.clock.now()).toISOString(),
          deletionGracePeriodSeconds: 30,
        },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: "app",
              image: "busybox:1.36",
              command: ["sleep", "3600"],
              livenessProbe: { exec: { command: ["alive"] }, periodSeconds: 1, failureThreshold: 1 },
              readinessProbe: { exec: { command: ["ready"] }, periodSeconds: 1 },
            },
          ],
        },
      },
    ]);
    const before = sc.calls.length;
    sc.set("alive", { exitCode: 1 });
    await s.runFor(3_000);
    expect(sc.calls.slice(before).filter((c) => c.cmd === "alive")).toHaveLength(0);
    expect(s.events.filter((e) => e.message.includes("failed liveness probe"))).toHaveLength(0);
  });
});

describe("exec probe commands: $(VAR) from the container's env (ExpandContainerCommandOnlyStatic)", () => {
  // third_party/forked/golang/expansion/expand_test.go, doExpansionTest's cases, by name.
  const env = [
    { name: "VAR_A", value: "A" },
    { name: "VAR_B", value: "B" },
    { name: "VAR_C", value: "C" },
    { name: "VAR_REF", value: "$(VAR_A)" },
    { name: "VAR_EMPTY", value: "" },
  ];
  it.each([
    ["whole string", "$(VAR_A)", "A"],
    ["repeat", "$(VAR_A)-$(VAR_A)", "A-A"],
    ["beginning", "$(VAR_A)-1", "A-1"],
    ["middle", "___$(VAR_B)___", "___B___"],
    ["end", "___$(VAR_C)", "___C"],
    ["compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"],
    ["escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"],
    ["compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"],
    ["mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"],
    ["backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"],
    ["backslash escape ignored (two)", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"],
    ["lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"],
    ["nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"],
    ["nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"],
    ["value is a reference", "$(VAR_REF)", "$(VAR_A)"],
    ["value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"],
    ["empty var", "foo$(VAR_EMPTY)bar", "foobar"],
    ["unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"],
    ["expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"],
    ["shell special vars pass through", "$?_boo_$!", "$?_boo_$!"],
    ["bare operators are ignored", "$VAR_A", "$VAR_A"],
    ["undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"],
    ["multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"],
    ["multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"],
    ["multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"],
    ["multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"],
    ["missing open expression", "$VAR_A)", "$VAR_A)"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax the expansion leaves alone
    ["shell syntax ignored", "${VAR_A}", "${VAR_A}"],
    ["trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"],
    ["trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("],
    ["operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"],
    ["shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"],
    ["lots of $( in middle", "--$($($($($--", "--$($($($($--"],
    ["lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("],
    ["lots of $( at end", "foo0--$($($($(", "foo0--$($($($("],
    ["escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"],
    ["newline not expanded", "\n", "\n"],
  ] as const)("%s", (_name, input, expected) => {
    expect(expandCommand([input], { env })).toEqual([expected]);
  });

  it("the probe's command reaches ExecSync expanded", async () => {
    const { s, sc } = setup({
      env: [{ name: "CHECK_FILE", value: "/tmp/healthy" }],
      readinessProbe: { exec: { command: ["cat", "$(CHECK_FILE)"] }, periodSeconds: 5 },
    });
    await s.runFor(2_000);
    expect(sc.calls[0]?.cmd).toBe("cat /tmp/healthy");
  });
});

describe("a probe's own terminationGracePeriodSeconds", () => {
  it("a liveness kill stops the container with the probe's grace period, not the pod's", async () => {
    const { s, sc } = setup({
      livenessProbe: {
        exec: { command: ["alive"] },
        periodSeconds: 1,
        failureThreshold: 1,
        terminationGracePeriodSeconds: 3,
      },
    });
    await s.runFor(2_000);
    s.runtime.clearCalls();
    sc.set("alive", { exitCode: 1 });
    await s.runUntil(() => s.runtime.callLog.some((c) => c.method === "StopContainer"), 30_000);
    const stop = s.runtime.callLog.find((c) => c.method === "StopContainer")?.request as { timeout: bigint };
    expect(stop.timeout).toBe(3n); // the pod's default would be 30
  });
});

describe("a custom probeHandler's outcomes, as the kubelet reads probe.Result", () => {
  it("unknown without an error counts as a failure and records no event; warning counts as a success", async () => {
    const answers: Record<string, "unknown" | "warning"> = { liveness: "unknown", readiness: "warning" };
    const s = createScenario({
      reconciler: { probeHandler: async ({ kind }) => ({ result: answers[kind] ?? "success", output: "said" }) },
      pods: [
        pod("p", {
          livenessProbe: { exec: { command: ["x"] }, periodSeconds: 1, failureThreshold: 2 },
          readinessProbe: { exec: { command: ["x"] }, periodSeconds: 1 },
        }),
      ],
    });
    expect(await s.runUntil(() => ready(s) === "True", 30_000)).toBe(true);
    expect(s.status("p")?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(await s.runUntil(() => s.status("p")?.containerStatuses?.[0]?.restartCount === 1, 30_000)).toBe(true);
    expect(unhealthy(s)).toEqual([]);
    expect(s.events.filter((e) => e.reason === "ProbeWarning").map((e) => e.message)).toContain(
      "Readiness probe warning: said",
    );
  });
});
