import { KubeletError } from "./errors.js";
import {
  annotationsProblems,
  dns1123LabelProblems,
  dns1123SubdomainProblems,
  labelsProblems,
  podUidProblems,
} from "./names.js";
import type { Pod } from "./pod.js";

const RESTART_POLICIES = new Set(["Always", "OnFailure", "Never"]);
const PULL_POLICIES = new Set(["Always", "IfNotPresent", "Never"]);

/**
 * Problems of the metadata the kubelet turns into folder names, runtime labels and annotations:
 * name (DNS-1123 subdomain), namespace (DNS-1123 label), uid, labels and annotations, each with its
 * field path. Empty when all are valid.
 */
export function podMetadataProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const m = pod.metadata;
  const field = (path: string, value: unknown, check: (v: string) => string[]) => {
    if (value === undefined || value === null || value === "") problems.push(`${path}: required`);
    else if (typeof value !== "string") problems.push(`${path}: must be a string`);
    else for (const p of check(value)) problems.push(`${path}: ${JSON.stringify(value)}: ${p}`);
  };
  field("metadata.uid", m?.uid, podUidProblems);
  field("metadata.name", m?.name, dns1123SubdomainProblems);
  field("metadata.namespace", m?.namespace, dns1123LabelProblems);
  if (m?.labels !== undefined) {
    if (typeof m.labels !== "object" || m.labels === null) problems.push("metadata.labels: must be an object");
    else problems.push(...labelsProblems(m.labels, "metadata.labels"));
  }
  if (m?.annotations !== undefined) {
    if (typeof m.annotations !== "object" || m.annotations === null)
      problems.push("metadata.annotations: must be an object");
    else problems.push(...annotationsProblems(m.annotations, "metadata.annotations"));
  }
  return problems;
}

/**
 * Lists what is wrong with a pod for the kubelet to run it, with the field path of each problem
 * (`spec.containers[1].image: required`). Empty when the pod can run. Checks what the API server
 * would reject and the reconciler relies on: identity ({@link podMetadataProblems}: the names that
 * become folder names and runtime labels), container names (DNS labels, unique across all
 * container lists), hostname and subdomain, images, restart and pull policies, grace periods.
 */
export function podProblems(pod: Pod): string[] {
  const problems = podMetadataProblems(pod);
  const spec = pod.spec;
  if (!spec) return [...problems, "spec: required"];
  for (const f of ["hostname", "subdomain"] as const) {
    const v: unknown = spec[f];
    if (v === undefined || v === "") continue;
    if (typeof v !== "string") problems.push(`spec.${f}: must be a string`);
    else for (const p of dns1123LabelProblems(v)) problems.push(`spec.${f}: ${JSON.stringify(v)}: ${p}`);
  }
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    problems.push("spec.containers: at least one container is required");
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.has(spec.restartPolicy)) {
    problems.push(
      `spec.restartPolicy: unsupported value ${JSON.stringify(spec.restartPolicy)}: supported values: "Always", "OnFailure", "Never"`,
    );
  }
  if (
    spec.terminationGracePeriodSeconds !== undefined &&
    !(Number.isInteger(spec.terminationGracePeriodSeconds) && spec.terminationGracePeriodSeconds >= 0)
  ) {
    problems.push("spec.terminationGracePeriodSeconds: must be a whole number >= 0");
  }
  const seen = new Set<string>();
  const lists = [
    ["initContainers", spec.initContainers ?? []],
    ["containers", spec.containers ?? []],
    ["ephemeralContainers", spec.ephemeralContainers ?? []],
  ] as const;
  for (const [field, containers] of lists) {
    containers.forEach((c, i) => {
      const path = `spec.${field}[${i}]`;
      if (!c?.name) problems.push(`${path}.name: required`);
      else if (typeof c.name !== "string") problems.push(`${path}.name: must be a string`);
      else {
        for (const p of dns1123LabelProblems(c.name)) problems.push(`${path}.name: ${JSON.stringify(c.name)}: ${p}`);
        if (seen.has(c.name)) problems.push(`${path}.name: duplicate container name ${JSON.stringify(c.name)}`);
        seen.add(c.name);
      }
      if (!c?.image?.trim()) problems.push(`${path}.image: required`);
      else if (/\s/.test(c.image)) problems.push(`${path}.image: ${JSON.stringify(c.image)} must not contain spaces`);
      if (c?.imagePullPolicy !== undefined && !PULL_POLICIES.has(c.imagePullPolicy)) {
        problems.push(`${path}.imagePullPolicy: unsupported value ${JSON.stringify(c.imagePullPolicy)}`);
      }
      if (c?.restartPolicy !== undefined && !(field === "initContainers" && c.restartPolicy === "Always")) {
        problems.push(`${path}.restartPolicy: only "Always" on an init container is supported`);
      }
    });
  }
  return problems;
}

/**
 * Throws a {@link KubeletError} (reason `InvalidPod`) listing every problem {@link podProblems}
 * finds.
 *
 * @example
 * ```ts
 * validatePod({ metadata: { name: "p", namespace: "d", uid: "u" }, spec: { containers: [{ name: "a" }] } });
 * // KubeletError: pod d/p is invalid: spec.containers[0].image: required
 * ```
 */
export function validatePod(pod: Pod): void {
  const error = invalidPodError(pod);
  if (error) throw error;
}

/** The {@link KubeletError} (reason `InvalidPod`) listing what {@link podProblems} finds; undefined when the pod can run. */
export function invalidPodError(pod: Pod): KubeletError | undefined {
  const problems = podProblems(pod);
  if (!problems.length) return undefined;
  const name = `${pod.metadata?.namespace ?? "?"}/${pod.metadata?.name ?? "?"}`;
  return new KubeletError("InvalidPod", `pod ${name} is invalid: ${problems.join("; ")}`, { pod: name });
}
