// Issue 10, item 1: pod metadata becomes folder names, runtime labels and hostnames. A name that is
// not a valid Kubernetes name must be rejected, naming the field, before anything is created, and
// the path builders must refuse to leave their root whoever calls them.
import { describe, expect, it } from "vitest";
import {
  generateContainerConfig,
  generatePodSandboxConfig,
  KubeletError,
  type Pod,
  podLogDirectory,
  podMetadataProblems,
  podProblems,
} from "../src/index.js";
import { createScenario } from "../src/testing/index.js";

const UUID = "8a3c1f1e-6f0b-4a8e-9d3e-2b7f4c1a9e10";

function pod(meta: Record<string, unknown>, spec: Partial<NonNullable<Pod["spec"]>> = {}): Pod {
  return {
    metadata: { name: "web", namespace: "default", uid: UUID, ...meta },
    spec: { containers: [{ name: "app", image: "busybox:1.36", command: ["sleep", "3600"] }], ...spec },
  } as Pod;
}

const fields = (problems: string[]) => problems.map((p) => p.slice(0, p.indexOf(":")));

describe("pod metadata is checked as the API server checks it", () => {
  it.each([
    ["metadata.name", { name: "x/../../../somewhere" }],
    ["metadata.name", { name: "../etc" }],
    ["metadata.name", { name: "Web" }],
    ["metadata.name", { name: "web_1" }],
    ["metadata.name", { name: `${"a".repeat(250)}.com` }],
    ["metadata.name", { name: "web\n" }],
    ["metadata.namespace", { namespace: "../.." }],
    ["metadata.namespace", { namespace: "kube.system" }],
    ["metadata.namespace", { namespace: "a".repeat(64) }],
    ["metadata.uid", { uid: "../.." }],
    ["metadata.uid", { uid: "a/b" }],
    ["metadata.uid", { uid: "a_b" }],
    ["metadata.uid", { uid: "-x" }],
    ["metadata.uid", { uid: "a".repeat(129) }],
    ["metadata.uid", { uid: 42 }],
    ["metadata.labels", { labels: { "bad key!": "v" } }],
    ["metadata.labels", { labels: { "a/b/c": "v" } }],
    ['metadata.labels["app"]', { labels: { app: "v\nw" } }],
    ['metadata.labels["app"]', { labels: { app: "x".repeat(64) } }],
    ["metadata.annotations", { annotations: { "../x": "v" } }],
    ["metadata.annotations", { annotations: { a: "x".repeat(256 * 1024) } }],
  ])("rejects %s in %s", (field, meta) => {
    const problems = podProblems(pod(meta));
    expect(fields(problems)).toEqual([field]);
  });

  it("accepts what the API server accepts: dotted names, UUIDs, hex hashes, prefixed keys, 256 KiB of annotations", () => {
    const annotations = { "example.com/big": "x".repeat(256 * 1024 - "example.com/big".length) };
    expect(
      podProblems(
        pod({
          name: "web.v2-1",
          namespace: "team-a",
          uid: "0123456789abcdef0123456789abcdef",
          labels: { "app.kubernetes.io/name": "web", empty: "", "Mixed_Case.v1": "A_b-1" },
          annotations,
        }),
      ),
    ).toEqual([]);
    expect(podMetadataProblems(pod({ uid: UUID, name: "a".repeat(253) }))).toEqual([]);
  });

  it("says what is wrong in the API server's words", () => {
    expect(podProblems(pod({ namespace: "../.." }))).toEqual([
      `metadata.namespace: "../..": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ]);
    expect(podProblems(pod({ name: "a".repeat(254) }))[0]).toBe(
      `metadata.name: "${"a".repeat(254)}": must be no more than 253 characters`,
    );
  });

  it("checks spec.hostname and spec.subdomain as DNS labels", () => {
    expect(fields(podProblems(pod({}, { hostname: "../x" })))).toEqual(["spec.hostname"]);
    expect(fields(podProblems(pod({}, { subdomain: "a.b" })))).toEqual(["spec.subdomain"]);
    expect(podProblems(pod({}, { hostname: "db-0", subdomain: "db" }))).toEqual([]);
  });
});

describe("the path builders refuse to leave their root", () => {
  it("podLogDirectory gives <root>/<namespace>_<name>_<uid> for a valid pod", () => {
    expect(podLogDirectory(pod({}), "/var/log/pods/")).toBe(`/var/log/pods/default_web_${UUID}`);
  });

  it.each([
    ["metadata.name", { name: "x/../../../somewhere" }],
    ["metadata.namespace", { namespace: "../.." }],
    ["metadata.uid", { uid: "../.." }],
    ["metadata.uid", { uid: undefined }],
  ])("podLogDirectory throws a KubeletError naming %s for %j", (field, meta) => {
    let error: unknown;
    try {
      podLogDirectory(pod(meta), "/var/log/pods");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(KubeletError);
    expect((error as KubeletError).reason).toBe("InvalidPod");
    expect((error as KubeletError).message).toContain(`${field}:`);
  });

  it("generatePodSandboxConfig refuses a traversing cgroup parent and truncates a long hostname as the kubelet does", () => {
    const opts = (cgroupParent: string) => ({ podLogsRoot: "/logs", cgroupParent: () => cgroupParent });
    for (const bad of ["/kubepods/../../etc", "/kubepods/pod1\n", "kubepods/pod1", "/a/./b"]) {
      expect(() => generatePodSandboxConfig(pod({}), 0, opts(bad))).toThrow(KubeletError);
    }
    expect(generatePodSandboxConfig(pod({}), 0, opts("/kubepods/pod1")).linux?.cgroupParent).toBe("/kubepods/pod1");
    expect(generatePodSandboxConfig(pod({}), 0, opts("kubepods-pod1.slice")).linux?.cgroupParent).toBe(
      "kubepods-pod1.slice",
    );
    // Cut to 63 characters, then a trailing "-" or "." goes.
    const hostnameOf = (name: string) => generatePodSandboxConfig(pod({ name }), 0, { podLogsRoot: "/logs" }).hostname;
    expect(hostnameOf(`${"a".repeat(61)}b-cdef`)).toBe(`${"a".repeat(61)}b`);
    expect(hostnameOf(`${"a".repeat(62)}.bc`)).toBe("a".repeat(62));
    expect(hostnameOf("a".repeat(63))).toBe("a".repeat(63));
    expect(generatePodSandboxConfig(pod({ name: "web.v2" }), 0, { podLogsRoot: "/logs" }).hostname).toBe("web.v2");
  });

  it("generateContainerConfig refuses a container name that is not a DNS label in the log path", () => {
    const p = pod({});
    expect(() => generateContainerConfig(p, { name: "../../x", image: "busybox" }, 0, "busybox", "regular")).toThrow(
      KubeletError,
    );
    expect(generateContainerConfig(p, { name: "app", image: "busybox" }, 2, "busybox", "regular").logPath).toBe(
      "app/2.log",
    );
  });
});

describe("the reconciler creates nothing for a pod with a bad name", () => {
  it.each([
    ["metadata.name", { name: "x/../../../somewhere" }],
    ["metadata.namespace", { namespace: "../.." }],
    ["metadata.uid", { uid: "../../x" }],
  ])("%s: the pod fails with InvalidPod and the runtime is never asked to create anything", async (field, meta) => {
    const bad = pod(meta);
    const s = createScenario({ pods: [bad], reconciler: { podLogsRoot: "/var/log/pods" } });
    await s.runFor(5_000);
    const status = s.reconciler.podStatus(String(bad.metadata?.uid));
    expect(status?.phase).toBe("Failed");
    expect(status?.reason).toBe("InvalidPod");
    expect(status?.message).toContain(`${field}:`);
    expect(s.events.some((e) => e.reason === "FailedValidation")).toBe(true);
    const created = s.runtime.calls.filter((c) => /^(RunPodSandbox|CreateContainer|PullImage)$/.test(c));
    expect(created).toEqual([]);
  });

  it("a pod made invalid by an update keeps its valid spec, and never runs the invalid one", async () => {
    const good = pod({});
    const s = createScenario({ pods: [good], reconciler: { podLogsRoot: "/var/log/pods" } });
    await s.runFor(5_000);
    const sandboxes = s.runtime.calls.filter((c) => c === "RunPodSandbox").length;
    expect(sandboxes).toBe(1);
    s.reconciler.updatePods([pod({ labels: { "../x": "y" } })]);
    await s.runFor(5_000);
    expect(s.reconciler.podError(UUID)?.message).toContain("metadata.labels:");
    expect(s.runtime.calls.filter((c) => c === "RunPodSandbox").length).toBe(1);
  });
});
