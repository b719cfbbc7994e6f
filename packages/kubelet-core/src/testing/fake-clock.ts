import type { Clock } from "../clock.js";

/** A {@link Clock} that only moves when told to: virtual time for offline tests. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void;
  /** Moves time to `at` (ms), firing due timers; never backwards. */
  advanceTo(at: number): void;
  /** When the next timer falls due, or `undefined` when none is set. */
  nextTimerAt(): number | undefined;
  /** Number of timers set and not yet fired. */
  pendingTimers(): number;
}

/**
 * Creates a {@link FakeClock} starting at `startMs` (default 2026-01-01T00:00:00Z). Pass it as the
 * `clock` of both the reconciler and the fake runtime to run them in virtual time.
 *
 * @example
 * ```ts
 * const clock = createFakeClock();
 * clock.setTimeout(() => console.log("fired at", clock.now()), 10_000);
 * clock.advance(10_000); // fires
 * ```
 */
export function createFakeClock(startMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startMs;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const due = (until: number) => {
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of timers) if (entry[1].at <= until && (!first || entry[1].at < first[1].at)) first = entry;
      if (!first) break;
      timers.delete(first[0]);
      now = Math.max(now, first[1].at);
      first[1].fn();
    }
    now = Math.max(now, until);
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      due(now + ms);
    },
    advanceTo(at) {
      due(at);
    },
    nextTimerAt() {
      let min: number | undefined;
      for (const t of timers.values()) if (min === undefined || t.at < min) min = t.at;
      return min;
    },
    pendingTimers: () => timers.size,
  };
}
