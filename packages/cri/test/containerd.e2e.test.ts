// End-to-end: the public client API against a real containerd (Debian's 1.6) on a private socket.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  Code,
  type ContainerConfig,
  ContainerState,
  type CriError,
  createImageClient,
  createRuntimeClient,
  type DeepPartial,
  type ImageClient,
  isNotFound,
  isUnavailable,
  isUnimplemented,
  NamespaceMode,
  type PodSandboxConfig,
  PodSandboxState,
  type RuntimeClient,
} from "../src/index.js";
import { type ContainerdHarness, describeWithContainerd, startContainerd } from "./harness/containerd.js";

const describeE2e = describeWithContainerd();

describeE2e("@nodekit/cri against real containerd", () => {
  let h: ContainerdHarness;
  let runtime: RuntimeClient;
  let images: ImageClient;
  const runId = randomUUID().slice(0, 8);
  const testLabels = { "nodekit-e2e": runId };

  beforeAll(async () => {
    h = await startContainerd();
    runtime = createRuntimeClient(h.endpoint, { timeoutMs: 30_000 });
    images = createImageClient(h.socketPath, { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    runtime?.close();
    images?.close();
    await h?.dispose();
  });

  function sandboxConfig(name: string, network: NamespaceMode): DeepPartial<PodSandboxConfig> {
    const uid = randomUUID();
    return {
      metadata: { name, namespace: "e2e", uid, attempt: 0 },
      // containerd shares the host UTS namespace with host network: no hostname then.
      hostname: network === NamespaceMode.NODE ? "" : name,
      logDirectory: `${h.dir}/logs/${uid}`,
      labels: { ...testLabels, pod: name },
      linux: {
        cgroupParent: `${h.cgroupParent}/pod${uid}`,
        securityContext: { namespaceOptions: { network, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } },
      },
    };
  }

  function containerConfig(name: string, labels: Record<string, string> = {}): DeepPartial<ContainerConfig> {
    return {
      metadata: { name, attempt: 0 },
      image: { image: h.busyboxImage },
      command: ["sh", "-c", "echo hi; exec sleep 3600"],
      logPath: `${name}.log`,
      labels: { ...testLabels, ...labels },
      linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
    };
  }

  it("reports version and status", async () => {
    const v = await runtime.verifyRuntime();
    expect(v.runtimeName).toBe("containerd");
    expect(v.runtimeApiVersion).toBe("v1");
    expect(v.version).toBe("0.1.0");
    const status = await runtime.status({ verbose: false });
    const conditions = Object.fromEntries((status.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conditions).toEqual({ RuntimeReady: true, NetworkReady: true });
  });

  it("lists and inspects images", async () => {
    const { images: list } = await images.listImages({});
    const tags = list.flatMap((i) => i.repoTags);
    expect(tags).toEqual(expect.arrayContaining([h.busyboxImage, h.pauseImage]));
    const { image } = await images.imageStatus({ image: { image: h.busyboxImage } });
    expect(image?.repoTags).toContain(h.busyboxImage);
    expect(image?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(image?.size).toBeGreaterThan(0n);
    // An absent image is not an error: the response has no image.
    const absent = await images.imageStatus({ image: { image: "local.test/nothing:here" } });
    expect(absent.image).toBeUndefined();
    const fs = await images.imageFsInfo({});
    expect(fs.imageFilesystems.length).toBeGreaterThanOrEqual(1);
    expect(fs.imageFilesystems[0]?.fsId?.mountpoint).toContain(h.dir);
    // No registry is reachable: a pull fails with a CriError, fast and without a hang.
    const pull = (await images
      .pullImage({ image: { image: "127.0.0.1:1/x/y:1" } }, { timeoutMs: 20_000 })
      .catch((e: unknown) => e)) as CriError;
    expect(pull.code).toBe(Code.Unknown);
    expect(pull.method).toBe("PullImage");
    expect(pull.message).toContain("connection refused");
  });

  it("runs a host-network sandbox (no pod IP)", async () => {
    const config = sandboxConfig("host-net", NamespaceMode.NODE);
    const { podSandboxId } = await runtime.runPodSandbox({ config });
    const { status } = await runtime.podSandboxStatus({ podSandboxId });
    expect(status?.state).toBe(PodSandboxState.SANDBOX_READY);
    expect(status?.network?.ip).toBe("");
    expect(status?.linux?.namespaces?.options?.network).toBe(NamespaceMode.NODE);
    await runtime.stopPodSandbox({ podSandboxId });
    await runtime.removePodSandbox({ podSandboxId });
  });

  it("runs the whole pod and container lifecycle on the pod network", async () => {
    const config = sandboxConfig("pod-net", NamespaceMode.POD);
    const { podSandboxId } = await runtime.runPodSandbox({ config });
    expect(podSandboxId).toMatch(/^[0-9a-f]{64}$/);

    const { status: sb } = await runtime.podSandboxStatus({ podSandboxId });
    expect(sb?.state).toBe(PodSandboxState.SANDBOX_READY);
    expect(sb?.metadata?.name).toBe("pod-net");
    const subnetPrefix = h.podSubnet.split(".").slice(0, 3).join(".");
    expect(sb?.network?.ip.startsWith(`${subnetPrefix}.`)).toBe(true);
    const sandboxes = await runtime.listPodSandbox({ filter: { labelSelector: { pod: "pod-net" } } });
    expect(sandboxes.items.map((s) => s.id)).toEqual([podSandboxId]);

    const { containerId } = await runtime.createContainer({
      podSandboxId,
      config: containerConfig("app", { role: "app" }),
      sandboxConfig: config,
    });
    const other = await runtime.createContainer({
      podSandboxId,
      config: containerConfig("helper", { role: "helper" }),
      sandboxConfig: config,
    });
    let st = (await runtime.containerStatus({ containerId })).status;
    expect(st?.state).toBe(ContainerState.CONTAINER_CREATED);
    await runtime.startContainer({ containerId });
    st = (await runtime.containerStatus({ containerId })).status;
    expect(st?.state).toBe(ContainerState.CONTAINER_RUNNING);
    expect(st?.metadata?.name).toBe("app");
    expect(st?.startedAt).toBeGreaterThan(0n);
    // CRI timestamps are nanoseconds: beyond 2^53, kept exact as bigint.
    expect(st?.createdAt).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));

    const hello = await runtime.execSync({ containerId, cmd: ["echo", "hello-from-exec"], timeout: 10n });
    expect(hello.exitCode).toBe(0);
    expect(Buffer.from(hello.stdout).toString()).toBe("hello-from-exec\n");
    const failing = await runtime.execSync({ containerId, cmd: ["sh", "-c", "echo err >&2; exit 3"], timeout: 10n });
    expect(failing.exitCode).toBe(3);
    expect(Buffer.from(failing.stderr).toString()).toBe("err\n");
    // The container sees the pod IP on eth0.
    const ip = await runtime.execSync({ containerId, cmd: ["ip", "-4", "addr", "show", "eth0"], timeout: 10n });
    expect(Buffer.from(ip.stdout).toString()).toContain(`${sb?.network?.ip}/`);

    // Label filters: containerd 1.6 has no StreamContainers, the client falls back to ListContainers.
    const apps = await runtime.listContainers({ filter: { labelSelector: { ...testLabels, role: "app" } } });
    expect(apps.containers.map((c) => c.id)).toEqual([containerId]);
    const all = await runtime.listContainers({ filter: { podSandboxId } });
    expect(all.containers.map((c) => c.id).sort()).toEqual([containerId, other.containerId].sort());
    const running = await runtime.listContainers({
      filter: { podSandboxId, state: { state: ContainerState.CONTAINER_RUNNING } },
    });
    expect(running.containers.map((c) => c.id)).toEqual([containerId]);

    const { stats } = await runtime.containerStats({ containerId });
    expect(stats?.attributes?.id).toBe(containerId);
    expect(stats?.cpu?.timestamp).toBeGreaterThan(0n);
    expect(stats?.memory?.workingSetBytes?.value).toBeGreaterThan(0n);

    await runtime.stopContainer({ containerId, timeout: 0n });
    st = (await runtime.containerStatus({ containerId })).status;
    expect(st?.state).toBe(ContainerState.CONTAINER_EXITED);
    expect(st?.exitCode).toBe(137);
    expect(st?.finishedAt).toBeGreaterThanOrEqual(st?.startedAt ?? 0n);
    // Stop and remove are idempotent.
    await runtime.stopContainer({ containerId, timeout: 0n });
    await runtime.removeContainer({ containerId });
    await runtime.removeContainer({ containerId });
    expect(isNotFound(await runtime.containerStatus({ containerId }).catch((e: unknown) => e))).toBe(true);

    await runtime.stopPodSandbox({ podSandboxId });
    expect((await runtime.podSandboxStatus({ podSandboxId })).status?.state).toBe(PodSandboxState.SANDBOX_NOTREADY);
    await runtime.removePodSandbox({ podSandboxId });
    const gone = await runtime.podSandboxStatus({ podSandboxId }).catch((e: unknown) => e);
    expect(isNotFound(gone)).toBe(true);
    expect((gone as CriError).method).toBe("PodSandboxStatus");
    // Removing the sandbox removed the container that was never started.
    expect(isNotFound(await runtime.containerStatus({ containerId: other.containerId }).catch((e: unknown) => e))).toBe(
      true,
    );
  });

  it("answers GetContainerEvents with UNIMPLEMENTED (containerd 1.6)", async () => {
    const events = runtime.getContainerEvents({});
    let err: unknown;
    try {
      for await (const _ of events) break;
    } catch (e) {
      err = e;
    }
    expect(isUnimplemented(err)).toBe(true);
  });

  it("fails with UNAVAILABLE while containerd is down and recovers once it is back", async () => {
    await runtime.version({});
    await h.kill("SIGKILL");
    const started = Date.now();
    const err = await runtime.listPodSandbox({}, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(isUnavailable(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(isUnavailable(await images.listImages({}, { timeoutMs: 10_000 }).catch((e: unknown) => e))).toBe(true);

    await h.start();
    const until = Date.now() + 20_000;
    let recovered = false;
    while (!recovered && Date.now() < until) {
      recovered = await runtime.listPodSandbox({}, { timeoutMs: 2_000 }).then(
        () => true,
        () => false,
      );
      if (!recovered) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recovered).toBe(true);
    expect((await images.listImages({})).images.length).toBeGreaterThanOrEqual(2);
  });
});
