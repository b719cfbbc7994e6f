// JSON values as the server stores them: plain objects, arrays and scalars, never class instances.

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A deep copy; every object leaves and enters the store through it, so callers never share state. */
export function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** The object at `key` of `parent`, created empty when missing or not an object. */
export function child(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isObject(value)) return value;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

/** `value` when it is a string, else undefined. */
export function str(value: Json | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The object's metadata (created empty when missing). */
export function meta(object: JsonObject): JsonObject {
  return child(object, "metadata");
}

/** Reads a dotted path (`spec.nodeName`) of an object; undefined when any step is missing. */
export function readPath(object: JsonObject, path: string): Json | undefined {
  let current: Json | undefined = object;
  for (const step of path.split(".")) {
    if (!isObject(current)) return undefined;
    current = current[step];
  }
  return current;
}
