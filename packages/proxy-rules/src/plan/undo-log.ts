// The changes a compilation makes in place to the state it took over (the input index, the
// per-family fragment maps), recorded so that they can be undone when the compilation fails: a
// compilation that throws leaves its `previous` exactly as it was. Recording costs one entry per
// change, so a partial sync stays O(changes).

/** Undoes, newest first, the changes made through it. */
export class UndoLog {
  readonly #undo: (() => void)[] = [];

  /** `m.set(k, v)`, undoable. */
  mapSet<K, V>(m: Map<K, V>, k: K, v: V): void {
    this.#remember(m, k);
    m.set(k, v);
  }

  /** `m.delete(k)`, undoable. */
  mapDelete<K, V>(m: Map<K, V>, k: K): void {
    if (!m.has(k)) return;
    this.#remember(m, k);
    m.delete(k);
  }

  /** `s.add(v)`, undoable. */
  setAdd<T>(s: Set<T>, v: T): void {
    if (s.has(v)) return;
    s.add(v);
    this.#undo.push(() => s.delete(v));
  }

  /** `s.delete(v)`, undoable. */
  setDelete<T>(s: Set<T>, v: T): void {
    if (!s.delete(v)) return;
    this.#undo.push(() => s.add(v));
  }

  /** `a[i] = v`, undoable. */
  arraySet<T>(a: (T | undefined)[], i: number, v: T): void {
    const old = a[i];
    a[i] = v;
    this.#undo.push(() => {
      a[i] = old;
    });
  }

  /** Restores everything changed through the log, and empties it. */
  rollback(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) this.#undo[i]?.();
    this.#undo.length = 0;
  }

  #remember<K, V>(m: Map<K, V>, k: K): void {
    if (m.has(k)) {
      const old = m.get(k) as V;
      this.#undo.push(() => m.set(k, old));
    } else {
      this.#undo.push(() => m.delete(k));
    }
  }
}
