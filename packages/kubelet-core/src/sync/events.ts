import type { Clock } from "../clock.js";
import type { Pod } from "../pod.js";
import { createListeners, type Logger } from "./listeners.js";

/** An event about a pod, as the kubelet records them (`kubectl describe pod` shows these). */
export interface PodEvent {
  /** The event type, as in Kubernetes events. */
  type: "Normal" | "Warning";
  /** The kubelet's reason, e.g. `Pulling`, `Created`, `Started`, `Killing`, `BackOff`, `Failed`. */
  reason: string;
  /** The kubelet's message, e.g. `Started container app`. */
  message: string;
  /** The pod it is about. */
  pod: {
    /** The pod's namespace. */
    namespace: string;
    /** The pod's name. */
    name: string;
    /** The pod's uid. */
    uid: string;
  };
  /** The container it is about, if any. */
  container?: string | undefined;
  /** Milliseconds on the reconciler's clock. */
  time: number;
}

/** Records pod events and hands them to listeners (the kubelet's event recorder). */
export interface EventRecorder {
  /** Records an event about `pod` (and one of its containers). */
  emit(pod: Pod, type: PodEvent["type"], reason: string, message: string, container?: string): void;
  /** Subscribes to events; returns an unsubscribe function. */
  onEvent(listener: (event: PodEvent) => void): () => void;
  /** Events as an async iterable, from now until `signal` aborts. */
  events(signal?: AbortSignal): AsyncIterable<PodEvent>;
}

/**
 * Creates an {@link EventRecorder} stamping events with `clock`'s time and logging each at debug
 * level.
 *
 * @example
 * ```ts
 * const recorder = createEventRecorder({ clock: systemClock });
 * recorder.onEvent((e) => console.log(e.reason, e.message));
 * ```
 */
export function createEventRecorder(options: { clock: Clock; logger?: Logger | undefined }): EventRecorder {
  const { clock, logger } = options;
  const listeners = createListeners<PodEvent>(logger);
  return {
    emit(pod, type, reason, message, container) {
      const m = pod.metadata ?? {};
      const event: PodEvent = {
        type,
        reason,
        message,
        pod: { namespace: m.namespace ?? "", name: m.name ?? "", uid: m.uid ?? "" },
        container,
        time: clock.now(),
      };
      logger?.debug(`${reason}: ${message}`, { pod: `${m.namespace}/${m.name}`, container });
      listeners.notify(event);
    },
    onEvent: (listener) => listeners.add(listener),
    events(signal) {
      return {
        async *[Symbol.asyncIterator]() {
          const queue: PodEvent[] = [];
          let wake: (() => void) | undefined;
          const remove = listeners.add((e) => {
            queue.push(e);
            wake?.();
          });
          const onAbort = () => wake?.();
          signal?.addEventListener("abort", onAbort);
          try {
            while (!signal?.aborted) {
              const next = queue.shift();
              if (next) yield next;
              else await new Promise<void>((r) => (wake = r));
            }
          } finally {
            remove();
            signal?.removeEventListener("abort", onAbort);
          }
        },
      };
    },
  };
}
