// Where nodekit-cri finds the runtime, with crictl's precedence: the flag (--runtime-endpoint,
// which CONTAINER_RUNTIME_ENDPOINT also sets), then crictl's config file (/etc/crictl.yaml,
// --config or CRI_CONFIG_FILE), then crictl's default endpoints. Pure: the caller reads files.
import { parse } from "yaml";
import { parseGoDuration } from "./format.js";

/** crictl's config file when neither --config nor CRI_CONFIG_FILE names one. */
export const DEFAULT_CONFIG_PATH = "/etc/crictl.yaml";
/** crictl's default endpoints on Linux, tried in order (deprecated there: set an endpoint). */
export const DEFAULT_RUNTIME_ENDPOINTS = [
  "unix:///run/containerd/containerd.sock",
  "unix:///run/crio/crio.sock",
  "unix:///var/run/cri-dockerd.sock",
] as const;
/** crictl's default --timeout: 2 s, for connecting and for each call. */
export const DEFAULT_CLI_TIMEOUT_MS = 2000;

/** The global flags as given (undefined: not given). */
export interface GlobalFlags {
  config?: string | undefined;
  runtimeEndpoint?: string | undefined;
  imageEndpoint?: string | undefined;
  timeout?: string | undefined;
  debug?: boolean | undefined;
}

/** crictl's config file (`runtime-endpoint`, `image-endpoint`, `timeout` in seconds, …). */
export interface CrictlConfig {
  runtimeEndpoint?: string;
  imageEndpoint?: string;
  timeoutSeconds?: number;
  debug?: boolean;
  pullImageOnCreate?: boolean;
  disablePullOnRun?: boolean;
}

/** What the CLI runs with. */
export interface Settings {
  /** The runtime endpoint, or the default endpoints to try when none is set. */
  runtimeEndpoint: string | undefined;
  /** The image endpoint; the runtime's when unset. */
  imageEndpoint: string | undefined;
  /** Where the runtime endpoint came from. */
  source: "flag" | "env" | "config" | "default";
  timeoutMs: number;
  debug: boolean;
  pullImageOnCreate: boolean;
  disablePullOnRun: boolean;
  /** The config file that was read, if any. */
  configPath: string | undefined;
}

/** A settings problem: exit 2 with this message. */
export class SettingsError extends Error {}

/** Parses crictl's config file text as crictl does (an unknown key is an error). */
export function parseCrictlConfig(text: string, path: string): CrictlConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new SettingsError(`config file ${path}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new SettingsError(`config file ${path}: expected a mapping of options`);
  }
  const out: CrictlConfig = {};
  const bool = (name: string, v: unknown): boolean => {
    const s = String(v);
    if (["1", "t", "T", "true", "TRUE", "True"].includes(s)) return true;
    if (["0", "f", "F", "false", "FALSE", "False"].includes(s)) return false;
    throw new SettingsError(
      `config file ${path}: parsing config option '${name}': invalid boolean ${JSON.stringify(s)}`,
    );
  };
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    switch (name) {
      case "runtime-endpoint":
        out.runtimeEndpoint = value === null ? "" : String(value);
        break;
      case "image-endpoint":
        out.imageEndpoint = value === null ? "" : String(value);
        break;
      case "timeout": {
        const s = String(value);
        if (!/^[+-]?\d+$/.test(s)) {
          throw new SettingsError(
            `config file ${path}: parsing config option 'timeout': invalid integer ${JSON.stringify(s)}`,
          );
        }
        out.timeoutSeconds = Number(s);
        break;
      }
      case "debug":
        out.debug = bool(name, value);
        break;
      case "pull-image-on-create":
        out.pullImageOnCreate = bool(name, value);
        break;
      case "disable-pull-on-run":
        out.disablePullOnRun = bool(name, value);
        break;
      default:
        throw new SettingsError(`config file ${path}: Config option '${name}' is not valid`);
    }
  }
  return out;
}

/** The path of the config file to read, and whether it was asked for (then it must exist). */
export function configPathOf(flags: GlobalFlags, env: Readonly<Record<string, string | undefined>>) {
  const given = flags.config ?? env.CRI_CONFIG_FILE;
  return { path: given ?? DEFAULT_CONFIG_PATH, explicit: given !== undefined };
}

/**
 * Resolves the settings with crictl's precedence. `config` is the parsed config file, or
 * undefined when there is none.
 */
export function resolveSettings(
  flags: GlobalFlags,
  env: Readonly<Record<string, string | undefined>>,
  config: CrictlConfig | undefined,
  configPath?: string,
): Settings {
  let runtimeEndpoint: string | undefined;
  let source: Settings["source"] = "default";
  if (flags.runtimeEndpoint !== undefined) {
    runtimeEndpoint = flags.runtimeEndpoint;
    source = "flag";
  } else if (env.CONTAINER_RUNTIME_ENDPOINT !== undefined) {
    runtimeEndpoint = env.CONTAINER_RUNTIME_ENDPOINT;
    source = "env";
  } else if (config?.runtimeEndpoint) {
    runtimeEndpoint = config.runtimeEndpoint;
    source = "config";
  }
  if (source !== "default" && runtimeEndpoint === "") throw new SettingsError("--runtime-endpoint is not set");
  const imageEndpoint =
    flags.imageEndpoint ?? env.IMAGE_SERVICE_ENDPOINT ?? (config?.imageEndpoint ? config.imageEndpoint : undefined);

  let timeoutMs = DEFAULT_CLI_TIMEOUT_MS;
  if (flags.timeout !== undefined) {
    const ms = parseGoDuration(flags.timeout);
    if (ms === undefined) {
      throw new SettingsError(`invalid value ${JSON.stringify(flags.timeout)} for flag -timeout: parse error`);
    }
    timeoutMs = ms > 0 ? ms : DEFAULT_CLI_TIMEOUT_MS; // "0 or less is set to default"
  } else if (config?.timeoutSeconds !== undefined && config.timeoutSeconds > 0) {
    timeoutMs = config.timeoutSeconds * 1000;
  }
  return {
    runtimeEndpoint,
    imageEndpoint: imageEndpoint === "" ? undefined : imageEndpoint,
    source,
    timeoutMs,
    debug: flags.debug ?? config?.debug ?? false,
    pullImageOnCreate: config?.pullImageOnCreate ?? false,
    disablePullOnRun: config?.disablePullOnRun ?? false,
    configPath: config ? configPath : undefined,
  };
}
