import type { Clock } from "./clock.js";

/** Options of {@link createBackoff}. */
export interface BackoffOptions {
  /** First delay (the kubelet: 10 s for crash loops and image pulls). */
  initialMs: number;
  /** Largest delay (the kubelet: 300 s). */
  maxMs: number;
  /**
   * When an entry starts over: given the event time and the entry's last update. Default as
   * client-go: after twice `maxMs` without an event.
   */
  hasExpired?: (eventTimeMs: number, lastUpdateMs: number, maxMs: number) => boolean;
}

/**
 * Per-key exponential backoff, a port of client-go's flowcontrol.Backoff as the kubelet uses it:
 * each {@link Backoff.next} doubles the key's delay up to the max; an entry expires and starts
 * over per `hasExpired`.
 */
export interface Backoff {
  /** Records an event for `key` at `eventTimeMs`: starts at `initialMs` or doubles the delay. */
  next(key: string, eventTimeMs: number): void;
  /** The current delay of `key` in ms (0 when it has none). */
  get(key: string): number;
  /** True while `now - eventTimeMs` is shorter than the key's delay (flowcontrol IsInBackOffSince). */
  isInBackOffSince(key: string, eventTimeMs: number): boolean;
  /** True while `now - lastUpdate` is shorter than the key's delay (flowcontrol IsInBackOffSinceUpdate). */
  isInBackOffSinceUpdate(key: string, eventTimeMs: number): boolean;
  /** Forgets `key`. */
  reset(key: string): void;
  /** Drops entries that have expired. */
  gc(): void;
}

/**
 * Creates a {@link Backoff} on `clock`.
 *
 * @example
 * ```ts
 * // The kubelet's CrashLoopBackOff: 10 s doubling to 300 s, reset after 10 minutes.
 * const crashLoop = createBackoff(clock, { initialMs: 10_000, maxMs: 300_000, hasExpired: (e, u) => e - u > 600_000 });
 * ```
 */
export function createBackoff(clock: Clock, options: BackoffOptions): Backoff {
  const entries = new Map<string, { backoffMs: number; lastUpdate: number }>();
  const hasExpired = options.hasExpired ?? ((event, last, max) => event - last > 2 * max);
  return {
    next(key, eventTimeMs) {
      const entry = entries.get(key);
      if (!entry || hasExpired(eventTimeMs, entry.lastUpdate, options.maxMs)) {
        entries.set(key, { backoffMs: options.initialMs, lastUpdate: clock.now() });
      } else {
        entry.backoffMs = Math.min(entry.backoffMs * 2, options.maxMs);
        entry.lastUpdate = clock.now();
      }
    },
    get: (key) => entries.get(key)?.backoffMs ?? 0,
    isInBackOffSince(key, eventTimeMs) {
      const entry = entries.get(key);
      if (!entry || hasExpired(eventTimeMs, entry.lastUpdate, options.maxMs)) return false;
      return clock.now() - eventTimeMs < entry.backoffMs;
    },
    isInBackOffSinceUpdate(key, eventTimeMs) {
      const entry = entries.get(key);
      if (!entry || hasExpired(eventTimeMs, entry.lastUpdate, options.maxMs)) return false;
      return eventTimeMs - entry.lastUpdate < entry.backoffMs;
    },
    reset: (key) => void entries.delete(key),
    gc() {
      const now = clock.now();
      for (const [key, entry] of entries) if (hasExpired(now, entry.lastUpdate, options.maxMs)) entries.delete(key);
    },
  };
}

/** Formats milliseconds as Go's time.Duration prints them: `10s`, `1m20s`, `5m0s`. */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total}s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}
