import { describe, expect, it } from "vitest";
import { Code, CriError, createRuntimeClient, parseEndpoint } from "../src/index.js";

describe("parseEndpoint", () => {
  it.each([
    ["unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"],
    ["/run/crio/crio.sock", "/run/crio/crio.sock"],
    ["unix:///tmp/a b/x.sock", "/tmp/a b/x.sock"],
  ])("accepts %s", (endpoint, path) => {
    expect(parseEndpoint(endpoint)).toEqual({ socketPath: path, target: `unix://${path}` });
  });

  it.each([
    ["", /empty/],
    ["unix://relative.sock", /absolute path \(three slashes\)/],
    ["tcp://127.0.0.1:1234", /only unix sockets are supported, not tcp/],
    ["npipe:////./pipe/containerd", /only unix sockets are supported, not npipe/],
    ["run/containerd.sock", /must be absolute/],
    [`/${"x".repeat(120)}.sock`, /107 bytes/],
  ])("rejects %j", (endpoint, why) => {
    let err: unknown;
    try {
      parseEndpoint(endpoint);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.InvalidArgument);
    expect((err as CriError).message).toMatch(why);
    expect((err as CriError).message).toContain("use unix:///absolute/path.sock");
  });

  it("is checked when a client is created", () => {
    expect(() => createRuntimeClient("localhost:1234")).toThrow(/only unix sockets are supported/);
  });
});
