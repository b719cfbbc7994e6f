import { KubeletError } from "./errors.js";
import type { Pod } from "./pod.js";

const RESTART_POLICIES = new Set(["Always", "OnFailure", "Never"]);
const PULL_POLICIES = new Set(["Always", "IfNotPresent", "Never"]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Lists what is wrong with a pod for the kubelet to run it, with the field path of each problem
 * (`spec.containers[1].image: required`). Empty when the pod can run. Checks what the API server
 * would reject and the reconciler relies on: identity, container names (DNS labels, unique across
 * all container lists), images, restart and pull policies, grace periods.
 */
export function podProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const m = pod.metadata;
  if (!m?.uid) problems.push("metadata.uid: required");
  if (!m?.name) problems.push("metadata.name: required");
  if (!m?.namespace) problems.push("metadata.namespace: required");
  const spec = pod.spec;
  if (!spec) return [...problems, "spec: required"];
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
      else {
        if (!DNS_LABEL.test(c.name) || c.name.length > 63)
          problems.push(`${path}.name: ${JSON.stringify(c.name)} is not a DNS-1123 label`);
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
  const problems = podProblems(pod);
  if (problems.length) {
    const name = `${pod.metadata?.namespace ?? "?"}/${pod.metadata?.name ?? "?"}`;
    throw new KubeletError("InvalidPod", `pod ${name} is invalid: ${problems.join("; ")}`, { pod: name });
  }
}
