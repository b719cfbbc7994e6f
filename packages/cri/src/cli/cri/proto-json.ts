// Messages as crictl prints them with -o json|yaml: proto3 JSON with default values emitted
// (protojson's EmitDefaultValues), lowerCamelCase names, 64-bit integers as strings, bytes in
// base64, enums by name. ts-proto's toJSON leaves defaults out (a READY sandbox would lose its
// `state`), so this walks the decoded message instead.
import { stringify } from "yaml";
import {
  CgroupDriver,
  ContainerEventType,
  ContainerState,
  MetricType,
  MountPropagation,
  NamespaceMode,
  PodSandboxState,
  Protocol,
  SecurityProfile_ProfileType,
  Signal,
  SupplementalGroupsPolicy,
} from "../../gen/messages.js";

/** What a message's `state` field means: a sandbox's or a container's state. */
export type StateKind = "sandbox" | "container";

type EnumNames = Record<number, string>;
const enumFields: Record<string, EnumNames> = {
  cgroupDriver: CgroupDriver as unknown as EnumNames,
  containerEventType: ContainerEventType as unknown as EnumNames,
  metricType: MetricType as unknown as EnumNames,
  propagation: MountPropagation as unknown as EnumNames,
  network: NamespaceMode as unknown as EnumNames,
  pid: NamespaceMode as unknown as EnumNames,
  ipc: NamespaceMode as unknown as EnumNames,
  mode: NamespaceMode as unknown as EnumNames,
  protocol: Protocol as unknown as EnumNames,
  profileType: SecurityProfile_ProfileType as unknown as EnumNames,
  stopSignal: Signal as unknown as EnumNames,
  supplementalGroupsPolicy: SupplementalGroupsPolicy as unknown as EnumNames,
};

/**
 * A decoded CRI message as plain proto3 JSON data with defaults, ready for JSON.stringify.
 * `state` is named by `stateKind` (in a ContainerEventResponse, `podSandboxStatus.state` is a
 * sandbox's and `containersStatuses[].state` a container's).
 */
export function protoJson(value: unknown, stateKind: StateKind, key = ""): unknown {
  if (value === undefined) return undefined;
  if (typeof value === "bigint") return value.toString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map((v) => protoJson(v, stateKind, key));
  if (typeof value === "number") {
    const names = key === "state" ? stateNames(stateKind) : enumFields[key];
    return names ? (names[value] ?? value) : value;
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const kind = k === "podSandboxStatus" ? "sandbox" : k === "containersStatuses" ? "container" : stateKind;
      const json = protoJson(v, kind, k);
      if (json !== undefined) out[k] = json;
    }
    return out;
  }
  return value;
}

function stateNames(kind: StateKind): EnumNames {
  return (kind === "sandbox" ? PodSandboxState : ContainerState) as unknown as EnumNames;
}

/** JSON as crictl indents it. */
export function toJsonText(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/** YAML as crictl prints it (sigs.k8s.io/yaml: keys sorted). */
export function toYamlText(data: unknown): string {
  return `${stringify(data, { sortMapEntries: true, lineWidth: 0 })}\n`;
}

/** Sorts object keys at every level, as Go's encoding/json does for maps. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The `inspect*`/`info` document of one object, as crictl's outputStatusData builds it: the
 * status under `status`, each verbose `info` entry parsed when it is a JSON object (else the
 * string without quotes), keys sorted.
 */
export function statusDocument(parts: {
  status?: unknown;
  runtimeHandlers?: unknown;
  features?: unknown;
  info?: Record<string, string> | undefined;
}): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (parts.status !== undefined) doc.status = parts.status;
  if (parts.runtimeHandlers !== undefined) doc.runtimeHandlers = parts.runtimeHandlers;
  if (parts.features !== undefined) doc.features = parts.features;
  for (const [k, v] of Object.entries(parts.info ?? {})) {
    if (v.startsWith("{")) {
      try {
        doc[k] = JSON.parse(v);
        continue;
      } catch {
        // not JSON after all: kept as text
      }
    }
    doc[k] = v.replace(/^"+|"+$/g, "");
  }
  return sortKeys(doc) as Record<string, unknown>;
}

/** One document, or an array of several (crictl's "old behavior" for a single object). */
export function documents(docs: readonly unknown[]): unknown {
  return docs.length === 1 ? docs[0] : docs;
}
