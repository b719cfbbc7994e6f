// Reads Kubernetes objects for the command line: YAML or JSON files holding single objects,
// `List`s (`kubectl get -o json`), multi-document YAML, or arrays; Services and EndpointSlices
// are kept, a Node and a KubeProxyConfiguration are recognised, everything else is skipped (and
// reported). Every object remembers where it came from, so errors can name the file.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeProxyConfiguration, NodeInfo } from "../model/config.js";
import type { EndpointSlice, Service } from "../model/kube-types.js";

/** A problem with an input file: which file, where in it, what. Exit status 3. */
export class InputFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "InputFileError";
  }
}

/** What the files held. */
export interface ReadObjects {
  services: Service[];
  endpointSlices: EndpointSlice[];
  nodes: { node: NodeInfo; origin: string }[];
  configs: { config: KubeProxyConfiguration; origin: string }[];
  /** `Kind namespace/name` → `file (document n)`. */
  origins: Map<string, string>;
  /** Objects of other kinds, as `file: Kind namespace/name`. */
  skipped: string[];
}

/** The key of an object in {@link ReadObjects.origins}. */
export function objectKey(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind} ${namespace ?? ""}/${name ?? ""}`;
}

/** Expands directories (their *.yaml, *.yml and *.json files, sorted) and reads every file. */
export function readObjectFiles(paths: readonly string[]): ReadObjects {
  const out: ReadObjects = {
    services: [],
    endpointSlices: [],
    nodes: [],
    configs: [],
    origins: new Map(),
    skipped: [],
  };
  for (const path of expand(paths)) readFile(path, out);
  return out;
}

function expand(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      throw new InputFileError(p, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) if (/\.(ya?ml|json)$/.test(f)) files.push(join(p, f));
    } else files.push(p);
  }
  return files;
}

/** Reads a text file (`-` is standard input). */
export function readText(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (err) {
    throw new InputFileError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Parses a YAML or JSON file into its documents (JSON is YAML). */
export function parseDocuments(path: string, text: string): unknown[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  list.forEach((d, i) => {
    const e = d.errors[0];
    if (e) {
      const line = e.linePos?.[0]?.line;
      throw new InputFileError(
        path,
        `${line ? `line ${line}: ` : ""}not valid YAML or JSON: ${e.message.split("\n")[0]}`,
      );
    }
    const v = d.toJS({ maxAliasCount: 100 });
    if (v !== null && v !== undefined) out.push(v);
    else if (list.length === 1 && i === 0 && text.trim() !== "") out.push(v);
  });
  return out;
}

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) o[k] = dropNulls(x);
    return o;
  }
  return v;
}

/** A v1 Node (kubectl get node -o yaml) or nodekit's short form `{ name, addresses, labels, podCIDRs }`. */
export function toNodeInfo(v: Record<string, unknown>, where: string): NodeInfo {
  if (v.kind === "Node") {
    const meta = (v.metadata ?? {}) as { name?: string; labels?: Record<string, string> };
    const status = (v.status ?? {}) as { addresses?: { type?: string; address?: string }[] };
    const spec = (v.spec ?? {}) as { podCIDRs?: string[]; podCIDR?: string };
    if (typeof meta.name !== "string") throw new InputFileError(where, "Node: metadata.name: required");
    const rank = (t?: string) => (t === "InternalIP" ? 0 : t === "ExternalIP" ? 1 : 2);
    const addresses = (status.addresses ?? [])
      .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
      .sort((a, b) => rank(a.type) - rank(b.type))
      .map((a) => String(a.address));
    return {
      name: meta.name,
      addresses,
      ...(meta.labels ? { labels: meta.labels } : {}),
      ...(spec.podCIDRs ? { podCIDRs: spec.podCIDRs } : spec.podCIDR ? { podCIDRs: [spec.podCIDR] } : {}),
    };
  }
  return dropNulls(v) as NodeInfo;
}

/** kube-proxy's configuration file (kind KubeProxyConfiguration), without apiVersion and kind. */
export function toConfig(v: Record<string, unknown>): KubeProxyConfiguration {
  const { apiVersion: _a, kind: _k, ...rest } = dropNulls(v) as Record<string, unknown>;
  return rest as KubeProxyConfiguration;
}

function readFile(path: string, out: ReadObjects): void {
  const docs = parseDocuments(path, readText(path));
  const add = (v: unknown, where: string) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        add(x, `${where}[${i}]`);
      });
      return;
    }
    if (!v || typeof v !== "object") throw new InputFileError(path, `${where}: not an object`);
    const o = v as Record<string, unknown>;
    const kind = o.kind;
    if (typeof kind === "string" && kind.endsWith("List") && Array.isArray(o.items)) {
      const itemKind = kind === "List" ? undefined : kind.slice(0, -4);
      o.items.forEach((x, i) => {
        const item = itemKind && x && typeof x === "object" && !("kind" in x) ? { kind: itemKind, ...x } : x;
        add(item, `${where} items[${i}]`);
      });
      return;
    }
    const meta = (o.metadata ?? {}) as { namespace?: string; name?: string };
    const origin = `${path}${where}`;
    if (kind === "Service") {
      out.services.push(o as unknown as Service);
      out.origins.set(objectKey("Service", meta.namespace ?? "default", meta.name), origin);
    } else if (kind === "EndpointSlice") {
      out.endpointSlices.push(o as unknown as EndpointSlice);
      out.origins.set(objectKey("EndpointSlice", meta.namespace ?? "default", meta.name), origin);
    } else if (kind === "Node") out.nodes.push({ node: toNodeInfo(o, origin), origin });
    else if (kind === "KubeProxyConfiguration") out.configs.push({ config: toConfig(o), origin });
    else
      out.skipped.push(
        `${origin}: ${typeof kind === "string" ? kind : "(no kind)"} ${meta.namespace ? `${meta.namespace}/` : ""}${meta.name ?? ""}`.trim(),
      );
  };
  docs.forEach((d, i) => {
    add(d, docs.length > 1 ? ` (document ${i + 1})` : "");
  });
}
