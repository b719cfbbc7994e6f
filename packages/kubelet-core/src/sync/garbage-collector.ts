import { PodSandboxState, type RuntimeService } from "@nodekit/cri/api";
import type { PodRuntimeStatus, RuntimeContainerStatus } from "../runtime-status.js";

/** Removes what the kubelet's container GC removes from pods that still exist. */
export interface GarbageCollector {
  /**
   * For each pod: removes dead containers beyond the newest `maxDeadPerContainer` of each name,
   * and sandboxes that are neither the newest, nor ready, nor hold a kept container. `skip` is
   * asked again for each pod when its turn comes (a pod whose sync started meanwhile is left alone).
   */
  collect(
    pods: Iterable<PodRuntimeStatus>,
    sandboxOf: (containerId: string) => string | undefined,
    skip?: (uid: string) => boolean,
  ): Promise<void>;
}

/** Options of {@link createGarbageCollector}. */
export interface GarbageCollectorOptions {
  /** The runtime to remove from. */
  runtime: Pick<RuntimeService, "removeContainer" | "removePodSandbox">;
  /** Dead containers kept per pod and container name (default 1, the kubelet's MaxPerPodContainer). */
  maxDeadPerContainer?: number | undefined;
}

/**
 * Creates a {@link GarbageCollector}. Removal errors are ignored: the next pass tries again.
 *
 * @example
 * ```ts
 * const gc = createGarbageCollector({ runtime, maxDeadPerContainer: 1 });
 * await gc.collect(podsOfTheLastRelist, (id) => sandboxIdOf(id));
 * ```
 */
export function createGarbageCollector(options: GarbageCollectorOptions): GarbageCollector {
  const { runtime } = options;
  const maxDead = options.maxDeadPerContainer ?? 1;
  return {
    async collect(pods, sandboxOf, skip) {
      for (const rs of pods) {
        if (skip?.(rs.uid)) continue;
        const byName = new Map<string, RuntimeContainerStatus[]>();
        for (const c of rs.containerStatuses) {
          if (c.state === "running" || c.state === "unknown") continue;
          const list = byName.get(c.name) ?? [];
          list.push(c);
          byName.set(c.name, list);
        }
        const removed = new Set<string>();
        for (const list of byName.values()) {
          // Newest first: keep the newest dead ones (their exit is the container's last state).
          for (const c of list.slice(maxDead)) {
            await runtime.removeContainer({ containerId: c.id }).catch(() => undefined);
            removed.add(c.id);
          }
        }
        // Old sandboxes go once no container in them is kept.
        const newest = rs.sandboxStatuses[0];
        const inUse = new Set(rs.containerStatuses.filter((c) => !removed.has(c.id)).map((c) => sandboxOf(c.id)));
        for (const sb of rs.sandboxStatuses) {
          if (sb === newest || sb.state === PodSandboxState.SANDBOX_READY || inUse.has(sb.id)) continue;
          await runtime.removePodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
        }
      }
    },
  };
}
