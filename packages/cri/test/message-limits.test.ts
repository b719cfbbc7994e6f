// Message sizes over a real unix socket: the fake runtime served by the server kit, read by the
// clients the kubelet-core reconciler uses (issue 10, item 4).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  CriError,
  createCriServer,
  createRuntimeClient,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_STREAM_PAGE_BYTES,
  type RuntimeClient,
  StreamPodSandboxesResponse,
} from "../src/index.js";
import { createFakeRuntime, type FakeRuntime } from "../src/testing/index.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KiB = 1024;
/** The API server allows 256 KiB of annotations per object; 255 KiB leaves room for the keys. */
const annotations = (i: number) => ({ "example.com/blob": `${i}`.padEnd(255 * KiB, "x") });

/** 65 sandboxes, each with one container, each object carrying 255 KiB of annotations: > 16 MiB a list. */
async function crowdedFake(): Promise<FakeRuntime> {
  const fake = createFakeRuntime();
  for (let i = 0; i < 65; i++) {
    const config = {
      metadata: { name: `pod-${i}`, namespace: "default", uid: `uid-${i}` },
      annotations: annotations(i),
    };
    const { podSandboxId } = await fake.runPodSandbox({ config });
    await fake.createContainer({
      podSandboxId,
      config: { metadata: { name: "app" }, image: { image: "busybox" }, annotations: annotations(i) },
      sandboxConfig: config,
    });
  }
  return fake;
}

async function serveFake(
  fake: FakeRuntime,
  clientOptions: Parameters<typeof createRuntimeClient>[1] = {},
  serverOptions: Parameters<typeof createCriServer>[0] = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "nk-limits-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = createCriServer({ runtime: fake, image: fake, ...serverOptions });
  const endpoint = `unix://${join(dir, "cri.sock")}`;
  await server.listen(endpoint);
  cleanups.push(() => server.close({ graceMs: 100 }));
  const client: RuntimeClient = createRuntimeClient(endpoint, clientOptions);
  cleanups.push(() => client.close());
  return { client, endpoint };
}

describe("message limits", () => {
  it("receives 16 MiB by default, as k8s.io/cri-client (maxMsgSize)", () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024);
  });

  it("lists 65 sandboxes and containers with 255 KiB of annotations each through Stream*, paged by bytes", async () => {
    const fake = await crowdedFake();
    const { client } = await serveFake(fake);
    const { items } = await client.listPodSandbox({});
    expect(items).toHaveLength(65);
    expect(items.map((s) => s.metadata?.name).sort()).toEqual(Array.from({ length: 65 }, (_, i) => `pod-${i}`).sort());
    for (const s of items) expect(s.annotations["example.com/blob"]).toHaveLength(255 * KiB);
    const { containers } = await client.listContainers({});
    expect(containers).toHaveLength(65);
    for (const c of containers) expect(c.annotations["example.com/blob"]).toHaveLength(255 * KiB);
    // Through the streams, not the unary fallback.
    expect(fake.calls).toContain("StreamPodSandboxes");
    expect(fake.calls).toContain("StreamContainers");
    expect(fake.calls).not.toContain("ListPodSandbox");
    expect(fake.calls).not.toContain("ListContainers");
    // Several pages of whole items, in the fake's order, none over the server kit's page limit.
    const ids: string[] = [];
    let pages = 0;
    for await (const page of client.streamPodSandboxes({})) {
      expect(page.podSandboxes.length).toBeGreaterThan(0);
      expect(StreamPodSandboxesResponse.encode(page).finish().length).toBeLessThanOrEqual(DEFAULT_STREAM_PAGE_BYTES);
      ids.push(...page.podSandboxes.map((s) => s.id));
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(ids).toEqual((await fake.listPodSandbox({})).items.map((s) => s.id));
  });

  it("pages for a client with a smaller receive limit too (gRPC's 4 MiB default)", async () => {
    const fake = await crowdedFake();
    const { client } = await serveFake(fake, { maxReceiveMessageBytes: 4 * 1024 * 1024 });
    expect((await client.listPodSandbox({})).items).toHaveLength(65);
  });

  it("sends an item larger than maxStreamPageBytes alone; only one over the receiver's limit fails", async () => {
    const fake = await crowdedFake();
    const { client } = await serveFake(fake, {}, { maxStreamPageBytes: 64 * KiB });
    let pages = 0;
    for await (const page of client.streamContainers({})) {
      expect(page.containers).toHaveLength(1);
      pages++;
    }
    expect(pages).toBe(65);
    const small = createRuntimeClient((await serveFake(fake)).endpoint, { maxReceiveMessageBytes: 200 * KiB });
    cleanups.push(() => small.close());
    const err = (await small.listContainers({}).catch((e: unknown) => e)) as CriError;
    expect([err.code, err.method]).toEqual([Code.ResourceExhausted, "StreamContainers"]);
    expect(err.rawMessage).toContain("this client's receive limit");
  });

  it("fails the unary fallback over 16 MiB with a ResourceExhausted CriError naming the method and the limit", async () => {
    const fake = await crowdedFake();
    const { client } = await serveFake(fake, { useStreaming: false });
    const err = (await client.listPodSandbox({}).catch((e: unknown) => e)) as CriError;
    expect(err).toBeInstanceOf(CriError);
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.method).toBe("ListPodSandbox");
    expect(err.message).toMatch(/^ListPodSandbox: \[ResourceExhausted\] /);
    expect(err.rawMessage).toContain("16 MiB");
    expect(err.rawMessage).toContain("StreamPodSandboxes");
    const cerr = (await client.listContainers({}).catch((e: unknown) => e)) as CriError;
    expect([cerr.code, cerr.method]).toEqual([Code.ResourceExhausted, "ListContainers"]);
    // Smaller lists still work on the same connection.
    expect((await client.listPodSandbox({ filter: { labelSelector: { none: "x" } } })).items).toEqual([]);
  });
});
