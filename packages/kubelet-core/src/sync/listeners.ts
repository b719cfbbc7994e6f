/** Where log lines of the reconciler and its parts go. */
export interface Logger {
  /** Detail: every pod event, as it is recorded. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Informational messages (e.g. that the runtime has no container events and relisting alone goes on). */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Problems the reconciler works around (a runtime object it could not read, a failed hook). */
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** A set of listeners; one that throws is logged and disturbs neither the others nor the caller. */
export interface Listeners<T> {
  /** Adds a listener; returns a function that removes it. */
  add(listener: (value: T) => void): () => void;
  /** Calls every listener with `value`. */
  notify(value: T): void;
}

/** Creates a {@link Listeners} set that logs listeners that throw to `logger`. */
export function createListeners<T>(logger?: Logger): Listeners<T> {
  const set = new Set<(value: T) => void>();
  return {
    add(listener) {
      set.add(listener);
      return () => set.delete(listener);
    },
    notify(value) {
      for (const l of set) {
        try {
          l(value);
        } catch (err) {
          logger?.warn("a listener threw", { error: messageOf(err) });
        }
      }
    },
  };
}

/** The message of an error: a `CriError`'s runtime message without its prefix, else `message`. */
export function messageOf(err: unknown): string {
  if (err instanceof Error && "rawMessage" in err && typeof err.rawMessage === "string") return err.rawMessage;
  return err instanceof Error ? err.message : String(err);
}
