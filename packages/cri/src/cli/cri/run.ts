// nodekit-cri's shell: global flags, settings, dispatch, and what ends up on stderr and as the
// exit code. Commands live in commands.ts.
import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { CriError, isUnavailable } from "../../errors.js";
import { type Command, commands } from "./commands.js";
import { CliError, type CliIo, createCommandContext, Exit } from "./context.js";
import {
  type CrictlConfig,
  configPathOf,
  type GlobalFlags,
  parseCrictlConfig,
  resolveSettings,
  SettingsError,
} from "./settings.js";

const aliases: Record<string, string> = { image: "images", img: "images" };

const globalOptions = {
  config: { type: "string", short: "c" },
  "runtime-endpoint": { type: "string", short: "r" },
  "image-endpoint": { type: "string", short: "i" },
  timeout: { type: "string", short: "t" },
  debug: { type: "boolean", short: "D" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** The help text of nodekit-cri. */
export function usageText(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return `nodekit-cri - a crictl-style client for CRI runtimes

Usage: nodekit-cri [global options] command [command options] [arguments...]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.usage}`).join("\n")}

Global options:
  --config, -c <file>            client config file (default /etc/crictl.yaml; also CRI_CONFIG_FILE)
  --runtime-endpoint, -r <ep>    CRI runtime endpoint (also CONTAINER_RUNTIME_ENDPOINT)
  --image-endpoint, -i <ep>      CRI image endpoint (default: the runtime's; also IMAGE_SERVICE_ENDPOINT)
  --timeout, -t <duration>       timeout of each call, e.g. 2s, 20s (default 2s)
  --debug, -D                    print each call on stderr
  --help, -h                     this help; "nodekit-cri <command> --help" for a command's flags

Endpoint precedence, as crictl: --runtime-endpoint, then CONTAINER_RUNTIME_ENDPOINT, then the
config file's runtime-endpoint, then crictl's default sockets (containerd, CRI-O, cri-dockerd).

Exit status: 0 success; 1 the runtime refused a call or the command failed; 2 bad usage or a bad
config file; 3 the runtime endpoint cannot be reached; 130 interrupted.
`;
}

function commandUsage(c: Command): string {
  const flags = Object.entries(c.options ?? {}).map(([name, o]) => {
    const short = "short" in o && o.short ? `, -${o.short}` : "";
    const value = o.type === "string" ? " value" : "";
    return `  --${name}${short}${value}${"multiple" in o && o.multiple ? " (repeatable)" : ""}`;
  });
  return `Usage: nodekit-cri ${c.name}${Object.keys(c.options).length ? " [options]" : ""}${c.args ? ` ${c.args}` : ""}\n\n${c.usage}\n${
    flags.length ? `\nOptions:\n${flags.join("\n")}\n` : ""
  }`;
}

/** Reads the config file as crictl does: a missing default file is no config; a named one must exist. */
function readConfig(flags: GlobalFlags, env: CliIo["env"]): { config: CrictlConfig | undefined; path: string } {
  const { path, explicit } = configPathOf(flags, env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (explicit) throw new SettingsError(`config file ${path}: ${(err as Error).message}`);
    return { config: undefined, path };
  }
  try {
    return { config: parseCrictlConfig(text, path), path };
  } catch (err) {
    if (explicit) throw err;
    return { config: undefined, path }; // crictl ignores a broken default file
  }
}

/**
 * Runs nodekit-cri with `argv` (without the node and script paths) and resolves to the exit code.
 * Never throws: what goes wrong is on stderr, in one line, and in the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Global flags come before the command, as with crictl.
  const firstPositional = argv.findIndex((a, i) => !a.startsWith("-") && !takesValue(argv[i - 1]));
  const globalArgs = firstPositional < 0 ? [...argv] : argv.slice(0, firstPositional);
  const rest = firstPositional < 0 ? [] : argv.slice(firstPositional);
  let global: ReturnType<typeof parseArgs<{ options: typeof globalOptions; strict: true }>>["values"];
  try {
    global = parseArgs({ args: globalArgs, options: globalOptions, strict: true, allowPositionals: false }).values;
  } catch (err) {
    io.stderr.write(`nodekit-cri: ${(err as Error).message}\n\n${usageText()}`);
    return Exit.usage;
  }
  const name = rest[0];
  if (global.version && name === undefined) {
    io.stdout.write(`nodekit-cri version ${packageVersion()}\n`);
    return Exit.ok;
  }
  if (global.help || name === "help" || name === undefined) {
    const target = name === "help" ? rest[1] : undefined;
    const c = target ? commands.find((x) => x.name === (aliases[target] ?? target)) : undefined;
    io.stdout.write(c ? commandUsage(c) : usageText());
    return Exit.ok;
  }
  const command = commands.find((c) => c.name === (aliases[name] ?? name));
  if (!command) {
    const known = `No help topic for '${name}'`;
    io.stderr.write(`nodekit-cri: ${known}\n\n${usageText()}`);
    return Exit.usage;
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  let args = rest.slice(1);
  let after: string[] = [];
  if (command.flagsBeforeArgs) {
    const at = firstArgument(args, command.options);
    if (at >= 0) {
      after = args.slice(args[at] === "--" ? at + 1 : at);
      args = args.slice(0, at);
    }
  }
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    }));
    positionals = [...positionals, ...after];
  } catch (err) {
    io.stderr.write(`nodekit-cri ${command.name}: ${(err as Error).message}\n\n${commandUsage(command)}`);
    return Exit.usage;
  }
  if (values.help) {
    io.stdout.write(commandUsage(command));
    return Exit.ok;
  }

  let ctx: ReturnType<typeof createCommandContext> | undefined;
  try {
    const flags: GlobalFlags = {
      config: global.config,
      runtimeEndpoint: global["runtime-endpoint"],
      imageEndpoint: global["image-endpoint"],
      timeout: global.timeout,
      debug: global.debug,
    };
    const { config, path } = readConfig(flags, io.env);
    const settings = resolveSettings(flags, io.env, config, path);
    ctx = createCommandContext(io, settings);
    if (settings.debug) {
      io.stderr.write(
        `DEBU: runtime endpoint ${settings.runtimeEndpoint ?? "(default)"} (from ${settings.source}), image endpoint ${
          settings.imageEndpoint ?? "(the runtime's)"
        }, timeout ${settings.timeoutMs} ms\n`,
      );
    }
    const code = await command.run(ctx, values, positionals);
    return code ?? Exit.ok;
  } catch (err) {
    return report(io, command.name, err, ctx);
  } finally {
    ctx?.close();
  }
}

function report(
  io: CliIo,
  name: string,
  err: unknown,
  ctx: ReturnType<typeof createCommandContext> | undefined,
): number {
  if (err instanceof SettingsError) {
    io.stderr.write(`nodekit-cri: ${err.message}\n`);
    return Exit.usage;
  }
  if (err instanceof CliError) {
    io.stderr.write(`nodekit-cri ${name}: ${err.message}\n`);
    return err.exitCode;
  }
  if (isUnavailable(err)) {
    let endpoint = "the runtime";
    try {
      endpoint = ctx ? ctx.endpoint() : endpoint;
    } catch {
      // keep the generic name
    }
    const why = err.rawMessage
      .replace(/^checking the runtime's version first: /, "")
      .replace(/\.?\s*Resolution note:\s*$/, "");
    io.stderr.write(`nodekit-cri: cannot reach the runtime at ${endpoint}: ${why}\n`);
    return Exit.unreachable;
  }
  if (err instanceof CriError) {
    io.stderr.write(`nodekit-cri ${name}: ${err.message}\n`);
    return Exit.failed;
  }
  io.stderr.write(`nodekit-cri ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  return Exit.failed;
}

/** The version of @nodekit/cri, from its package.json (dist/cli/ → ../../package.json). */
function packageVersion(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "@nodekit/cri" && pkg.version) return pkg.version;
    } catch {
      // try the next place
    }
  }
  return "unknown";
}

/** The index of the first argument that is not a flag or a flag's value (`--` ends the flags). */
function firstArgument(args: readonly string[], options: NonNullable<ParseArgsConfig["options"]>): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return i;
    if (!a.startsWith("-") || a === "-") return i;
    if (a.includes("=")) continue;
    const name = a.replace(/^--?/, "");
    const valued = Object.entries(options).some(
      ([long, o]) => o.type === "string" && (a.startsWith("--") ? long === name : "short" in o && o.short === name),
    );
    if (valued) i++;
  }
  return -1;
}

function takesValue(arg: string | undefined): boolean {
  if (!arg?.startsWith("-") || arg.includes("=")) return false;
  const name = arg.replace(/^--?/, "");
  return Object.entries(globalOptions).some(
    ([long, o]) => o.type === "string" && (long === name || ("short" in o && o.short === name)),
  );
}
