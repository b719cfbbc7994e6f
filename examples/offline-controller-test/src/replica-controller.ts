import type { Pod, PodStatus, Reconciler } from "@nodekit/kubelet-core";

/** Options of {@link createReplicaController}. */
export interface ReplicaControllerOptions {
  /** Where the pods run: a kubelet-core reconciler (in tests: one from `createScenario`). */
  reconciler: Reconciler;
  /** The pod to run copies of; its name becomes the prefix of theirs. */
  template: Pod;
  /** How many copies should be alive. */
  replicas: number;
  /** Called when the controller gives up on a copy and replaces it. */
  onReplace?: (failed: string, replacement: string, reason: string) => void;
}

/** A tiny ReplicaSet: keeps `replicas` copies of a pod alive, replacing those that fail. */
export interface ReplicaController {
  /** Names of the pods it wants right now. */
  pods(): string[];
  /** How many copies it has replaced so far. */
  replaced(): number;
  stop(): void;
}

/**
 * The controller under test in this example: it reads pod statuses from the reconciler and
 * replaces a copy when the pod fails (phase Failed) or crash-loops with 3 restarts or more.
 */
export function createReplicaController(options: ReplicaControllerOptions): ReplicaController {
  const base = options.template.metadata?.name ?? "pod";
  let next = 0;
  let replaced = 0;
  const desired = new Map<string, Pod>();
  // Every pod here was named by `make`.
  const nameOf = (p: Pod): string => p.metadata?.name ?? "";
  const make = (): Pod => {
    const name = `${base}-${next++}`;
    const pod: Pod = structuredClone(options.template);
    const uid = `${base}-uid-${next}`;
    pod.metadata = { ...pod.metadata, name, uid };
    desired.set(uid, pod);
    return pod;
  };
  for (let i = 0; i < options.replicas; i++) make();
  options.reconciler.updatePods([...desired.values()]);

  const verdict = (status: PodStatus): string | undefined => {
    if (status.phase === "Failed") return "Failed";
    const restarts = Math.max(0, ...(status.containerStatuses ?? []).map((c) => c.restartCount));
    return restarts >= 3 ? `CrashLoop (${restarts} restarts)` : undefined;
  };
  const unsubscribe = options.reconciler.onStatus(({ uid, pod, status }) => {
    if (!desired.has(uid)) return;
    const why = verdict(status);
    if (!why) return;
    desired.delete(uid);
    const replacement = make();
    replaced++;
    options.onReplace?.(pod.metadata?.name ?? uid, nameOf(replacement), why);
    options.reconciler.updatePods([...desired.values()]);
  });
  return {
    pods: () => [...desired.values()].map(nameOf),
    replaced: () => replaced,
    stop: unsubscribe,
  };
}
