/**
 * Returns `value` when it is not `undefined`, and throws otherwise: the check a test makes where it
 * needs a value to go on (instead of a non-null assertion, which checks nothing).
 */
export function defined<T>(value: T, what = "a value"): Exclude<T, undefined> {
  if (value === undefined) throw new Error(`expected ${what}, got undefined`);
  return value as Exclude<T, undefined>;
}
