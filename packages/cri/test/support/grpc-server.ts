// A bare grpc-js server on a unix socket, serving hand-written handlers for service definitions
// built from the package's method tables. Client tests use it as a runtime whose behaviour they
// control.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { VersionResponse } from "../../src/gen/runtime/v1/api.js";
import { imageServiceMethods, type MethodInfo, runtimeServiceMethods } from "../../src/gen/services.js";

/** A grpc-js service definition for a method table (what ts-proto's grpc-js output used to give). */
function definitionOf(table: readonly MethodInfo[]): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of table) {
    definition[m.name] = {
      path: m.path,
      originalName: m.rpc,
      requestStream: false,
      responseStream: m.serverStream,
      requestSerialize: (value: unknown) => Buffer.from(m.request.encode(value).finish()),
      requestDeserialize: (bytes: Buffer) => m.request.decode(bytes),
      responseSerialize: (value: unknown) => Buffer.from(m.response.encode(value).finish()),
      responseDeserialize: (bytes: Buffer) => m.response.decode(bytes),
    };
  }
  return definition;
}
const RuntimeServiceService = definitionOf(runtimeServiceMethods);
const ImageServiceService = definitionOf(imageServiceMethods);
type MethodName = (typeof runtimeServiceMethods)[number]["name"] | (typeof imageServiceMethods)[number]["name"];

export interface TestServer {
  readonly socketPath: string;
  readonly endpoint: string;
  /** Names of the RPCs the server received, in order. */
  readonly calls: string[];
  stop(): Promise<void>;
  /** Starts again on the same socket (after stop). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

type Handlers = Partial<Record<MethodName, unknown>>;

export async function startTestServer(
  runtime: Handlers,
  image: Handlers = {},
  options: grpc.ServerOptions = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "nk-grpc-"));
  const socketPath = join(dir, "rt.sock");
  const calls: string[] = [];
  const wrap = (handlers: Handlers) =>
    Object.fromEntries(
      Object.entries(handlers).map(([name, fn]) => [
        name,
        (call: unknown, cb?: unknown) => {
          calls.push(name);
          return (fn as (c: unknown, cb?: unknown) => unknown)(call, cb);
        },
      ]),
    ) as grpc.UntypedServiceImplementation;
  let server: grpc.Server | undefined;
  const start = async () => {
    const s = new grpc.Server(options);
    server = s;
    s.addService(RuntimeServiceService, wrap(runtime));
    s.addService(ImageServiceService, wrap(image));
    await new Promise<void>((resolve, reject) =>
      s.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    if (s) s.forceShutdown();
    rmSync(socketPath, { force: true });
  };
  await start();
  return {
    socketPath,
    endpoint: `unix://${socketPath}`,
    calls,
    stop,
    restart: start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Version handler answering as a CRI v1 runtime would. */
export function versionV1(runtimeApiVersion = "v1") {
  return (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
    cb(
      null,
      VersionResponse.fromPartial({
        version: "0.1.0",
        runtimeName: "test",
        runtimeVersion: "1.0.0",
        runtimeApiVersion,
      }),
    );
}
