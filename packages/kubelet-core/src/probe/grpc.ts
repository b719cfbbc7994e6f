import type { ServiceError } from "@grpc/grpc-js";
import { goDurationSeconds, goGrpcCodeName, goQuote, joinHostPort } from "./go-format.js";
import { kubeUserAgentVersion } from "./http.js";
import type { ProbeOutcome } from "./outcome.js";

// grpc.health.v1 (the standard gRPC health checking protocol), written from its schema:
//   package grpc.health.v1;
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }
//     enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
//   service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
//                    rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse); }
// Two one-field messages: a hand-written codec keeps the generated CRI code the only generated code.

/** The full method name of the health check the kubelet's gRPC probe calls. */
export const healthCheckMethod = "/grpc.health.v1.Health/Check";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus` names by number. */
export const servingStatusNames: readonly string[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** Encodes `HealthCheckRequest{service}` (proto3: an empty service is no field at all). */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === "") return Buffer.alloc(0);
  const bytes = Buffer.from(service, "utf8");
  return Buffer.concat([Buffer.from([0x0a]), encodeVarint(bytes.length), bytes]);
}

/** Decodes `HealthCheckRequest` (the service name). Throws on a malformed message. */
export function decodeHealthCheckRequest(buf: Uint8Array): { service: string } {
  let service = "";
  readFields(buf, (field, wire, value) => {
    if (field === 1 && wire === 2) service = Buffer.from(value as Uint8Array).toString("utf8");
  });
  return { service };
}

/** Encodes `HealthCheckResponse{status}`. */
export function encodeHealthCheckResponse(statusNumber: number): Buffer {
  if (statusNumber === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x08]), encodeVarint(statusNumber)]);
}

/** Decodes `HealthCheckResponse` (the serving status number; 0 when absent). Throws on a malformed message. */
export function decodeHealthCheckResponse(buf: Uint8Array): { status: number } {
  let value = 0;
  readFields(buf, (field, wire, v) => {
    if (field === 1 && wire === 0) value = Number(v as bigint);
  });
  return { status: value };
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Buffer.from(out);
}

/** Walks a protobuf message's fields: varints as bigint, length-delimited as bytes; others skipped. */
function readFields(buf: Uint8Array, visit: (field: number, wire: number, value: bigint | Uint8Array) => void): void {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new Error("varint too long");
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error("field number 0");
    if (wire === 0) visit(field, wire, varint());
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error("truncated field");
      visit(field, wire, buf.subarray(pos, pos + len));
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (pos > buf.length) throw new Error("truncated field");
  }
}

/**
 * The kubelet's gRPC prober (`pkg/probe/grpc`): dials `host:port` without TLS, waits for the
 * connection until the timeout, then calls `grpc.health.v1.Health/Check` with `service` within
 * what is left of it. Success only for `SERVING`; every other outcome is a failure whose output
 * is the kubelet's text (`timeout: failed to connect service "10.0.0.5:9000" within 1s: context
 * deadline exceeded`, `service unhealthy (responded with "NOT_SERVING")`, …). Never an error.
 */
export async function grpcProbe(
  host: string,
  service: string,
  port: number,
  timeoutSeconds: number,
): Promise<ProbeOutcome> {
  // loaded on the first gRPC probe: the package's other parts (the planner, the statuses) do not
  // pull grpc-js in
  const { Client, credentials, Metadata, status } = await import("@grpc/grpc-js");
  const addr = joinHostPort(host, port);
  const timeout = goDurationSeconds(timeoutSeconds);
  const deadline = Date.now() + timeoutSeconds * 1000;
  // No host (a pod without an IP): Go dials the local system; the message keeps ":port".
  const client = new Client(joinHostPort(host || "127.0.0.1", port), credentials.createInsecure(), {
    "grpc.primary_user_agent": `kube-probe/${kubeUserAgentVersion}`,
    "grpc.enable_retries": 0,
    "grpc.service_config_disable_resolution": 1,
  });
  return new Promise<ProbeOutcome>((resolve) => {
    client.waitForReady(deadline, (connectError) => {
      if (connectError) {
        resolve({
          result: "failure",
          output: `timeout: failed to connect service ${goQuote(addr)} within ${timeout}: context deadline exceeded`,
        });
        return;
      }
      client.makeUnaryRequest<string, { status: number }>(
        healthCheckMethod,
        encodeHealthCheckRequest,
        (bytes: Buffer) => decodeHealthCheckResponse(bytes),
        service,
        new Metadata(),
        { deadline },
        (err: ServiceError | null, response?: { status: number }) => {
          if (err) {
            if (err.code === status.UNIMPLEMENTED) {
              resolve({
                result: "failure",
                output: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}`,
              });
            } else if (err.code === status.DEADLINE_EXCEEDED) {
              resolve({ result: "failure", output: `timeout: health rpc did not complete within ${timeout}` });
            } else {
              resolve({
                result: "failure",
                output: `error: health rpc probe failed: rpc error: code = ${goGrpcCodeName(err.code)} desc = ${err.details}`,
              });
            }
            return;
          }
          const n = response?.status ?? 0;
          if (n !== 1) {
            const name = servingStatusNames[n] ?? String(n);
            resolve({ result: "failure", output: `service unhealthy (responded with ${goQuote(name)})` });
            return;
          }
          resolve({ result: "success", output: "service healthy" });
        },
      );
    });
  }).finally(() => client.close());
}
