// The objects, one global resourceVersion and a bounded history of changes. Every write goes
// through `write`, which stamps the next resourceVersion, records the event (with the object as it
// was before, so a list at an older resourceVersion and a filtered watch can be answered), and tells
// the subscribers synchronously — a watch never misses an event between its replay and its start.
import { randomUUID } from "node:crypto";
import { defined } from "../defined.js";
import { clone, type JsonObject, meta, str } from "./json.js";
import { apiVersionOf, type ResourceDef, resourceDef } from "./resources.js";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  resourceVersion: number;
  resource: ResourceDef;
  type: EventType;
  /** The object after the change; for DELETED, the last state with the deletion's resourceVersion. */
  object: JsonObject;
  /** The object before the change (MODIFIED, DELETED). */
  previous?: JsonObject;
}

/** Direct access to the stored objects, bypassing HTTP, authentication and the registry's rules. */
export interface Store {
  /** The latest resourceVersion. */
  readonly resourceVersion: number;
  /** Changes after this resourceVersion are still in the history; watches from older ones get 410. */
  readonly compactedResourceVersion: number;
  /** A copy of the stored object, or undefined. `namespace` is ignored for cluster-scoped resources. */
  get(resource: string, namespace: string | undefined, name: string): JsonObject | undefined;
  /** Copies of a resource's objects (of one namespace if given), in the API's order. */
  list(resource: string, namespace?: string): JsonObject[];
  /**
   * Creates or replaces an object as given (status included), filling uid and creationTimestamp
   * when missing and stamping a new resourceVersion; watchers see ADDED or MODIFIED.
   */
  put(resource: string, object: JsonObject): JsonObject;
  /** Removes an object at once (DELETED); the removed object, or undefined. */
  remove(resource: string, namespace: string | undefined, name: string): JsonObject | undefined;
  /** The changes still in the history, oldest first. */
  history(): readonly StoreEvent[];
}

export const nowTimestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

export const keyOf = (r: ResourceDef, namespace: string | undefined, name: string) =>
  `${r.namespaced ? (namespace ?? "") : ""}/${name}`;

export const objectKey = (r: ResourceDef, object: JsonObject) =>
  keyOf(r, str(meta(object).namespace), str(meta(object).name) ?? "");

/** The store with the server's internal operations. */
export interface InternalStore extends Store {
  /** The stored object itself (never mutate it). */
  raw(r: ResourceDef, key: string): JsonObject | undefined;
  /** Stores `object` (a fresh copy the caller no longer touches) with the next resourceVersion. */
  write(r: ResourceDef, type: EventType, object: JsonObject): JsonObject;
  /** The objects of `r` as they were at `resourceVersion` (not older than `compactedResourceVersion`), by key. */
  stateAt(r: ResourceDef, resourceVersion: number): Map<string, JsonObject>;
  /** Events after `resourceVersion`, oldest first. */
  eventsSince(resourceVersion: number): StoreEvent[];
  subscribe(listener: (event: StoreEvent) => void): () => void;
  compact(): void;
}

export function createStore(historyLimit: number): InternalStore {
  let resourceVersion = 1;
  let compacted = 1;
  const objects = new Map<string, Map<string, JsonObject>>();
  let events: StoreEvent[] = [];
  const listeners = new Set<(event: StoreEvent) => void>();

  const bucket = (r: ResourceDef) => {
    let b = objects.get(r.resource);
    if (!b) {
      b = new Map();
      objects.set(r.resource, b);
    }
    return b;
  };

  const sorted = (entries: Iterable<[string, JsonObject]>) =>
    [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);

  const store: InternalStore = {
    get resourceVersion() {
      return resourceVersion;
    },
    get compactedResourceVersion() {
      return compacted;
    },
    get(resource, namespace, name) {
      const r = resourceDef(resource);
      const o = bucket(r).get(keyOf(r, namespace, name));
      return o ? clone(o) : undefined;
    },
    list(resource, namespace) {
      const r = resourceDef(resource);
      return sorted(bucket(r).entries())
        .filter((o) => namespace === undefined || meta(o).namespace === namespace)
        .map((o) => clone(o));
    },
    put(resource, object) {
      const r = resourceDef(resource);
      const copy = clone(object);
      const m = meta(copy);
      if (!str(m.name)) throw new Error("store.put: metadata.name is required");
      if (r.namespaced) m.namespace ??= "default";
      else delete m.namespace;
      m.uid ??= randomUUID();
      m.creationTimestamp ??= nowTimestamp();
      if (r.generation) m.generation ??= 1;
      copy.apiVersion = apiVersionOf(r);
      copy.kind = r.kind;
      const exists = bucket(r).has(objectKey(r, copy));
      return clone(store.write(r, exists ? "MODIFIED" : "ADDED", copy));
    },
    remove(resource, namespace, name) {
      const r = resourceDef(resource);
      const existing = bucket(r).get(keyOf(r, namespace, name));
      return existing ? clone(store.write(r, "DELETED", clone(existing))) : undefined;
    },
    history: () => events.slice(),
    raw: (r, key) => bucket(r).get(key),
    write(r, type, object) {
      const key = objectKey(r, object);
      const b = bucket(r);
      const previous = b.get(key);
      resourceVersion++;
      meta(object).resourceVersion = String(resourceVersion);
      if (type === "DELETED") b.delete(key);
      else b.set(key, object);
      const event: StoreEvent = { resourceVersion, resource: r, type, object, ...(previous ? { previous } : {}) };
      events.push(event);
      if (events.length > historyLimit) compacted = defined(events.shift()).resourceVersion;
      for (const listener of [...listeners]) listener(event);
      return object;
    },
    stateAt(r, at) {
      const state = new Map(bucket(r));
      for (let i = events.length - 1; i >= 0 && defined(events[i]).resourceVersion > at; i--) {
        const e = defined(events[i]);
        if (e.resource !== r) continue;
        const key = objectKey(r, e.object);
        if (e.previous) state.set(key, e.previous);
        else state.delete(key);
      }
      return new Map([...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    },
    eventsSince: (at) => events.filter((e) => e.resourceVersion > at),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    compact() {
      events = [];
      compacted = resourceVersion;
    },
  };
  return store;
}
