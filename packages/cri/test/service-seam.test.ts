// The one seam: the service interfaces, the method tables (generated from buf's descriptor set of
// the schema) and the clients built from the tables describe the same methods, checked by tsc.

import { describe, expect, expectTypeOf, it } from "vitest";
import {
  createImageClient,
  createRuntimeClient,
  type ImageService,
  type ImageServiceMatchesTable,
  imageServiceMethods,
  type RuntimeService,
  type RuntimeServiceMatchesTable,
  runtimeServiceMethods,
  type ServiceOf,
  type VersionRequest,
  type VersionResponse,
} from "../src/index.js";

describe("service seam", () => {
  it("the interfaces equal the services their method tables describe", () => {
    const runtimeAgrees: RuntimeServiceMatchesTable = true;
    const imageAgrees: ImageServiceMatchesTable = true;
    expect([runtimeAgrees, imageAgrees]).toEqual([true, true]);
    expectTypeOf<ServiceOf<typeof runtimeServiceMethods>>().toEqualTypeOf<RuntimeService>();
    expectTypeOf<ServiceOf<typeof imageServiceMethods>>().toEqualTypeOf<ImageService>();
    // a request is a request, a response a response
    expectTypeOf<Parameters<RuntimeService["version"]>[0]>().toExtend<Partial<VersionRequest>>();
    expectTypeOf<ReturnType<RuntimeService["version"]>>().toEqualTypeOf<Promise<VersionResponse>>();
  });

  it("the tables hold every RPC of the schema, in its order", () => {
    expect(runtimeServiceMethods.length + imageServiceMethods.length).toBe(43); // the schema's 43 RPCs
    expect(imageServiceMethods.map((m) => m.rpc)).toEqual([
      "ListImages",
      "StreamImages",
      "ImageStatus",
      "PullImage",
      "RemoveImage",
      "ImageFsInfo",
    ]);
    expect(runtimeServiceMethods.filter((m) => m.serverStream).map((m) => m.rpc)).toEqual([
      "StreamPodSandboxes",
      "StreamContainers",
      "StreamContainerStats",
      "StreamPodSandboxStats",
      "GetContainerEvents",
      "StreamPodSandboxMetrics",
    ]);
  });

  it("a client has exactly the table's methods", () => {
    const runtime = createRuntimeClient("unix:///nonexistent/cri.sock");
    const images = createImageClient("unix:///nonexistent/cri.sock");
    for (const m of runtimeServiceMethods) expect(typeof runtime[m.name], m.name).toBe("function");
    for (const m of imageServiceMethods) expect(typeof images[m.name], m.name).toBe("function");
    runtime.close();
    images.close();
  });
});
