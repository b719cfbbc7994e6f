/**
 * Returns `value` when it is neither `undefined` nor `null`, and throws otherwise: the check a test
 * makes where it needs a value to go on (instead of a non-null assertion, which checks nothing).
 */
export function defined<T>(value: T, what = "a value"): NonNullable<T> {
  if (value === undefined || value === null) throw new Error(`expected ${what}, got ${String(value)}`);
  return value;
}
