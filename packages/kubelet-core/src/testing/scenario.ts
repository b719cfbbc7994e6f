import { createFakeRuntime, type FakeRuntime, type FakeRuntimeOptions } from "@nodekit/cri/testing";
import type { Pod, PodStatus } from "../pod.js";
import { createReconciler, type PodEvent, type Reconciler, type ReconcilerOptions } from "../sync/reconciler.js";
import { createFakeClock, type FakeClock } from "./fake-clock.js";

/** Options of {@link createScenario}. */
export interface ScenarioOptions {
  /** Pods to run from the start. */
  pods?: readonly Pod[];
  /** Options of the fake runtime (its clock is the scenario's; its registry serves every image unless set). */
  runtime?: Omit<FakeRuntimeOptions, "clock">;
  /** Options of the reconciler (runtime, image and clock are the scenario's). */
  reconciler?: Partial<Omit<ReconcilerOptions, "runtime" | "image" | "clock">>;
  /** Virtual start time in ms. */
  startMs?: number;
}

/** One recorded status of a pod, at a virtual time. */
export interface StatusSample {
  /** Virtual time of the change, in ms on the scenario's clock. */
  at: number;
  /** The pod's uid. */
  uid: string;
  /** The pod's name. */
  name: string;
  /** The status computed then. */
  status: PodStatus;
}

/** A reconciler over the fake runtime in virtual time, recording statuses and events. */
export interface Scenario {
  /** The one fake clock of the runtime and the reconciler. */
  readonly clock: FakeClock;
  /** The in-memory fake runtime (`@nodekit/cri/testing`): drive exits, pulls and errors, read its call log. */
  readonly runtime: FakeRuntime;
  /** The reconciler under test: change the desired pods with `updatePods`. */
  readonly reconciler: Reconciler;
  /** Every status change, in order, with its virtual time. */
  readonly statuses: readonly StatusSample[];
  /** Every pod event, in order. */
  readonly events: readonly PodEvent[];
  /** Errors of passes run by `runFor` / `runUntil` (a failed relist), in order; those keep going. */
  readonly errors: readonly unknown[];
  /** Runs one full pass to completion, moving virtual time through any timers it waits on. */
  sync(): Promise<void>;
  /** Runs passes every `stepMs` (default 1000, the relist period) for `durationMs` of virtual time. */
  runFor(durationMs: number, options?: { stepMs?: number }): Promise<void>;
  /** Runs passes until `predicate` holds or `timeoutMs` of virtual time passed; returns whether it held. */
  runUntil(predicate: () => boolean, timeoutMs?: number, options?: { stepMs?: number }): Promise<boolean>;
  /** The latest status of the pod with this name (or uid). */
  status(nameOrUid: string): PodStatus | undefined;
}

/**
 * Creates a scenario: the reconciler against the in-memory fake runtime, both on one fake clock,
 * so minutes of kubelet behaviour (CrashLoopBackOff, grace periods, pull delays) run in
 * milliseconds, deterministically.
 *
 * @example
 * ```ts
 * import { createScenario } from "@nodekit/kubelet-core/testing";
 *
 * const s = createScenario({ pods: [pod] });
 * await s.runFor(10 * 60_000); // ten virtual minutes
 * console.log(s.status("web")?.containerStatuses?.[0]?.restartCount);
 * ```
 */
export function createScenario(options: ScenarioOptions = {}): Scenario {
  const clock = createFakeClock(options.startMs);
  const runtime = createFakeRuntime({ registry: ["*"], ...options.runtime, clock });
  const statuses: StatusSample[] = [];
  const events: PodEvent[] = [];
  const errors: unknown[] = [];
  const reconciler = createReconciler({
    nodeName: "node-1",
    useContainerEvents: false,
    ...options.reconciler,
    runtime,
    image: runtime,
    clock,
  });
  reconciler.onStatus(({ uid, pod, status }) =>
    statuses.push({ at: clock.now(), uid, name: pod.metadata?.name ?? "", status }),
  );
  reconciler.onEvent((e) => events.push(e));
  if (options.pods) reconciler.updatePods(options.pods);

  const settle = async () => {
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  };
  const sync = async () => {
    let done = false;
    let failure: unknown;
    const pass = reconciler.syncAll().then(
      () => {
        done = true;
      },
      (err: unknown) => {
        done = true;
        failure = err;
      },
    );
    while (!done) {
      await settle();
      if (done) break;
      const next = clock.nextTimerAt();
      if (next !== undefined) clock.advanceTo(next);
    }
    await pass;
    if (failure) throw failure;
  };
  // Passes in a loop keep going after a failed relist, as the kubelet's loop does.
  const step = () => sync().catch((err: unknown) => void errors.push(err));
  const scenario: Scenario = {
    clock,
    runtime,
    reconciler,
    statuses,
    events,
    errors,
    sync,
    async runFor(durationMs, { stepMs = 1000 } = {}) {
      const end = clock.now() + durationMs;
      await step();
      while (clock.now() < end) {
        clock.advanceTo(Math.min(end, clock.now() + stepMs));
        await step();
      }
    },
    async runUntil(predicate, timeoutMs = 60_000, { stepMs = 1000 } = {}) {
      const end = clock.now() + timeoutMs;
      await step();
      while (!predicate()) {
        if (clock.now() >= end) return false;
        clock.advanceTo(Math.min(end, clock.now() + stepMs));
        await step();
      }
      return true;
    },
    status(nameOrUid) {
      for (let i = statuses.length - 1; i >= 0; i--) {
        const s = statuses[i];
        if (s === undefined) continue;
        if (s.uid === nameOrUid || s.name === nameOrUid) return reconciler.podStatus(s.uid) ?? s.status;
      }
      return undefined;
    },
  };
  return scenario;
}
