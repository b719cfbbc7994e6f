/** Runs at most `n` tasks at once; the others wait their turn, in order. */
export function createLimiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  const limit = Math.max(1, n);
  let active = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (active >= limit) {
      // The finishing task hands its place over: `active` stays counted for us.
      await new Promise<void>((r) => queue.push(r));
    } else {
      active++;
    }
    try {
      return await task();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}
