// Response validation as k8s.io/cri-client does it (remote_runtime.go, remote_image.go and
// utils.go's verifySandboxStatus / verifyContainerStatus): which responses it refuses, over gRPC.
import type * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  CriError,
  createImageClient,
  createRuntimeClient,
  type ImageClient,
  imageServiceMethods,
  isInvalidResponse,
  isNotFound,
  type MethodInfo,
  type RuntimeClient,
  runtimeServiceMethods,
  validatedMethods,
  validateResponse,
} from "../src/index.js";
import { startTestServer, type TestServer, versionV1 } from "./support/grpc-server.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Cb = grpc.sendUnaryData<unknown>;
const reply = (value: unknown) => (_call: unknown, cb: Cb) => cb(null, value);

// The server encodes with the generated encoders, which need complete messages.
const methodTable: readonly MethodInfo[] = [...runtimeServiceMethods, ...imageServiceMethods];
function complete(handlers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(handlers).map(([name, fn]) => {
      const m = methodTable.find((x) => x.name === name);
      if (!m) throw new Error(`no method ${name}`);
      return [
        name,
        (call: unknown, cb: Cb) =>
          (fn as (c: unknown, cb: Cb) => void)(call, (err, value) =>
            cb(err, err ? value : m.response.fromPartial((value ?? {}) as never)),
          ),
      ];
    }),
  );
}

const sandboxStatus = {
  id: "p1",
  metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
  state: 0,
  createdAt: 1n,
};
const containerStatus = {
  id: "c1",
  metadata: { name: "app", attempt: 0 },
  state: 1,
  createdAt: 1n,
  image: { image: "docker.io/library/busybox:latest" },
  imageRef: "sha256:abc",
};
const conditions = [
  { type: "RuntimeReady", status: true },
  { type: "NetworkReady", status: true },
];
const omit = (o: Record<string, unknown>, key: string) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

interface Clients {
  server: TestServer;
  runtime: RuntimeClient;
  image: ImageClient;
}

async function serve(
  runtime: Record<string, unknown>,
  image: Record<string, unknown> = {},
  options: { validateResponses?: boolean } = {},
): Promise<Clients> {
  const server = await startTestServer(complete({ version: versionV1(), ...runtime }), complete(image));
  cleanups.push(() => server.dispose());
  const rt = createRuntimeClient(server.endpoint, { useStreaming: false, ...options });
  const img = createImageClient(server.endpoint, { useStreaming: false, ...options });
  cleanups.push(
    () => rt.close(),
    () => img.close(),
  );
  return { server, runtime: rt, image: img };
}

async function failure(promise: Promise<unknown>): Promise<CriError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CriError)) throw new Error(`expected a CriError, got ${String(err)}`);
  return err;
}

// Each row: the RPC, a response cri-client refuses, and the field it lacks (cri-client's
// condition in brackets).
const refused: [string, string, (c: Clients) => Promise<unknown>, Record<string, unknown>, string][] = [
  // RunPodSandbox: PodSandboxId == ""
  ["RunPodSandbox", "runPodSandbox", (c) => c.runtime.runPodSandbox({}), { podSandboxId: "" }, "podSandboxId"],
  // CreateContainer: ContainerId == ""
  ["CreateContainer", "createContainer", (c) => c.runtime.createContainer({}), { containerId: "" }, "containerId"],
  // verifySandboxStatus: Id, Metadata, Name/Namespace/Uid, CreatedAt
  ...(
    [
      ["status.id", { status: { ...sandboxStatus, id: "" } }],
      ["status.metadata", { status: omit(sandboxStatus, "metadata") }],
      ["status.metadata.name", { status: { ...sandboxStatus, metadata: { ...sandboxStatus.metadata, name: "" } } }],
      [
        "status.metadata.namespace",
        { status: { ...sandboxStatus, metadata: { ...sandboxStatus.metadata, namespace: "" } } },
      ],
      ["status.metadata.uid", { status: { ...sandboxStatus, metadata: { ...sandboxStatus.metadata, uid: "" } } }],
      ["status.createdAt", { status: { ...sandboxStatus, createdAt: 0n } }],
    ] as const
  ).map(
    ([field, res]) =>
      [
        "PodSandboxStatus",
        "podSandboxStatus",
        (c: Clients) => c.runtime.podSandboxStatus({ podSandboxId: "p1" }),
        res,
        field,
      ] as [string, string, (c: Clients) => Promise<unknown>, Record<string, unknown>, string],
  ),
  // verifyContainerStatus: Id, Metadata, Name, CreatedAt, Image.Image, ImageRef
  ...(
    [
      ["status.id", { status: { ...containerStatus, id: "" } }],
      ["status.metadata", { status: omit(containerStatus, "metadata") }],
      ["status.metadata.name", { status: { ...containerStatus, metadata: { name: "", attempt: 0 } } }],
      ["status.createdAt", { status: { ...containerStatus, createdAt: 0n } }],
      ["status.image.image", { status: omit(containerStatus, "image") }],
      ["status.image.image", { status: { ...containerStatus, image: { image: "" } } }],
      ["status.imageRef", { status: { ...containerStatus, imageRef: "" } }],
    ] as const
  ).map(
    ([field, res]) =>
      [
        "ContainerStatus",
        "containerStatus",
        (c: Clients) => c.runtime.containerStatus({ containerId: "c1" }),
        res,
        field,
      ] as [string, string, (c: Clients) => Promise<unknown>, Record<string, unknown>, string],
  ),
  // Status: Status == nil || len(Conditions) < 2
  ["Status", "status", (c) => c.runtime.status({}), {}, "status"],
  ["Status", "status", (c) => c.runtime.status({}), { status: { conditions: [conditions[0]] } }, "status.conditions"],
  // Exec / Attach / PortForward: Url == ""
  ["Exec", "exec", (c) => c.runtime.exec({ containerId: "c1", cmd: ["sh"] }), { url: "" }, "url"],
  ["Attach", "attach", (c) => c.runtime.attach({ containerId: "c1" }), { url: "" }, "url"],
  ["PortForward", "portForward", (c) => c.runtime.portForward({ podSandboxId: "p1" }), { url: "" }, "url"],
  // Version: all four fields
  [
    "Version",
    "version",
    (c) => c.runtime.version({}),
    { version: "0.1.0", runtimeName: "x", runtimeVersion: "1" },
    "runtimeApiVersion",
  ],
];

describe("response validation (k8s.io/cri-client's checks)", () => {
  it.each(refused.map(([rpc, handler, call, response, field]) => [rpc, field, handler, call, response] as const))(
    "%s refuses a response without %s",
    async (rpc, field, handler, call, response) => {
      const handlers = { [handler]: reply(response) };
      const c = await serve(handler === "version" ? { version: reply(response) } : handlers);
      const err = await failure(call(c));
      expect(err.code).toBe(Code.Internal);
      expect(err.method).toBe(rpc);
      expect(err.field).toBe(field);
      expect(isInvalidResponse(err)).toBe(true);
      expect(err.message).toMatch(
        new RegExp(`^${rpc}: \\[Internal\\] invalid response: ${field.replace(/\./g, "\\.")} `),
      );
    },
  );

  it("names the image in ImageStatus and PullImage refusals; absent images stay absent", async () => {
    const image = { id: "sha256:abc", repoTags: ["busybox:latest"], size: 4_400_000n };
    let status: unknown = { image: { ...image, size: 0n } };
    let pulled: unknown = { imageRef: "" };
    const c = await serve(
      {},
      { imageStatus: (_c: unknown, cb: Cb) => cb(null, status), pullImage: (_c: unknown, cb: Cb) => cb(null, pulled) },
    );
    const sized = await failure(c.image.imageStatus({ image: { image: "busybox" } }));
    expect(sized.message).toBe('ImageStatus: [Internal] invalid response: image.size is not set (image "busybox")');
    status = { image: { ...image, id: "" } };
    expect((await failure(c.image.imageStatus({ image: { image: "busybox" } }))).field).toBe("image.id");
    status = {}; // image == nil: not present, no error
    expect((await c.image.imageStatus({ image: { image: "busybox" } })).image).toBeUndefined();
    status = { image };
    expect((await c.image.imageStatus({ image: { image: "busybox" } })).image?.size).toBe(4_400_000n);
    const pull = await failure(c.image.pullImage({ image: { image: "busybox" } }));
    expect(pull.message).toBe('PullImage: [Internal] invalid response: imageRef is not set (image "busybox")');
    pulled = { imageRef: "sha256:abc" };
    expect((await c.image.pullImage({ image: { image: "busybox" } })).imageRef).toBe("sha256:abc");
  });

  it("lets a missing PodSandboxStatus/ContainerStatus status through, as cri-client does", async () => {
    const c = await serve({ podSandboxStatus: reply({}), containerStatus: reply({}) });
    expect((await c.runtime.podSandboxStatus({ podSandboxId: "p1" })).status).toBeUndefined();
    expect((await c.runtime.containerStatus({ containerId: "c1" })).status).toBeUndefined();
  });

  it("passes complete responses through unchanged", async () => {
    const c = await serve({
      podSandboxStatus: reply({ status: sandboxStatus }),
      containerStatus: reply({ status: containerStatus }),
      status: reply({ status: { conditions } }),
      runPodSandbox: reply({ podSandboxId: "p1" }),
    });
    expect((await c.runtime.podSandboxStatus({ podSandboxId: "p1" })).status?.metadata?.uid).toBe("u1");
    expect((await c.runtime.containerStatus({ containerId: "c1" })).status?.imageRef).toBe("sha256:abc");
    expect((await c.runtime.status({})).status?.conditions).toHaveLength(2);
    expect((await c.runtime.runPodSandbox({})).podSandboxId).toBe("p1");
  });

  it("validateResponses: false hands the runtime's answer on as it is", async () => {
    const c = await serve(
      {
        containerStatus: reply({ status: { ...containerStatus, imageRef: "" } }),
        status: reply({}),
        runPodSandbox: reply({}),
      },
      { pullImage: reply({}) },
      { validateResponses: false },
    );
    expect((await c.runtime.containerStatus({ containerId: "c1" })).status?.imageRef).toBe("");
    expect((await c.runtime.status({})).status).toBeUndefined();
    expect((await c.runtime.runPodSandbox({})).podSandboxId).toBe("");
    expect((await c.image.pullImage({ image: { image: "busybox" } })).imageRef).toBe("");
  });

  it("keeps the connect-time version check's FailedPrecondition for an incomplete Version", async () => {
    const c = await serve({
      version: reply({ version: "0.1.0", runtimeName: "x", runtimeVersion: "1" }),
      listContainers: reply({ containers: [] }),
    });
    const err = await failure(c.runtime.listContainers({}));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toContain("lacks runtimeApiVersion");
  });

  it("validateResponse is the same check for shim authors; other methods pass", () => {
    expect(validatedMethods).toEqual(
      expect.arrayContaining(["PodSandboxStatus", "ContainerStatus", "ImageStatus", "PullImage", "Status", "Version"]),
    );
    expect(() => validateResponse("ListContainers", {})).not.toThrow();
    expect(() => validateResponse("PullImage", { imageRef: "" }, { image: { image: "busybox" } })).toThrow(
      'PullImage: [Internal] invalid response: imageRef is not set (image "busybox")',
    );
  });

  it("error helpers are type guards", () => {
    const err: unknown = new CriError(Code.NotFound, "gone", { method: "ContainerStatus" });
    if (isNotFound(err)) {
      // Typed without a cast: this line does not compile if isNotFound is a plain boolean.
      const method: string | undefined = err.method;
      expect(method).toBe("ContainerStatus");
    } else {
      throw new Error("isNotFound should hold");
    }
    expect(isInvalidResponse(err)).toBe(false);
    expect(isInvalidResponse(new CriError(Code.Internal, "boom"))).toBe(false);
  });
});
