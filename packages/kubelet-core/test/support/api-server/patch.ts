// The three patch formats kube-apiserver takes for built-in types:
//   application/merge-patch+json            RFC 7386
//   application/json-patch+json             RFC 6902
//   application/strategic-merge-patch+json  JSON merge patch where the lists a schema declares
//                                           `patchStrategy: merge` merge element by element on their
//                                           merge key, plus the directives $patch (replace, delete),
//                                           $retainKeys, $deleteFromPrimitiveList/<list> and
//                                           $setElementOrder/<list>.
// A list the schema does not declare is replaced whole, as upstream does for `atomic` lists
// (pod status `containerStatuses` is one of them: the kubelet always sends the whole list).

import { defined } from "../defined.js";
import { clone, deepEqual, isObject, type Json, type JsonObject } from "./json.js";
import { ApiError, badRequest } from "./status.js";

/** How strategic merge patch treats a field: a nested object, or a list merged on a key. */
export interface PatchField {
  /** `merge`: a list of scalars merged as a set, or of objects merged on `mergeKey`. */
  strategy?: "merge";
  mergeKey?: string;
  /** The fields of the nested object, or of the list's elements. */
  fields?: PatchSchema;
}
export type PatchSchema = Readonly<Record<string, PatchField>>;

const invalidPatch = (message: string) => new ApiError(422, "Invalid", message);

export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

// --- RFC 6902 -----------------------------------------------------------------------------------

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw invalidPatch(`invalid JSON pointer: ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: JsonObject | Json[]; last: string } {
  let current: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(current)
      ? current[Number(token)]
      : isObject(current)
        ? current[token]
        : undefined;
    if (next === undefined) throw invalidPatch(`doc is missing path: "${path}"`);
    current = next;
  }
  if (!Array.isArray(current) && !isObject(current)) throw invalidPatch(`doc is missing path: "${path}"`);
  return { parent: current, last: defined(tokens[tokens.length - 1]) };
}

function getAt(doc: Json, path: string): Json {
  let current: Json | undefined = doc;
  for (const token of pointer(path)) {
    current = Array.isArray(current) ? current[Number(token)] : isObject(current) ? current[token] : undefined;
    if (current === undefined) throw invalidPatch(`doc is missing path: "${path}"`);
  }
  return current;
}

function arrayIndex(parent: Json[], token: string, path: string, forInsert: boolean): number {
  if (forInsert && token === "-") return parent.length;
  const index = Number(token);
  const max = forInsert ? parent.length : parent.length - 1;
  if (!/^\d+$/.test(token) || index > max) throw invalidPatch(`unable to access invalid index: ${token} (${path})`);
  return index;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, last } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) return defined(parent.splice(arrayIndex(parent, last, path, false), 1)[0]);
  if (!(last in parent)) throw invalidPatch(`unable to remove nonexistent key: ${last}: missing value`);
  const value = defined(parent[last]);
  delete parent[last];
  return value;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, path, !replace);
    parent.splice(index, replace ? 1 : 0, value);
  } else {
    if (replace && !(last in parent))
      throw invalidPatch(`replace operation does not apply: doc is missing key: ${path}`);
    parent[last] = value;
  }
  return doc;
}

export function applyJsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw badRequest("json patch must be a list of operations");
  let doc = clone(target);
  for (const op of operations) {
    if (!isObject(op) || typeof op.op !== "string" || typeof op.path !== "string") {
      throw badRequest(`invalid json patch operation: ${JSON.stringify(op)}`);
    }
    const value = op.value === undefined ? undefined : clone(op.value);
    switch (op.op) {
      case "add":
        doc = addAt(doc, op.path, value ?? null, false);
        break;
      case "replace":
        doc = addAt(doc, op.path, value ?? null, true);
        break;
      case "remove":
        removeAt(doc, op.path);
        break;
      case "move":
        doc = addAt(doc, op.path, removeAt(doc, String(op.from)), false);
        break;
      case "copy":
        doc = addAt(doc, op.path, clone(getAt(doc, String(op.from))), false);
        break;
      case "test":
        if (!deepEqual(getAt(doc, op.path), value ?? null)) throw invalidPatch(`testing value ${op.path} failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

// --- strategic merge patch ----------------------------------------------------------------------

const DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER = "$setElementOrder/";

function keyOf(item: Json, mergeKey: string | undefined): Json {
  if (mergeKey === undefined) return item;
  if (!isObject(item) || !(mergeKey in item)) {
    throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
  }
  return defined(item[mergeKey]);
}

/**
 * Orders a merged list as kube-apiserver does: the items named in `order` (the patch's list or its
 * $setElementOrder) in that order, the server's other items in their old order, interleaved where
 * both kinds were in the old list.
 */
function enforceOrder(merged: Json[], order: Json[], server: Json[], mergeKey: string | undefined): Json[] {
  const orderKeys = order.map((i) => keyOf(i, mergeKey));
  const serverKeys = server.map((i) => keyOf(i, mergeKey));
  const idx = (keys: Json[], item: Json) => keys.indexOf(keyOf(item, mergeKey));
  const patchItems = merged.filter((i) => idx(orderKeys, i) >= 0);
  const serverOnly = merged.filter((i) => idx(orderKeys, i) < 0);
  patchItems.sort((a, b) => idx(orderKeys, a) - idx(orderKeys, b));
  serverOnly.sort((a, b) => idx(serverKeys, a) - idx(serverKeys, b));
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patchItems.length) {
    if (j >= patchItems.length) out.push(defined(serverOnly[i++]));
    else if (i >= serverOnly.length) out.push(defined(patchItems[j++]));
    else {
      const li = idx(serverKeys, defined(serverOnly[i]));
      const ri = idx(serverKeys, defined(patchItems[j]));
      if (li >= 0 && ri >= 0 && li < ri) out.push(defined(serverOnly[i++]));
      else out.push(defined(patchItems[j++]));
    }
  }
  return out;
}

function mergeList(original: Json[], patch: Json[], field: PatchField): Json[] {
  const isScalarList = [...original, ...patch].every((i) => !isObject(i));
  if (isScalarList) {
    const merged: Json[] = [];
    for (const item of [...original, ...patch]) if (!merged.some((m) => deepEqual(m, item))) merged.push(item);
    return enforceOrder(merged, patch, original, undefined);
  }
  const mergeKey = field.mergeKey;
  if (mergeKey === undefined) throw badRequest("cannot merge lists without merge key");
  let base = original.map((i) => clone(i));
  const plain: JsonObject[] = [];
  let replace = false;
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`list element is not a map: ${JSON.stringify(item)}`);
    const directive = item.$patch;
    if (directive === undefined) plain.push(item);
    else if (directive === "delete") {
      const key = keyOf(item, mergeKey);
      base = base.filter((b) => keyOf(b, mergeKey) !== key);
    } else if (directive === "replace") replace = true;
    else if (directive === "merge") throw badRequest("merging lists cannot yet be specified in the patch");
    else throw badRequest(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(item)}`);
  }
  if (replace) return plain.map((p) => mergeObject(undefined, p, field.fields));
  for (const item of plain) {
    const key = keyOf(item, mergeKey);
    const at = base.findIndex((b) => keyOf(b, mergeKey) === key);
    if (at >= 0) base[at] = mergeObject(base[at], item, field.fields);
    else base.push(mergeObject(undefined, item, field.fields));
  }
  return enforceOrder(base, plain, original, mergeKey);
}

/** A patch value placed where the original had nothing: its directives applied and its nulls dropped. */
function settle(value: Json, field: PatchField | undefined): Json {
  if (isObject(value)) return mergeObject(undefined, value, field?.fields);
  if (Array.isArray(value)) {
    if (field?.strategy === "merge") return mergeList([], value, field);
    return value.map((v) => (isObject(v) ? mergeObject(undefined, v, undefined) : clone(v)));
  }
  return value;
}

function mergeObject(original: Json | undefined, patch: JsonObject, schema: PatchSchema | undefined): JsonObject {
  const directive = patch.$patch;
  if (directive !== undefined) {
    if (directive === "delete") return {};
    if (directive !== "replace") throw badRequest(`Unknown patch type: ${String(directive)}`);
    const { $patch: _, ...rest } = patch;
    return mergeObject(undefined, rest, schema);
  }
  const result: JsonObject = isObject(original) ? clone(original) : {};
  const retain = patch.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw badRequest("invalid patch: $retainKeys must be a list");
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  const ordered = new Set<string>();
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!Array.isArray(order)) throw badRequest(`invalid patch: ${key} must be a list`);
    const listKey = key.slice(SET_ELEMENT_ORDER.length);
    const field = schema?.[listKey];
    const before = result[listKey];
    const patchList = patch[listKey];
    let merged: Json[];
    if (Array.isArray(before) && Array.isArray(patchList)) {
      merged = field?.strategy === "merge" ? mergeList(before, patchList, field) : clone(patchList);
    } else if (Array.isArray(patchList)) merged = settle(patchList, field) as Json[];
    else if (Array.isArray(before)) merged = before;
    else continue;
    const mergeKey = [...merged, ...order].some(isObject) ? field?.mergeKey : undefined;
    result[listKey] = enforceOrder(merged, order, Array.isArray(before) ? before : [], mergeKey);
    ordered.add(listKey);
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$retainKeys" || key.startsWith(SET_ELEMENT_ORDER) || ordered.has(key)) continue;
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      const listKey = key.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      const list = result[listKey];
      if (Array.isArray(list) && Array.isArray(value)) {
        result[listKey] = list.filter((item) => !value.some((v) => deepEqual(v, item)));
      }
      continue;
    }
    const field = schema?.[key];
    const before = result[key];
    if (value === null) delete result[key];
    else if (before === undefined || before === null) result[key] = settle(value, field);
    else if (isObject(before) && isObject(value)) result[key] = mergeObject(before, value, field?.fields);
    else if (Array.isArray(before) && Array.isArray(value)) {
      result[key] = field?.strategy === "merge" ? mergeList(before, value, field) : settle(value, undefined);
    } else result[key] = settle(value, field);
  }
  return result;
}

export function applyStrategicMergePatch(target: JsonObject, patch: Json, schema: PatchSchema): JsonObject {
  if (!isObject(patch)) throw badRequest("a strategic merge patch must be a JSON object");
  return mergeObject(target, patch, schema);
}
