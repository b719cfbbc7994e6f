// The commands of nodekit-cri, as crictl has them: names, flags, filters, columns, messages.
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import type { ParseArgsConfig } from "node:util";
import { parse as parseYaml } from "yaml";
import { isUnavailable } from "../../errors.js";
import {
  type AuthConfig,
  type Container,
  type ContainerConfig,
  ContainerConfig as ContainerConfigType,
  ContainerState,
  type ContainerStats,
  type ContainerStatus,
  type Image,
  type PodSandbox,
  PodSandboxConfig,
  PodSandboxState,
  type PodSandboxStats,
  type PodSandboxStatus,
} from "../../gen/messages.js";
import { readContainerLogs } from "../../logs.js";
import { CliError, type CommandContext, Exit, usageError } from "./context.js";
import {
  ago,
  containerStateName,
  fixedLogTime,
  formatTable,
  goTimeString,
  humanSize,
  parseGoDuration,
  podStateName,
  rfc3339Nano,
  truncateDigest,
  truncateId,
} from "./format.js";
import { documents, protoJson, statusDocument, toJsonText, toYamlText } from "./proto-json.js";
import { attachStreaming, execStreaming, portForwardStreaming, type TerminalIo } from "./streams.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** One command: its flags (node:util parseArgs), usage text and action. */
export interface Command {
  name: string;
  usage: string;
  args: string;
  options: Options;
  /** Flags end at the first argument (the rest is a command line to run, as for exec). */
  flagsBeforeArgs?: boolean;
  run(ctx: CommandContext, values: Values, args: string[]): Promise<number | undefined>;
}

const str = (v: Values, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);
const bool = (v: Values, k: string): boolean => v[k] === true;
const list = (v: Values, k: string): string[] => (Array.isArray(v[k]) ? (v[k] as string[]) : []);

function int(v: Values, k: string, fallback: number): number {
  const s = str(v, k);
  if (s === undefined) return fallback;
  if (!/^[+-]?\d+$/.test(s)) throw usageError(`invalid value ${JSON.stringify(s)} for flag -${k}: parse error`);
  return Number(s);
}

function parseLabels(values: string[], what = "label"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of values) {
    const pair = l.split("=");
    if (pair.length !== 2) throw usageError(`incorrectly specified ${what}: ${l}`);
    out[pair[0] as string] = pair[1] as string;
  }
  return out;
}

function matches(pattern: string | undefined, target: string): boolean {
  if (!pattern) return true;
  try {
    return new RegExp(pattern).test(target);
  } catch {
    return false;
  }
}

type Output = "json" | "yaml" | "table";
function output(v: Values, fallback: Output, allowed: readonly Output[] = ["json", "yaml", "table"]): Output {
  const o = str(v, "output") ?? fallback;
  if (o === "go-template") throw usageError("-o go-template is not supported by nodekit-cri; use -o json and jq");
  if (!(allowed as readonly string[]).includes(o)) throw usageError(`unsupported output format ${JSON.stringify(o)}`);
  return o as Output;
}

function printData(ctx: CommandContext, format: Output, data: unknown): void {
  ctx.out(format === "yaml" ? toYamlText(data) : toJsonText(data));
}

const podNameLabel = "io.kubernetes.pod.name";
const podNamespaceLabel = "io.kubernetes.pod.namespace";
const fromLabels = (labels: Record<string, string>, key: string) => labels[key] ?? "unknown";

const outputOption = { output: { type: "string", short: "o" } } as const satisfies Options;

// ---------------------------------------------------------------------------------------- lists

interface PodListOptions {
  id?: string | undefined;
  state?: string | undefined;
  labels: Record<string, string>;
  name?: string | undefined;
  namespace?: string | undefined;
  latest: boolean;
  last: number;
}

async function listPods(ctx: CommandContext, o: PodListOptions): Promise<PodSandbox[]> {
  let state: PodSandboxState | undefined;
  if (o.state) {
    const s = o.state.toLowerCase();
    if (s === "ready") state = PodSandboxState.SANDBOX_READY;
    else if (s === "notready") state = PodSandboxState.SANDBOX_NOTREADY;
    else throw usageError("--state should be ready or notready");
  }
  const { items } = await ctx.runtime().listPodSandbox({
    filter: { id: o.id ?? "", labelSelector: o.labels, ...(state !== undefined ? { state: { state } } : {}) },
  });
  const filtered = items
    .filter((p) => p.metadata && matches(o.name, p.metadata.name) && matches(o.namespace, p.metadata.namespace))
    .sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0));
  return cut(filtered, o.latest, o.last);
}

function cut<T>(items: T[], latest: boolean, last: number): T[] {
  let n = items.length;
  if (latest) n = 1;
  if (last > 0) n = last;
  return items.slice(0, Math.min(n, items.length));
}

interface ContainerListOptions {
  id?: string | undefined;
  podId?: string | undefined;
  state?: string | undefined;
  all: boolean;
  labels: Record<string, string>;
  name?: string | undefined;
  namespace?: string | undefined;
  image?: string | undefined;
  latest: boolean;
  last: number;
}

async function listContainers(ctx: CommandContext, o: ContainerListOptions): Promise<Container[]> {
  let state: ContainerState | undefined;
  if (!o.all && !o.state) state = ContainerState.CONTAINER_RUNNING;
  if (o.state) {
    const names: Record<string, ContainerState> = {
      created: ContainerState.CONTAINER_CREATED,
      running: ContainerState.CONTAINER_RUNNING,
      exited: ContainerState.CONTAINER_EXITED,
      unknown: ContainerState.CONTAINER_UNKNOWN,
    };
    state = names[o.state.toLowerCase()];
    if (state === undefined) throw usageError("--state should be one of created, running, exited or unknown");
  }
  if (o.latest || o.last > 0) state = undefined; // latest/last look at every state
  const { containers } = await ctx.runtime().listContainers({
    filter: {
      id: o.id ?? "",
      podSandboxId: o.podId ?? "",
      labelSelector: o.labels,
      ...(state !== undefined ? { state: { state } } : {}),
    },
  });
  const out: Container[] = [];
  let wanted: string | undefined;
  if (o.image) wanted = (await ctx.image().imageStatus({ image: { image: o.image } })).image?.id ?? "";
  for (const c of containers) {
    if (wanted !== undefined) {
      if (wanted === "") continue;
      const id = (await ctx.image().imageStatus({ image: { image: c.image?.image ?? "" } })).image?.id;
      if (id !== wanted) continue;
    }
    if (
      c.metadata &&
      matches(o.name, c.metadata.name) &&
      matches(o.namespace, fromLabels(c.labels, podNamespaceLabel))
    ) {
      out.push(c);
    }
  }
  out.sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0));
  return cut(out, o.latest, o.last);
}

function printLabels(ctx: CommandContext, title: string, map: Record<string, string>): void {
  ctx.out(`${title}:\n`);
  for (const k of Object.keys(map).sort()) ctx.out(`\t${k} -> ${map[k]}\n`);
}

const pods: Command = {
  name: "pods",
  usage: "List pods",
  args: "",
  options: {
    id: { type: "string" },
    name: { type: "string" },
    namespace: { type: "string" },
    state: { type: "string", short: "s" },
    label: { type: "string", multiple: true },
    verbose: { type: "boolean", short: "v" },
    quiet: { type: "boolean", short: "q" },
    ...outputOption,
    latest: { type: "boolean", short: "l" },
    last: { type: "string", short: "n" },
    "no-trunc": { type: "boolean" },
  },
  async run(ctx, v, args) {
    if (args.length) throw usageError("pods takes no arguments");
    const format = output(v, "table");
    const items = await listPods(ctx, {
      id: str(v, "id"),
      state: str(v, "state"),
      labels: parseLabels(list(v, "label")),
      name: str(v, "name"),
      namespace: str(v, "namespace"),
      latest: bool(v, "latest"),
      last: int(v, "last", 0),
    });
    if (format !== "table") {
      printData(ctx, format, protoJson({ items }, "sandbox"));
      return 0;
    }
    const quiet = bool(v, "quiet");
    const verbose = bool(v, "verbose");
    if (quiet) {
      for (const p of items) ctx.out(`${p.id}\n`);
      return 0;
    }
    if (verbose) {
      for (const p of items) {
        ctx.out(`ID: ${p.id}\n`);
        if (p.metadata) {
          if (p.metadata.name) ctx.out(`Name: ${p.metadata.name}\n`);
          if (p.metadata.uid) ctx.out(`UID: ${p.metadata.uid}\n`);
          if (p.metadata.namespace) ctx.out(`Namespace: ${p.metadata.namespace}\n`);
          if (p.metadata.attempt) ctx.out(`Attempt: ${p.metadata.attempt}\n`);
        }
        ctx.out(`Status: ${podStateName(p.state)}\nCreated: ${goTimeString(p.createdAt)}\n`);
        printLabels(ctx, "Labels", p.labels);
        printLabels(ctx, "Annotations", p.annotations);
        ctx.out(`Runtime: ${p.runtimeHandler || "(default)"}\n\n`);
      }
      return 0;
    }
    const now = ctx.io.now();
    const rows = [["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"]];
    for (const p of items) {
      rows.push([
        bool(v, "no-trunc") ? p.id : truncateId(p.id),
        ago(p.createdAt, now),
        podStateName(p.state),
        p.metadata?.name ?? "",
        p.metadata?.namespace ?? "",
        String(p.metadata?.attempt ?? 0),
        p.runtimeHandler || "(default)",
      ]);
    }
    ctx.out(formatTable(rows));
    return 0;
  },
};

const ps: Command = {
  name: "ps",
  usage: "List containers",
  args: "",
  options: {
    verbose: { type: "boolean", short: "v" },
    id: { type: "string" },
    name: { type: "string" },
    pod: { type: "string", short: "p" },
    image: { type: "string" },
    state: { type: "string", short: "s" },
    label: { type: "string", multiple: true },
    quiet: { type: "boolean", short: "q" },
    ...outputOption,
    all: { type: "boolean", short: "a" },
    latest: { type: "boolean", short: "l" },
    last: { type: "string", short: "n" },
    "no-trunc": { type: "boolean" },
    "resolve-image-path": { type: "boolean", short: "r" },
    namespace: { type: "string" },
  },
  async run(ctx, v, args) {
    if (args.length) throw usageError("ps takes no arguments");
    const format = output(v, "table");
    const containers = await listContainers(ctx, containerListOptions(v));
    if (format !== "table") {
      printData(ctx, format, protoJson({ containers }, "container"));
      return 0;
    }
    if (bool(v, "quiet")) {
      for (const c of containers) ctx.out(`${c.id}\n`);
      return 0;
    }
    const now = ctx.io.now();
    if (bool(v, "verbose")) {
      for (const c of containers) {
        ctx.out(`ID: ${c.id}\nPodID: ${c.podSandboxId}\nNamespace: ${fromLabels(c.labels, podNamespaceLabel)}\n`);
        if (c.metadata) {
          if (c.metadata.name) ctx.out(`Name: ${c.metadata.name}\n`);
          ctx.out(`Attempt: ${c.metadata.attempt}\n`);
        }
        ctx.out(`State: ${containerStateName(c.state)}\n`);
        if (c.image) ctx.out(`Image: ${c.image.image}\n`);
        ctx.out(`Created: ${ago(c.createdAt, now)}\n`);
        printLabels(ctx, "Labels", c.labels);
        printLabels(ctx, "Annotations", c.annotations);
        ctx.out("\n");
      }
      return 0;
    }
    const rows = [["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD", "NAMESPACE"]];
    for (const c of containers) {
      let image = c.image?.image ?? "";
      const noTrunc = bool(v, "no-trunc");
      if (bool(v, "resolve-image-path")) {
        const st = await ctx.image().imageStatus({ image: { image } });
        image = st.image?.repoTags[0] ?? image;
      }
      if (!noTrunc) image = truncateDigest(image);
      rows.push([
        noTrunc ? c.id : truncateId(c.id),
        image,
        ago(c.createdAt, now),
        containerStateName(c.state),
        c.metadata?.name ?? "",
        String(c.metadata?.attempt ?? 0),
        noTrunc ? c.podSandboxId : truncateId(c.podSandboxId),
        fromLabels(c.labels, podNameLabel),
        fromLabels(c.labels, podNamespaceLabel),
      ]);
    }
    ctx.out(formatTable(rows));
    return 0;
  },
};

function containerListOptions(v: Values): ContainerListOptions {
  return {
    id: str(v, "id"),
    podId: str(v, "pod"),
    state: str(v, "state"),
    all: bool(v, "all"),
    labels: parseLabels(list(v, "label")),
    name: str(v, "name"),
    namespace: str(v, "namespace"),
    image: str(v, "image"),
    latest: bool(v, "latest"),
    last: int(v, "last", 0),
  };
}

/** Splits `name:tag` pairs as crictl's images table does. */
function repoTagPairs(repoTags: string[], imageName: string): [string, string][] {
  if (repoTags.length === 0) return [[imageName, "<none>"]];
  return repoTags.map((t) => {
    const i = t.lastIndexOf(":");
    if (i < 0) return ["errorRepoTag", "errorRepoTag"];
    const name = t.slice(0, i);
    return [name === "<none>" ? imageName : name, t.slice(i + 1)];
  });
}

function repoDigestPair(repoDigests: string[]): [string, string] {
  if (repoDigests.length === 0) return ["<none>", "<none>"];
  const pair = (repoDigests[0] as string).split("@");
  return pair.length === 2 ? [pair[0] as string, pair[1] as string] : ["errorName", "errorRepoDigest"];
}

function byRef(a: Image, b: Image): number {
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  if (a.repoTags.length && b.repoTags.length) return cmp(a.repoTags[0] as string, b.repoTags[0] as string);
  if (a.repoDigests.length && b.repoDigests.length) return cmp(a.repoDigests[0] as string, b.repoDigests[0] as string);
  return cmp(a.id, b.id);
}

async function listImages(ctx: CommandContext, name: string | undefined, filters: string[]): Promise<Image[]> {
  const { images } = await ctx.image().listImages({ filter: { image: { image: name ?? "" } } });
  let out = [...images].sort(byRef);
  for (const f of filters) {
    if (f.startsWith("dangling=")) {
      const want = f.slice("dangling=".length);
      out = out.filter((i) =>
        want === "true" ? i.repoTags.length === 0 : want === "false" ? i.repoTags.length > 0 : false,
      );
    } else if (f.startsWith("reference=")) {
      const pattern = f.slice("reference=".length);
      let re: RegExp;
      try {
        re = new RegExp(pattern);
      } catch (err) {
        throw usageError(`filter images: ${(err as Error).message}`);
      }
      out = out.filter((i) => {
        const [imgName] = repoDigestPair(i.repoDigests);
        return re.test(imgName) || imgName === pattern;
      });
    } else if (f.startsWith("before=")) {
      out = beforeSince(f.slice("before=".length), [...out].reverse()).reverse();
    } else if (f.startsWith("since=")) {
      out = beforeSince(f.slice("since=".length), out);
    } else {
      throw usageError(`unknown filter flag: ${f}`);
    }
  }
  return out;
}

function beforeSince(value: string, images: Image[]): Image[] {
  const out: Image[] = [];
  for (const img of images) {
    if (value.includes(":") && !value.includes("@")) {
      const [imgName] = repoDigestPair(img.repoDigests);
      if ((repoTagPairs(img.repoTags, imgName)[0] as string[]).join(":") === value) break;
      out.push(img);
    }
    if (!value.includes(":") && !value.includes("@")) {
      if (img.id.startsWith(value)) break;
      out.push(img);
    }
    if (value.includes(":") && value.includes("@") && img.repoDigests.length > 0) {
      if ((img.repoDigests[0] as string).startsWith(value)) break;
      out.push(img);
    }
  }
  return out;
}

const images: Command = {
  name: "images",
  usage: "List images",
  args: "[REPOSITORY[:TAG]]",
  options: {
    verbose: { type: "boolean", short: "v" },
    quiet: { type: "boolean", short: "q" },
    filter: { type: "string", short: "f", multiple: true },
    ...outputOption,
    digests: { type: "boolean" },
    "no-trunc": { type: "boolean" },
    pinned: { type: "boolean" },
  },
  async run(ctx, v, args) {
    if (args.length > 1) throw usageError("images takes at most one REPOSITORY[:TAG]");
    const format = output(v, "table");
    const list_ = await listImages(ctx, args[0], list(v, "filter"));
    if (format !== "table") {
      printData(ctx, format, protoJson({ images: list_ }, "container"));
      return 0;
    }
    if (bool(v, "quiet")) {
      for (const i of list_) ctx.out(`${i.id}\n`);
      return 0;
    }
    if (bool(v, "verbose")) {
      for (const i of list_) {
        ctx.out(`ID: ${i.id}\n`);
        for (const t of i.repoTags) ctx.out(`RepoTags: ${t}\n`);
        for (const d of i.repoDigests) ctx.out(`RepoDigests: ${d}\n`);
        if (i.size) ctx.out(`Size: ${i.size}\n`);
        if (i.uid) ctx.out(`Uid: value:${i.uid.value}\n`);
        if (i.username) ctx.out(`Username: ${i.username}\n`);
        if (i.pinned) ctx.out("Pinned: true\n");
        ctx.out("\n");
      }
      return 0;
    }
    const digests = bool(v, "digests");
    const pinned = bool(v, "pinned");
    const noTrunc = bool(v, "no-trunc");
    const header = ["IMAGE", "TAG", ...(digests ? ["DIGEST"] : []), "IMAGE ID", "SIZE", ...(pinned ? ["PINNED"] : [])];
    const rows = [header];
    for (const i of list_) {
      const [imageName, digest] = repoDigestPair(i.repoDigests);
      const id = noTrunc ? i.id : truncateId(i.id, "sha256:");
      const shownDigest = noTrunc ? digest : truncateId(digest, "sha256:");
      const size = humanSize(Number(i.size), 3);
      for (const [repo, tag] of repoTagPairs(i.repoTags, imageName)) {
        rows.push([repo, tag, ...(digests ? [shownDigest] : []), id, size, ...(pinned ? [String(i.pinned)] : [])]);
      }
    }
    ctx.out(formatTable(rows));
    return 0;
  },
};

// -------------------------------------------------------------------------------------- inspect

function podStatusJson(status: PodSandboxStatus | undefined): unknown {
  if (!status) return undefined;
  const json = protoJson(status, "sandbox") as Record<string, unknown>;
  json.createdAt = rfc3339Nano(status.createdAt);
  return json;
}

function containerStatusJson(status: ContainerStatus | undefined): unknown {
  if (!status) return undefined;
  const json = protoJson(status, "container") as Record<string, unknown>;
  json.createdAt = rfc3339Nano(status.createdAt);
  json.startedAt = rfc3339Nano(status.state !== ContainerState.CONTAINER_CREATED ? status.startedAt : 0n);
  const finished =
    status.state === ContainerState.CONTAINER_EXITED ||
    (status.state === ContainerState.CONTAINER_UNKNOWN && status.finishedAt > 0n);
  json.finishedAt = rfc3339Nano(finished ? status.finishedAt : 0n);
  return json;
}

const inspectFilterOptions = {
  ...outputOption,
  quiet: { type: "boolean", short: "q" },
  template: { type: "string" },
  name: { type: "string" },
  namespace: { type: "string" },
  state: { type: "string", short: "s" },
  label: { type: "string", multiple: true },
  latest: { type: "boolean", short: "l" },
  last: { type: "string", short: "n" },
} as const satisfies Options;

function nothingFound(): never {
  throw usageError("No IDs provided or nothing found per filter");
}

const inspectp: Command = {
  name: "inspectp",
  usage: "Display the status of one or more pods",
  args: "POD-ID [POD-ID...]",
  options: inspectFilterOptions,
  async run(ctx, v, args) {
    const format = output(v, "json");
    let ids = args;
    if (ids.length === 0) {
      ids = (
        await listPods(ctx, {
          name: str(v, "name"),
          namespace: str(v, "namespace"),
          state: str(v, "state"),
          labels: parseLabels(list(v, "label")),
          latest: bool(v, "latest"),
          last: int(v, "last", 0),
        })
      ).map((p) => p.id);
    }
    if (ids.length === 0) nothingFound();
    const verbose = !bool(v, "quiet");
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await ctx
        .runtime()
        .podSandboxStatus({ podSandboxId: id, verbose })
        .catch((err: unknown) => rethrow(err, "get pod sandbox status"));
      if (format === "table") {
        const s = r.status;
        ctx.out(`ID: ${s?.id ?? ""}\n`);
        if (s?.metadata) {
          if (s.metadata.name) ctx.out(`Name: ${s.metadata.name}\n`);
          if (s.metadata.uid) ctx.out(`UID: ${s.metadata.uid}\n`);
          if (s.metadata.namespace) ctx.out(`Namespace: ${s.metadata.namespace}\n`);
          ctx.out(`Attempt: ${s.metadata.attempt}\n`);
        }
        ctx.out(`Status: ${PodSandboxState[s?.state ?? 0]}\nCreated: ${goTimeString(s?.createdAt ?? 0n)}\n`);
        if (s?.network) {
          ctx.out(`IP Addresses: ${s.network.ip}\n`);
          for (const ip of s.network.additionalIps) ctx.out(`Additional IP: ${ip.ip}\n`);
        }
        if (s) printLabels(ctx, "Labels", s.labels);
        if (s) printLabels(ctx, "Annotations", s.annotations);
        if (verbose) ctx.out(`Info: ${JSON.stringify(r.info)}\n`);
        continue;
      }
      docs.push(statusDocument({ status: podStatusJson(r.status), info: r.info }));
    }
    if (format !== "table") printData(ctx, format, documents(docs));
    return 0;
  },
};

const inspect: Command = {
  name: "inspect",
  usage: "Display the status of one or more containers",
  args: "CONTAINER-ID [CONTAINER-ID...]",
  options: {
    ...inspectFilterOptions,
    pod: { type: "string", short: "p" },
    image: { type: "string" },
    all: { type: "boolean", short: "a" },
  },
  async run(ctx, v, args) {
    const format = output(v, "json");
    let ids = args;
    if (ids.length === 0) ids = (await listContainers(ctx, containerListOptions(v))).map((c) => c.id);
    if (ids.length === 0) nothingFound();
    const verbose = !bool(v, "quiet");
    const docs: unknown[] = [];
    const now = ctx.io.now();
    for (const id of ids) {
      const r = await ctx
        .runtime()
        .containerStatus({ containerId: id, verbose })
        .catch((err: unknown) => rethrow(err, "get container status"));
      if (format === "table") {
        const s = r.status;
        ctx.out(`ID: ${s?.id ?? ""}\n`);
        if (s?.metadata?.name) ctx.out(`Name: ${s.metadata.name}\n`);
        if (s?.metadata?.attempt) ctx.out(`Attempt: ${s.metadata.attempt}\n`);
        ctx.out(`State: ${ContainerState[s?.state ?? 0]}\nCreated: ${ago(s?.createdAt ?? 0n, now)}\n`);
        if (s && s.state !== ContainerState.CONTAINER_CREATED) ctx.out(`Started: ${ago(s.startedAt, now)}\n`);
        if (s?.state === ContainerState.CONTAINER_EXITED) {
          if (s.finishedAt > 0n) ctx.out(`Finished: ${ago(s.finishedAt, now)}\n`);
          ctx.out(`Exit Code: ${s.exitCode}\n`);
        }
        if (s) printLabels(ctx, "Labels", s.labels);
        if (s) printLabels(ctx, "Annotations", s.annotations);
        if (verbose) ctx.out(`Info: ${JSON.stringify(r.info)}\n`);
        continue;
      }
      docs.push(statusDocument({ status: containerStatusJson(r.status), info: r.info }));
    }
    if (format !== "table") printData(ctx, format, documents(docs));
    return 0;
  },
};

const inspecti: Command = {
  name: "inspecti",
  usage: "Return the status of one or more images",
  args: "IMAGE-ID [IMAGE-ID...]",
  options: {
    ...outputOption,
    quiet: { type: "boolean", short: "q" },
    template: { type: "string" },
    name: { type: "string" },
    filter: { type: "string", short: "f", multiple: true },
  },
  async run(ctx, v, args) {
    const format = output(v, "json");
    let ids = args;
    if (ids.length === 0) ids = (await listImages(ctx, str(v, "name"), list(v, "filter"))).map((i) => i.id);
    if (ids.length === 0) nothingFound();
    const verbose = !bool(v, "quiet");
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await ctx
        .image()
        .imageStatus({ image: { image: id }, verbose })
        .catch((err: unknown) => rethrow(err, `image status for ${JSON.stringify(id)} request`));
      if (!r.image) throw new CliError(`no such image ${JSON.stringify(id)} present`);
      if (format === "table") {
        ctx.out(`ID: ${r.image.id}\n`);
        for (const t of r.image.repoTags) ctx.out(`Tag: ${t}\n`);
        for (const d of r.image.repoDigests) ctx.out(`Digest: ${d}\n`);
        ctx.out(`Size: ${humanSize(Number(r.image.size), 3)}\n`);
        if (verbose) ctx.out(`Info: ${JSON.stringify(r.info)}\n`);
        continue;
      }
      docs.push(statusDocument({ status: protoJson(r.image, "container"), info: r.info }));
    }
    if (format !== "table") printData(ctx, format, documents(docs));
    return 0;
  },
};

/** Go's encoding/json of a CRI struct (crictl's `info` prints handlers and features so): snake_case, zero values left out. */
function goJson(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.length ? value.map((x) => goJson(x)) : undefined;
  if (value !== null && typeof value === "object" && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const j = goJson(v, k);
      if (j !== undefined) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = j;
    }
    return Object.keys(out).length || key === "" ? out : undefined;
  }
  if (value === false || value === 0 || value === "" || value === 0n || value === undefined) return undefined;
  return typeof value === "bigint" ? Number(value) : value;
}

const info: Command = {
  name: "info",
  usage: "Display information of the container runtime",
  args: "",
  options: { ...outputOption, quiet: { type: "boolean", short: "q" }, template: { type: "string" } },
  async run(ctx, v, args) {
    if (args.length) throw usageError("info takes no arguments");
    const format = output(v, "json", ["json", "yaml"]);
    const r = await ctx
      .runtime()
      .status({ verbose: !bool(v, "quiet") })
      .catch((err: unknown) => rethrow(err, "getting status of runtime"));
    const doc = statusDocument({
      status: protoJson(r.status, "container"),
      runtimeHandlers: r.runtimeHandlers.length ? r.runtimeHandlers.map((h) => goJson(h)) : undefined,
      features: r.features ? goJson(r.features) : undefined,
      info: r.info,
    });
    printData(ctx, format, doc);
    return 0;
  },
};

const version: Command = {
  name: "version",
  usage: "Display runtime version information",
  args: "",
  options: {},
  async run(ctx, _v, args) {
    if (args.length) throw usageError("version takes no arguments");
    const r = await ctx
      .runtime()
      .version({ version: "v1" })
      .catch((err: unknown) => rethrow(err, "getting the runtime version"));
    ctx.out(
      `Version:  ${r.version}\nRuntimeName:  ${r.runtimeName}\nRuntimeVersion:  ${r.runtimeVersion}\nRuntimeApiVersion:  ${r.runtimeApiVersion}\n`,
    );
    return 0;
  },
};

// ---------------------------------------------------------------------------------------- logs

/** crictl's --since: a Go duration before now, an RFC 3339 time, or Unix seconds. */
function parseSince(value: string, nowMs: number): string {
  const d = parseGoDuration(value);
  if (d !== undefined) return new Date(nowMs - d).toISOString();
  if (/^\d+(\.\d{1,9})?$/.test(value)) {
    const [s, frac = ""] = value.split(".");
    const ns = BigInt(s as string) * 1_000_000_000n + BigInt(frac.padEnd(9, "0") || "0");
    return rfc3339Nano(ns);
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (m) {
    const time = m[2] ?? "00:00:00";
    const full = time.length === 5 ? `${time}:00` : time;
    return `${m[1]}T${full}${m[3] ?? "Z"}`;
  }
  throw usageError(
    `invalid value ${JSON.stringify(value)} for --since: a duration (42m), an RFC 3339 time or Unix seconds`,
  );
}

const logs: Command = {
  name: "logs",
  usage: "Fetch the logs of a container",
  args: "CONTAINER-ID",
  options: {
    follow: { type: "boolean", short: "f" },
    previous: { type: "boolean", short: "p" },
    reopen: { type: "boolean", short: "r" },
    tail: { type: "string" },
    "limit-bytes": { type: "string" },
    since: { type: "string" },
    timestamps: { type: "boolean", short: "t" },
    stream: { type: "string", short: "s" },
  },
  async run(ctx, v, args) {
    const id = args[0];
    if (!id) throw usageError("ID cannot be empty");
    if (args.length > 1) throw usageError("logs takes one CONTAINER-ID");
    const stream = str(v, "stream") ?? "";
    if (!["stdout", "stderr", ""].includes(stream))
      throw usageError(`invalid stream "${stream}", must be "stdout" or "stderr"`);
    if (str(v, "tail") !== undefined && str(v, "stream") !== undefined) {
      throw usageError("--tail and --stream are mutually exclusive");
    }
    const tail = int(v, "tail", -1);
    const limitBytes = int(v, "limit-bytes", -1);
    const since = str(v, "since");
    const sinceTime = since ? parseSince(since, ctx.io.now()) : undefined;
    const rt = ctx.runtime();
    if (bool(v, "reopen")) {
      await rt.reopenContainerLog({ containerId: id }).catch((err: unknown) => rethrow(err, "reopen container logs"));
      ctx.warn("Container logs reopened");
    }
    const status = (
      await rt.containerStatus({ containerId: id }).catch((err: unknown) => rethrow(err, "get container status"))
    ).status;
    let logPath = status?.logPath ?? "";
    if (!logPath) throw new CliError("the container has not set log path");
    if (bool(v, "previous")) {
      const attempt = status?.metadata?.attempt ?? 0;
      if (attempt === 0) throw new CliError(`previous terminated container ${status?.metadata?.name ?? ""} not found`);
      const slash = logPath.lastIndexOf("/") + 1;
      logPath = `${logPath.slice(0, slash)}${attempt - 1}${logPath.slice(logPath.lastIndexOf("."))}`;
    }
    const timestamps = bool(v, "timestamps");
    const entries = readContainerLogs(logPath, {
      follow: bool(v, "follow"),
      ...(tail >= 0 ? { tail } : {}),
      ...(limitBytes >= 0 ? { limitBytes } : {}),
      ...(sinceTime ? { sinceTime } : {}),
      timestamps,
      stream: stream === "" ? "all" : (stream as "stdout" | "stderr"),
      signal: ctx.io.signal,
      isRunning: async () => {
        const s = await rt.containerStatus({ containerId: id }).catch(() => undefined);
        return s?.status?.state === ContainerState.CONTAINER_RUNNING;
      },
    });
    for await (const e of entries) {
      const text = Buffer.concat([
        Buffer.from(timestamps ? `${fixedLogTime(e.time)} ` : ""),
        e.line,
        Buffer.from(e.partial ? "" : "\n"),
      ]);
      (e.stream === "stderr" ? ctx.io.stderr : ctx.io.stdout).write(text);
    }
    return ctx.io.signal.aborted ? Exit.interrupted : 0;
  },
};

// --------------------------------------------------------------------------------------- stats

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

const v64 = (x: { value: bigint } | undefined): bigint => x?.value ?? 0n;

async function watchLoop(ctx: CommandContext, watch: boolean, display: () => Promise<void>): Promise<number> {
  if (!watch) {
    await display();
    return 0;
  }
  while (!ctx.io.signal.aborted) {
    await display();
    await sleep(500, ctx.io.signal);
  }
  return 0;
}

const clearScreen = "\x1b[2J\x1b[H";

const stats: Command = {
  name: "stats",
  usage: "List container(s) resource usage statistics",
  args: "[ID]",
  options: {
    all: { type: "boolean", short: "a" },
    id: { type: "string" },
    pod: { type: "string", short: "p" },
    label: { type: "string", multiple: true },
    ...outputOption,
    seconds: { type: "string", short: "s" },
    watch: { type: "boolean", short: "w" },
  },
  async run(ctx, v, args) {
    if (args.length > 1) throw usageError("stats takes at most one ID");
    const format = output(v, "table");
    const filter = {
      id: str(v, "id") ?? args[0] ?? "",
      podSandboxId: str(v, "pod") ?? "",
      labelSelector: parseLabels(list(v, "label")),
    };
    const sampleMs = int(v, "seconds", 1) * 1000;
    const get = async (): Promise<ContainerStats[]> =>
      (await ctx.runtime().listContainerStats({ filter })).stats.sort((a, b) =>
        (a.attributes?.id ?? "") < (b.attributes?.id ?? "") ? -1 : 1,
      );
    return watchLoop(ctx, bool(v, "watch"), async () => {
      const first = await get();
      if (format !== "table") return printData(ctx, format, protoJson({ stats: first }, "container"));
      const old = new Map(first.map((s) => [s.attributes?.id ?? "", s]));
      await sleep(sampleMs, ctx.io.signal);
      const rows = [["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES", "SWAP"]];
      for (const s of await get()) {
        const id = s.attributes?.id ?? "";
        const cpu = v64(s.cpu?.usageCoreNanoSeconds);
        const mem = v64(s.memory?.workingSetBytes);
        if (!bool(v, "all") && cpu === 0n && mem === 0n) continue; // not running
        const before = old.get(id);
        if (!before) continue; // new since the first sample
        let perc = 0;
        if (cpu !== 0n) {
          const duration = (s.cpu?.timestamp ?? 0n) - (before.cpu?.timestamp ?? 0n);
          if (duration === 0n) throw new CliError("cpu stat is not updated during sample");
          perc = (Number(cpu - v64(before.cpu?.usageCoreNanoSeconds)) / Number(duration)) * 100;
        }
        rows.push([
          truncateId(id),
          s.attributes?.metadata?.name ?? "",
          perc.toFixed(2),
          humanSize(Number(mem)),
          humanSize(Number(v64(s.writableLayer?.usedBytes))),
          String(v64(s.writableLayer?.inodesUsed)),
          humanSize(Number(v64(s.swap?.swapUsageBytes))),
        ]);
      }
      ctx.out(`${bool(v, "watch") ? clearScreen : ""}${formatTable(rows)}`);
    });
  },
};

const statsp: Command = {
  name: "statsp",
  usage: "List pod statistics",
  args: "[ID]",
  options: {
    id: { type: "string" },
    label: { type: "string", multiple: true },
    ...outputOption,
    seconds: { type: "string", short: "s" },
    watch: { type: "boolean", short: "w" },
  },
  async run(ctx, v, args) {
    if (args.length > 1) throw usageError("statsp takes at most one ID");
    const format = output(v, "table");
    const filter = { id: str(v, "id") ?? args[0] ?? "", labelSelector: parseLabels(list(v, "label")) };
    const sampleMs = int(v, "seconds", 1) * 1000;
    const get = async (): Promise<PodSandboxStats[]> =>
      (await ctx.runtime().listPodSandboxStats({ filter })).stats.sort((a, b) =>
        (a.attributes?.id ?? "") < (b.attributes?.id ?? "") ? -1 : 1,
      );
    return watchLoop(ctx, bool(v, "watch"), async () => {
      const first = await get();
      if (format !== "table") return printData(ctx, format, protoJson({ stats: first }, "sandbox"));
      const old = new Map(first.map((s) => [s.attributes?.id ?? "", s]));
      await sleep(sampleMs, ctx.io.signal);
      const rows = [["POD", "POD ID", "CPU %", "MEM"]];
      for (const s of await get()) {
        const id = s.attributes?.id ?? "";
        if (s.linux && s.windows)
          throw new CliError(`pod "${truncateId(id)}" has both linux and windows stats which is not supported`);
        const usage = s.linux ?? s.windows;
        const cpu = v64(usage?.cpu?.usageCoreNanoSeconds);
        const mem = v64(usage?.memory?.workingSetBytes);
        if (cpu === 0n && mem === 0n) continue;
        const before = old.get(id);
        if (!before) continue;
        const prev = before.linux ?? before.windows;
        let perc = 0;
        if (cpu !== 0n) {
          const duration = (usage?.cpu?.timestamp ?? 0n) - (prev?.cpu?.timestamp ?? 0n);
          if (duration === 0n) throw new CliError("cpu stat is not updated during sample");
          perc = (Number(cpu - v64(prev?.cpu?.usageCoreNanoSeconds)) / Number(duration)) * 100;
        }
        rows.push([s.attributes?.metadata?.name ?? "", truncateId(id), perc.toFixed(2), humanSize(Number(mem))]);
      }
      ctx.out(`${bool(v, "watch") ? clearScreen : ""}${formatTable(rows)}`);
    });
  },
};

// ---------------------------------------------------------------------------- images: pull, rmi

function authOf(v: Values): AuthConfig | undefined {
  if (str(v, "username") !== undefined) {
    throw usageError(
      "--username asks for a password on the terminal, which nodekit-cri does not; use --creds USERNAME[:PASSWORD]",
    );
  }
  const creds = str(v, "creds");
  const auth = str(v, "auth");
  if (creds !== undefined && auth !== undefined) throw usageError("both `--creds` and `--auth` are specified");
  if (creds !== undefined) {
    if (creds === "") throw usageError("credentials can't be empty");
    const i = creds.indexOf(":");
    if (i < 0) return { username: creds, password: "" } as AuthConfig;
    if (i === 0) throw usageError("username can't be empty");
    return { username: creds.slice(0, i), password: creds.slice(i + 1) } as AuthConfig;
  }
  if (auth !== undefined) return { auth } as AuthConfig;
  return undefined;
}

async function pullImage(
  ctx: CommandContext,
  image: string,
  auth: AuthConfig | undefined,
  sandboxConfig: PodSandboxConfig | undefined,
  annotations: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  const { imageRef } = await ctx
    .image()
    .pullImage(
      { image: { image, annotations }, ...(auth ? { auth } : {}), ...(sandboxConfig ? { sandboxConfig } : {}) },
      timeoutMs > 0 ? { timeoutMs } : {},
    )
    .catch((err: unknown) => rethrow(err, "pulling image"));
  return imageRef;
}

function durationFlag(v: Values, k: string): number {
  const s = str(v, k);
  if (s === undefined) return 0;
  const ms = parseGoDuration(s);
  if (ms === undefined) throw usageError(`invalid value ${JSON.stringify(s)} for flag -${k}: parse error`);
  if (ms < 0) throw usageError("timeout should be bigger than 0");
  return ms;
}

const pull: Command = {
  name: "pull",
  usage: "Pull an image from a registry",
  args: "NAME[:TAG|@DIGEST]",
  options: {
    creds: { type: "string" },
    auth: { type: "string" },
    username: { type: "string", short: "u" },
    "pod-config": { type: "string" },
    annotation: { type: "string", short: "a", multiple: true },
    "pull-timeout": { type: "string" },
  },
  async run(ctx, v, args) {
    const image = args[0];
    if (!image) throw usageError("image name cannot be empty");
    if (args.length > 1) throw usageError("pull takes one image");
    const values = {
      ...v,
      creds: str(v, "creds") ?? ctx.io.env.CRICTL_CREDS,
      auth: str(v, "auth") ?? ctx.io.env.CRICTL_AUTH,
    };
    const timeout = durationFlag(
      { ...v, "pull-timeout": str(v, "pull-timeout") ?? ctx.io.env.CRICTL_PULL_TIMEOUT },
      "pull-timeout",
    );
    const podConfig = str(v, "pod-config");
    const ref = await pullImage(
      ctx,
      image,
      authOf(values),
      podConfig ? loadPodSandboxConfig(ctx, podConfig) : undefined,
      parseLabels(list(v, "annotation"), "annotation"),
      timeout,
    );
    ctx.out(`Image is up to date for ${ref}\n`);
    return 0;
  },
};

const rmi: Command = {
  name: "rmi",
  usage: "Remove one or more images",
  args: "IMAGE-ID [IMAGE-ID...]",
  options: { all: { type: "boolean", short: "a" }, prune: { type: "boolean", short: "q" } },
  async run(ctx, v, args) {
    const all = bool(v, "all");
    const prune = bool(v, "prune");
    const ids = new Map<string, boolean>(args.map((id) => [id, true]));
    if (all || prune) {
      for (const img of (await ctx.image().listImages({})).images) {
        if (prune && img.pinned) continue;
        ids.set(img.id, true);
      }
    }
    if (prune) {
      for (const c of (await ctx.runtime().listContainers({})).containers) {
        const st = await ctx
          .image()
          .imageStatus({ image: { image: c.image?.image ?? "" } })
          .catch(() => undefined);
        if (st?.image) ids.set(st.image.id, false);
      }
    }
    if (ids.size === 0) {
      if (all || prune) {
        ctx.warn("No images to remove");
        return 0;
      }
      throw usageError("rmi needs IMAGE-ID(s), --all or --prune");
    }
    const errors: string[] = [];
    for (const [id, remove] of ids) {
      if (!remove) continue;
      try {
        const st = await ctx.image().imageStatus({ image: { image: id } });
        if (!st.image) throw new CliError(`no such image ${id}`);
        try {
          await ctx.image().removeImage({ image: { image: id } });
        } catch (err) {
          if (prune) continue; // races with other removers are fine on prune
          throw err;
        }
        const names = st.image.repoTags.length ? st.image.repoTags : st.image.repoDigests;
        for (const n of names) ctx.out(`Deleted: ${n}\n`);
      } catch (err) {
        errors.push(failureText(err, `error of removing image ${JSON.stringify(id)}`));
      }
    }
    return reportAll(errors);
  },
};

// ------------------------------------------------------------------------ lifecycle: pods, ctrs

function failureText(err: unknown, what: string): string {
  if (err instanceof CliError) return err.message;
  if (isUnavailable(err)) throw err; // unreachable: the CLI stops with one message
  return `${what}: ${err instanceof Error ? err.message : String(err)}`;
}

function reportAll(errors: string[]): number {
  if (errors.length === 0) return 0;
  throw new CliError(errors.length === 1 ? (errors[0] as string) : `[${errors.join(", ")}]`);
}

function rethrow(err: unknown, what: string): never {
  if (isUnavailable(err)) throw err; // unreachable: the CLI stops with one message
  throw new CliError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}

const stopp: Command = {
  name: "stopp",
  usage: "Stop one or more running pods",
  args: "POD-ID [POD-ID...]",
  options: {},
  async run(ctx, _v, args) {
    if (args.length === 0) throw usageError("stopp needs POD-ID(s)");
    for (const id of args) {
      await ctx
        .runtime()
        .stopPodSandbox({ podSandboxId: id })
        .catch((err: unknown) => rethrow(err, `stopping the pod sandbox ${JSON.stringify(id)}`));
      ctx.out(`Stopped sandbox ${id}\n`);
    }
    return 0;
  },
};

const rmp: Command = {
  name: "rmp",
  usage: "Remove one or more pods",
  args: "POD-ID [POD-ID...]",
  options: { force: { type: "boolean", short: "f" }, all: { type: "boolean", short: "a" } },
  async run(ctx, v, args) {
    let ids = args;
    if (bool(v, "all")) ids = (await ctx.runtime().listPodSandbox({})).items.map((p) => p.id);
    if (ids.length === 0) {
      if (bool(v, "all")) {
        ctx.warn("No pods to remove");
        return 0;
      }
      throw usageError("rmp needs POD-ID(s) or --all");
    }
    const errors: string[] = [];
    for (const id of ids) {
      try {
        const st = await ctx
          .runtime()
          .podSandboxStatus({ podSandboxId: id })
          .catch((err: unknown) => rethrow(err, `getting sandbox status of pod ${JSON.stringify(id)}`));
        if (st.status?.state === PodSandboxState.SANDBOX_READY) {
          if (!bool(v, "force"))
            throw new CliError(`pod sandbox ${JSON.stringify(id)} is running, please stop it first`);
          await ctx
            .runtime()
            .stopPodSandbox({ podSandboxId: id })
            .catch((err: unknown) => rethrow(err, `stopping the pod sandbox ${JSON.stringify(id)} failed`));
          ctx.out(`Stopped sandbox ${id}\n`);
        }
        await ctx
          .runtime()
          .removePodSandbox({ podSandboxId: id })
          .catch((err: unknown) => rethrow(err, `removing the pod sandbox ${JSON.stringify(id)}`));
        ctx.out(`Removed sandbox ${id}\n`);
      } catch (err) {
        errors.push(failureText(err, id));
      }
    }
    return reportAll(errors);
  },
};

const stop: Command = {
  name: "stop",
  usage: "Stop one or more running containers",
  args: "CONTAINER-ID [CONTAINER-ID...]",
  options: { timeout: { type: "string", short: "t" }, all: { type: "boolean", short: "a" } },
  async run(ctx, v, args) {
    const all = bool(v, "all");
    if (all && args.length) throw new CliError("cannot specify CONTAINER-ID(s) when using --all");
    let ids = args;
    if (all) {
      ids = (await listContainers(ctx, { all: false, state: "running", labels: {}, latest: false, last: 0 })).map(
        (c) => c.id,
      );
      if (ids.length === 0) {
        ctx.out("No running containers found.\n");
        return 0;
      }
    } else if (ids.length === 0) {
      throw new CliError("you must specify at least one CONTAINER-ID or use --all");
    }
    const timeout = BigInt(int(v, "timeout", 0));
    for (const id of ids) {
      await ctx
        .runtime()
        .stopContainer({ containerId: id, timeout })
        .catch((err: unknown) => rethrow(err, `stopping the container ${JSON.stringify(id)}`));
      ctx.out(`${id}\n`);
    }
    return 0;
  },
};

async function removeLogs(ctx: CommandContext, id: string, logPath: string): Promise<void> {
  const dir = dirname(logPath);
  const base = basename(logPath);
  const files = [logPath];
  try {
    for (const f of await readdir(dir)) if (f.startsWith(`${base}.`)) files.push(join(dir, f));
  } catch {
    // no folder: nothing rotated
  }
  for (const f of files) {
    try {
      rmSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // already gone
      ctx.warn(`removing log file ${f} for container ${JSON.stringify(id)} failed: ${(err as Error).message}`);
    }
  }
}

const rm: Command = {
  name: "rm",
  usage: "Remove one or more containers",
  args: "CONTAINER-ID [CONTAINER-ID...]",
  options: {
    force: { type: "boolean", short: "f" },
    "keep-logs": { type: "boolean", short: "k" },
    all: { type: "boolean", short: "a" },
  },
  async run(ctx, v, args) {
    let ids = args;
    if (bool(v, "all")) ids = (await ctx.runtime().listContainers({})).containers.map((c) => c.id);
    if (ids.length === 0) {
      if (bool(v, "all")) {
        ctx.warn("No containers to remove");
        return 0;
      }
      throw usageError("rm needs CONTAINER-ID(s) or --all");
    }
    const errors: string[] = [];
    for (const id of ids) {
      try {
        const st = await ctx
          .runtime()
          .containerStatus({ containerId: id })
          .catch((err: unknown) => rethrow(err, `getting container status ${JSON.stringify(id)}`));
        if (st.status?.state === ContainerState.CONTAINER_RUNNING) {
          if (!bool(v, "force")) throw new CliError(`container ${JSON.stringify(id)} is running, please stop it first`);
          await ctx
            .runtime()
            .stopContainer({ containerId: id, timeout: 0n })
            .catch((err: unknown) => rethrow(err, `stopping the container ${JSON.stringify(id)}`));
          ctx.out(`${id}\n`);
        }
        await ctx
          .runtime()
          .removeContainer({ containerId: id })
          .catch((err: unknown) => rethrow(err, `removing container ${JSON.stringify(id)}`));
        ctx.out(`${id}\n`);
        const logPath = st.status?.logPath;
        if (logPath && !bool(v, "keep-logs")) await removeLogs(ctx, id, logPath);
      } catch (err) {
        errors.push(failureText(err, id));
      }
    }
    return reportAll(errors);
  },
};

// --------------------------------------------------------------------- runp, create, start

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw usageError(`config at ${path} not found`);
    throw usageError(`${path}: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text); // JSON is YAML
  } catch (err) {
    throw usageError(`${path}: ${(err as Error).message}`);
  }
}

/** A crictl pod config file (JSON or YAML, snake_case or camelCase names), as crictl loads it. */
export function loadPodSandboxConfig(ctx: CommandContext | undefined, path: string): PodSandboxConfig {
  const data = readConfigFile(path);
  const config = PodSandboxConfig.fromJSON(data ?? {});
  if (!config.metadata) throw usageError(`load podSandboxConfig: ${path}: metadata is not set`);
  if (!config.metadata.uid) config.metadata.uid = randomUUID();
  if (!config.metadata.name || !config.metadata.namespace) {
    throw usageError(`load podSandboxConfig: ${path}: name or namespace is not in metadata`);
  }
  if (config.linux && !config.linux.cgroupParent) {
    ctx?.warn("cgroup_parent is not set. Use `runtime-config` to get the runtime cgroup driver");
  }
  return config;
}

/** A crictl container config file, as crictl loads it. */
export function loadContainerConfig(path: string): ContainerConfig {
  const config = ContainerConfigType.fromJSON(readConfigFile(path) ?? {});
  if (!config.metadata) throw usageError(`${path}: metadata is not set`);
  if (!config.metadata.name) throw usageError(`${path}: name is not in metadata`);
  return config;
}

const runp: Command = {
  name: "runp",
  usage: "Run a new pod",
  args: "pod-config.[json|yaml]",
  options: { runtime: { type: "string", short: "r" }, "cancel-timeout": { type: "string", short: "T" } },
  async run(ctx, v, args) {
    if (args.length !== 1 || !args[0]) throw usageError("runp takes one pod-config.[json|yaml]");
    const config = loadPodSandboxConfig(ctx, args[0]);
    const timeout = durationFlag(v, "cancel-timeout");
    const { podSandboxId } = await ctx
      .runtime()
      .runPodSandbox({ config, runtimeHandler: str(v, "runtime") ?? "" }, timeout > 0 ? { timeoutMs: timeout } : {})
      .catch((err: unknown) => rethrow(err, "run pod sandbox"));
    ctx.out(`${podSandboxId}\n`);
    return 0;
  },
};

const create: Command = {
  name: "create",
  usage: "Create a new container",
  args: "POD container-config.[json|yaml] pod-config.[json|yaml]",
  options: {
    "no-pull": { type: "boolean" },
    "with-pull": { type: "boolean" },
    creds: { type: "string" },
    auth: { type: "string" },
    username: { type: "string" },
    "cancel-timeout": { type: "string", short: "T" },
    "pull-timeout": { type: "string" },
  },
  async run(ctx, v, args) {
    if (args.length !== 3) throw usageError("create takes POD container-config.[json|yaml] pod-config.[json|yaml]");
    const [podId, containerPath, podPath] = args as [string, string, string];
    if (bool(v, "no-pull") && bool(v, "with-pull")) throw usageError("conflict: no-pull and with-pull are both set");
    const withPull = (!bool(v, "no-pull") && ctx.settings.pullImageOnCreate) || bool(v, "with-pull");
    const config = loadContainerConfig(containerPath);
    const sandboxConfig = podPath ? loadPodSandboxConfig(ctx, podPath) : undefined;
    const image = config.image?.image ?? "";
    if (config.image && !config.image.userSpecifiedImage) config.image.userSpecifiedImage = image;
    if (withPull) {
      const auth = authOf(v);
      const wanted = [image, ...config.mounts.map((m) => m.image?.image ?? "").filter((i) => i !== "")];
      for (const i of wanted) {
        await pullImage(ctx, i, auth, sandboxConfig, config.image?.annotations ?? {}, durationFlag(v, "pull-timeout"));
      }
    }
    const timeout = durationFlag(v, "cancel-timeout");
    const { containerId } = await ctx
      .runtime()
      .createContainer(
        { podSandboxId: podId, config, ...(sandboxConfig ? { sandboxConfig } : {}) },
        timeout > 0 ? { timeoutMs: timeout } : {},
      )
      .catch((err: unknown) => rethrow(err, "creating container"));
    ctx.out(`${containerId}\n`);
    return 0;
  },
};

const start: Command = {
  name: "start",
  usage: "Start one or more created containers",
  args: "CONTAINER-ID [CONTAINER-ID...]",
  options: {},
  async run(ctx, _v, args) {
    if (args.length === 0) throw new CliError("ID cannot be empty");
    for (const id of args) {
      await ctx
        .runtime()
        .startContainer({ containerId: id })
        .catch((err: unknown) => rethrow(err, `starting the container ${JSON.stringify(id)}`));
      ctx.out(`${id}\n`);
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------------------- exec

const exec: Command = {
  name: "exec",
  usage: "Run a command in a running container",
  args: "[CONTAINER-ID] COMMAND [ARG...]",
  flagsBeforeArgs: true,
  options: {
    sync: { type: "boolean", short: "s" },
    timeout: { type: "string" },
    tty: { type: "boolean", short: "t" },
    interactive: { type: "boolean", short: "i" },
    name: { type: "string" },
    pod: { type: "string", short: "p" },
    image: { type: "string" },
    state: { type: "string" },
    label: { type: "string", multiple: true },
    latest: { type: "boolean", short: "l" },
    last: { type: "string", short: "n" },
    quiet: { type: "boolean", short: "q" },
    "ignore-errors": { type: "boolean", short: "e" },
    parallel: { type: "boolean", short: "x" },
  },
  async run(ctx, v, args) {
    const filtered = ["name", "pod", "image", "state", "label", "latest", "last"].some((k) => v[k] !== undefined);
    let ids: string[];
    let cmd: string[];
    if (filtered) {
      cmd = args;
      ids = (await listContainers(ctx, { ...containerListOptions(v), all: false })).map((c) => c.id);
      if (ids.length === 0) throw usageError("No containers found per filter flags");
    } else {
      if (args.length < 2) throw usageError("exec needs a CONTAINER-ID and a COMMAND");
      ids = [args[0] as string];
      cmd = args.slice(1);
    }
    if (cmd.length === 0) throw usageError("exec needs a COMMAND");
    const label = filtered && !bool(v, "quiet") && !bool(v, "parallel");
    if (!bool(v, "sync")) {
      const term = ctx.io.terminal ?? noTerminal();
      let code = 0;
      for (const id of ids) {
        if (label) ctx.out(`${id}:\n`);
        try {
          const c = await execStreaming(ctx, term, id, cmd, { stdin: bool(v, "interactive"), tty: bool(v, "tty") });
          if (c !== 0 && code === 0) code = c;
        } catch (err) {
          if (!bool(v, "ignore-errors") || (err instanceof CliError && err.exitCode === Exit.usage)) throw err;
        }
      }
      return bool(v, "ignore-errors") ? 0 : code;
    }
    const timeout = BigInt(int(v, "timeout", 0));
    let code = 0;
    for (const id of ids) {
      if (label) ctx.out(`${id}:\n`);
      try {
        const r = await ctx
          .runtime()
          .execSync({ containerId: id, cmd, timeout })
          .catch((err: unknown) => rethrow(err, `execing command in container ${id} synchronously`));
        ctx.io.stdout.write(r.stdout);
        ctx.io.stderr.write(r.stderr);
        if (r.exitCode !== 0 && code === 0) code = r.exitCode;
      } catch (err) {
        if (!bool(v, "ignore-errors")) throw err;
      }
    }
    return bool(v, "ignore-errors") ? 0 : code;
  },
};

function noTerminal(): TerminalIo {
  return { stdin: Readable.from([]) as TerminalIo["stdin"], stdout: new PassThrough() };
}

const attach: Command = {
  name: "attach",
  usage: "Attach to a running container",
  args: "CONTAINER-ID",
  options: { tty: { type: "boolean", short: "t" }, stdin: { type: "boolean", short: "i" } },
  async run(ctx, v, args) {
    const id = args[0];
    if (!id) throw new CliError("ID cannot be empty");
    if (args.length !== 1) throw usageError("attach takes one CONTAINER-ID");
    return attachStreaming(ctx, ctx.io.terminal ?? noTerminal(), id, { stdin: bool(v, "stdin"), tty: bool(v, "tty") });
  },
};

const portForward: Command = {
  name: "port-forward",
  usage: "Forward local port to a pod",
  args: "POD-ID [LOCAL_PORT:]REMOTE_PORT...",
  options: {},
  async run(ctx, _v, args) {
    if (args.length < 2) throw usageError("port-forward takes POD-ID and [LOCAL_PORT:]REMOTE_PORT...");
    return portForwardStreaming(ctx, args[0] as string, args.slice(1));
  },
};

/** Every command, by name. */
export const commands: readonly Command[] = [
  attach,
  create,
  exec,
  images,
  info,
  inspect,
  inspecti,
  inspectp,
  logs,
  ps,
  pull,
  rm,
  rmi,
  rmp,
  pods,
  portForward,
  runp,
  start,
  stats,
  statsp,
  stop,
  stopp,
  version,
];
