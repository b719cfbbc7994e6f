// A grpc.health.v1 server for tests, from the test's own proto through @grpc/proto-loader (an
// encoding independent of the probe's hand-written codec).
import { fileURLToPath } from "node:url";
import {
  type GrpcObject,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceClientConstructor,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

const protoPath = fileURLToPath(new URL("./grpc-health-v1.proto", import.meta.url));
const definition = loadSync(protoPath, { enums: String, defaults: true, keepCase: true });
const health = ((loadPackageDefinition(definition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
const Health = health.Health as ServiceClientConstructor;

/** What a Check answers: a serving status name, a gRPC error, or nothing for `delayMs`. */
export type CheckAnswer =
  | { status: "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN"; delayMs?: number }
  | { error: { code: number; details: string } };

/** A running health server on 127.0.0.1. */
export interface HealthServer {
  /** Its port. */
  port: number;
  /** Every Check it received: the service asked for and the user agent. */
  calls: { service: string; userAgent: string }[];
  /** Sets how Check answers from now on. */
  answer(fn: (service: string) => CheckAnswer): void;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Starts a server that implements grpc.health.v1.Health (or, with `withHealth: false`, nothing),
 * on 127.0.0.1 unless `host` says otherwise.
 */
export async function startHealthServer(options: { withHealth?: boolean; host?: string } = {}): Promise<HealthServer> {
  const server = new Server();
  const calls: HealthServer["calls"] = [];
  let answerFn: (service: string) => CheckAnswer = () => ({ status: "SERVING" });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  if (options.withHealth !== false) {
    server.addService(Health.service, {
      Check(call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<{ status: string }>) {
        const service = call.request.service;
        calls.push({ service, userAgent: String(call.metadata.get("user-agent")[0] ?? "") });
        const a = answerFn(service);
        if ("error" in a) return callback({ code: a.error.code, details: a.error.details });
        if (!a.delayMs) return callback(null, { status: a.status });
        const t = setTimeout(() => {
          timers.delete(t);
          callback(null, { status: a.status });
        }, a.delayMs);
        timers.add(t);
      },
      Watch(call: { end(): void }) {
        call.end();
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host ?? "127.0.0.1"}:0`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    calls,
    answer(fn) {
      answerFn = fn;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.forceShutdown();
    },
  };
}

export { status };
