// One static pod manifest: bytes → decoded object → the pod the kubelet would run, as the kubelet's
// file source does it (pkg/kubelet/config/file.go extractFromFile, common.go tryDecodeSinglePod and
// applyDefaults). Pure: no file system, no clock.

import { createHash } from "node:crypto";
import { type DocumentOptions, type ParseOptions, parseAllDocuments, type SchemaOptions, type Tags } from "yaml";
import type { Pod, PodSpec } from "../pod.js";
import { podProblems } from "../validate.js";

/** The annotation holding the static pod's hash: its generated UID (kubelet `ConfigHashAnnotationKey`). */
export const configHashAnnotation = "kubernetes.io/config.hash";
/** The annotation holding when the source first saw the pod, RFC 3339 (kubelet `ConfigFirstSeenAnnotationKey`). */
export const configSeenAnnotation = "kubernetes.io/config.seen";
/** The annotation naming the pod's source, `file` for static pods (kubelet `ConfigSourceAnnotationKey`). */
export const configSourceAnnotation = "kubernetes.io/config.source";
/** The name of the file source, and the value of {@link configSourceAnnotation} (kubelet `kubetypes.FileSource`). */
export const fileSourceName = "file";
/** Manifests longer than this are refused, as the kubelet refuses them (`maxConfigLength`, 10 MiB). */
export const maxManifestBytes = 10 * 1024 * 1024;

/** Turns a manifest's text into the one object it holds; throws an `Error` saying why it cannot. */
export type ManifestParser = (text: string, file: string) => unknown;

/** A `v1.Toleration`, which {@link Pod}'s spec does not model but static pods are given. */
interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

// Kubernetes decodes YAML with go-yaml v2, a YAML 1.1 parser: `0644` is octal (a volume's
// `defaultMode: 0644` is 420), `yes`/`on` are booleans. Timestamps stay strings, as go-yaml v2
// leaves them when decoding into an untyped value. Duplicate keys are allowed (last wins), as there.
const yamlOptions: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  uniqueKeys: false,
  customTags: (tags: Tags) => tags.filter((t) => typeof t === "string" || t.tag !== "tag:yaml.org,2002:timestamp"),
};

/**
 * Decodes a manifest's text as the kubelet does (`utilyaml.ToJSON`): text that starts with `{` is
 * JSON, anything else YAML 1.1. Returns the one object the text holds, as plain JSON values.
 * Throws when the text does not parse, holds nothing, or holds more than one document (the kubelet
 * silently runs the first document of several and ignores the rest; we refuse the file instead, so
 * no pod of it is dropped unseen).
 */
export function decodeManifestText(text: string): unknown {
  if (/^\s*\{/.test(text)) return JSON.parse(text);
  const docs = parseAllDocuments(text, yamlOptions);
  const values: unknown[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) throw new Error(`YAML: ${error.message.split("\n")[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) values.push(value);
  }
  if (values.length === 0) throw new Error("the manifest is empty");
  if (values.length > 1) {
    throw new Error(`the manifest holds ${values.length} YAML documents; a manifest file holds one Pod`);
  }
  return values[0];
}

/** Serialises `value` as JSON with every object's keys sorted: the same text for the same content. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * The UID the kubelet gives a static pod whose manifest has none: a hash of the decoded manifest,
 * then `host:<nodeName>` and `file:<file>` (common.go `applyDefaults`), as hex. The kubelet hashes
 * Go's deep-hash bytes of its typed, API-defaulted object (with MD5, FNV-128a since 2025); those
 * bytes cannot be reproduced here, so this hashes {@link canonicalJson} of the manifest as decoded
 * (unknown fields included) with MD5. The UID is therefore stable for the same content, node and
 * path, and changes when any of them changes, as the kubelet's does, but it is not the kubelet's
 * value for the same file.
 */
export function staticPodUid(manifest: unknown, nodeName: string, file: string): string {
  return createHash("md5")
    .update(canonicalJson(manifest))
    .update(`host:${nodeName}`)
    .update(`file:${file}`)
    .digest("hex");
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with the shape of a decoded manifest before defaults can be applied, else `undefined`. */
function shapeProblem(m: unknown): string | undefined {
  if (!isObject(m)) return "the manifest is not an object";
  if (m.kind === undefined || m.kind === "") return "Object 'Kind' is missing";
  if (m.kind !== "Pod") {
    return `kind ${JSON.stringify(m.kind)}: a static pod manifest holds a single Pod (not a List or another kind)`;
  }
  if (m.apiVersion === undefined || m.apiVersion === "") return "Object 'apiVersion' is missing";
  if (m.apiVersion !== "v1") return `apiVersion ${JSON.stringify(m.apiVersion)}: a Pod is "v1"`;
  const meta = m.metadata;
  if (meta !== undefined && !isObject(meta)) return "metadata: must be an object";
  if (!meta?.name) return "invalid pod: name is needed for the pod";
  for (const f of ["name", "namespace", "uid"] as const) {
    if (meta[f] !== undefined && typeof meta[f] !== "string") return `metadata.${f}: must be a string`;
  }
  if (meta.annotations !== undefined && !isObject(meta.annotations)) return "metadata.annotations: must be an object";
  if (!isObject(m.spec)) return "spec: required";
  if (m.spec.tolerations !== undefined && !Array.isArray(m.spec.tolerations)) return "spec.tolerations: must be a list";
  if (m.status !== undefined && !isObject(m.status)) return "status: must be an object";
  return undefined;
}

// helper.AddOrUpdateTolerationInPod: a toleration with the same key, operator, value and effect is
// replaced (if it differs), else the toleration is appended.
function addOrUpdateToleration(list: readonly Toleration[] | undefined, t: Toleration): Toleration[] {
  const out = [...(list ?? [])];
  const same = (a: Toleration) =>
    (a.key ?? "") === (t.key ?? "") &&
    (a.operator ?? "") === (t.operator ?? "") &&
    (a.value ?? "") === (t.value ?? "") &&
    (a.effect ?? "") === (t.effect ?? "");
  const i = out.findIndex((a) => isObject(a) && same(a));
  if (i < 0) out.push(t);
  else if (canonicalJson(out[i]) !== canonicalJson(t)) out[i] = t;
  return out;
}

/** The static pod a manifest file yields, or why it yields none. */
export type ManifestResult = { pod: Pod; problems?: undefined } | { pod?: undefined; problems: string[] };

/**
 * Builds the static pod of one manifest as the kubelet's `applyDefaults` does, then validates it
 * with {@link podProblems}, as the kubelet validates after defaulting:
 * - UID: the manifest's own `metadata.uid` when set, else {@link staticPodUid};
 * - name `<name>-<nodeName lowercased>`, namespace `default` when empty, `spec.nodeName`;
 * - annotations {@link configHashAnnotation} (= the UID) and {@link configSourceAnnotation} (`file`),
 *   overriding the manifest's own ({@link configSeenAnnotation} is the source's to set on delivery);
 * - the toleration `{operator: Exists, effect: NoExecute}`, so node problems never evict it;
 * - `status.phase: Pending`.
 *
 * Not done (the kubelet's API decoder does it and nodekit's reconciler reads absent fields as the
 * API's defaults): API defaulting of absent fields, dropping unknown fields.
 */
export function staticPodFromManifest(manifest: unknown, options: { nodeName: string; file: string }): ManifestResult {
  const problem = shapeProblem(manifest);
  if (problem) return { problems: [problem] };
  const m = structuredClone(manifest) as Pod & { spec: PodSpec & { tolerations?: Toleration[] } };
  const meta = m.metadata ?? {};
  const uid = meta.uid ? meta.uid : staticPodUid(manifest, options.nodeName, options.file);
  const pod: Pod = {
    ...m,
    metadata: {
      ...meta,
      uid,
      name: `${meta.name}-${options.nodeName.toLowerCase()}`,
      namespace: meta.namespace ? meta.namespace : "default",
      annotations: { ...meta.annotations, [configHashAnnotation]: uid, [configSourceAnnotation]: fileSourceName },
    },
    spec: {
      ...m.spec,
      nodeName: options.nodeName,
      tolerations: addOrUpdateToleration(m.spec.tolerations, { operator: "Exists", effect: "NoExecute" }),
    } as PodSpec,
    status: { ...m.status, phase: "Pending" },
  };
  const problems = podProblems(pod);
  return problems.length ? { problems: problems.map((p) => `invalid pod: ${p}`) } : { pod };
}

/**
 * Reads one manifest's bytes into its static pod: size limit, decoding ({@link decodeManifestText}
 * or `parse`), then {@link staticPodFromManifest}. `file` is the path the UID is hashed with.
 */
export function readManifest(
  bytes: Uint8Array,
  options: { nodeName: string; file: string; parse?: ManifestParser | undefined },
): ManifestResult {
  if (bytes.byteLength > maxManifestBytes) {
    return { problems: [`the manifest is larger than ${maxManifestBytes} bytes`] };
  }
  let manifest: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    const decoded = (options.parse ?? decodeManifestText)(text, options.file);
    // Plain JSON values from here on, whatever the parser returned (a Date becomes its ISO string).
    manifest = JSON.parse(JSON.stringify(decoded) ?? "null");
  } catch (err) {
    return { problems: [`couldn't parse as pod: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return staticPodFromManifest(manifest, options);
}
