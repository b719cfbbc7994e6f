// gRPC health probes: pkg/probe/grpc/grpc_test.go's cases (by their upstream names) against a real
// grpc.health.v1 server on localhost, the wire format, and the probe through the reconciler.
import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Pod } from "../src/index.js";
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  grpcProbe,
} from "../src/probe/grpc.js";
import { createScenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";
import { type HealthServer, startHealthServer, status } from "./support/grpc-health-server.js";

const servers: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
const health = async (options?: { withHealth?: boolean }): Promise<HealthServer> => {
  const s = await startHealthServer(options);
  servers.push(s);
  return s;
};

describe("TestGrpcProber_Probe (pkg/probe/grpc/grpc_test.go)", () => {
  it("Should: failed but return nil error because cant find host", async () => {
    // Nothing listens on port 32 of this machine: the dial waits for the whole timeout.
    expect(await grpcProbe("", "", 32, 1)).toEqual({
      result: "failure",
      output: 'timeout: failed to connect service ":32" within 1s: context deadline exceeded',
    });
  });

  it("Should: return nil error because connection closed", async () => {
    const server = createServer((_, res) => res.end("res"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const port = (server.address() as { port: number }).port;
    const outcome = await grpcProbe("127.0.0.1", "", port, 1);
    expect(outcome.result).toBe("failure");
  });

  it("Should: return nil error because server response not served", async () => {
    const s = await health();
    s.answer(() => ({ status: "NOT_SERVING" }));
    expect(await grpcProbe("127.0.0.1", "", s.port, 1)).toEqual({
      result: "failure",
      output: 'service unhealthy (responded with "NOT_SERVING")',
    });
  });

  it("Should: return nil-error because server not response in time", async () => {
    const s = await health();
    s.answer(() => ({ status: "SERVING", delayMs: 3_000 }));
    expect(await grpcProbe("127.0.0.1", "", s.port, 1)).toEqual({
      result: "failure",
      output: "timeout: health rpc did not complete within 1s",
    });
  });

  it("Should: not return error because check was success", async () => {
    const s = await health();
    expect(await grpcProbe("127.0.0.1", "", s.port, 2)).toEqual({ result: "success", output: "service healthy" });
  });

  it("Should: not return error because check was success, when listen port is 0", async () => {
    const s = await health(); // bound to port 0: the kernel chose the port
    expect(s.port).toBeGreaterThan(0);
    expect((await grpcProbe("127.0.0.1", "", s.port, 2)).result).toBe("success");
  });
});

describe("gRPC probe: what the kubelet sends and says", () => {
  it("asks for the probe's service, introduces itself as kube-probe/<version>", async () => {
    const s = await health();
    s.answer((service) => ({ status: service === "db" ? "SERVING" : "SERVICE_UNKNOWN" }));
    expect((await grpcProbe("127.0.0.1", "db", s.port, 1)).result).toBe("success");
    expect(await grpcProbe("127.0.0.1", "cache", s.port, 1)).toEqual({
      result: "failure",
      output: 'service unhealthy (responded with "SERVICE_UNKNOWN")',
    });
    expect(s.calls.map((c) => c.service)).toEqual(["db", "cache"]);
    expect(defined(s.calls[0]).userAgent).toMatch(/^kube-probe\/1\.35( |$)/);
  });

  it("a gRPC error is a failure that names it as Go's status error does", async () => {
    const s = await health();
    s.answer(() => ({ error: { code: status.NOT_FOUND, details: "unknown service" } }));
    expect(await grpcProbe("127.0.0.1", "x", s.port, 1)).toEqual({
      result: "failure",
      output: "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
    });
  });

  it("a server without grpc.health.v1 is reported as not implementing the protocol", async () => {
    const s = await health({ withHealth: false });
    const outcome = await grpcProbe("127.0.0.1", "", s.port, 1);
    expect(outcome.result).toBe("failure");
    expect(outcome.output).toMatch(
      /^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): \S/,
    );
  });

  it("timeouts read as Go durations", async () => {
    // 75 s would be written 1m15s; a closed port waits for all of it, so only the short form runs here.
    expect((await grpcProbe("127.0.0.1", "", 1, 1)).output).toBe(
      'timeout: failed to connect service "127.0.0.1:1" within 1s: context deadline exceeded',
    );
  });
});

describe("grpc.health.v1 wire format (proto3 encoding rules)", () => {
  it("HealthCheckRequest: field 1, length-delimited; an empty service is no field", () => {
    expect([...encodeHealthCheckRequest("foo")]).toEqual([0x0a, 0x03, 0x66, 0x6f, 0x6f]);
    expect([...encodeHealthCheckRequest("")]).toEqual([]);
    expect(decodeHealthCheckRequest(Uint8Array.from([0x0a, 0x02, 0x64, 0x62]))).toEqual({ service: "db" });
  });

  it("HealthCheckResponse: field 1, varint; unknown fields skipped; malformed input refused", () => {
    expect([...encodeHealthCheckResponse(1)]).toEqual([0x08, 0x01]);
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 0x02]))).toEqual({ status: 2 });
    expect(decodeHealthCheckResponse(Uint8Array.from([]))).toEqual({ status: 0 });
    // field 2 (varint 5) and field 3 (bytes "x") before the status
    expect(decodeHealthCheckResponse(Uint8Array.from([0x10, 0x05, 0x1a, 0x01, 0x78, 0x08, 0x01]))).toEqual({
      status: 1,
    });
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x08]))).toThrow();
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x1a, 0x05, 0x78]))).toThrow();
  });
});

describe("gRPC readiness through the reconciler (fake runtime, real server)", () => {
  it("Ready while SERVING; Unhealthy events and unready after failureThreshold NOT_SERVING answers", async () => {
    const s = await health();
    const pod: Pod = {
      metadata: { name: "grpc", namespace: "default", uid: "uid-grpc" },
      spec: {
        hostNetwork: true, // the fake gives host-network pods no IP: the probe goes to 127.0.0.1
        containers: [
          {
            name: "app",
            image: "busybox:1.36",
            command: ["sleep", "3600"],
            readinessProbe: { grpc: { port: s.port, service: "app" }, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
      },
    };
    const sc = createScenario({ pods: [pod] });
    const ready = () => sc.status("grpc")?.conditions?.find((c) => c.type === "Ready")?.status;
    // Virtual time moves in steps; the real server answers between them.
    const until = async (predicate: () => boolean) => {
      for (let i = 0; i < 200 && !predicate(); i++) {
        await sc.runFor(1_000);
        await new Promise((r) => setTimeout(r, 10));
      }
      return predicate();
    };
    expect(await until(() => ready() === "True")).toBe(true);
    s.answer(() => ({ status: "NOT_SERVING" }));
    expect(await until(() => ready() === "False")).toBe(true);
    const unhealthy = sc.events.filter((e) => e.reason === "Unhealthy");
    expect(unhealthy.length).toBeGreaterThanOrEqual(2);
    expect(unhealthy[0]).toMatchObject({
      type: "Warning",
      container: "app",
      message: 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")',
    });
    expect(new Set(s.calls.map((c) => c.service))).toEqual(new Set(["app"]));
    await sc.reconciler.stop();
  });
});
