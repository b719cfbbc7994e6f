import { createLimiter } from "../limiter.js";

/**
 * One sync at a time per pod, as the kubelet's pod workers: an update while a sync runs makes the
 * pod sync once more when it ends (the latest state wins; updates in between fold into one), and at
 * most `maxConcurrent` pods sync at once.
 */
export interface PodWorkers {
  /**
   * Syncs the pod now, or once more after the sync in flight. `fresh` asks the sync to read the
   * runtime again (a rerun always does). Resolves when the pod's worker is idle.
   */
  update(uid: string, fresh?: boolean): Promise<void>;
  /** Whether a sync of the pod is running or queued. */
  isBusy(uid: string): boolean;
  /** Resolves when every worker busy now has finished. */
  idle(): Promise<void>;
}

/** Options of {@link createPodWorkers}. */
export interface PodWorkersOptions {
  /** Syncs one pod; `fresh` means re-read the runtime first. */
  sync(uid: string, fresh: boolean): Promise<void>;
  /** Called when a sync throws; the worker goes on with the next update. */
  onError(uid: string, error: unknown): void;
  /** Pods synced at once (default 8). */
  maxConcurrent?: number | undefined;
}

/**
 * Creates {@link PodWorkers}.
 *
 * @example
 * ```ts
 * const workers = createPodWorkers({ sync: async (uid) => console.log("sync", uid), onError: console.warn });
 * await workers.update("uid-1");
 * ```
 */
export function createPodWorkers(options: PodWorkersOptions): PodWorkers {
  const limit = createLimiter(options.maxConcurrent ?? 8);
  const workers = new Map<string, { running: Promise<void>; rerun: boolean }>();
  return {
    update(uid, fresh = false) {
      const busy = workers.get(uid);
      if (busy) {
        busy.rerun = true;
        return busy.running;
      }
      const worker = { running: Promise.resolve(), rerun: false };
      // Known before its first sync starts, so an update from inside that sync folds into a rerun.
      workers.set(uid, worker);
      worker.running = (async () => {
        let first = true;
        do {
          worker.rerun = false;
          try {
            await limit(() => options.sync(uid, fresh || !first));
          } catch (err) {
            options.onError(uid, err);
          }
          first = false;
        } while (worker.rerun);
        // Gone at once after the last check of `rerun`: a later update starts a new worker.
        workers.delete(uid);
      })();
      return worker.running;
    },
    isBusy: (uid) => workers.has(uid),
    idle: () => Promise.all([...workers.values()].map((w) => w.running)).then(() => undefined),
  };
}
