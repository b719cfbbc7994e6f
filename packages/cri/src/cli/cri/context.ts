// What a nodekit-cri command runs with: its output, its clients (made on first use, after the
// endpoint was checked), the settings and the clock. Errors name their exit code.
import { existsSync } from "node:fs";
import { createImageClient, createRuntimeClient, type ImageClient, type RuntimeClient } from "../../client.js";
import { parseEndpoint } from "../../endpoint.js";
import { protoJson } from "./proto-json.js";
import { DEFAULT_RUNTIME_ENDPOINTS, type Settings } from "./settings.js";
import type { TerminalIo } from "./streams.js";

/** Exit codes of nodekit-cri. */
export const Exit = {
  /** The command did what it was asked. */
  ok: 0,
  /** The runtime refused a call, or the command could not do what it was asked. */
  failed: 1,
  /** Bad usage: unknown command or flag, a bad value, an unreadable config file. */
  usage: 2,
  /** The runtime endpoint cannot be reached (no socket, nothing listening). */
  unreachable: 3,
  /** Interrupted (SIGINT/SIGTERM) while waiting, e.g. in `logs -f`. */
  interrupted: 130,
} as const;

/** A failure with the exit code it ends the CLI with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = Exit.failed,
  ) {
    super(message);
  }
}

/** Bad usage: exit 2. */
export const usageError = (message: string): CliError => new CliError(message, Exit.usage);

/** Where the CLI writes and what it reads. */
export interface CliIo {
  stdout: { write(text: string | Uint8Array): unknown };
  stderr: { write(text: string | Uint8Array): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** ms since the epoch. */
  now(): number;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** The process's stdin and stdout for exec/attach -i/-t (absent: no terminal, stdin empty). */
  terminal?: TerminalIo | undefined;
}

/** A running command's context. */
export interface CommandContext {
  readonly io: CliIo;
  readonly settings: Settings;
  out(text: string): void;
  warn(text: string): void;
  runtime(): RuntimeClient;
  image(): ImageClient;
  /** The endpoint the runtime client talks to (after picking a default one). */
  endpoint(): string;
  close(): void;
}

/** Makes a command context; clients are created when a command first needs them. */
export function createCommandContext(io: CliIo, settings: Settings): CommandContext {
  let runtime: RuntimeClient | undefined;
  let image: ImageClient | undefined;
  let picked: string | undefined;
  const warn = (text: string) => io.stderr.write(`WARN: ${text}\n`);

  const endpoint = (): string => {
    if (picked) return picked;
    if (settings.runtimeEndpoint !== undefined) {
      picked = checked(settings.runtimeEndpoint);
      return picked;
    }
    warn(
      `no runtime endpoint set (--runtime-endpoint, CONTAINER_RUNTIME_ENDPOINT or runtime-endpoint in ${settings.configPath ?? "/etc/crictl.yaml"}); ` +
        `trying crictl's defaults ${DEFAULT_RUNTIME_ENDPOINTS.join(", ")}`,
    );
    const found = DEFAULT_RUNTIME_ENDPOINTS.find((ep) => existsSync(parseEndpoint(ep).socketPath));
    if (!found) {
      throw new CliError(
        `cannot reach a runtime: no socket at any default endpoint (${DEFAULT_RUNTIME_ENDPOINTS.join(", ")}); set --runtime-endpoint`,
        Exit.unreachable,
      );
    }
    picked = found;
    return picked;
  };
  const imageEndpoint = (): string =>
    settings.imageEndpoint !== undefined ? checked(settings.imageEndpoint) : endpoint();

  return {
    io,
    settings,
    out: (text) => io.stdout.write(text),
    warn,
    endpoint,
    runtime() {
      runtime ??= traced(createRuntimeClient(endpoint(), { timeoutMs: settings.timeoutMs }), settings.debug, io);
      return runtime;
    },
    image() {
      image ??= traced(createImageClient(imageEndpoint(), { timeoutMs: settings.timeoutMs }), settings.debug, io);
      return image;
    },
    close() {
      runtime?.close();
      image?.close();
    },
  };
}

/** Checks an endpoint's form and that its socket exists: else there is nothing to talk to. */
function checked(ep: string): string {
  let socketPath: string;
  try {
    socketPath = parseEndpoint(ep).socketPath;
  } catch (err) {
    throw usageError((err as Error).message.replace(/^\[InvalidArgument\] /, ""));
  }
  if (!existsSync(socketPath)) {
    throw new CliError(`cannot reach the runtime at ${ep}: no socket at ${socketPath}`, Exit.unreachable);
  }
  return ep;
}

/** With --debug, each unary call's request and response on stderr, as crictl's -D logs them. */
function traced<T extends object>(client: T, debug: boolean, io: CliIo): T {
  if (!debug) return client;
  const show = (value: unknown) => JSON.stringify(protoJson(value, "container"));
  return new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== "function" || typeof key !== "string" || key === "close") return value;
      const rpc = key.charAt(0).toUpperCase() + key.slice(1);
      return (request: unknown, options?: unknown) => {
        io.stderr.write(`DEBU: ${rpc}Request: ${show(request ?? {})}\n`);
        const result = (value as (r: unknown, o?: unknown) => unknown).call(target, request, options);
        if (result instanceof Promise) {
          return result.then(
            (res: unknown) => {
              io.stderr.write(`DEBU: ${rpc}Response: ${show(res)}\n`);
              return res;
            },
            (err: unknown) => {
              io.stderr.write(`DEBU: ${rpc}Response: error: ${(err as Error).message}\n`);
              throw err;
            },
          );
        }
        return result;
      };
    },
  });
}
