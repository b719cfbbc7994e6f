import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Pod } from "@nodekit/kubelet-core";
import type { EndpointSlice, Service } from "@nodekit/proxy-rules";
import { parseAllDocuments } from "yaml";

/** What a folder of manifests declares. */
export interface Manifests {
  pods: Pod[];
  services: Service[];
  endpointSlices: EndpointSlice[];
  /** Problems found while reading (a file that is not YAML, an unknown kind): reported, not fatal. */
  problems: string[];
}

/**
 * Reads every `*.yaml` / `*.yml` / `*.json` file of a folder (multi-document YAML, or a `List`)
 * and sorts the Pods, Services and EndpointSlices out. Pods without a `uid` get one derived from
 * their namespace and name, so the same pod keeps its uid across edits (an edit is an update of
 * the pod, as `kubectl apply` makes it).
 */
export async function readManifests(folder: string): Promise<Manifests> {
  const out: Manifests = { pods: [], services: [], endpointSlices: [], problems: [] };
  const files = (await readdir(folder)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
  for (const file of files) {
    let docs: unknown[];
    try {
      docs = parseAllDocuments(await readFile(join(folder, file), "utf8")).map((d) => {
        const [error] = d.errors;
        if (error) throw new Error(error.message);
        return d.toJS();
      });
    } catch (err) {
      out.problems.push(`${file}: ${(err as Error).message.split("\n")[0]}`);
      continue;
    }
    const items = docs.flatMap((d) => (isObject(d) && d.kind === "List" && Array.isArray(d.items) ? d.items : [d]));
    for (const item of items) {
      if (!isObject(item)) continue;
      const meta = (item.metadata ?? {}) as { name?: string; namespace?: string; uid?: string };
      meta.namespace ??= "default";
      item.metadata = meta;
      switch (item.kind) {
        case "Pod":
          meta.uid ??= stableUid(`${meta.namespace}/${meta.name}`);
          out.pods.push(item as Pod);
          break;
        case "Service":
          out.services.push(item as unknown as Service);
          break;
        case "EndpointSlice":
          out.endpointSlices.push(item as unknown as EndpointSlice);
          break;
        default:
          out.problems.push(
            `${file}: ${item.kind ?? "an object without kind"} ${meta.name ?? ""} is not handled (Pods, Services, EndpointSlices)`,
          );
      }
    }
  }
  return out;
}

/** A UUID-shaped id that depends only on `key`. */
function stableUid(key: string): string {
  const h = createHash("sha256").update(`nodekit-node-agent/${key}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function isObject(value: unknown): value is Record<string, unknown> & { kind?: string; metadata?: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
